//! The live service's checkpoints: one file per Kafka partition,
//! `<state dir>/<group>/<topic>/<partition>.ckpt`, holding the partition's whole state and the
//! next offset to read.
//!
//! The file, not the group's committed offset, is the truth. When the group assigns a
//! partition, [`PartitionCheckpoints::start`] (inside the rebalance) restores the file and the
//! partition is read from the offset it ends at; the restored state waits here until the
//! pipeline task takes it with the assignment notice. A checkpoint that cannot be used — or
//! none while the group has committed offsets, which means state that counted events is gone —
//! is never replaced by empty state silently: `[state] on_bad_checkpoint` refuses (the service
//! stops with the reason) or rebuilds the partition from its earliest retained offset.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::Settings;
use modeshare_core::pipeline::checkpoint;
use modeshare_core::pipeline::checkpoint::{CheckpointError, Fingerprint, Position};
use modeshare_core::space::Zones;
use modeshare_kafka::{KafkaError, StartAt, StartError, StartPositions};
use tracing::{info, warn};

use crate::config::OnBadCheckpoint;
use crate::state_dir::StateDir;

/// Why a partition cannot start: its checkpoint cannot be used, and `[state] on_bad_checkpoint`
/// does not let the partition be counted again. The service stops with it (the checkpoint is
/// refused, exit status 2). `Display` is the message the operator acts on.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    /// `on_bad_checkpoint = "refuse"`.
    #[error(
        "{0}. Nothing is counted from missing or wrong state: restore the checkpoint, or set \
         [state] on_bad_checkpoint = \"rebuild\" to count the partition again from its earliest \
         retained offset"
    )]
    Refused(Box<BadCheckpoint>),
    /// `on_bad_checkpoint = "rebuild"`, but the file cannot be moved aside.
    #[error("{bad}; it cannot be set aside: {error}")]
    NotSetAside {
        bad: Box<BadCheckpoint>,
        error: io::Error,
    },
}

/// A partition's checkpoint that cannot be used, where it is, and why.
#[derive(Debug, thiserror::Error)]
#[error("{topic} partition {partition}: checkpoint {} {problem}", path.display())]
pub struct BadCheckpoint {
    pub topic: String,
    pub partition: i32,
    pub path: PathBuf,
    pub problem: CheckpointProblem,
}

/// What is wrong with a partition's checkpoint; `Display` continues "checkpoint FILE …".
#[derive(Debug, thiserror::Error)]
pub enum CheckpointProblem {
    #[error("cannot be read: {0}")]
    Unreadable(io::Error),
    #[error("holds a replay's position, not a Kafka offset")]
    NotAnOffset,
    /// Damaged, foreign, newer, or of another configuration.
    #[error("{0}")]
    Refused(CheckpointError),
    /// No file, while the group has committed offsets: state that counted events is gone.
    #[error(
        "is missing, but the group has committed offset {0}: the state that counted the events \
         before it is gone"
    )]
    MissingWhileCommitted(i64),
    #[error("is missing, and whether the group has committed offsets cannot be read ({0})")]
    MissingCommitsUnknown(KafkaError),
}

/// A partition's state restored from its checkpoint, and the next offset it covers.
#[derive(Debug)]
pub struct RestoredPartition {
    pub pipeline: Pipeline,
    pub next_offset: i64,
}

/// What each assignment of a partition restored (`None`: it starts empty), oldest first.
type HandedOver = BTreeMap<(String, i32), VecDeque<Option<RestoredPartition>>>;

/// Reads and writes the checkpoints of one consumer group.
pub struct PartitionCheckpoints {
    dir: StateDir,
    group: String,
    settings: Settings,
    zones: Zones,
    fingerprint: Fingerprint,
    on_bad: OnBadCheckpoint,
    /// Restored state waiting for the pipeline task to take it with the assignment notice.
    handed_over: Mutex<HandedOver>,
}

impl PartitionCheckpoints {
    pub fn new(
        dir: StateDir,
        group: &str,
        settings: Settings,
        zones: Zones,
        on_bad: OnBadCheckpoint,
    ) -> PartitionCheckpoints {
        PartitionCheckpoints {
            fingerprint: Fingerprint::of(&settings, &zones, true),
            dir,
            group: group.to_owned(),
            settings,
            zones,
            on_bad,
            handed_over: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn path(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.file(&[&self.group, topic, &partition.to_string()])
    }

    /// The checkpoint of a partition's state, which ends before `next_offset`.
    pub fn encode(&self, pipeline: &Pipeline, next_offset: i64) -> Vec<u8> {
        checkpoint::encode(pipeline, Position::Offset(next_offset), self.fingerprint)
    }

    /// Writes encoded checkpoint bytes atomically and durably.
    pub fn write(&self, topic: &str, partition: i32, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.path(topic, partition);
        self.dir.write(&path, bytes)?;
        Ok(path)
    }

    /// What the latest assignment of the partition restored, in assignment order; `None` when
    /// it starts empty.
    pub fn take(&self, topic: &str, partition: i32) -> Option<RestoredPartition> {
        let mut handed_over = self.handed_over.lock().ok()?;
        let key = (topic.to_owned(), partition);
        let queue = handed_over.get_mut(&key)?;
        let restored = queue.pop_front().flatten();
        if queue.is_empty() {
            handed_over.remove(&key);
        }
        restored
    }

    /// Whether restored state waits for the pipeline task (a rebalance is being applied).
    pub fn restoring(&self) -> bool {
        self.handed_over.lock().is_ok_and(|h| !h.is_empty())
    }

    fn hand_over(&self, topic: &str, partition: i32, restored: Option<RestoredPartition>) {
        if let Ok(mut h) = self.handed_over.lock() {
            h.entry((topic.to_owned(), partition))
                .or_default()
                .push_back(restored);
        }
    }

    /// The checkpoint's state, or why it cannot be used (`Ok(None)`: there is no file).
    fn restore(&self, path: &Path) -> Result<Option<RestoredPartition>, CheckpointProblem> {
        let bytes = match self.dir.read(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(CheckpointProblem::Unreadable(e)),
        };
        match checkpoint::decode(&bytes, self.settings.clone(), self.zones.clone(), true) {
            Ok(checkpoint::Restored {
                pipeline,
                position: Position::Offset(next_offset),
            }) => Ok(Some(RestoredPartition {
                pipeline,
                next_offset,
            })),
            Ok(_) => Err(CheckpointProblem::NotAnOffset),
            Err(e) => Err(CheckpointProblem::Refused(e)),
        }
    }

    /// Where a partition the group assigns starts (see [`StartPositions`]): at the offset its
    /// checkpoint ends at, with the restored state handed over; from its beginning when it has
    /// neither a checkpoint nor a committed offset; otherwise as `[state] on_bad_checkpoint`
    /// says.
    pub fn start_position(
        &self,
        topic: &str,
        partition: i32,
        committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<StartAt, CheckpointStoreError> {
        let path = self.path(topic, partition);
        let problem = match self.restore(&path) {
            Ok(Some(restored)) => {
                let next = restored.next_offset;
                info!(topic, partition, file = %path.display(), next_offset = next, "partition state restored");
                self.hand_over(topic, partition, Some(restored));
                return Ok(StartAt::Offset(next));
            }
            Ok(None) => match committed() {
                Ok(None) => {
                    info!(
                        topic,
                        partition,
                        "no checkpoint and no committed offset: reading the partition from its beginning"
                    );
                    self.hand_over(topic, partition, None);
                    return Ok(StartAt::Beginning);
                }
                Ok(Some(offset)) => CheckpointProblem::MissingWhileCommitted(offset),
                Err(e) => CheckpointProblem::MissingCommitsUnknown(e),
            },
            Err(problem) => problem,
        };
        let what = Box::new(BadCheckpoint {
            topic: topic.to_owned(),
            partition,
            path: path.clone(),
            problem,
        });
        match self.on_bad {
            OnBadCheckpoint::Refuse => Err(CheckpointStoreError::Refused(what)),
            OnBadCheckpoint::Rebuild => {
                let mut kept = String::new();
                if path.exists() {
                    let aside = path.with_extension("ckpt.rejected");
                    if let Err(error) = std::fs::rename(&path, &aside) {
                        return Err(CheckpointStoreError::NotSetAside { bad: what, error });
                    }
                    kept = format!("; the file is kept as {}", aside.display());
                }
                warn!(
                    "{what}; rebuilding the partition from its earliest retained offset \
                     (on_bad_checkpoint = \"rebuild\"){kept}"
                );
                self.hand_over(topic, partition, None);
                Ok(StartAt::Beginning)
            }
        }
    }
}

impl StartPositions for PartitionCheckpoints {
    fn start(
        &self,
        topic: &str,
        partition: i32,
        committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<StartAt, StartError> {
        Ok(self.start_position(topic, partition, committed)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{self, AppConfig, Overrides};

    fn config(resolution: Option<u8>) -> AppConfig {
        let overrides = Overrides {
            resolution,
            ..Overrides::default()
        };
        config::load(None, [], &overrides).unwrap()
    }

    fn settings() -> Settings {
        config(None).settings
    }

    fn temp(name: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!(
            "modeshare-partition-checkpoints-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir::new(dir)
    }

    fn checkpoints(dir: &StateDir, on_bad: OnBadCheckpoint) -> PartitionCheckpoints {
        PartitionCheckpoints::new(dir.clone(), "group", settings(), Zones::default(), on_bad)
    }

    fn live_pipeline() -> Pipeline {
        let mut p = Pipeline::live(settings(), Zones::default());
        p.observe_line(
            br#"{"kind":"trip","id":"a","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{"lat":59.89,"lon":10.62}}"#,
            "t",
            None,
        );
        p
    }

    #[test]
    fn a_saved_partition_starts_at_its_offset_with_its_state() {
        let dir = temp("saved");
        let c = checkpoints(&dir, OnBadCheckpoint::Refuse);
        let pipeline = live_pipeline();
        c.write("t", 3, &c.encode(&pipeline, 42)).unwrap();
        assert_eq!(
            c.start_position("t", 3, &mut || unreachable!(
                "the broker is not asked when a checkpoint exists"
            ))
            .unwrap(),
            StartAt::Offset(42)
        );
        let restored = c.take("t", 3).unwrap();
        assert_eq!(restored.next_offset, 42);
        assert_eq!(restored.pipeline.totals().events, pipeline.totals().events);
        assert_eq!(restored.pipeline.totals().events.accepted, 1);
        assert!(c.take("t", 3).is_none(), "handed over once");
        std::fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn assignments_hand_over_in_order() {
        let dir = temp("order");
        let c = checkpoints(&dir, OnBadCheckpoint::Refuse);
        assert_eq!(
            c.start_position("t", 0, &mut || Ok(None)).unwrap(),
            StartAt::Beginning
        );
        c.write("t", 0, &c.encode(&live_pipeline(), 7)).unwrap();
        assert_eq!(
            c.start_position("t", 0, &mut || Ok(Some(7))).unwrap(),
            StartAt::Offset(7)
        );
        assert!(
            c.take("t", 0).is_none(),
            "the first assignment started empty"
        );
        assert_eq!(c.take("t", 0).unwrap().next_offset, 7);
        let _ = std::fs::remove_dir_all(dir.root());
    }

    #[test]
    fn missing_state_with_a_committed_offset_is_refused_or_rebuilt() {
        let dir = temp("missing");
        let refuse = checkpoints(&dir, OnBadCheckpoint::Refuse);
        let e = refuse
            .start_position("t", 1, &mut || Ok(Some(500)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("committed offset 500"), "{e}");
        assert!(e.contains("on_bad_checkpoint = \"rebuild\""), "{e}");
        assert!(refuse.take("t", 1).is_none());
        let rebuild = checkpoints(&dir, OnBadCheckpoint::Rebuild);
        assert_eq!(
            rebuild
                .start_position("t", 1, &mut || Ok(Some(500)))
                .unwrap(),
            StartAt::Beginning
        );
    }

    #[test]
    fn damaged_or_foreign_checkpoints_are_refused_or_set_aside() {
        let dir = temp("damaged");
        let c = checkpoints(&dir, OnBadCheckpoint::Refuse);
        let mut bytes = c.encode(&live_pipeline(), 9);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        c.write("t", 2, &bytes).unwrap();
        let e = c
            .start_position("t", 2, &mut || Ok(Some(9)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
        assert!(c.path("t", 2).exists(), "a refused file is left alone");

        // State of another resolution is another configuration.
        let foreign = PartitionCheckpoints::new(
            dir.clone(),
            "group",
            config(Some(7)).settings,
            Zones::default(),
            OnBadCheckpoint::Refuse,
        );
        let e = foreign
            .start_position("t", 2, &mut || Ok(None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
        c.write("t", 2, &c.encode(&live_pipeline(), 9)).unwrap();
        let e = foreign
            .start_position("t", 2, &mut || Ok(None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("another configuration"), "{e}");

        let rebuild = checkpoints(&dir, OnBadCheckpoint::Rebuild);
        std::fs::write(c.path("t", 2), b"not a checkpoint").unwrap();
        assert_eq!(
            rebuild.start_position("t", 2, &mut || Ok(Some(9))).unwrap(),
            StartAt::Beginning
        );
        assert!(!c.path("t", 2).exists());
        assert_eq!(
            std::fs::read(c.path("t", 2).with_extension("ckpt.rejected")).unwrap(),
            b"not a checkpoint"
        );
        assert!(rebuild.take("t", 2).is_none());
        std::fs::remove_dir_all(dir.root()).unwrap();
    }
}

//! The live service's checkpoints: one per Kafka partition, `<group>/<topic>/<partition>.ckpt`
//! in the [`CheckpointStore`], holding the partition's whole state and the next offset to read,
//! under the claim of the instance that owns the partition ([`crate::checkpoint_claim`]).
//!
//! The file, not the group's committed offset, is the truth. When the group assigns a
//! partition, [`PartitionCheckpoints::start`] (inside the rebalance) restores the file and the
//! partition is read from the offset it ends at; the restored state waits here until the
//! pipeline task takes it with the assignment notice. A checkpoint that cannot be used — or
//! none while the group has committed offsets, which means state that counted events is gone —
//! is never replaced by empty state silently: `[state] on_bad_checkpoint` refuses (the service
//! stops with the reason) or rebuilds the partition from its earliest retained offset.
//!
//! Writes are fenced. An assignment claims the partition at once: it writes the checkpoint it
//! restored again under a new generation, conditional on the version it read. Every later write
//! is conditional on the version this instance wrote last. An instance that lost the partition
//! while it was paused (past its session timeout, while another instance took the partition
//! over) finds the new owner's version: its write is refused with [`WriteError::Fenced`], and
//! it drops the partition instead of overwriting the new owner's state.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::Settings;
use modeshare_core::pipeline::checkpoint;
use modeshare_core::pipeline::checkpoint::{CheckpointError, Fingerprint, Position};
use modeshare_core::space::Zones;
use modeshare_http::metrics::PipelineMetrics;
use modeshare_kafka::{KafkaError, StartAt, StartError, StartPositions};
use tracing::{info, warn};

use crate::checkpoint_claim::{self, DamagedClaim};
use crate::checkpoint_store::{CheckpointStore, StoreError, Stored, Version};
use crate::config::OnBadCheckpoint;
use crate::shared_view;

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
    /// `on_bad_checkpoint = "rebuild"`, but the checkpoint cannot be moved aside.
    #[error("{bad}; it cannot be set aside: {error}")]
    NotSetAside {
        bad: Box<BadCheckpoint>,
        error: StoreError,
    },
    /// The partition's claim cannot be written: the store is out of reach, or other writers
    /// kept changing the checkpoint.
    #[error("{topic} partition {partition}: this instance cannot claim the checkpoint: {error}")]
    NotClaimed {
        topic: String,
        partition: i32,
        error: StoreError,
    },
}

/// Why a checkpoint write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another instance claimed the partition since this one did: this instance's state of it
    /// is stale and must be dropped.
    #[error(
        "{location}: another instance owns the partition now ({now}); this instance's claim \
         (generation {ours}) is stale"
    )]
    Fenced {
        location: String,
        ours: u64,
        now: String,
    },
    /// This instance holds no claim on the partition.
    #[error("{0}: this instance has not claimed the partition")]
    NotClaimed(String),
    /// A newer assignment of the partition to this instance claimed it since the write began:
    /// the state written was the former assignment's, which the newer one's replaces.
    #[error("{0}: claimed again here by a newer assignment; this state is the former one's")]
    Superseded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A partition's checkpoint that cannot be used, where it is, and why.
#[derive(Debug, thiserror::Error)]
#[error("{topic} partition {partition}: checkpoint {location} {problem}")]
pub struct BadCheckpoint {
    pub topic: String,
    pub partition: i32,
    pub location: String,
    pub problem: CheckpointProblem,
}

/// What is wrong with a partition's checkpoint; `Display` continues "checkpoint FILE …".
#[derive(Debug, thiserror::Error)]
pub enum CheckpointProblem {
    #[error("{0}")]
    DamagedClaim(DamagedClaim),
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

/// The claim this instance holds on a partition: its generation, and the version of the
/// checkpoint it wrote last.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    generation: u64,
    version: Version,
}

/// How many times an assignment reads and claims a checkpoint that others keep changing.
const CLAIM_ATTEMPTS: usize = 5;
/// How many times an assignment tries a store out of reach, waiting a little longer each time,
/// before the service stops with the reason.
const STORE_ATTEMPTS: u32 = 3;
const STORE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Where an assigned partition starts, and the state it restored.
struct Start {
    at: StartAt,
    restored: Option<RestoredPartition>,
}

impl Start {
    fn beginning() -> Start {
        Start {
            at: StartAt::Beginning,
            restored: None,
        }
    }
}

/// The claim an assignment writes: over which version, at which generation, with which
/// checkpoint (empty: nothing saved yet).
struct ClaimToWrite {
    expected: Option<Version>,
    generation: u64,
    checkpoint: Vec<u8>,
}

/// The generation of a new claim: above the one it replaces, and never below the clock's
/// milliseconds, so that generations keep growing where a checkpoint was lost or set aside
/// (and the count would start again).
fn next_generation(previous: u64) -> u64 {
    let now = u64::try_from(crate::clock::wall_clock().0).unwrap_or(0);
    (previous + 1).max(now)
}

/// Reads and writes the checkpoints of one consumer group.
pub struct PartitionCheckpoints {
    store: CheckpointStore,
    group: String,
    /// This instance's name in its claims.
    owner: String,
    /// The partitions this instance has claimed.
    claims: Mutex<BTreeMap<(String, i32), Claim>>,
    settings: Settings,
    zones: Zones,
    fingerprint: Fingerprint,
    on_bad: OnBadCheckpoint,
    /// Restored state waiting for the pipeline task to take it with the assignment notice.
    handed_over: Mutex<HandedOver>,
    /// Where the time and size of each checkpoint are observed, in the service.
    metrics: Option<PipelineMetrics>,
}

impl PartitionCheckpoints {
    pub fn new(
        store: CheckpointStore,
        group: &str,
        settings: Settings,
        zones: Zones,
        on_bad: OnBadCheckpoint,
    ) -> PartitionCheckpoints {
        PartitionCheckpoints {
            fingerprint: Fingerprint::of(&settings, &zones, true),
            store,
            group: group.to_owned(),
            owner: checkpoint_claim::this_instance(),
            claims: Mutex::new(BTreeMap::new()),
            settings,
            zones,
            on_bad,
            handed_over: Mutex::new(BTreeMap::new()),
            metrics: None,
        }
    }

    /// Observes how long each checkpoint takes to encode and write, and its size, in `metrics`.
    pub fn observed_by(mut self, metrics: PipelineMetrics) -> PartitionCheckpoints {
        self.metrics = Some(metrics);
        self
    }

    /// Where a partition's checkpoint is: a file's path or an object's URL.
    pub fn location(&self, topic: &str, partition: i32) -> String {
        self.store
            .location(&[&self.group, topic, &partition.to_string()])
    }

    /// The checkpoint of a partition's state, which ends before `next_offset`.
    pub fn encode(&self, pipeline: &Pipeline, next_offset: i64) -> Vec<u8> {
        let started = Instant::now();
        let bytes = checkpoint::encode(pipeline, Position::Offset(next_offset), self.fingerprint);
        self.observe_encoded(started, &bytes);
        bytes
    }

    /// [`encode`](Self::encode), and from the same save the state of the partition's part of
    /// the shared view ([`shared_view::part_with_state`]).
    pub fn encode_with_part_state(
        &self,
        pipeline: &Pipeline,
        next_offset: i64,
    ) -> (Vec<u8>, Vec<u8>) {
        let started = Instant::now();
        let (bytes, part_state) = checkpoint::encode_with_publishable(
            pipeline,
            Position::Offset(next_offset),
            shared_view::PART_POSITION,
            self.fingerprint,
        );
        self.observe_encoded(started, &bytes);
        (bytes, part_state)
    }

    fn observe_encoded(&self, started: Instant, bytes: &[u8]) {
        if let Some(metrics) = &self.metrics {
            metrics.checkpoint_encoded(started.elapsed(), bytes.len());
        }
    }

    /// Writes encoded checkpoint bytes atomically and durably under this instance's claim,
    /// only over the version it wrote last; where it is.
    pub fn write(&self, topic: &str, partition: i32, bytes: &[u8]) -> Result<String, WriteError> {
        let started = Instant::now();
        let written = self.write_claimed(topic, partition, bytes);
        if let (Some(metrics), Ok(_)) = (&self.metrics, &written) {
            metrics.checkpoint_written(started.elapsed());
        }
        written
    }

    fn write_claimed(
        &self,
        topic: &str,
        partition: i32,
        bytes: &[u8],
    ) -> Result<String, WriteError> {
        let key = (topic.to_owned(), partition);
        let location = self.location(topic, partition);
        let claim = self.claims.lock().ok().and_then(|c| c.get(&key).cloned());
        let Some(claim) = claim else {
            return Err(WriteError::NotClaimed(location));
        };
        let stored = checkpoint_claim::encode(claim.generation, &self.owner, bytes);
        let partition_text = partition.to_string();
        let store_key = [self.group.as_str(), topic, &partition_text];
        let mut written = self.store.write(&store_key, &stored, Some(&claim.version));
        if matches!(written, Err(StoreError::Conflict(_)))
            && matches!(self.store.read(&store_key), Ok(None))
        {
            // Gone (removed by hand, a lost volume): no other owner's state is in the way. It is
            // written again, still only where none is.
            warn!(topic, partition, checkpoint = %location, "the checkpoint had vanished; writing it again");
            written = self.store.write(&store_key, &stored, None);
        }
        match written {
            Ok(version) => {
                // Only over the claim this write used: a newer assignment's claim (made by the
                // rebalance callback meanwhile) stands.
                if let Ok(mut claims) = self.claims.lock()
                    && claims.get(&key) == Some(&claim)
                {
                    claims.insert(key, Claim { version, ..claim });
                }
                Ok(location)
            }
            Err(StoreError::Conflict(_)) => {
                // A newer assignment here claimed the partition since this write read its claim
                // (an eager rebalance gives a revoked partition straight back): that claim is
                // this instance's own, and the newer assignment's state takes over.
                let superseded = self
                    .claims
                    .lock()
                    .is_ok_and(|claims| claims.get(&key).is_some_and(|c| c != &claim));
                if superseded {
                    return Err(WriteError::Superseded(location));
                }
                self.release(topic, partition);
                let now = match self.store.read(&store_key) {
                    Ok(Some(stored)) => match checkpoint_claim::decode(&stored.bytes) {
                        Ok(c) => format!("claimed by {} at generation {}", c.owner, c.generation),
                        Err(e) => format!("its checkpoint {e}"),
                    },
                    Ok(None) => "its checkpoint was removed".into(),
                    Err(e) => format!("its checkpoint cannot be read: {e}"),
                };
                Err(WriteError::Fenced {
                    location,
                    ours: claim.generation,
                    now,
                })
            }
            Err(e) => Err(WriteError::Store(e)),
        }
    }

    /// The generation of this instance's claim on a partition, if it holds one.
    pub fn generation(&self, topic: &str, partition: i32) -> Option<u64> {
        let claims = self.claims.lock().ok()?;
        claims
            .get(&(topic.to_owned(), partition))
            .map(|c| c.generation)
    }

    /// The store the checkpoints are kept in.
    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }

    /// Forgets this instance's claim on a partition another instance owns now. (A revoked
    /// partition keeps its claim: its last checkpoint is written after the revocation, maybe
    /// after the group has assigned it here again and it was claimed anew.)
    fn release(&self, topic: &str, partition: i32) {
        if let Ok(mut claims) = self.claims.lock() {
            claims.remove(&(topic.to_owned(), partition));
        }
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

    /// The checkpoint's state, or why it cannot be used (`Ok(None)`: none was saved).
    fn restore(&self, checkpoint: &[u8]) -> Result<Option<RestoredPartition>, CheckpointProblem> {
        if checkpoint.is_empty() {
            return Ok(None);
        }
        match checkpoint::decode(checkpoint, self.settings.clone(), self.zones.clone(), true) {
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
    /// says. Either way this instance claims the partition's checkpoint first.
    pub fn start_position(
        &self,
        topic: &str,
        partition: i32,
        committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<StartAt, CheckpointStoreError> {
        let partition_text = partition.to_string();
        let key = [self.group.as_str(), topic, &partition_text];
        let location = self.location(topic, partition);
        let not_claimed = |error| CheckpointStoreError::NotClaimed {
            topic: topic.to_owned(),
            partition,
            error,
        };
        let mut unreachable = 0;
        let mut conflicts = 0;
        loop {
            let stored = match self.store.read(&key) {
                Ok(stored) => stored,
                // The store out of reach is no damage: try again a little later, then stop
                // (nothing is set aside or rebuilt for it).
                Err(error) => {
                    unreachable += 1;
                    if unreachable >= STORE_ATTEMPTS {
                        return Err(not_claimed(error));
                    }
                    warn!(topic, partition, error = %error, "cannot read the checkpoint; trying again");
                    std::thread::sleep(STORE_BACKOFF * unreachable);
                    continue;
                }
            };
            // This instance wrote the checkpoint last (the group gave the partition back): its
            // claim stands, and no other writer needs fencing.
            let ours = self.claims.lock().ok().and_then(|claims| {
                let claim = claims.get(&(topic.to_owned(), partition))?;
                (stored.as_ref().map(|s| &s.version) == Some(&claim.version)).then(|| claim.clone())
            });
            let (start, claim) =
                self.start_from(topic, partition, &key, &location, stored, committed)?;
            if let Some(ours) = ours {
                info!(topic, partition, checkpoint = %location, generation = ours.generation, "partition taken again under this instance's claim");
                self.hand_over(topic, partition, start.restored);
                return Ok(start.at);
            }
            let stored = checkpoint_claim::encode(claim.generation, &self.owner, &claim.checkpoint);
            match self.store.write(&key, &stored, claim.expected.as_ref()) {
                Ok(version) => {
                    if let Ok(mut claims) = self.claims.lock() {
                        claims.insert(
                            (topic.to_owned(), partition),
                            Claim {
                                generation: claim.generation,
                                version,
                            },
                        );
                    }
                    info!(topic, partition, checkpoint = %location, generation = claim.generation, "partition claimed");
                    self.hand_over(topic, partition, start.restored);
                    return Ok(start.at);
                }
                // Written since it was read (a former owner's last write): read it again.
                Err(StoreError::Conflict(at)) => {
                    conflicts += 1;
                    if conflicts >= CLAIM_ATTEMPTS {
                        return Err(not_claimed(StoreError::Conflict(at)));
                    }
                }
                Err(error) => {
                    unreachable += 1;
                    if unreachable >= STORE_ATTEMPTS {
                        return Err(not_claimed(error));
                    }
                    warn!(topic, partition, error = %error, "cannot claim the checkpoint; trying again");
                    std::thread::sleep(STORE_BACKOFF * unreachable);
                }
            }
        }
    }

    /// Where the partition starts and what it restores (from what the store holds), with the
    /// claim to write.
    fn start_from(
        &self,
        topic: &str,
        partition: i32,
        key: &[&str],
        location: &str,
        stored: Option<Stored>,
        committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<(Start, ClaimToWrite), CheckpointStoreError> {
        let version = stored.as_ref().map(|s| s.version.clone());
        let previous = stored.as_ref().map_or(0, |s| {
            checkpoint_claim::decode(&s.bytes).map_or(0, |c| c.generation)
        });
        let generation = next_generation(previous);
        let something_there = stored.is_some();
        let claim = |checkpoint: &[u8]| ClaimToWrite {
            expected: version.clone(),
            generation,
            checkpoint: checkpoint.to_vec(),
        };
        let checkpoint = match stored.as_ref().map(|s| checkpoint_claim::decode(&s.bytes)) {
            None => Ok(&[][..]),
            Some(Ok(claimed)) => Ok(claimed.checkpoint),
            Some(Err(e)) => Err(CheckpointProblem::DamagedClaim(e)),
        };
        let problem = match checkpoint.and_then(|c| Ok((c, self.restore(c)?))) {
            Ok((checkpoint, Some(restored))) => {
                let next = restored.next_offset;
                info!(topic, partition, checkpoint = %location, next_offset = next, "partition state restored");
                let start = Start {
                    at: StartAt::Offset(next),
                    restored: Some(restored),
                };
                return Ok((start, claim(checkpoint)));
            }
            Ok((_, None)) => match committed() {
                Ok(None) => {
                    info!(
                        topic,
                        partition,
                        "no checkpoint and no committed offset: reading the partition from its beginning"
                    );
                    return Ok((Start::beginning(), claim(&[])));
                }
                Ok(Some(offset)) => CheckpointProblem::MissingWhileCommitted(offset),
                Err(e) => CheckpointProblem::MissingCommitsUnknown(e),
            },
            Err(problem) => problem,
        };
        let what = Box::new(BadCheckpoint {
            topic: topic.to_owned(),
            partition,
            location: location.to_owned(),
            problem,
        });
        match self.on_bad {
            OnBadCheckpoint::Refuse => Err(CheckpointStoreError::Refused(what)),
            OnBadCheckpoint::Rebuild => {
                let mut kept = String::new();
                if something_there {
                    match self.store.set_aside(key) {
                        Ok(aside) => kept = format!("; it is kept as {aside}"),
                        Err(error) => {
                            return Err(CheckpointStoreError::NotSetAside { bad: what, error });
                        }
                    }
                }
                warn!(
                    topic,
                    partition,
                    "{what}; rebuilding the partition from its earliest retained offset \
                     (on_bad_checkpoint = \"rebuild\"){kept}"
                );
                // Set aside, the checkpoint is gone: the claim creates a new one.
                let claim = ClaimToWrite {
                    expected: None,
                    generation,
                    checkpoint: Vec::new(),
                };
                Ok((Start::beginning(), claim))
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
    use crate::checkpoint_store::StoreLocation;
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

    /// A directory store, and the directory.
    fn temp(name: &str) -> (CheckpointStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "modeshare-partition-checkpoints-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = CheckpointStore::open(&StoreLocation::Directory(dir.clone())).unwrap();
        (store, dir)
    }

    fn checkpoints(store: &CheckpointStore, on_bad: OnBadCheckpoint) -> PartitionCheckpoints {
        PartitionCheckpoints::new(store.clone(), "group", settings(), Zones::default(), on_bad)
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

    /// What the store holds for a partition, without its claim.
    fn stored_checkpoint(store: &CheckpointStore, partition: i32) -> Vec<u8> {
        let stored = store
            .read(&["group", "t", &partition.to_string()])
            .unwrap()
            .unwrap();
        checkpoint_claim::decode(&stored.bytes)
            .unwrap()
            .checkpoint
            .to_vec()
    }

    /// Claims a partition that has no checkpoint yet.
    fn claim_new(c: &PartitionCheckpoints, partition: i32) {
        assert_eq!(
            c.start_position("t", partition, &mut || Ok(None)).unwrap(),
            StartAt::Beginning
        );
        assert!(c.take("t", partition).is_none());
    }

    #[test]
    fn a_saved_partition_starts_at_its_offset_with_its_state() {
        let (store, dir) = temp("saved");
        let c = checkpoints(&store, OnBadCheckpoint::Refuse);
        claim_new(&c, 3);
        let pipeline = live_pipeline();
        c.write("t", 3, &c.encode(&pipeline, 42)).unwrap();
        let restart = checkpoints(&store, OnBadCheckpoint::Refuse);
        assert_eq!(
            restart
                .start_position("t", 3, &mut || unreachable!(
                    "the broker is not asked when a checkpoint exists"
                ))
                .unwrap(),
            StartAt::Offset(42)
        );
        let restored = restart.take("t", 3).unwrap();
        assert_eq!(restored.next_offset, 42);
        assert_eq!(restored.pipeline.totals().events, pipeline.totals().events);
        assert_eq!(restored.pipeline.totals().events.accepted, 1);
        assert!(restart.take("t", 3).is_none(), "handed over once");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_partition_is_written_only_under_a_claim() {
        let (store, dir) = temp("unclaimed");
        let c = checkpoints(&store, OnBadCheckpoint::Refuse);
        let e = c.write("t", 0, &c.encode(&live_pipeline(), 1)).unwrap_err();
        assert!(matches!(e, WriteError::NotClaimed(_)), "{e}");
        assert!(store.read(&["group", "t", "0"]).unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn assignments_hand_over_in_order() {
        let (store, dir) = temp("order");
        let c = checkpoints(&store, OnBadCheckpoint::Refuse);
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
        let _ = std::fs::remove_dir_all(dir);
    }

    /// An instance paused past its session timeout while another took its partition over
    /// writes when it resumes: refused, whether the new owner has written state yet or only
    /// claimed it, and the store keeps the new owner's state.
    fn a_stale_owner_is_fenced(store: &CheckpointStore) {
        let old = checkpoints(store, OnBadCheckpoint::Refuse);
        claim_new(&old, 5);
        old.write("t", 5, &old.encode(&live_pipeline(), 10))
            .unwrap();

        // The new owner claims the partition and restores offset 10, but writes nothing yet.
        let new = checkpoints(store, OnBadCheckpoint::Refuse);
        assert_eq!(
            new.start_position("t", 5, &mut || Ok(Some(10))).unwrap(),
            StartAt::Offset(10)
        );
        let claimed = stored_checkpoint(store, 5);
        let stale = old.encode(&Pipeline::live(settings(), Zones::default()), 99);
        let e = old.write("t", 5, &stale).unwrap_err();
        let new_generation = new.generation("t", 5).unwrap();
        assert!(
            matches!(e, WriteError::Fenced { ours, .. } if ours < new_generation),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains(&format!("at generation {new_generation}")),
            "{e}"
        );
        assert_eq!(stored_checkpoint(store, 5), claimed, "the claim stands");
        // Fenced once, the old owner holds no claim: it writes nothing more.
        let e = old.write("t", 5, &stale).unwrap_err();
        assert!(matches!(e, WriteError::NotClaimed(_)), "{e}");

        // The new owner goes on writing.
        let newer = new.encode(&live_pipeline(), 20);
        new.write("t", 5, &newer).unwrap();
        assert_eq!(stored_checkpoint(store, 5), newer);
    }

    #[test]
    fn a_stale_owner_is_fenced_in_a_directory() {
        let (store, dir) = temp("fenced");
        a_stale_owner_is_fenced(&store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stale_owner_is_fenced_in_an_object_store() {
        a_stale_owner_is_fenced(&CheckpointStore::in_memory());
    }

    #[test]
    fn missing_state_with_a_committed_offset_is_refused_or_rebuilt() {
        let (store, dir) = temp("missing");
        let refuse = checkpoints(&store, OnBadCheckpoint::Refuse);
        let e = refuse
            .start_position("t", 1, &mut || Ok(Some(500)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("committed offset 500"), "{e}");
        assert!(e.contains("on_bad_checkpoint = \"rebuild\""), "{e}");
        assert!(refuse.take("t", 1).is_none());
        let rebuild = checkpoints(&store, OnBadCheckpoint::Rebuild);
        assert_eq!(
            rebuild
                .start_position("t", 1, &mut || Ok(Some(500)))
                .unwrap(),
            StartAt::Beginning
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn damaged_or_foreign_checkpoints_are_refused_or_set_aside() {
        let (store, dir) = temp("damaged");
        let c = checkpoints(&store, OnBadCheckpoint::Refuse);
        claim_new(&c, 2);
        let mut bytes = c.encode(&live_pipeline(), 9);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        c.write("t", 2, &bytes).unwrap();
        let file = std::path::PathBuf::from(c.location("t", 2));
        let e = c
            .start_position("t", 2, &mut || Ok(Some(9)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
        assert!(file.exists(), "a refused file is left alone");

        // State of another resolution is another configuration.
        let foreign = PartitionCheckpoints::new(
            store.clone(),
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

        // A claim cut short is damaged too.
        let rebuild = checkpoints(&store, OnBadCheckpoint::Rebuild);
        std::fs::write(&file, b"MSCLAIM1\x01").unwrap();
        let e = c
            .start_position("t", 2, &mut || Ok(Some(9)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("claim cannot be read"), "{e}");

        std::fs::write(&file, b"not a checkpoint").unwrap();
        assert_eq!(
            rebuild.start_position("t", 2, &mut || Ok(Some(9))).unwrap(),
            StartAt::Beginning
        );
        assert_eq!(
            std::fs::read(file.with_extension("ckpt.rejected")).unwrap(),
            b"not a checkpoint"
        );
        assert!(rebuild.take("t", 2).is_none());
        // The rebuilt partition is claimed afresh, with nothing saved yet.
        assert_eq!(stored_checkpoint(&store, 2), b"");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

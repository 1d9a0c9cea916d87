//! One view of the city from N instances. Every `run` instance of a Kafka group publishes the
//! publishable state of each partition it owns (its numbers without the ids remembered for
//! deduplication) when it changed (and at least every [`HEARTBEAT_INTERVALS`] intervals), into
//! the checkpoint store beside the checkpoints: `.view/<group>/<topic>/<partition>/<generation>`
//! (in a directory, `%2Eview/…/<generation>.ckpt`). Every instance, and `modeshare serve`,
//! reads the others' parts back and publishes the merge: its own partitions live, the rest as
//! their owners last published them.
//!
//! A part is kept under the claim generation of the checkpoint its owner holds
//! ([`crate::checkpoint_claim`]), and readers take each partition's highest: a former owner that
//! writes late (paused past its session timeout) writes under its own, lower generation, and
//! never replaces the new owner's numbers. An owner removes the lower generations of its
//! partitions when it publishes.
//!
//! Layout of a part: `MSVIEW02`, the generation (u64), when it was published and when its
//! partition last saw an event (i64 milliseconds since the epoch), the partition and how many
//! partitions its topic has (i32 each, the count 0 when the owner did not know it), the
//! topic and the owner (each as [`crate::checkpoint_claim`] writes texts), then the publishable checkpoint
//! ([`checkpoint::encode_publishable`]). All integers little-endian.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use modeshare_core::pipeline::checkpoint::{self, Fingerprint, Position};
use modeshare_core::pipeline::{Pipeline, Settings};
use modeshare_core::space::Zones;

use crate::checkpoint_claim::{put_text, take, take_text};
use crate::checkpoint_store::{CheckpointStore, StoreError};

/// The key folder the parts are kept under, beside the groups' checkpoint folders.
const NAMESPACE: &str = ".view";

/// An owner publishes an unchanged part again after this many intervals, so that its age says
/// whether the owner is still there.
pub const HEARTBEAT_INTERVALS: u32 = 10;

/// A part its owner has not published again for this many heartbeats is stale: the owner
/// is gone and the group has not handed its partition on yet.
const STALE_HEARTBEATS: u32 = 3;

/// How old a part may grow before it is stale, for a `[view] interval`.
pub fn stale_after(view_interval: std::time::Duration) -> std::time::Duration {
    view_interval * HEARTBEAT_INTERVALS * STALE_HEARTBEATS
}

const MAGIC: &[u8; 8] = b"MSVIEW02";

/// One partition's published state, as some instance published it.
#[derive(Debug)]
pub struct Part {
    pub header: PartHeader,
    pub pipeline: Pipeline,
}

/// What a part says of itself before its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeader {
    pub topic: String,
    pub partition: i32,
    /// How many partitions the topic has, as its owner's brokers said (0: not known yet), so
    /// that a reader knows the partitions nobody published.
    pub topic_partitions: i32,
    /// The claim generation its owner held.
    pub generation: u64,
    /// The instance that published it.
    pub owner: String,
    /// When it was published, in milliseconds since the epoch.
    pub published_at: i64,
    /// When its partition last saw an event (for idle partitions and the combined watermark).
    pub last_event_at: i64,
}

/// Encodes a partition's publishable state as a part.
pub fn encode_part(header: &PartHeader, pipeline: &Pipeline, fingerprint: Fingerprint) -> Vec<u8> {
    let state = checkpoint::encode_publishable(pipeline, PART_POSITION, fingerprint);
    part_with_state(header, &state)
}

/// Where a part's state says it ends: nowhere (a part is never resumed from).
pub const PART_POSITION: Position = Position::Offset(0);

/// A part of `header` around a state encoded for it already
/// ([`checkpoint::encode_publishable`] at [`PART_POSITION`]).
pub fn part_with_state(header: &PartHeader, state: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 + state.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&header.generation.to_le_bytes());
    bytes.extend_from_slice(&header.published_at.to_le_bytes());
    bytes.extend_from_slice(&header.last_event_at.to_le_bytes());
    bytes.extend_from_slice(&header.partition.to_le_bytes());
    bytes.extend_from_slice(&header.topic_partitions.to_le_bytes());
    put_text(&mut bytes, &header.topic);
    put_text(&mut bytes, &header.owner);
    bytes.extend_from_slice(state);
    bytes
}

/// Why a part cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("not a view part, or cut short")]
    Damaged,
    #[error("its state: {0}")]
    State(checkpoint::CheckpointError),
}

/// A part's header and the rest of its bytes.
pub fn decode_header(bytes: &[u8]) -> Result<(PartHeader, &[u8]), PartError> {
    fn fixed<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], PartError> {
        take(rest).ok_or(PartError::Damaged)
    }
    fn text(rest: &mut &[u8]) -> Result<String, PartError> {
        take_text(rest).map(str::to_owned).ok_or(PartError::Damaged)
    }
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(PartError::Damaged)?;
    let generation = u64::from_le_bytes(fixed(&mut rest)?);
    let published_at = i64::from_le_bytes(fixed(&mut rest)?);
    let last_event_at = i64::from_le_bytes(fixed(&mut rest)?);
    let partition = i32::from_le_bytes(fixed(&mut rest)?);
    let topic_partitions = i32::from_le_bytes(fixed(&mut rest)?);
    let topic = text(&mut rest)?;
    let owner = text(&mut rest)?;
    let header = PartHeader {
        topic,
        partition,
        topic_partitions,
        generation,
        owner,
        published_at,
        last_event_at,
    };
    Ok((header, rest))
}

/// Where the parts of a consumer group's partitions are published and read.
#[derive(Clone)]
pub struct SharedView {
    store: CheckpointStore,
    group: String,
    settings: Settings,
    zones: Zones,
    fingerprint: Fingerprint,
}

impl SharedView {
    pub fn new(
        store: CheckpointStore,
        group: &str,
        settings: Settings,
        zones: Zones,
    ) -> SharedView {
        SharedView {
            fingerprint: Fingerprint::of(&settings, &zones, true),
            store,
            group: group.to_owned(),
            settings,
            zones,
        }
    }

    /// The part's bytes for a partition's state.
    pub fn encode(&self, header: &PartHeader, pipeline: &Pipeline) -> Vec<u8> {
        encode_part(header, pipeline, self.fingerprint)
    }

    /// Publishes a part under its generation (blocking); with `prune`, removes the partition's
    /// parts of lower generations (a former owner's).
    pub fn publish(
        &self,
        topic: &str,
        partition: i32,
        generation: u64,
        part: &[u8],
        prune: bool,
    ) -> Result<(), StoreError> {
        let (partition_text, generation_text) = (partition.to_string(), generation.to_string());
        let key = [
            NAMESPACE,
            &self.group,
            topic,
            &partition_text,
            &generation_text,
        ];
        self.store.replace(&key, part)?;
        if prune {
            let ours = self.location(topic, partition, generation);
            let folder = [NAMESPACE, self.group.as_str(), topic, &partition_text];
            for listed in self.store.list(&folder)? {
                if listed.location != ours && older_generation(&listed.location, generation) {
                    self.store.remove_listed(&listed.location)?;
                }
            }
        }
        Ok(())
    }

    /// Where a partition's part of a generation is, as [`CheckpointStore::list`] names it.
    pub fn location(&self, topic: &str, partition: i32, generation: u64) -> String {
        let (partition, generation) = (partition.to_string(), generation.to_string());
        self.store
            .listed_location(&[NAMESPACE, &self.group, topic, &partition, &generation])
    }

    /// Reads what changed since `known` (blocking): every part now published but those at the
    /// locations in `skipped` (the reader's own partitions, which it shows from their live
    /// state: decoding them again at every read would cost as much as their owner's writing),
    /// the unchanged ones taken from `known`, with the problems met (a part that cannot be read
    /// is left out and named).
    pub fn read(
        &self,
        known: &KnownParts,
        skipped: &BTreeSet<String>,
    ) -> Result<(KnownParts, Vec<String>), StoreError> {
        let listed = self.store.list(&[NAMESPACE, &self.group])?;
        let mut fresh = KnownParts::default();
        let mut problems = Vec::new();
        for entry in listed {
            if skipped.contains(&entry.location) {
                continue;
            }
            if let Some((tag, part)) = known.by_location.get(&entry.location)
                && *tag == entry.tag
            {
                fresh.insert(entry.location, entry.tag, part.clone());
                continue;
            }
            let Some(bytes) = self.store.read_listed(&entry.location)? else {
                continue;
            };
            match self.decode(&bytes) {
                Ok(part) => fresh.insert(entry.location, entry.tag, Arc::new(part)),
                Err(e) => problems.push(format!("{}: {e}", entry.location)),
            }
        }
        Ok((fresh, problems))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Part, PartError> {
        let (header, state) = decode_header(bytes)?;
        let restored = checkpoint::decode(state, self.settings.clone(), self.zones.clone(), true)
            .map_err(PartError::State)?;
        Ok(Part {
            header,
            pipeline: restored.pipeline,
        })
    }
}

/// Whether a part's location names a generation below `generation`.
fn older_generation(location: &str, generation: u64) -> bool {
    let name = location.rsplit('/').next().unwrap_or_default();
    let number = name.strip_suffix(".ckpt").unwrap_or(name);
    number.parse::<u64>().is_ok_and(|g| g < generation)
}

/// The parts read so far, by where they are stored, with the tag they had.
#[derive(Debug, Default, Clone)]
pub struct KnownParts {
    by_location: BTreeMap<String, (String, Arc<Part>)>,
}

impl KnownParts {
    fn insert(&mut self, location: String, tag: String, part: Arc<Part>) {
        self.by_location.insert(location, (tag, part));
    }

    /// One part per partition: of the highest generation (a former owner's late write never
    /// wins), then the latest published.
    pub fn parts(&self) -> Vec<Arc<Part>> {
        // (Two parts of one generation happen only if two owners shared a claim: the later.)
        let mut best: BTreeMap<(&str, i32), &Arc<Part>> = BTreeMap::new();
        for (_, part) in self.by_location.values() {
            let (h, key) = (
                &part.header,
                (part.header.topic.as_str(), part.header.partition),
            );
            let better = best.get(&key).is_none_or(|b| {
                (h.generation, h.published_at) > (b.header.generation, b.header.published_at)
            });
            if better {
                best.insert(key, part);
            }
        }
        best.into_values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{self, Overrides};

    fn view(store: &CheckpointStore) -> SharedView {
        let config = config::load(None, [], &Overrides::default()).unwrap();
        SharedView::new(store.clone(), "group", config.settings, config.zones)
    }

    fn pipeline(view: &SharedView, ids: &[&str]) -> Pipeline {
        let mut p = Pipeline::live(view.settings.clone(), view.zones.clone());
        for id in ids {
            let line = format!(
                r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{{"lat":59.89,"lon":10.62}}}}"#
            );
            p.observe_line(line.as_bytes(), "t", None);
        }
        p
    }

    fn header(partition: i32, generation: u64, owner: &str) -> PartHeader {
        PartHeader {
            topic: "trips".into(),
            partition,
            topic_partitions: 4,
            generation,
            owner: owner.into(),
            published_at: 1_700_000_000_000 + i64::from(partition),
            last_event_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_part_reads_back_and_a_damaged_one_is_named_never_a_panic() {
        let view = view(&CheckpointStore::in_memory());
        let bytes = view.encode(&header(3, 7, "worker-1/9"), &pipeline(&view, &["a", "b"]));
        let (read, _) = decode_header(&bytes).unwrap();
        assert_eq!(read, header(3, 7, "worker-1/9"));
        let part = view.decode(&bytes).unwrap();
        assert_eq!(part.pipeline.totals().events.accepted, 2);
        for end in [0, 8, 20, 40, 50] {
            assert!(view.decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(view.decode(&flipped), Err(PartError::State(_))));
    }

    /// What every instance and `serve` read: each partition's part of the highest generation,
    /// unchanged ones not read again, a damaged one named and left out, a former owner's late
    /// write never shown, lower generations removed by the owner.
    fn parts_are_shared(store: &CheckpointStore) {
        let view = view(store);
        let publish = |partition: i32, generation: u64, owner: &str, ids: &[&str], prune: bool| {
            let part = view.encode(&header(partition, generation, owner), &pipeline(&view, ids));
            view.publish("trips", partition, generation, &part, prune)
                .unwrap();
        };
        publish(0, 1, "a", &["x"], true);
        publish(1, 1, "b", &["y", "z"], true);
        let (known, problems) = view.read(&KnownParts::default(), &BTreeSet::new()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let accepted: Vec<(i32, u64)> = known
            .parts()
            .iter()
            .map(|p| (p.header.partition, p.pipeline.totals().events.accepted))
            .collect();
        assert_eq!(accepted, [(0, 1), (1, 2)]);

        // Partition 1 moves to c (generation 2), which has not pruned yet; partition 0's part
        // is damaged.
        publish(1, 2, "c", &["y", "z", "w"], false);
        view.publish("trips", 0, 1, b"MSVIEW02 cut", false).unwrap();
        let (again, problems) = view.read(&known, &BTreeSet::new()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("1.ckpt") || problems[0].ends_with("/1"),
            "{problems:?}"
        );
        let parts = again.parts();
        assert_eq!(parts.len(), 1);
        assert_eq!(
            (parts[0].header.owner.as_str(), parts[0].header.generation),
            ("c", 2)
        );
        assert_eq!(parts[0].pipeline.totals().events.accepted, 3);

        // The former owner b writes late, under its generation: c's part is still the one.
        publish(1, 1, "b", &["y"], false);
        let (late, _) = view.read(&again, &BTreeSet::new()).unwrap();
        let parts = late.parts();
        assert_eq!(
            parts[0].header.owner, "c",
            "never back to an older owner's part"
        );

        // c prunes: b's part is gone from the store.
        publish(1, 2, "c", &["y", "z", "w"], true);
        let listed = store.list(&[NAMESPACE, "group", "trips", "1"]).unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");

        // c reads the view: its own part, at the location it names, is skipped (c shows its
        // live state), even though c's part changed since the last read; the rest is read.
        publish(1, 2, "c", &["y", "z", "w", "v"], false);
        publish(2, 1, "d", &["u"], true);
        let own = BTreeSet::from([view.location("trips", 1, 2)]);
        let (skipping, problems) = view.read(&late, &own).unwrap();
        let partitions: Vec<i32> = skipping
            .parts()
            .iter()
            .map(|p| p.header.partition)
            .collect();
        assert_eq!(partitions, [2], "partition 0 damaged, 1 skipped");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (all, _) = view.read(&skipping, &BTreeSet::new()).unwrap();
        let accepted: Vec<(i32, u64)> = all
            .parts()
            .iter()
            .map(|p| (p.header.partition, p.pipeline.totals().events.accepted))
            .collect();
        assert_eq!(accepted, [(1, 4), (2, 1)]);
    }

    #[test]
    fn parts_are_shared_through_a_directory() {
        let dir = std::env::temp_dir().join(format!("modeshare-view-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = CheckpointStore::open(&crate::checkpoint_store::StoreLocation::Directory(
            dir.clone(),
        ))
        .unwrap();
        parts_are_shared(&store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parts_are_shared_through_an_object_store() {
        parts_are_shared(&CheckpointStore::in_memory());
    }
}

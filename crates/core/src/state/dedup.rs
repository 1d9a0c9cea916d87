//! Duplicate detection by `source` + `id`, per input partition.
//!
//! Ids are kept as 128-bit hashes (xxh3): a billion ids collide with probability ~10⁻²¹, and
//! memory is 16 bytes of key per id (plus the event time when a horizon is set) whatever the
//! length of the ids. `replay` remembers every id ([`DedupMemory::exact`]); the live path
//! forgets an id once the partition's watermark is a horizon past its event time.
//!
//! A replay read in parts on several threads remembers, per part, where in the input each id
//! was first seen ([`DedupMemory::positioned`], 8 bytes more per id), in [`IdShard`]s by key so
//! that the parts' ids can be compared one shard at a time on as many threads as there are
//! shards: [`IdShard::resolve`] keeps each id's earliest sighting and names the later ones that
//! a part counted, which that part then retracts.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::vocabulary::{ConfigErrors, DurationMs, EventTimeMs};

/// A hashed `source` + `id`: a 128-bit hash as two words (low, high), so that a key with an
/// 8-byte position packs into 24 bytes instead of the 32 a 16-byte-aligned `u128` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupKey([u64; 2]);

impl DedupKey {
    pub fn new(source: &str, id: &str) -> DedupKey {
        use xxhash_rust::xxh3::{xxh3_64, xxh3_128_with_seed};
        // The source's own hash seeds the id's, so ("ab", "c") and ("a", "bc") differ; two
        // one-shot calls are several times faster than the streaming hasher on short ids.
        DedupKey::from_u128(xxh3_128_with_seed(
            id.as_bytes(),
            xxh3_64(source.as_bytes()),
        ))
    }

    fn from_u128(v: u128) -> DedupKey {
        DedupKey([v as u64, (v >> 64) as u64])
    }

    fn to_u128(self) -> u128 {
        u128::from(self.0[0]) | u128::from(self.0[1]) << 64
    }

    /// Which of the [`SHARDS`] shards the key belongs to: bits the table's own hash
    /// (low ^ high) keeps uniform within a shard.
    fn shard(self) -> usize {
        (self.0[1] as usize) % SHARDS
    }
}

impl std::hash::Hash for DedupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0] ^ self.0[1]);
    }
}

/// `[dedup]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// Live: how long past its event time an id is remembered, measured against the
    /// partition's watermark (`"35d"`). `replay` always remembers every id.
    pub horizon: String,
}

impl DedupConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> DurationMs {
        errors.duration("dedup.horizon", &self.horizon, DurationMs::POSITIVE)
    }
}

/// The keys are already uniform hashes: fold them instead of hashing them again.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

type KeyHasher = BuildHasherDefault<FoldHasher>;

/// The ids seen in one input partition.
#[derive(Debug, Clone)]
pub struct DedupMemory(Memory);

#[derive(Debug, Clone)]
enum Memory {
    /// Every id, forever: 16 bytes of table per id (batch replays).
    Exact(HashSet<DedupKey, KeyHasher>),
    /// Ids with their event time, forgotten once the watermark passes time + horizon (live).
    Horizon {
        horizon: DurationMs,
        seen: HashMap<DedupKey, EventTimeMs, KeyHasher>,
        swept_at: Option<EventTimeMs>,
    },
    /// Every id with the input position it was first seen at, in [`SHARDS`] shards (one part
    /// of a replay read on several threads).
    Positioned(Box<[IdShard]>),
}

/// How many shards a positioned memory splits its ids into: enough that resolving them keeps
/// every core of a large server busy, few enough that each is a sizeable table.
pub const SHARDS: usize = 64;

/// One shard of a part's ids: each id with the input position of its first sighting.
///
/// A position is any number that orders the events as the input does (earlier events have
/// smaller positions) and is unique to one event.
#[derive(Debug, Clone, Default)]
pub struct IdShard(HashMap<DedupKey, u64, KeyHasher>);

impl IdShard {
    /// Brings the same shard of every part together in `shards[0]`, keeping each id's earliest
    /// position, and returns the positions of every later sighting that its part counted as
    /// the id's first (those events are duplicates: their parts must retract them). The other
    /// shards are left empty. The result does not depend on the order of `shards`.
    pub fn resolve(shards: &mut [&mut IdShard]) -> Vec<u64> {
        let mut later = Vec::new();
        let Some((first, rest)) = shards.split_first_mut() else {
            return later;
        };
        let merged = &mut first.0;
        for shard in rest {
            merged.reserve(shard.0.len());
            for (key, position) in shard.0.drain() {
                match merged.entry(key) {
                    Entry::Vacant(slot) => {
                        slot.insert(position);
                    }
                    Entry::Occupied(mut seen) => {
                        let earlier = seen.get_mut();
                        later.push((*earlier).max(position));
                        *earlier = (*earlier).min(position);
                    }
                }
            }
            shard.0.shrink_to_fit();
        }
        later.sort_unstable();
        later
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl DedupMemory {
    /// Remembers every id for as long as the memory exists (batch replays).
    pub fn exact() -> DedupMemory {
        DedupMemory(Memory::Exact(HashSet::default()))
    }

    /// Forgets an id once the watermark passes its event time + `horizon` (live).
    pub fn with_horizon(horizon: DurationMs) -> DedupMemory {
        DedupMemory(Memory::Horizon {
            horizon,
            seen: HashMap::default(),
            swept_at: None,
        })
    }

    /// Remembers every id with the input position of its first sighting, for one part of a
    /// replay read on several threads (see [`IdShard::resolve`]).
    pub fn positioned() -> DedupMemory {
        DedupMemory(Memory::Positioned(
            (0..SHARDS).map(|_| IdShard::default()).collect(),
        ))
    }

    /// Records the key; `true` if it was new, `false` for a duplicate.
    pub fn remember(&mut self, key: DedupKey, event_time: EventTimeMs) -> bool {
        self.remember_at(key, event_time, 0)
    }

    /// Records the key seen at input `position` (which only a positioned memory keeps, and
    /// only for a key's first sighting); `true` if it was new, `false` for a duplicate.
    pub fn remember_at(&mut self, key: DedupKey, event_time: EventTimeMs, position: u64) -> bool {
        match &mut self.0 {
            Memory::Exact(seen) => seen.insert(key),
            Memory::Horizon { seen, .. } => match seen.entry(key) {
                Entry::Occupied(_) => false,
                Entry::Vacant(slot) => {
                    slot.insert(event_time);
                    true
                }
            },
            Memory::Positioned(shards) => match shards[key.shard()].0.entry(key) {
                Entry::Occupied(_) => false,
                Entry::Vacant(slot) => {
                    slot.insert(position);
                    true
                }
            },
        }
    }

    /// The shards of a positioned memory (empty for the others).
    pub fn shards_mut(&mut self) -> &mut [IdShard] {
        match &mut self.0 {
            Memory::Positioned(shards) => shards,
            Memory::Exact(_) | Memory::Horizon { .. } => &mut [],
        }
    }

    /// Forgets ids whose event time is more than the horizon behind `watermark`. Sweeps at
    /// most once per sixteenth of the horizon so the cost stays amortised.
    pub fn advance_watermark(&mut self, watermark: EventTimeMs) {
        let Memory::Horizon {
            horizon,
            seen,
            swept_at,
        } = &mut self.0
        else {
            return;
        };
        if let Some(at) = *swept_at
            && watermark.0.saturating_sub(at.0) < horizon.0 / 16
        {
            return;
        }
        *swept_at = Some(watermark);
        let oldest_kept = watermark.saturating_sub(*horizon);
        seen.retain(|_, t| *t >= oldest_kept);
    }

    /// The memory as a checkpoint stores it.
    pub(crate) fn save(&self) -> SavedDedup {
        match &self.0 {
            Memory::Exact(seen) => {
                SavedDedup::Exact(seen.iter().map(|k| k.to_u128().to_le_bytes()).collect())
            }
            // Positions matter only while parts are resolved; what remains is the set of ids.
            Memory::Positioned(shards) => SavedDedup::Exact(
                shards
                    .iter()
                    .flat_map(|s| s.0.keys())
                    .map(|k| k.to_u128().to_le_bytes())
                    .collect(),
            ),
            Memory::Horizon {
                horizon,
                seen,
                swept_at,
            } => SavedDedup::Horizon {
                horizon: horizon.0,
                seen: seen
                    .iter()
                    .map(|(k, t)| (k.to_u128().to_le_bytes(), t.0))
                    .collect(),
                swept_at: swept_at.map(|t| t.0),
            },
        }
    }

    /// The stored form of an empty memory of the same kind (and horizon): for a copy of the
    /// state that publishes numbers but never observes events.
    pub(crate) fn save_forgetting_ids(&self) -> SavedDedup {
        match &self.0 {
            Memory::Exact(_) | Memory::Positioned(_) => SavedDedup::Exact(Vec::new()),
            Memory::Horizon { horizon, .. } => SavedDedup::Horizon {
                horizon: horizon.0,
                seen: Vec::new(),
                swept_at: None,
            },
        }
    }

    /// The memory a checkpoint stored.
    pub(crate) fn restore(saved: SavedDedup) -> DedupMemory {
        let key = |bytes: [u8; 16]| DedupKey::from_u128(u128::from_le_bytes(bytes));
        DedupMemory(match saved {
            SavedDedup::Exact(keys) => Memory::Exact(keys.into_iter().map(key).collect()),
            SavedDedup::Horizon {
                horizon,
                seen,
                swept_at,
            } => Memory::Horizon {
                horizon: DurationMs(horizon),
                seen: seen
                    .into_iter()
                    .map(|(k, t)| (key(k), EventTimeMs(t)))
                    .collect(),
                swept_at: swept_at.map(EventTimeMs),
            },
        })
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        match &self.0 {
            Memory::Exact(seen) => seen.len(),
            Memory::Horizon { seen, .. } => seen.len(),
            Memory::Positioned(shards) => shards.iter().map(IdShard::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) enum SavedDedup {
    Exact(Vec<[u8; 16]>),
    Horizon {
        horizon: i64,
        seen: Vec<([u8; 16], i64)>,
        swept_at: Option<i64>,
    },
}

#[cfg(test)]
mod tests;

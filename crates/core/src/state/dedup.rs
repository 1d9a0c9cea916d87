//! Duplicate detection by `source` + `id`, per input partition.
//!
//! Ids are kept as 128-bit hashes (xxh3): a billion ids collide with probability ~10⁻²¹, and
//! memory is 16 bytes of key per id (plus the event time when a horizon is set) whatever the
//! length of the ids. `replay` remembers every id ([`DedupMemory::exact`]); the live path
//! forgets an id once the partition's watermark is a horizon past its event time.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::vocabulary::{ConfigErrors, DurationMs, EventTimeMs};

/// A hashed `source` + `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DedupKey(u128);

impl DedupKey {
    pub fn new(source: &str, id: &str) -> DedupKey {
        use xxhash_rust::xxh3::{xxh3_64, xxh3_128_with_seed};
        // The source's own hash seeds the id's, so ("ab", "c") and ("a", "bc") differ; two
        // one-shot calls are several times faster than the streaming hasher on short ids.
        DedupKey(xxh3_128_with_seed(
            id.as_bytes(),
            xxh3_64(source.as_bytes()),
        ))
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
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
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

    /// Records the key; `true` if it was new, `false` for a duplicate.
    pub fn remember(&mut self, key: DedupKey, event_time: EventTimeMs) -> bool {
        match &mut self.0 {
            Memory::Exact(seen) => seen.insert(key),
            Memory::Horizon { seen, .. } => match seen.entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(event_time);
                    true
                }
            },
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
                SavedDedup::Exact(seen.iter().map(|k| k.0.to_le_bytes()).collect())
            }
            Memory::Horizon {
                horizon,
                seen,
                swept_at,
            } => SavedDedup::Horizon {
                horizon: horizon.0,
                seen: seen.iter().map(|(k, t)| (k.0.to_le_bytes(), t.0)).collect(),
                swept_at: swept_at.map(|t| t.0),
            },
        }
    }

    /// The memory a checkpoint stored.
    pub(crate) fn restore(saved: SavedDedup) -> DedupMemory {
        let key = |bytes: [u8; 16]| DedupKey(u128::from_le_bytes(bytes));
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

//! Duplicate detection by `source` + `id`, per input partition.
//!
//! Ids are kept as 128-bit hashes (xxh3): a billion ids collide with probability ~10⁻²¹, and
//! memory is 16 bytes of key per id (plus the event time when a horizon is set) whatever the
//! length of the ids. `replay` remembers every id ([`DedupMemory::exact`]); the live path
//! forgets an id once the partition's watermark is a horizon past its event time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Deserialize;

use crate::config::ConfigErrors;
use crate::time::{DurationMs, EventTimeMs};

/// A hashed `source` + `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DedupKey(u128);

impl DedupKey {
    pub fn new(source: &str, id: &str) -> DedupKey {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(source.as_bytes());
        // 0xFF never occurs in UTF-8, so ("ab", "c") and ("a", "bc") hash differently.
        hasher.update(&[0xFF]);
        hasher.update(id.as_bytes());
        DedupKey(hasher.digest128())
    }
}

/// `[dedup]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// Live: how long past its event time an id is remembered, measured against the
    /// partition's watermark (`"35d"`). `replay` always remembers every id.
    #[serde(default = "default_horizon")]
    pub horizon: String,
}

fn default_horizon() -> String {
    "35d".into()
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            horizon: default_horizon(),
        }
    }
}

impl DedupConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> DurationMs {
        match DurationMs::parse(&self.horizon) {
            Ok(d) if d.0 > 0 => d,
            Ok(_) => {
                errors.push("dedup.horizon", "must be longer than 0");
                DurationMs::from_days(35)
            }
            Err(e) => {
                errors.push("dedup.horizon", e);
                DurationMs::from_days(35)
            }
        }
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

type KeyMap = HashMap<DedupKey, EventTimeMs, BuildHasherDefault<FoldHasher>>;

/// The ids seen in one input partition.
#[derive(Debug, Clone)]
pub struct DedupMemory {
    horizon: Option<DurationMs>,
    seen: KeyMap,
    swept_at: Option<EventTimeMs>,
}

impl DedupMemory {
    /// Remembers every id for as long as the memory exists (batch replays).
    pub fn exact() -> DedupMemory {
        DedupMemory {
            horizon: None,
            seen: KeyMap::default(),
            swept_at: None,
        }
    }

    /// Forgets an id once the watermark passes its event time + `horizon` (live).
    pub fn with_horizon(horizon: DurationMs) -> DedupMemory {
        DedupMemory {
            horizon: Some(horizon),
            seen: KeyMap::default(),
            swept_at: None,
        }
    }

    /// Records the key; `true` if it was new, `false` for a duplicate.
    pub fn remember(&mut self, key: DedupKey, event_time: EventTimeMs) -> bool {
        match self.seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(event_time);
                true
            }
        }
    }

    /// Forgets ids whose event time is more than the horizon behind `watermark`. Sweeps at
    /// most once per sixteenth of the horizon so the cost stays amortised.
    pub fn advance_watermark(&mut self, watermark: EventTimeMs) {
        let Some(horizon) = self.horizon else { return };
        if let Some(at) = self.swept_at
            && watermark.0.saturating_sub(at.0) < horizon.0 / 16
        {
            return;
        }
        self.swept_at = Some(watermark);
        let oldest_kept = watermark.saturating_sub(horizon);
        self.seen.retain(|_, t| *t >= oldest_kept);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests;

//! Each provider's cursor — the next hour to fetch — and where it is checkpointed: without
//! `[kafka]` a file of this instance's state directory (`<state dir>/providers/<name>.ckpt`);
//! with `[kafka]` a record of the providers' control topic keyed by the provider's name, which
//! whoever holds the lease next reads back. Both hold the same JSON, `{"next_hour": <ms>}`.
//!
//! In the control topic the highest cursor written wins, not the latest: an instance that lost
//! the lease during a long pause may write one more cursor after the next holder has moved on,
//! and that must not move a provider back (its hour is at worst fetched again, and its trips
//! then count as duplicates). Compaction keeps only the latest record of a key, though: if it
//! runs after such a late, lower write and before the holder's next one, a later holder starts
//! from the lower hour and fetches those hours again (duplicates within the dedup horizon).
//! A tombstone forgets the cursors before it: the way to have a provider fetched again from its
//! configured `start`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use modeshare_kafka::{ControlRecord, EventProducer, KafkaSettings};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::HOUR_MS;
use crate::state_dir::StateDir;

/// The next hour to fetch, as checkpointed.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// The start of the next hour to fetch (ms since the epoch, UTC).
    next_hour: i64,
}

/// Why a checkpointed cursor cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("not a cursor: {0}")]
    Json(#[from] serde_json::Error),
    #[error("next_hour {0} is not the start of an hour")]
    NotAnHour(i64),
}

pub(super) fn encode(next_hour: i64) -> Vec<u8> {
    // INVARIANT: a struct of one integer always serialises.
    serde_json::to_vec(&Cursor { next_hour }).unwrap_or_default()
}

pub(super) fn decode(bytes: &[u8]) -> Result<i64, CursorError> {
    let cursor: Cursor = serde_json::from_slice(bytes)?;
    if cursor.next_hour.rem_euclid(HOUR_MS) != 0 {
        return Err(CursorError::NotAnHour(cursor.next_hour));
    }
    Ok(cursor.next_hour)
}

/// Each provider's cursor from the control partition's records, in offset order: the highest
/// since the provider's last tombstone. A record that says nothing usable (no key, a key that
/// is not a name, a value that is not a cursor) is logged and skipped.
pub(super) fn highest(records: &[ControlRecord]) -> BTreeMap<String, i64> {
    let mut cursors: BTreeMap<String, i64> = BTreeMap::new();
    for record in records {
        let Some(name) = record
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
        else {
            warn!(
                offset = record.offset,
                "a record of the providers' control topic has no provider's name as its key: skipped"
            );
            continue;
        };
        let Some(value) = &record.value else {
            cursors.remove(name);
            continue;
        };
        match decode(value) {
            Ok(next) => {
                let held = cursors.entry(name.to_owned()).or_insert(next);
                *held = (*held).max(next);
            }
            Err(e) => {
                warn!(provider = %name, offset = record.offset, "a record of the providers' control topic is damaged ({e}): skipped")
            }
        }
    }
    cursors
}

/// The providers' control topic, as the pollers write their cursors to it.
pub struct ControlTopic {
    producer: EventProducer,
    topic: String,
    timeout: Duration,
}

impl ControlTopic {
    pub fn connect(settings: &KafkaSettings, timeout: Duration) -> Result<ControlTopic, String> {
        let producer = EventProducer::connect(&settings.brokers, &settings.options)
            .map_err(|e| settings.options.scrub(&e.to_string()))?;
        Ok(ControlTopic {
            producer,
            topic: settings.providers_topic.clone(),
            timeout,
        })
    }

    /// Writes a provider's cursor and waits until the brokers confirm it.
    async fn write(&self, provider: &str, next_hour: i64) -> Result<(), String> {
        let record = [(Some(provider.as_bytes().to_vec()), encode(next_hour))];
        match tokio::time::timeout(self.timeout, self.producer.send_all(&self.topic, &record)).await
        {
            Ok((_, None)) => Ok(()),
            Ok((_, Some(e))) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the brokers have not confirmed it within {:?}",
                self.timeout
            )),
        }
    }
}

/// Where a poller checkpoints its cursor.
pub enum CursorStore {
    /// A file of this instance's state directory.
    Local(StateDir),
    /// The providers' control topic, and the cursor read from it when the lease was gained.
    Kafka {
        topic: Arc<ControlTopic>,
        held: Option<i64>,
    },
}

impl CursorStore {
    /// The checkpointed cursor of `provider`, if there is one to use.
    pub(super) fn restored(&self, provider: &str) -> Option<i64> {
        let state = match self {
            CursorStore::Kafka { held, .. } => return *held,
            CursorStore::Local(state) => state,
        };
        let path = state.file(&["providers", provider]);
        let read = state
            .read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                bytes
                    .map(|b| decode(&b).map_err(|e| e.to_string()))
                    .transpose()
            });
        read.unwrap_or_else(|e| {
            warn!(provider = %provider, "{}: {e}; starting from the configured start", path.display());
            None
        })
    }

    /// Checkpoints `next_hour` of `provider`, durably (fsynced, or confirmed by the brokers).
    pub(super) async fn save(&self, provider: &str, next_hour: i64) -> Result<(), String> {
        match self {
            CursorStore::Local(state) => state
                .write(&state.file(&["providers", provider]), &encode(next_hour))
                .map_err(|e| e.to_string()),
            CursorStore::Kafka { topic, .. } => topic.write(provider, next_hour).await,
        }
    }

    /// The lease was gained with `held` as the provider's cursor.
    pub(super) fn hold(&mut self, cursor: Option<i64>) {
        if let CursorStore::Kafka { held, .. } = self {
            *held = cursor;
        }
    }
}

#[cfg(test)]
mod tests;

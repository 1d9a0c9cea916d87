//! Checkpoints: one pipeline's state with the input position it covers, as versioned, checked
//! bytes. Writing them to disk is the caller's; this module only encodes and validates.
//!
//! ```text
//! magic "MODESHARE-CKPT\0\0" (16) │ format version u16 │ fingerprint u64 │ payload length u64
//! │ payload checksum u64 (xxh3) │ payload (postcard)
//! ```
//! All integers little-endian. The payload holds the position, the totals, the windows and
//! the dedup memory in a form of its own (names for reasons, plain integers for cells, dates
//! and amounts), so internal types can change without changing the format.
//!
//! The fingerprint covers the configuration that shapes state: zones (names and geometry), H3
//! resolution, the mode list, the bucket length, the calendar time zone, whether the state is
//! live (windows, dedup horizon) or a batch replay's, and (from format 3) the distance bands,
//! the transit-access modes, radius and stops. A checkpoint whose fingerprint differs is
//! refused, never read into state of another shape.

use std::fmt;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::partition::{Pipeline, SavedBreakdowns, SavedPipeline};
use super::settings::Settings;
use crate::space::Zones;
use crate::state::{SavedDedup, SavedPlaces, SavedTotals, SavedWindows, SavedZoneWindows};
use crate::vocabulary::Mode;

const MAGIC: &[u8; 16] = b"MODESHARE-CKPT\0\0";
/// The format written. Versions 1 (before per-cell and zone-pair windows) and 2 (before the
/// distance-band and transit-access breakdowns) are still read: what they lack restores empty
/// and fills with the events that follow.
pub const FORMAT_VERSION: u16 = 3;
const HEADER_LEN: usize = 16 + 2 + 8 + 8 + 8;

/// Where in its input a checkpoint's state ends: what to read next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// A Kafka partition: the next offset to read.
    Offset(i64),
    /// A replay: the input (by index in the command line) and the byte and line to continue at.
    Input { index: u32, byte: u64, line: u64 },
}

/// The configuration that shapes state, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Fingerprint {
    /// The fingerprint of state built with `settings` and `zones`; `live` for the service's
    /// state, not for a batch replay's.
    pub fn of(settings: &Settings, zones: &Zones, live: bool) -> Fingerprint {
        Fingerprint::of_version(settings, zones, live, FORMAT_VERSION)
    }

    /// The fingerprint as format `version` computed it: formats 1 and 2 had no breakdowns, so
    /// their state fits any bands and stops.
    fn of_version(settings: &Settings, zones: &Zones, live: bool, version: u16) -> Fingerprint {
        let mut h = Xxh3::new();
        let text = |h: &mut Xxh3, t: &str| {
            h.update(&(t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        };
        text(&mut h, if live { "live" } else { "replay" });
        for mode in Mode::ALL {
            text(&mut h, mode.as_str());
        }
        h.update(&[u8::from(settings.resolution)]);
        h.update(&settings.windows.bucket.0.to_le_bytes());
        text(&mut h, &settings.windows.time_zone_name);
        for (_, zone) in zones.iter() {
            text(&mut h, &zone.name);
            for polygon in &zone.area {
                for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                    h.update(&(ring.0.len() as u64).to_le_bytes());
                    for c in ring.coords() {
                        h.update(&c.x.to_bits().to_le_bytes());
                        h.update(&c.y.to_bits().to_le_bytes());
                    }
                }
                h.update(b"|");
            }
        }
        if version >= 3 {
            for edge in settings.bands.edges_m() {
                h.update(&edge.to_bits().to_le_bytes());
            }
            let access = &settings.access;
            for mode in Mode::ALL.into_iter().filter(|m| access.modes.contains(*m)) {
                text(&mut h, mode.as_str());
            }
            h.update(&access.radius_m.to_bits().to_le_bytes());
            for place in access.stops.places() {
                text(&mut h, &place.name);
                h.update(&place.point.lat().to_bits().to_le_bytes());
                h.update(&place.point.lon().to_bits().to_le_bytes());
                h.update(&(place.stops as u64).to_le_bytes());
            }
        }
        Fingerprint(h.digest())
    }
}

/// Why checkpoint bytes cannot be resumed from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a modeshare checkpoint (its first bytes are not the checkpoint header)")]
    NotACheckpoint,
    #[error("checkpoint format version {found}, this modeshare reads version {FORMAT_VERSION}")]
    UnsupportedVersion { found: u16 },
    #[error("the checkpoint is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the checkpoint was made with another configuration (fingerprint {found}, the \
         configuration now is {expected}): zones, resolution, modes, bucket, time zone, \
         distance bands or transit-access stops changed"
    )]
    ConfigurationChanged {
        found: Fingerprint,
        expected: Fingerprint,
    },
}

/// A pipeline restored from a checkpoint, and where its input continues.
#[derive(Debug)]
pub struct Restored {
    pub pipeline: Pipeline,
    pub position: Position,
}

/// Encodes a pipeline's state and the position it covers.
pub fn encode(pipeline: &Pipeline, position: Position, fingerprint: Fingerprint) -> Vec<u8> {
    encode_saved(pipeline.save(), position, fingerprint)
}

/// Encodes what a pipeline's published numbers are built from: its state without the ids
/// remembered for deduplication (the bulk of a live checkpoint). [`decode`] restores a pipeline
/// that publishes the same numbers; it must not observe events, as it would count duplicates
/// as new.
pub fn encode_publishable(
    pipeline: &Pipeline,
    position: Position,
    fingerprint: Fingerprint,
) -> Vec<u8> {
    encode_saved(pipeline.save_publishable(), position, fingerprint)
}

/// [`encode`] at `position` and [`encode_publishable`] at `publishable_position` of the same
/// state, for the price of little more than one: the state is saved once, and what the two
/// share (the totals, the windows, the breakdowns: all but the dedup memory) is serialised
/// once.
pub fn encode_with_publishable(
    pipeline: &Pipeline,
    position: Position,
    publishable_position: Position,
    fingerprint: Fingerprint,
) -> (Vec<u8>, Vec<u8>) {
    let (state, breakdowns) = pipeline.save();
    let (shared, dedup) = serialised_apart(state, &breakdowns);
    let forgetting_ids = pipeline.save_dedup_forgetting_ids();
    (
        framed_checkpoint(position, &dedup, &shared, fingerprint),
        framed_checkpoint(publishable_position, &forgetting_ids, &shared, fingerprint),
    )
}

fn encode_saved(
    (state, breakdowns): (SavedPipeline, SavedBreakdowns),
    position: Position,
    fingerprint: Fingerprint,
) -> Vec<u8> {
    let (shared, dedup) = serialised_apart(state, &breakdowns);
    framed_checkpoint(position, &dedup, &shared, fingerprint)
}

/// A checkpoint's fields besides its position and dedup memory, serialised: what a checkpoint
/// and a publishable state of the same save have in common.
struct SharedFields {
    totals_and_windows: Vec<u8>,
    breakdowns: Vec<u8>,
}

/// The state's shared fields serialised, and its dedup memory apart.
fn serialised_apart(
    state: SavedPipeline,
    breakdowns: &SavedBreakdowns,
) -> (SharedFields, SavedDedup) {
    // Named field by field: a new field of the state fails to compile here.
    let SavedPipeline {
        totals,
        windows,
        dedup,
    } = state;
    let shared = SharedFields {
        totals_and_windows: serialised(&(&totals, &windows)),
        breakdowns: serialised(breakdowns),
    };
    (shared, dedup)
}

/// A [`SavedCheckpoint`]'s bytes, framed, from its fields: a postcard struct is its fields'
/// encodings one after another, so the fields two checkpoints share are serialised once.
fn framed_checkpoint(
    position: Position,
    dedup: &SavedDedup,
    shared: &SharedFields,
    fingerprint: Fingerprint,
) -> Vec<u8> {
    framed(
        &[
            &serialised(&position),
            &shared.totals_and_windows,
            &serialised(dedup),
            &shared.breakdowns,
        ],
        fingerprint,
    )
}

fn serialised<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain integers, strings and vectors into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// A payload, given in pieces, behind the header: magic, format, fingerprint, length and
/// checksum.
fn framed(payload: &[&[u8]], fingerprint: Fingerprint) -> Vec<u8> {
    let len: usize = payload.iter().map(|piece| piece.len()).sum();
    let mut checksum = Xxh3::new();
    for piece in payload {
        checksum.update(piece);
    }
    let mut bytes = Vec::with_capacity(HEADER_LEN + len);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&fingerprint.0.to_le_bytes());
    bytes.extend_from_slice(&(len as u64).to_le_bytes());
    bytes.extend_from_slice(&checksum.digest().to_le_bytes());
    for piece in payload {
        bytes.extend_from_slice(piece);
    }
    bytes
}

/// Validates checkpoint bytes and restores the pipeline they hold, with `settings` and `zones`
/// (which must have the fingerprint it was made with); `live` as for [`Fingerprint::of`].
pub fn decode(
    bytes: &[u8],
    settings: Settings,
    zones: Zones,
    live: bool,
) -> Result<Restored, CheckpointError> {
    let saved = payload(bytes, |version| {
        Fingerprint::of_version(&settings, &zones, live, version)
    })?;
    let pipeline = Pipeline::restore(saved.state, saved.breakdowns, settings, zones)
        .map_err(CheckpointError::Corrupt)?;
    Ok(Restored {
        pipeline,
        position: saved.position,
    })
}

fn payload(
    bytes: &[u8],
    expected: impl Fn(u16) -> Fingerprint,
) -> Result<SavedCheckpoint, CheckpointError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CheckpointError::NotACheckpoint);
    }
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
        CheckpointError::Corrupt(format!("{} bytes, shorter than its header", bytes.len()))
    })?;
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let version = u16::from_le_bytes([header[16], header[17]]);
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(CheckpointError::UnsupportedVersion { found: version });
    }
    let expected = expected(version);
    let found = Fingerprint(u64_at(18));
    if found != expected {
        return Err(CheckpointError::ConfigurationChanged { found, expected });
    }
    let (length, checksum) = (u64_at(26), u64_at(34));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != length {
        return Err(CheckpointError::Corrupt(format!(
            "{} bytes of state, the header says {length} (a write cut short?)",
            payload.len()
        )));
    }
    if xxh3_64(payload) != checksum {
        return Err(CheckpointError::Corrupt(
            "the state does not match its checksum".into(),
        ));
    }
    let corrupt = |e: postcard::Error| CheckpointError::Corrupt(e.to_string());
    match version {
        1 => Ok(postcard::from_bytes::<SavedCheckpointV1>(payload)
            .map_err(corrupt)?
            .upgrade()),
        2 => Ok(postcard::from_bytes::<SavedCheckpointV2>(payload)
            .map_err(corrupt)?
            .upgrade()),
        _ => postcard::from_bytes(payload).map_err(corrupt),
    }
}

/// Format version 2: the state without breakdowns.
#[derive(Deserialize)]
struct SavedCheckpointV2 {
    position: Position,
    state: SavedPipeline,
}

impl SavedCheckpointV2 {
    fn upgrade(self) -> SavedCheckpoint {
        SavedCheckpoint {
            position: self.position,
            state: self.state,
            breakdowns: SavedBreakdowns::default(),
        }
    }
}

/// Format version 1: the windows without places.
#[derive(Deserialize)]
struct SavedCheckpointV1 {
    position: Position,
    totals: SavedTotals,
    windows: Option<SavedZoneWindows>,
    dedup: SavedDedup,
}

impl SavedCheckpointV1 {
    fn upgrade(self) -> SavedCheckpoint {
        SavedCheckpoint {
            position: self.position,
            state: SavedPipeline {
                totals: self.totals,
                windows: self.windows.map(|zones| SavedWindows {
                    zones,
                    places: SavedPlaces::default(),
                }),
                dedup: self.dedup,
            },
            breakdowns: SavedBreakdowns::default(),
        }
    }
}

/// What checkpoint bytes hold after the header; written field by field
/// ([`framed_checkpoint`]), read whole.
#[derive(Deserialize)]
struct SavedCheckpoint {
    position: Position,
    state: SavedPipeline,
    /// Format 3: distance bands, access classes and stop places, beside the format-2 state.
    breakdowns: SavedBreakdowns,
}

#[cfg(test)]
mod tests;

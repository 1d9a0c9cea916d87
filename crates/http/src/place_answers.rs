//! The answers of the place endpoints (`/api/cells`, `/api/od`, `/api/stops`), kept for the
//! places they were built from. A snapshot's places are summed again at most every 5 s and
//! shared by the snapshots in between, so a dashboard or a loop asking the same question gets
//! the same bytes back for a lookup, instead of a GeoJSON of up to thousands of cells built
//! per request on the cores the pipeline needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::places::BadRequest;
use crate::snapshot::Places;

/// Answers kept for one set of places at most; a new set clears them, and so does one more.
const MAX_ANSWERS: usize = 256;

/// The place endpoints' answers for the latest places.
#[derive(Default)]
pub struct PlaceAnswers {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// The places the answers were built from (held, so that the pointer stays theirs).
    places: Option<Arc<Places>>,
    answers: HashMap<String, Bytes>,
    hits: u64,
}

impl PlaceAnswers {
    /// The JSON answer to `question` (the route and its parameters) about `places`: kept, or
    /// built by `build` and kept. Refusals are not kept (they are cheap, and any text may be
    /// asked).
    pub fn answer(
        &self,
        places: &Arc<Places>,
        question: String,
        build: impl FnOnce() -> Result<serde_json::Value, BadRequest>,
    ) -> Result<Bytes, BadRequest> {
        if let Ok(mut kept) = self.kept.lock() {
            let same = kept.places.as_ref().is_some_and(|p| Arc::ptr_eq(p, places));
            if !same {
                kept.places = Some(places.clone());
                kept.answers.clear();
            }
            if let Some(bytes) = kept.answers.get(&question).cloned() {
                kept.hits += 1;
                return Ok(bytes);
            }
        }
        let bytes = Bytes::from(serde_json::to_vec(&build()?).unwrap_or_default());
        if let Ok(mut kept) = self.kept.lock()
            && kept.places.as_ref().is_some_and(|p| Arc::ptr_eq(p, places))
        {
            // Full (many spellings of questions, say): start again rather than refuse to
            // keep the questions asked now.
            if kept.answers.len() >= MAX_ANSWERS {
                kept.answers.clear();
            }
            kept.answers.insert(question, bytes.clone());
        }
        Ok(bytes)
    }

    /// Answers served from what was kept, since the start.
    pub fn hits(&self) -> u64 {
        self.kept.lock().map_or(0, |k| k.hits)
    }
}

#[cfg(test)]
mod tests;

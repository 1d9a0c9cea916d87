//! Trip distance bands: which band of trip length an observation falls in.
//!
//! Bands are half-open, `[lower, upper)`: with the default edges 1, 3, 5 and 10 km a trip of
//! exactly 1 km is in `1-3km`, a 0 m round trip in `0-1km`, and 10 km or more in `10km+`. A
//! trip's distance is its reported `distance_m`, else the great-circle distance from origin to
//! destination. Counts, and trips with neither, have no distance: band `unknown`, which is
//! left out of the band shares (and published beside them, so nothing disappears).

use serde::Deserialize;

use crate::vocabulary::{ConfigErrors, Kind, Observation};

/// `[distance_bands]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistanceBandsConfig {
    /// Edges between the bands in kilometres, increasing: `[1, 3, 5, 10]` gives `0-1km`,
    /// `1-3km`, `3-5km`, `5-10km` and `10km+`.
    pub edges_km: Vec<f64>,
}

/// Bands at most (labels stay bounded).
pub const MAX_BANDS: usize = 16;

/// The label of the band of observations without a distance.
pub const UNKNOWN_BAND: &str = "unknown";

/// A band by index: `0..len()` are distance bands in increasing order, [`Band::UNKNOWN`] is
/// the band of observations without a distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Band(pub u8);

impl Band {
    pub const UNKNOWN: Band = Band(u8::MAX);
}

/// The validated bands.
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceBands {
    edges_m: Vec<f64>,
    labels: Vec<String>,
}

/// `1.0` → `1`, `0.5` → `0.5`.
fn km(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl DistanceBandsConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> DistanceBands {
        let key = "distance_bands.edges_km";
        let mut ok = true;
        if self.edges_km.len() + 1 > MAX_BANDS {
            errors.push(key, format!("at most {} edges", MAX_BANDS - 1));
            ok = false;
        }
        for (i, edge) in self.edges_km.iter().enumerate() {
            if !(edge.is_finite() && *edge > 0.0 && *edge <= 40_000.0) {
                errors.push(
                    format!("{key}[{i}]"),
                    format!("{edge} km must be > 0 and ≤ 40000"),
                );
                ok = false;
            } else if (edge * 1000.0).fract() != 0.0 {
                errors.push(
                    format!("{key}[{i}]"),
                    format!("{edge} km: give edges in whole metres"),
                );
                ok = false;
            } else if i > 0 && *edge <= self.edges_km[i - 1] {
                errors.push(
                    format!("{key}[{i}]"),
                    format!("{edge} km must be larger than the edge before it"),
                );
                ok = false;
            }
        }
        if !ok {
            // Validation goes on to report everything; these bands are never used.
            return DistanceBands {
                edges_m: Vec::new(),
                labels: vec!["0km+".into()],
            };
        }
        let mut labels = Vec::with_capacity(self.edges_km.len() + 1);
        let mut lower = 0.0;
        for edge in &self.edges_km {
            labels.push(format!("{}-{}km", km(lower), km(*edge)));
            lower = *edge;
        }
        labels.push(format!("{}km+", km(lower)));
        DistanceBands {
            edges_m: self.edges_km.iter().map(|e| e * 1000.0).collect(),
            labels,
        }
    }
}

impl DistanceBands {
    /// The band of a distance in metres (`None`: unknown).
    pub fn band_of_distance(&self, distance_m: Option<f64>) -> Band {
        match distance_m {
            Some(d) if d.is_finite() && d >= 0.0 => {
                Band(self.edges_m.partition_point(|edge| *edge <= d) as u8)
            }
            _ => Band::UNKNOWN,
        }
    }

    /// The band of an observation: a trip's distance band, `unknown` for counts and for trips
    /// without a reported distance or a destination.
    pub fn band_of(&self, obs: &Observation<'_>) -> Band {
        match obs.kind {
            Kind::Trip => self.band_of_distance(obs.distance_m()),
            Kind::Count => Band::UNKNOWN,
        }
    }

    /// Distance bands, without `unknown`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label of a band (`0-1km`, `10km+`, `unknown`).
    pub fn label(&self, band: Band) -> &str {
        self.labels
            .get(usize::from(band.0))
            .map_or(UNKNOWN_BAND, String::as_str)
    }

    /// Every band in order, `unknown` last.
    pub fn all(&self) -> impl Iterator<Item = Band> + '_ {
        (0..self.labels.len() as u8)
            .map(Band)
            .chain(std::iter::once(Band::UNKNOWN))
    }

    /// A band's lower edge (inclusive) and upper edge (exclusive) in metres: both `None` for
    /// `unknown`, the upper `None` for the last band.
    pub fn range_m(&self, band: Band) -> (Option<f64>, Option<f64>) {
        if band == Band::UNKNOWN {
            return (None, None);
        }
        let i = usize::from(band.0);
        let lower = if i == 0 {
            Some(0.0)
        } else {
            self.edges_m.get(i - 1).copied()
        };
        (lower, self.edges_m.get(i).copied())
    }

    /// The edges in metres, for the checkpoint fingerprint.
    pub fn edges_m(&self) -> &[f64] {
        &self.edges_m
    }

    /// The index a band's tallies are kept at: distance bands in order, `unknown` last.
    pub fn slot(&self, band: Band) -> usize {
        usize::from(band.0).min(self.labels.len())
    }
}

#[cfg(test)]
mod tests;

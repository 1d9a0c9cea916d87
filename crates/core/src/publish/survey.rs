//! Coverage honesty: which modes a zone's numbers measured, and survey-filled person trips for
//! the modes nobody measured.
//!
//! No city measures every mode live: walking is rarely counted, car passengers never. Shares on
//! the *measured* basis divide the measured person trips only. The *filled* basis adds, for each
//! mode without events in the zone and window, an estimate from the configured travel survey:
//!
//! ```text
//! M      = modes with events or person trips in the zone and window (a counter's 0 is a
//!          measurement, and so is the part of a count's interval that falls in the window)
//! s(m)   = the survey's share of person trips by mode m
//! T(M∩S) = measured person trips of the measured modes the survey has a share for
//! filled(u) = T(M∩S) × s(u) / Σ s(M)          for every unmeasured mode u with s(u) > 0
//! ```
//!
//! That is, the unmeasured modes stand to the measured ones as they did in the survey. Measured
//! modes the survey has no share for (e-scooters, younger than most surveys) keep their measured
//! trips but do not scale the estimate. When no measured mode has a survey share there is nothing
//! to scale from and the filled basis is left out. The estimate assumes the measured modes are
//! measured completely in the zone; where counters see only part of the traffic it says so by
//! how much of the survey the measured modes cover (`survey_share_measured`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::state::ModeTotals;
use crate::vocabulary::{ConfigErrors, Mode, ModeSet, PersonTrips};

/// `[survey]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyConfig {
    /// The survey as planners cite it, shown next to every filled share.
    pub name: String,
    /// The year the survey measured.
    #[serde(default)]
    pub year: Option<i16>,
    /// Share of person trips per canonical mode (0–1, at most 1 together); modes left out
    /// have no share and are never filled.
    pub shares: BTreeMap<String, f64>,
}

/// The validated survey baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    pub name: String,
    pub year: Option<i16>,
    shares: [f64; Mode::COUNT],
}

/// Shares of a survey may add up to a little over 1 from rounding in the published tables.
const SUM_TOLERANCE: f64 = 0.005;

impl SurveyConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> Survey {
        let mut shares = [0.0; Mode::COUNT];
        if self.name.trim().is_empty() {
            errors.push("survey.name", "is empty; name the survey planners cite");
        }
        for (name, share) in &self.shares {
            let key = format!("survey.shares.{name}");
            match Mode::from_name(name) {
                None => errors.push(
                    key,
                    format!(
                        "{name:?} is not a canonical mode ({}); give a group's share split by its modes",
                        Mode::names()
                    ),
                ),
                Some(_) if !(share.is_finite() && (0.0..=1.0).contains(share)) => errors.push(
                    key,
                    format!("{share} is a share and must be within 0–1 (0.19 for 19 %)"),
                ),
                Some(mode) => shares[mode.index()] = *share,
            }
        }
        let sum: f64 = shares.iter().sum();
        if sum > 1.0 + SUM_TOLERANCE {
            errors.push(
                "survey.shares",
                format!("add up to {sum:.3}; a survey's shares add up to at most 1"),
            );
        }
        if sum <= 0.0 {
            errors.push(
                "survey.shares",
                "needs at least one mode with a share above 0",
            );
        }
        Survey {
            name: self.name.clone(),
            year: self.year,
            shares,
        }
    }
}

impl Survey {
    /// The survey's share of a mode (0 when it has none).
    pub fn share(&self, mode: Mode) -> f64 {
        self.shares[mode.index()]
    }

    /// Modes with a share above 0, with their shares.
    pub fn shares(&self) -> impl Iterator<Item = (Mode, f64)> + '_ {
        Mode::ALL
            .into_iter()
            .map(|m| (m, self.share(m)))
            .filter(|(_, s)| *s > 0.0)
    }

    /// What was measured in `measured` and what the survey fills in.
    pub fn fill(&self, measured: &ModeTotals) -> Coverage {
        let modes: ModeSet = measured.observed().map(|(m, _)| m).collect();
        let survey_share_measured: f64 = modes.iter().map(|m| self.share(m)).sum();
        let scaling = modes
            .iter()
            .filter(|m| self.share(*m) > 0.0)
            .fold(PersonTrips::ZERO, |sum, m| {
                sum + measured.get(m).person_trips
            });
        let mut filled = Vec::new();
        let fillable = survey_share_measured > 0.0 && !scaling.is_zero();
        if fillable {
            for (mode, share) in self.shares() {
                if !modes.contains(mode) {
                    filled.push((mode, scaling.scaled(share / survey_share_measured)));
                }
            }
        }
        Coverage {
            measured: modes,
            survey_share_measured,
            filled,
            fillable,
        }
    }
}

/// The coverage of one zone in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// Modes with events or person trips.
    pub measured: ModeSet,
    /// The survey's share of the measured modes together (0–1): how much of the city's travel,
    /// as the survey saw it, the measurements stand for.
    pub survey_share_measured: f64,
    /// Unmeasured modes with a survey share, and the person trips filled in for them.
    pub filled: Vec<(Mode, PersonTrips)>,
    /// Whether the filled basis exists: some measured mode with a survey share had person trips.
    pub fillable: bool,
}

impl Coverage {
    /// The measured person trips plus the filled ones (`None` when nothing can be filled).
    pub fn filled_totals(&self, measured: &ModeTotals) -> Option<ModeTotals> {
        if !self.fillable {
            return None;
        }
        let mut totals = measured.clone();
        for (mode, trips) in &self.filled {
            totals.add_person_trips(*mode, *trips);
        }
        Some(totals)
    }

    /// Filled person trips over all filled modes.
    pub fn filled_person_trips(&self) -> PersonTrips {
        self.filled
            .iter()
            .fold(PersonTrips::ZERO, |sum, (_, t)| sum + *t)
    }
}

#[cfg(test)]
mod tests;

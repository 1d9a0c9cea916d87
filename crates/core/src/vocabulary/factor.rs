//! Person trips: how much one observation contributes, and the factors planners set for counts.
//!
//! A trip contributes its `persons`. A count contributes `count × persons_per_unit`, where the
//! factor comes from the event or, when absent, from `[counts]` per mode. Public-transport
//! boardings include transfers, so their default factor is `1 / transfer_factor`.
//!
//! Person trips are kept as integer micro-person-trips so that sums do not depend on the order
//! events arrive in: a shuffled backfill gives bit-identical totals to the sorted one.

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

use serde::Deserialize;

use super::config_error::ConfigErrors;
use super::message::number_text;
use super::mode::Mode;

/// An amount of person trips with a resolution of 10⁻⁶.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonTrips(u64);

impl PersonTrips {
    const PER_TRIP: f64 = 1e6;

    /// The largest contribution one event may make; larger values are rejected as `bad_value`.
    pub const MAX_PER_EVENT: f64 = 1e9;

    pub const ZERO: PersonTrips = PersonTrips(0);

    /// One person trip.
    pub const ONE: PersonTrips = PersonTrips(1_000_000);

    /// Rounds a non-negative finite amount to the 10⁻⁶ resolution. `None` when out of range.
    pub fn from_f64(value: f64) -> Option<PersonTrips> {
        if value.is_finite() && (0.0..=Self::MAX_PER_EVENT).contains(&value) {
            Some(PersonTrips((value * Self::PER_TRIP).round() as u64))
        } else {
            None
        }
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::PER_TRIP
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The amount times a non-negative factor, rounded to the 10⁻⁶ resolution (saturating).
    pub fn scaled(self, factor: f64) -> PersonTrips {
        PersonTrips((self.0 as f64 * factor.max(0.0)).round() as u64)
    }

    /// The amount in units of 10⁻⁶, for checkpoints.
    pub(crate) fn micros(self) -> u64 {
        self.0
    }

    pub(crate) fn from_micros(micros: u64) -> PersonTrips {
        PersonTrips(micros)
    }

    /// The amount less `rhs` (saturating at zero): takes back exactly what was added.
    pub(crate) fn less(self, rhs: PersonTrips) -> PersonTrips {
        PersonTrips(self.0.saturating_sub(rhs.0))
    }

    /// Splits the amount in proportion to `weights`, exactly: the parts always add up to the
    /// whole (the remainder of the rounding goes to the first parts, one unit each), or are all
    /// zero when the weights are. The weights are read three times (their sum, the rounding,
    /// the parts), so nothing is allocated.
    pub fn split<W>(self, weights: W) -> impl Iterator<Item = PersonTrips>
    where
        W: Iterator<Item = u64> + Clone,
    {
        let total_weight: u128 = weights.clone().map(u128::from).sum();
        let rounded_down = move |w: u64| match u128::from(w) {
            0 => 0,
            // One part of the whole (most often the only one) without a 128-bit division.
            w if w == total_weight => self.0,
            w => (u128::from(self.0) * w / total_weight) as u64,
        };
        let mut remainder = match total_weight {
            0 => 0,
            _ => self.0 - weights.clone().map(rounded_down).sum::<u64>(),
        };
        weights.map(move |w| {
            let extra = u64::from(remainder > 0);
            remainder -= extra;
            PersonTrips(rounded_down(w) + extra)
        })
    }
}

impl Add for PersonTrips {
    type Output = PersonTrips;
    fn add(self, rhs: PersonTrips) -> PersonTrips {
        PersonTrips(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for PersonTrips {
    fn add_assign(&mut self, rhs: PersonTrips) {
        *self = *self + rhs;
    }
}

/// `[counts]`: how counted units become person trips.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsConfig {
    /// Boardings per public-transport person trip (a trip with one transfer is two boardings).
    pub transfer_factor: f64,
    /// The modes whose counts are boardings and get `1 / transfer_factor`.
    pub boarding_modes: Vec<String>,
    /// Explicit person trips per counted unit by mode; wins over the transfer factor. Every
    /// mode not named here and not a boarding mode defaults to 1.0.
    pub persons_per_unit: BTreeMap<String, f64>,
    /// The most `persons` one trip may carry; beyond it a trip is `implausible_value`.
    pub max_persons_per_trip: f64,
    /// The largest count one reading (a counter's interval, a boarding event) may carry;
    /// beyond it a count is `implausible_value`.
    pub max_count_per_reading: f64,
}

/// The validated per-mode factor for counts without their own `persons_per_unit`, and the
/// plausibility bounds of what one event may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonTripFactors {
    per_mode: [f64; Mode::COUNT],
    max_persons_per_trip: f64,
    max_count_per_reading: f64,
}

impl PersonTripFactors {
    pub fn persons_per_unit(&self, mode: Mode) -> f64 {
        self.per_mode[mode.index()]
    }

    /// `counts.max_persons_per_trip`.
    pub fn max_persons_per_trip(&self) -> f64 {
        self.max_persons_per_trip
    }

    /// `counts.max_count_per_reading`.
    pub fn max_count_per_reading(&self) -> f64 {
        self.max_count_per_reading
    }
}

/// The settings a rejection as `implausible_value` names.
pub(crate) const MAX_PERSONS_SETTING: &str = "counts.max_persons_per_trip";
pub(crate) const MAX_COUNT_SETTING: &str = "counts.max_count_per_reading";

/// The largest accepted persons-per-unit factor, in config and in events.
pub(crate) const MAX_PERSONS_PER_UNIT: f64 = 1000.0;

impl CountsConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> PersonTripFactors {
        let mut per_mode = [1.0; Mode::COUNT];
        if !(self.transfer_factor.is_finite() && self.transfer_factor >= 1.0) {
            errors.push(
                "counts.transfer_factor",
                format!(
                    "{} must be ≥ 1 (boardings per person trip)",
                    self.transfer_factor
                ),
            );
        } else {
            for (i, name) in self.boarding_modes.iter().enumerate() {
                match Mode::from_name(name) {
                    Some(m) => per_mode[m.index()] = 1.0 / self.transfer_factor,
                    None => errors.push(
                        format!("counts.boarding_modes[{i}]"),
                        format!("{name:?} is not a canonical mode ({})", Mode::names()),
                    ),
                }
            }
        }
        for (name, &factor) in &self.persons_per_unit {
            let key = format!("counts.persons_per_unit.{name}");
            match Mode::from_name(name) {
                None => errors.push(
                    key,
                    format!("{name:?} is not a canonical mode ({})", Mode::names()),
                ),
                Some(_)
                    if !(factor.is_finite() && factor > 0.0 && factor <= MAX_PERSONS_PER_UNIT) =>
                {
                    errors.push(
                        key,
                        format!("{factor} must be > 0 and ≤ {MAX_PERSONS_PER_UNIT}"),
                    )
                }
                Some(m) => per_mode[m.index()] = factor,
            }
        }
        let mut bound = |key: &str, value: f64| {
            if (1.0..=PersonTrips::MAX_PER_EVENT).contains(&value) {
                value
            } else {
                errors.push(
                    key,
                    format!(
                        "{value} must be ≥ 1 and ≤ {}",
                        number_text(PersonTrips::MAX_PER_EVENT)
                    ),
                );
                PersonTrips::MAX_PER_EVENT
            }
        };
        PersonTripFactors {
            per_mode,
            max_persons_per_trip: bound(MAX_PERSONS_SETTING, self.max_persons_per_trip),
            max_count_per_reading: bound(MAX_COUNT_SETTING, self.max_count_per_reading),
        }
    }
}

#[cfg(test)]
mod tests;

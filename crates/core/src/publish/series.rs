//! A trend: one zone's person trips and share of a group (or a mode), step by step — day, ISO
//! week or calendar month — on the measured or the filled basis, from the calendar days the
//! state keeps, with each step's coverage and under the k rule: every step is a zone window of
//! its own ([`super::public`]).

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use super::public::{Public, public_zone_window};
use super::settings::PublishSettings;
use super::view::{BasisView, zone_window};
use crate::state::{ModeTotals, ZoneBreakdown};
use crate::vocabulary::Mode;

/// How long one point of a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    Month,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Day, Step::Week, Step::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The first day of the step that holds `date`.
    fn start(self, date: Date) -> Date {
        match self {
            Step::Day => date,
            Step::Week => {
                let back = i64::from(date.weekday().to_monday_zero_offset());
                date.checked_sub(jiff::Span::new().days(back))
                    .unwrap_or(date)
            }
            Step::Month => date.first_of_month(),
        }
    }
}

/// What a series follows: a group's share, or a mode's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Group(String),
    Mode(Mode),
}

/// Which basis the shares divide: measured person trips only, or with the unmeasured modes
/// filled from the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Measured,
    Filled,
}

/// One step of a series. Numbers are null where the k rule hides them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// The first and last date (inclusive) of the step within the asked range.
    pub start: String,
    pub end: String,
    /// The group's (or mode's) person trips: the share's numerator.
    pub person_trips: Public,
    /// Every mode's person trips: the share's denominator.
    pub total_person_trips: Public,
    /// 0–1; null when hidden, or without person trips.
    pub share: Public,
    /// Modes with events or person trips in the step.
    pub measured_modes: Vec<&'static str>,
    /// Filled person trips over the filled total (filled basis only).
    pub filled_fraction: Option<Public>,
}

/// The steps from `from` to `to` (inclusive) of zone `zone` in `days` (person trips per zone
/// and mode per local day, as [`crate::state::daily_totals`] sums them). A step partly outside
/// the range covers only its days inside it; days without events count as empty.
#[allow(clippy::too_many_arguments)]
pub fn series(
    days: &BTreeMap<Date, Vec<ModeTotals>>,
    zone: usize,
    subject: &Subject,
    step: Step,
    basis: Basis,
    from: Date,
    to: Date,
    settings: PublishSettings<'_>,
) -> Vec<SeriesPoint> {
    let mut steps: Vec<(Date, Date, ModeTotals)> = Vec::new();
    let mut date = from;
    while date <= to {
        let key = step.start(date);
        match steps.last_mut() {
            Some((start, end, totals)) if step.start(*start) == key => {
                *end = date;
                add_day(totals, days, date, zone);
            }
            _ => {
                let mut totals = ModeTotals::default();
                add_day(&mut totals, days, date, zone);
                steps.push((date, date, totals));
            }
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    let empty = ZoneBreakdown::new(settings.bands);
    steps
        .into_iter()
        .map(|(start, end, totals)| {
            let exact = zone_window(&totals, &empty, settings);
            let public = public_zone_window(&exact, &totals, &empty, settings, settings.k);
            let numbers = match basis {
                Basis::Measured => Some(&public.measured),
                Basis::Filled => public.filled.as_ref(),
            };
            let (person_trips, total_person_trips, share) = match numbers {
                Some(n) => shares_of(n, subject),
                None => (None, None, None),
            };
            SeriesPoint {
                start: start.to_string(),
                end: end.to_string(),
                person_trips,
                total_person_trips,
                share,
                measured_modes: public.coverage.measured_modes.clone(),
                filled_fraction: match basis {
                    Basis::Filled => public.coverage.filled_fraction,
                    Basis::Measured => None,
                },
            }
        })
        .collect()
}

fn add_day(
    totals: &mut ModeTotals,
    days: &BTreeMap<Date, Vec<ModeTotals>>,
    date: Date,
    zone: usize,
) {
    if let Some(t) = days.get(&date).and_then(|per_zone| per_zone.get(zone)) {
        totals.merge(t);
    }
}

/// The subject's person trips, the total and the share on one basis.
fn shares_of(n: &BasisView<Public>, subject: &Subject) -> (Public, Public, Public) {
    let total = n.total_person_trips;
    let empty = total == Some(0.0);
    match subject {
        Subject::Group(g) => {
            let trips = if empty {
                Some(0.0)
            } else {
                n.group_person_trips.get(g).copied().flatten()
            };
            (trips, total, n.shares.get(g).copied().flatten())
        }
        Subject::Mode(m) => {
            // A mode without events is not listed: its person trips are 0.
            let trips = n.person_trips.get(m.as_str()).copied().unwrap_or(Some(0.0));
            let share = match (trips, total) {
                (Some(t), Some(all)) if all > 0.0 => Some(t / all),
                _ => None,
            };
            (trips, total, share)
        }
    }
}

#[cfg(test)]
mod tests;

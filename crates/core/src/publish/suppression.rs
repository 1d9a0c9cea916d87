//! Suppression of one table of place-level numbers under the k rule, with secondary
//! suppression, as statistics offices do it.
//!
//! A table is a set of *parts* (say a zone's person trips per mode in one window) and the
//! *sums* of parts published beside them (the zone's total, each group's numerator). A part or
//! sum below k (fewer than k events or fewer than k person trips) is hidden; a part that is
//! zero is shown (nothing happened: it reveals nobody). Then whatever else must go goes too, so
//! that no hidden number follows from the shown ones: not a total minus its visible parts, nor
//! any other combination of shown sums and parts (a group minus its visible members, a total
//! minus a group). Each round hides the smallest shown non-zero part that breaks the disclosure
//! found, else the smallest one anyway (later rounds hide more), and when no part is left, the
//! sums that give it away.
//!
//! Whether a hidden number follows from the shown ones is linear algebra: it does exactly when
//! its row (the parts it adds up) lies in the span of the rows of the shown numbers. Tables are
//! small (a few modes, bands or classes), so the span is built by plain elimination.

use crate::state::ModeTally;

/// Which numbers of a table may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Per part, in the order given.
    pub parts: Vec<bool>,
    /// Per sum, in the order given.
    pub sums: Vec<bool>,
}

impl Suppression {
    /// Whether nothing at all is hidden.
    pub fn shows_all(&self) -> bool {
        self.parts.iter().chain(&self.sums).all(|s| *s)
    }
}

/// Whether one number passes the k rule (the events and the person trips it stands for); k = 1
/// shows every number, even a single boarding's fraction of a person trip.
pub fn tally_passes(t: &ModeTally, k: u64) -> bool {
    k <= 1 || (t.events >= k && t.person_trips.as_f64() >= k as f64)
}

fn is_zero(t: &ModeTally) -> bool {
    t.events == 0 && t.person_trips.is_zero()
}

fn sum_of(parts: &[ModeTally], members: &[usize]) -> ModeTally {
    let mut t = ModeTally::default();
    for &i in members {
        t.events += parts[i].events;
        t.person_trips += parts[i].person_trips;
    }
    t
}

/// Decisions made elsewhere that a table must keep: `Some(true)` for a number that is public
/// anyway (an estimate, a number another table shows), `Some(false)` for one another table
/// hides; `None` to decide here.
#[derive(Debug, Clone, Default)]
pub struct Fixed {
    pub parts: Vec<Option<bool>>,
    pub sums: Vec<Option<bool>>,
}

/// Decides which parts and sums of a table may be shown. `sums` lists, per published sum, the
/// indexes of the parts it adds up (a total lists them all).
pub fn suppress(parts: &[ModeTally], sums: &[Vec<usize>], k: u64) -> Suppression {
    suppress_with(parts, sums, k, &Fixed::default())
}

/// [`suppress`], keeping the decisions of `fixed`.
pub fn suppress_with(
    parts: &[ModeTally],
    sums: &[Vec<usize>],
    k: u64,
    fixed: &Fixed,
) -> Suppression {
    let sum_tallies: Vec<ModeTally> = sums.iter().map(|s| sum_of(parts, s)).collect();
    // A sum is judged by what it adds that is not public anyway: a sum of estimates and of
    // numbers shown elsewhere gives nothing away, and one such number beside a small count
    // would give the count away.
    let known = |i: &usize| fixed.parts.get(*i).copied().flatten() == Some(true);
    let unknown: Vec<ModeTally> = sums
        .iter()
        .map(|s| {
            let members: Vec<usize> = s.iter().copied().filter(|i| !known(i)).collect();
            sum_of(parts, &members)
        })
        .collect();
    let decide = |t: &ModeTally, fixed: Option<&Option<bool>>| {
        fixed
            .copied()
            .flatten()
            .unwrap_or_else(|| is_zero(t) || tally_passes(t, k))
    };
    let mut shown = Suppression {
        parts: parts
            .iter()
            .enumerate()
            .map(|(i, t)| decide(t, fixed.parts.get(i)))
            .collect(),
        sums: unknown
            .iter()
            .enumerate()
            .map(|(s, t)| decide(t, fixed.sums.get(s)))
            .collect(),
    };
    if shown.shows_all() {
        return shown;
    }
    let free = |i: usize| fixed.parts.get(i).copied().flatten().is_none();
    // Every round hides at least one more number, so this ends within parts + sums rounds.
    for _ in 0..=parts.len() + sums.len() {
        let Some(disclosed) = first_disclosed(parts, sums, &sum_tallies, &shown) else {
            break;
        };
        let mut candidates: Vec<usize> = (0..parts.len())
            .filter(|&i| shown.parts[i] && !is_zero(&parts[i]) && free(i))
            .collect();
        candidates.sort_by(|&a, &b| {
            let key = |i: usize| (parts[i].person_trips, parts[i].events, i);
            key(a).cmp(&key(b))
        });
        let smallest = candidates.first().copied();
        let breaks = candidates.into_iter().find(|&c| {
            let mut trial = shown.clone();
            hide_part(&mut trial, parts, sums, fixed, c);
            !is_disclosed(parts.len(), sums, &trial, &disclosed)
        });
        match breaks.or(smallest) {
            // A part that breaks it, else the smallest shown part anyway: the next rounds hide
            // what still gives the number away.
            Some(c) => hide_part(&mut shown, parts, sums, fixed, c),
            // No part is left to hide: hide the shown sums that hold all of its non-zero parts
            // (zeros are known anyway), else every shown sum that holds any of them.
            None => {
                let non_zero: Vec<usize> = disclosed
                    .iter()
                    .copied()
                    .filter(|&p| !is_zero(&parts[p]))
                    .collect();
                let hideable = |s: usize, shown: &Suppression| {
                    shown.sums[s] && fixed.sums.get(s).copied().flatten().is_none()
                };
                let holding_all: Vec<usize> = (0..sums.len())
                    .filter(|&s| hideable(s, &shown))
                    .filter(|&s| non_zero.iter().all(|p| sums[s].contains(p)))
                    .collect();
                let chosen = if holding_all.is_empty() {
                    (0..sums.len())
                        .filter(|&s| hideable(s, &shown))
                        .filter(|&s| non_zero.iter().any(|p| sums[s].contains(p)))
                        .collect()
                } else {
                    holding_all
                };
                if chosen.is_empty() {
                    // Only numbers other tables decided are left: nothing more to hide here.
                    break;
                }
                for s in chosen {
                    shown.sums[s] = false;
                }
            }
        }
    }
    shown
}

/// Hides part `c`, and with it every shown sum that is the same number (a group whose only
/// non-zero member it is): hiding one without the other hides nothing.
fn hide_part(
    shown: &mut Suppression,
    parts: &[ModeTally],
    sums: &[Vec<usize>],
    fixed: &Fixed,
    c: usize,
) {
    shown.parts[c] = false;
    for (s, members) in sums.iter().enumerate() {
        let mut non_zero = members.iter().filter(|&&i| !is_zero(&parts[i]));
        let only_c = non_zero.next() == Some(&c) && non_zero.next().is_none();
        if only_c && fixed.sums.get(s).copied().flatten().is_none() {
            shown.sums[s] = false;
        }
    }
}

/// The parts of the first hidden, non-zero number (a part or a sum) that the shown ones give
/// away.
fn first_disclosed(
    parts: &[ModeTally],
    sums: &[Vec<usize>],
    sum_tallies: &[ModeTally],
    shown: &Suppression,
) -> Option<Vec<usize>> {
    let hidden_parts = (0..parts.len())
        .filter(|&i| !shown.parts[i] && !is_zero(&parts[i]))
        .map(|i| vec![i]);
    let hidden_sums = (0..sums.len())
        .filter(|&s| !shown.sums[s] && !is_zero(&sum_tallies[s]))
        .map(|s| sums[s].clone());
    let span = Span::of(parts.len(), sums, shown);
    hidden_parts
        .chain(hidden_sums)
        .find(|members| span.contains(&indicator(parts.len(), members)))
}

fn is_disclosed(n: usize, sums: &[Vec<usize>], shown: &Suppression, members: &[usize]) -> bool {
    Span::of(n, sums, shown).contains(&indicator(n, members))
}

fn indicator(n: usize, members: &[usize]) -> Vec<f64> {
    let mut row = vec![0.0; n];
    for &i in members {
        row[i] = 1.0;
    }
    row
}

/// The span of the shown numbers' rows, as rows in echelon form with their pivot columns.
struct Span {
    rows: Vec<(usize, Vec<f64>)>,
}

/// Entries of the 0/1 rows stay small integers or simple fractions; anything this close to zero
/// is zero.
const EPSILON: f64 = 1e-9;

impl Span {
    fn of(n: usize, sums: &[Vec<usize>], shown: &Suppression) -> Span {
        let mut span = Span { rows: Vec::new() };
        let part_rows = (0..n)
            .filter(|&i| shown.parts[i])
            .map(|i| indicator(n, &[i]));
        let sum_rows = (0..sums.len())
            .filter(|&s| shown.sums[s])
            .map(|s| indicator(n, &sums[s]));
        for row in part_rows.chain(sum_rows) {
            let reduced = span.reduce(row);
            if let Some(pivot) = reduced.iter().position(|v| v.abs() > EPSILON) {
                let scale = reduced[pivot];
                span.rows
                    .push((pivot, reduced.iter().map(|v| v / scale).collect()));
            }
        }
        span
    }

    /// `row` minus its components along the span's rows.
    fn reduce(&self, mut row: Vec<f64>) -> Vec<f64> {
        for (pivot, basis) in &self.rows {
            let factor = row[*pivot];
            if factor.abs() > EPSILON {
                for (r, b) in row.iter_mut().zip(basis) {
                    *r -= factor * b;
                }
            }
        }
        row
    }

    fn contains(&self, row: &[f64]) -> bool {
        self.reduce(row.to_vec()).iter().all(|v| v.abs() <= EPSILON)
    }
}

#[cfg(test)]
mod tests;

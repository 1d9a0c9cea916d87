//! `[windows]`: the bucket, the rolling windows, the calendar's time zone and the lateness, as
//! written and validated.

use std::collections::BTreeMap;
use std::ops::Range;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::vocabulary::{ConfigErrors, DurationMs, EventTimeMs, is_label_safe};

/// `[windows]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Size of the event-time buckets windows are made of; must divide a day and every UTC
    /// offset of `time_zone`, so that buckets never straddle local midnight.
    pub bucket: String,
    /// Rolling windows ending at the watermark; each is also its label (`window="24h"`).
    pub rolling: Vec<String>,
    /// IANA time zone of the calendar totals (day, month, year to date).
    pub time_zone: String,
    /// How far behind its partition's newest event an event may be and still be on time; the
    /// partition's watermark is its newest event time minus this.
    pub allowed_lateness: String,
    /// Per source, a longer (or shorter) lateness before its events count as late; counters
    /// that publish hourly exports need hours.
    pub lateness_by_source: BTreeMap<String, String>,
    /// A partition without events for this long (processing time) no longer holds back the
    /// combined watermark.
    pub idle_timeout: String,
}

/// A rolling window: its label as configured and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingWindow {
    pub label: String,
    pub length: DurationMs,
}

/// The validated `[windows]`.
#[derive(Debug, Clone)]
pub struct WindowSettings {
    pub bucket: DurationMs,
    pub rolling: Vec<RollingWindow>,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub allowed_lateness: DurationMs,
    pub lateness_by_source: BTreeMap<String, DurationMs>,
    pub idle_timeout: DurationMs,
}

impl WindowsConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> WindowSettings {
        let bucket = errors.duration("windows.bucket", &self.bucket, DurationMs::POSITIVE);
        let allowed_lateness = errors.duration(
            "windows.allowed_lateness",
            &self.allowed_lateness,
            DurationMs::POSITIVE,
        );
        let idle_timeout = errors.duration(
            "windows.idle_timeout",
            &self.idle_timeout,
            DurationMs::POSITIVE,
        );
        let mut rolling = Vec::new();
        for (i, label) in self.rolling.iter().enumerate() {
            // At least one bucket; shorter ones are reported here, not again as a fraction.
            let length = errors.duration(
                format!("windows.rolling[{i}]"),
                label,
                bucket..=DurationMs::MAX,
            );
            rolling.push(RollingWindow {
                label: label.clone(),
                length,
            });
        }
        let lateness_by_source = self
            .lateness_by_source
            .iter()
            .map(|(source, text)| {
                let d = errors.duration(
                    format!("windows.lateness_by_source.{source}"),
                    text,
                    DurationMs::POSITIVE,
                );
                (source.clone(), d)
            })
            .collect();
        for (i, w) in rolling.iter().enumerate() {
            if !is_label_safe(&w.label) {
                errors.push(
                    format!("windows.rolling[{i}]"),
                    "write windows like \"1h\", \"24h\", \"7d\" (they are labels)",
                );
            } else if w.length.0 % bucket.0 != 0 {
                errors.push(
                    format!("windows.rolling[{i}]"),
                    format!(
                        "{} is not a whole number of buckets ({})",
                        w.label, self.bucket
                    ),
                );
            }
        }
        if rolling.is_empty() {
            errors.push("windows.rolling", "needs at least one window");
        }
        let time_zone = match TimeZone::get(&self.time_zone) {
            Ok(tz) => tz,
            Err(e) => {
                errors.push(
                    "windows.time_zone",
                    format!("{:?} is not a known IANA time zone: {e}", self.time_zone),
                );
                TimeZone::UTC
            }
        };
        if let Some(problem) = bucket_misaligned(bucket, &time_zone) {
            errors.push(
                "windows.bucket",
                format!(
                    "{} {problem}, so calendar days would not align",
                    self.bucket
                ),
            );
        }
        WindowSettings {
            bucket,
            rolling,
            time_zone,
            time_zone_name: self.time_zone.clone(),
            allowed_lateness,
            lateness_by_source,
            idle_timeout,
        }
    }
}

/// Whether buckets of this size can straddle a local midnight in the time zone: the size must
/// divide a day and every UTC offset the zone uses between 1970 and 2100.
fn bucket_misaligned(bucket: DurationMs, tz: &TimeZone) -> Option<String> {
    if 86_400_000 % bucket.0 != 0 {
        return Some("does not divide a day".into());
    }
    let start = jiff::Timestamp::UNIX_EPOCH;
    let end = jiff::Timestamp::from_second(4_102_444_800).unwrap_or(jiff::Timestamp::MAX);
    let offsets = std::iter::once(tz.to_offset(start)).chain(
        tz.following(start)
            .take_while(|t| t.timestamp() < end)
            .map(|t| t.offset()),
    );
    for offset in offsets {
        if (i64::from(offset.seconds()) * 1000) % bucket.0 != 0 {
            return Some(format!(
                "does not divide the UTC offset {offset} of the time zone"
            ));
        }
    }
    None
}

impl WindowSettings {
    /// The lateness that applies to a source's events.
    pub fn lateness_of(&self, source: &str) -> DurationMs {
        self.lateness_by_source
            .get(source)
            .copied()
            .unwrap_or(self.allowed_lateness)
    }

    /// The longest rolling window.
    pub fn longest_window(&self) -> DurationMs {
        self.rolling
            .iter()
            .map(|w| w.length)
            .max()
            .unwrap_or(self.bucket)
    }

    /// How far behind the newest event buckets are kept.
    pub(super) fn retention(&self) -> DurationMs {
        let max_lateness = self
            .lateness_by_source
            .values()
            .copied()
            .fold(self.allowed_lateness, DurationMs::max);
        DurationMs(self.longest_window().0 + max_lateness.0 + self.bucket.0)
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: EventTimeMs) -> EventTimeMs {
        EventTimeMs(t.0.div_euclid(self.bucket.0) * self.bucket.0)
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, t: EventTimeMs) -> Option<Date> {
        let ts = jiff::Timestamp::from_millisecond(t.0).ok()?;
        Some(self.time_zone.to_datetime(ts).date())
    }

    /// The instants (epoch ms) whose local date is `date`: from its first instant to the next
    /// day's (23 or 25 hours on the days summer time starts or ends).
    pub(crate) fn local_day_span(&self, date: Date) -> Option<Range<i64>> {
        let first_instant = |d: Date| {
            // Where a change of offset skips midnight, the day starts at the first instant
            // after the gap, which the compatible disambiguation picks.
            self.time_zone
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .ok()
                .map(|t| t.as_millisecond())
        };
        Some(first_instant(date)?..first_instant(date.tomorrow().ok()?)?)
    }
}

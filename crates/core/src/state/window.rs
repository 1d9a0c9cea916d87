//! Event-time windows: buckets, the watermark, rolling windows and calendar totals.
//!
//! Each input partition keeps person trips per zone × mode in fixed event-time buckets
//! (default 15 min) and per local calendar day. Its watermark is its maximum event time minus the
//! allowed lateness; an event behind the watermark is *late* but still counted everywhere.
//! A rolling window of length L at watermark W covers the complete buckets in
//! `[⌊W⌋ − L, ⌊W⌋)`, where `⌊W⌋` is W rounded down to a bucket boundary. Buckets are kept only
//! as long as the longest window plus the lateness needs them, so memory is flat in event count.
//! A count's person trips are spread pro rata over the buckets (and days) its interval covers.
//! The same buckets also hold where the trips happened, per H3 cell and per zone pair
//! ([`super::places`]), for the hex map; calendar periods have no cells.

mod settings;
mod summed_buckets;

mod state;

mod query;

pub use query::{
    CalendarTotals, PartitionClock, combined_watermark, daily_totals, window_cells, window_stops,
    window_zone_pairs,
};
pub(crate) use query::{calendar_totals, window_breakdown, window_totals};
pub use settings::{RollingWindow, WindowSettings, WindowsConfig};
pub use state::{HISTORY_DAYS, WindowState, history_from, pieces};
pub(crate) use state::{SavedWindowBreakdowns, SavedWindows, SavedZoneWindows};

#[cfg(test)]
mod tests;

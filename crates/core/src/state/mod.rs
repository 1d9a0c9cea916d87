//! State: what one input partition has observed, kept so that it can be summed across
//! partitions and checkpointed — per-mode tallies; totals of events by source and outcome and
//! of person trips per zone and cell; the dedup memory; event-time buckets, the watermark and
//! calendar days per zone; places (cells, zone pairs, stop places) per bucket; and the stored
//! form of each. It uses the vocabulary, decoding's reasons and space.

mod buckets;
mod tally;

mod breakdown;
mod dedup;

mod places;
mod totals;

mod window;

pub(crate) use breakdown::SavedClassTally;
pub use breakdown::{Breakdown, Class, ZoneBreakdown};
pub(crate) use dedup::SavedDedup;
pub use dedup::{DedupConfig, DedupKey, DedupMemory, IdShard, SHARDS};
pub(crate) use places::SavedPlaces;
pub use places::{CellWindow, Piece, PlaceBuckets, StopTotals, StopUse, ZonePair};
pub use tally::{ModeTally, ModeTotals};
pub(crate) use totals::SavedTotals;
pub use totals::{EventCounts, MAX_SOURCES, OTHER_SOURCE, SourceCounts, Totals};
pub use window::{
    CalendarTotals, HISTORY_DAYS, PartitionClock, RollingWindow, WindowSettings, WindowState,
    WindowsConfig, combined_watermark, daily_totals, history_from, pieces, window_cells,
    window_stops, window_zone_pairs,
};
pub(crate) use window::{SavedWindowBreakdowns, SavedWindows, SavedZoneWindows};
pub(crate) use window::{calendar_totals, window_breakdown, window_totals};

//! What several formats share, below all of them: lenient JSON field values, CSV tables, times
//! written without an offset, GTFS feeds, and the event model's checks with their messages.

pub(crate) mod gtfs;
pub(crate) mod json;
pub(crate) mod local_time;

pub(crate) mod check;

pub(crate) mod table;

//! Decoding: every input format into [`Observation`](crate::vocabulary::Observation)s, with a
//! bounded reason and a message that names the field and the value for everything rejected.
//!
//! Inside, imports go down this list: `error` (what a decoder returns); `shared` (lenient JSON
//! fields, CSV tables, local times, GTFS feeds and the event model's checks, used by several
//! formats); the formats, which never use each other (`canonical`, `mds`, `operator`, `tides`,
//! `trafikkdata`); `table_decoder` (the CSV layouts as one decoder); `format` (which decoder reads
//! an input). It uses only the vocabulary.

mod error;

mod shared;

mod canonical;
mod mds;
mod operator;
mod tides;
mod trafikkdata;

mod table_decoder;

mod format;

pub use canonical::{CanonicalDecoder, encode as encode_canonical};
pub use error::{DecodeError, Decoded, Reason, SkipReason};
pub use format::{Format, FormatDecoder, FormatError, FormatSettings, FormatsConfig, Framing};
pub use mds::{MdsConfig, MdsDecoder, MdsSettings, MdsVersion, ProviderConfig};
pub use operator::{OperatorConfig, OperatorDecoder, PRESETS};
pub use shared::gtfs::{Gtfs, GtfsError, GtfsStop, GtfsTables, TripMode, read_stop_rows};
pub use shared::local_time::LocalTimeRule;
pub use table_decoder::{Row, TableBinding, TableDecoder};
pub use tides::{TidesConfig, TidesDecoder};
pub use trafikkdata::{
    RegistrationPoints, RegistrationPointsError, TrafikkdataConfig, TrafikkdataDecoder,
};

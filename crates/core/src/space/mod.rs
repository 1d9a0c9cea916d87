//! Space: where an observation happened and what kind of trip it was — its H3 cell and the zones
//! whose polygons contain its exact point, its trip distance band, and whether it starts or ends
//! near a public-transport stop. Built once from configuration, then read-only while events
//! flow. It uses the vocabulary and (for stops from GTFS feeds) decoding.

mod cell_locator;
mod distance;
mod zone;

mod access;
mod spatial;

mod classes;

pub use access::{
    Access, AccessFacts, MAX_RADIUS_M, StopConfig, StopId, StopMemo, StopPlace, TransitAccess,
    TransitAccessConfig, TransitStops,
};
pub use cell_locator::{CellHasher, CellMap};
pub use classes::TripClasses;
pub use distance::{Band, DistanceBands, DistanceBandsConfig, MAX_BANDS};
pub use spatial::{Placement, SpatialConfig, SpatialIndex, cell_of};
pub use zone::{Zone, ZoneError, ZoneId, Zones};

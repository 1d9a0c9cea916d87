//! What kind of trip an observation is, beyond its mode and place: its distance band and, for
//! the transit-access modes, how it relates to public-transport stops.

use super::access::AccessFacts;
use super::distance::Band;

/// What one accepted observation is, beyond its mode and place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripClasses {
    pub band: Band,
    /// Present for trips of the transit-access modes.
    pub access: Option<AccessFacts>,
}

impl TripClasses {
    /// An observation without a distance, not judged for transit access.
    pub const UNCLASSIFIED: TripClasses = TripClasses {
        band: Band::UNKNOWN,
        access: None,
    };
}

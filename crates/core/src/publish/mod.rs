//! Publishing: what the numbers mean and what may be shown — group shares and the gaps to the
//! city's goals, coverage and survey-filled shares, the k rule for place-level numbers, the
//! report and the live view per zone and window. It reads state and never changes it; it uses
//! every layer below.

mod goal;
mod suppression;
mod survey;

mod privacy;

mod settings;
mod share;

mod report;

mod view;

mod public;

mod live;
mod series;

pub use goal::{Goal, GoalConfig, validate_goals};
pub use live::{LiveViews, live_view, live_views};
pub use privacy::{PrivacyConfig, PublishedCells, passes, publish_cells, publish_zone_pairs};
pub use public::{PlaceNumbers, Public, StopNumbers, public_place_numbers, public_stop_numbers};
pub use report::{
    AccessNumbers, AccessReport, BandReport, CellReport, EventsReport, Report, ZoneReport,
    cell_reports, person_trips_by_mode,
};
pub use series::{Basis, SeriesPoint, Step, Subject, series};
pub use settings::PublishSettings;
pub use share::{goal_gaps, group_person_trips, group_shares};
pub use suppression::{Fixed, Suppression, suppress, suppress_with, tally_passes};
pub use survey::{Coverage, Survey, SurveyConfig};
pub use view::{BasisView, CoverageView, LiveView, WindowView, ZoneWindow};

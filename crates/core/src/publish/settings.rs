//! What publishing needs of the settings, borrowed from the pipeline's.

use super::goal::Goal;
use super::survey::Survey;
use crate::space::{DistanceBands, TransitAccess};
use crate::state::WindowSettings;
use crate::vocabulary::ModeGroups;

/// The groups shares are about and the goals they are held against, the distance bands and
/// transit access breakdowns are labelled by, the survey that fills unmeasured modes, the
/// windows the live view covers, and the k rule of its public form.
#[derive(Debug, Clone, Copy)]
pub struct PublishSettings<'a> {
    pub groups: &'a ModeGroups,
    pub goals: &'a [Goal],
    pub bands: &'a DistanceBands,
    pub access: &'a TransitAccess,
    pub survey: Option<&'a Survey>,
    pub windows: &'a WindowSettings,
    /// The k rule of the public view.
    pub k: u64,
}

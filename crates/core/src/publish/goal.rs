//! City travel goals: a target share for a mode group by a date, with the survey baseline.

use serde::Deserialize;

use crate::vocabulary::{ConfigErrors, ModeGroups};

/// One `[[goals]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalConfig {
    /// The group whose share the goal is about (a key of `[groups]`).
    pub group: String,
    /// The share the city wants at least, 0–1.
    pub target: f64,
    /// When the target should be reached, `YYYY-MM-DD`.
    pub target_date: String,
    /// The share measured by the reference survey, 0–1.
    #[serde(default)]
    pub baseline: Option<f64>,
    /// The year of the reference survey.
    #[serde(default)]
    pub baseline_year: Option<i16>,
}

/// A validated goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub group: String,
    pub target: f64,
    pub target_date: jiff::civil::Date,
    pub baseline: Option<f64>,
    pub baseline_year: Option<i16>,
}

impl Goal {
    /// share − target: negative while the goal is not met (−1…1).
    pub fn gap(&self, share: f64) -> f64 {
        share - self.target
    }
}

/// Validates `[[goals]]` against the known groups.
pub fn validate_goals(
    goals: &[GoalConfig],
    groups: &ModeGroups,
    errors: &mut ConfigErrors,
) -> Vec<Goal> {
    let mut out: Vec<Goal> = Vec::new();
    for (i, g) in goals.iter().enumerate() {
        let key = |field: &str| format!("goals[{i}].{field}");
        let mut ok = true;
        if groups.get(&g.group).is_none() {
            let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            errors.push(
                key("group"),
                format!(
                    "{:?} is not a group; groups are: {}",
                    g.group,
                    known.join(", ")
                ),
            );
            ok = false;
        }
        if out.iter().any(|o| o.group == g.group) {
            errors.push(key("group"), format!("{:?} already has a goal", g.group));
            ok = false;
        }
        for (field, value) in [("target", Some(g.target)), ("baseline", g.baseline)] {
            if let Some(v) = value
                && !(0.0..=1.0).contains(&v)
            {
                errors.push(
                    key(field),
                    format!("{v} is a share and must be within 0–1 (0.60 for 60 %)"),
                );
                ok = false;
            }
        }
        let date = match g.target_date.parse::<jiff::civil::Date>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(
                    key("target_date"),
                    format!("{:?} is not a date like \"2025-12-31\"", g.target_date),
                );
                None
            }
        };
        if let (true, Some(target_date)) = (ok, date) {
            out.push(Goal {
                group: g.group.clone(),
                target: g.target,
                target_date,
                baseline: g.baseline,
                baseline_year: g.baseline_year,
            });
        }
    }
    out
}

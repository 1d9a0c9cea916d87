//! `/api/series`: a zone's share of a group (or a mode) day by day, week by week or month by
//! month, from the calendar days the state keeps, under the k rule.

use jiff::civil::Date;
use modeshare_core::publish::{Basis, Step, Subject, series};
use modeshare_core::state::HISTORY_DAYS;
use modeshare_core::vocabulary::Mode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::places::BadRequest;
use crate::snapshot::Snapshot;

/// `GET /api/series?zone=Z&group=G|mode=M&step=S&basis=B&from=D&to=D`.
#[derive(Debug, Default, Deserialize)]
pub struct SeriesQuery {
    pub zone: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
    pub step: Option<String>,
    pub basis: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Days a series covers when `from` is not given: the last 90 up to `to`.
pub const DEFAULT_DAYS: i32 = 90;

fn bad(message: String, extra: Value) -> BadRequest {
    let mut body = json!({ "error": message });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    BadRequest(body)
}

fn date(key: &str, text: &str) -> Result<Date, BadRequest> {
    text.parse::<Date>().map_err(|_| {
        bad(
            format!("{key} {text:?} is not a date like \"2026-01-31\""),
            json!({}),
        )
    })
}

/// The series asked for, or what would work instead.
pub fn answer(s: &Snapshot, q: &SeriesQuery) -> Result<Value, BadRequest> {
    let zone_name = q
        .zone
        .clone()
        .or_else(|| s.zone_names.first().cloned())
        .unwrap_or_default();
    let zone = s
        .zone_names
        .iter()
        .position(|z| *z == zone_name)
        .ok_or_else(|| {
            bad(
                format!("no zone is named {zone_name:?}"),
                json!({ "zones": s.zone_names }),
            )
        })?;
    let groups: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
    let subject = match (&q.group, &q.mode) {
        (Some(_), Some(_)) => {
            return Err(bad("ask for a group or a mode, not both".into(), json!({})));
        }
        (None, Some(m)) => Subject::Mode(Mode::from_name(m).ok_or_else(|| {
            let modes: Vec<&str> = Mode::ALL.iter().map(|m| m.as_str()).collect();
            bad(
                format!("{m:?} is not a canonical mode"),
                json!({ "modes": modes }),
            )
        })?),
        (group, None) => {
            let group = group
                .clone()
                .or_else(|| s.goals.first().map(|g| g.group.clone()))
                .or_else(|| groups.first().map(|g| (*g).to_owned()))
                .unwrap_or_default();
            if !groups.contains(&group.as_str()) {
                return Err(bad(
                    format!("no group is named {group:?}"),
                    json!({ "groups": groups }),
                ));
            }
            Subject::Group(group)
        }
    };
    let step_text = q.step.as_deref().unwrap_or("day");
    let step = Step::parse(step_text).ok_or_else(|| {
        let steps: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        bad(
            format!("step {step_text:?}: ask for one of {}", steps.join(", ")),
            json!({ "steps": steps }),
        )
    })?;
    let basis = match q.basis.as_deref().unwrap_or("measured") {
        "measured" => Basis::Measured,
        "filled" if s.survey.is_some() => Basis::Filled,
        "filled" => {
            return Err(bad(
                "basis \"filled\" needs a [survey] in the configuration".into(),
                json!({}),
            ));
        }
        other => {
            return Err(bad(
                format!("basis {other:?}: ask for measured or filled"),
                json!({}),
            ));
        }
    };
    let today = s.places.days.keys().next_back().copied();
    let to = match (&q.to, today) {
        (Some(text), _) => date("to", text)?,
        (None, Some(d)) => d,
        (None, None) => return Ok(empty(s, &zone_name, &subject, step, q)),
    };
    let from = match &q.from {
        Some(text) => date("from", text)?,
        None => to
            .checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
            .unwrap_or(to),
    };
    let span = to.since(from).map(|d| d.get_days() + 1).unwrap_or(0);
    if !(1..=HISTORY_DAYS).contains(&span) {
        return Err(bad(
            format!("from {from} to {to}: ask for 1 to {HISTORY_DAYS} days, from no later than to"),
            json!({}),
        ));
    }
    let settings = s.publishing();
    let points = series(
        &s.places.days,
        zone,
        &subject,
        step,
        basis,
        from,
        to,
        settings,
    );
    let (group, mode) = names(&subject);
    Ok(json!({
        "zone": zone_name,
        "group": group,
        "mode": mode,
        "step": step.as_str(),
        "basis": if basis == Basis::Filled { "filled" } else { "measured" },
        "from": from.to_string(),
        "to": to.to_string(),
        "k": s.k,
        "history_from": s.places.days.keys().next().map(ToString::to_string),
        "watermark": s.places.watermark,
        "steps": points,
    }))
}

fn names(subject: &Subject) -> (Option<&str>, Option<&str>) {
    match subject {
        Subject::Group(g) => (Some(g.as_str()), None),
        Subject::Mode(m) => (None, Some(m.as_str())),
    }
}

/// Before the first event: no days, no steps.
fn empty(s: &Snapshot, zone: &str, subject: &Subject, step: Step, q: &SeriesQuery) -> Value {
    let (group, mode) = names(subject);
    json!({
        "zone": zone,
        "group": group,
        "mode": mode,
        "step": step.as_str(),
        "basis": q.basis.as_deref().unwrap_or("measured"),
        "from": null,
        "to": null,
        "k": s.k,
        "history_from": null,
        "watermark": null,
        "steps": [],
    })
}

#[cfg(test)]
mod tests;

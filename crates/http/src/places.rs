//! `/api/cells` (a hex map as GeoJSON), `/api/od` (a zone-to-zone matrix) and `/api/stops` (the
//! stop places first- and last-mile trips start or end at): where a rolling window's trips
//! happened, under the k rule of [`modeshare_core::publish`].

use h3o::{CellIndex, Resolution};
use modeshare_core::publish::{
    passes, public_place_numbers, public_stop_numbers, publish_cells, publish_zone_pairs,
};
use modeshare_core::space::ZoneId;
use modeshare_core::state::ModeTotals;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::snapshot::{Snapshot, WindowPlaces};

/// The window the place APIs show when none is asked for.
pub const DEFAULT_WINDOW: &str = "24h";

/// A request the API cannot answer, with what would work (HTTP 400).
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest(pub Value);

/// `GET /api/cells?resolution=R&window=W&zone=Z`.
#[derive(Debug, Default, Deserialize)]
pub struct CellsQuery {
    pub resolution: Option<String>,
    pub window: Option<String>,
    pub zone: Option<String>,
}

/// `GET /api/od?window=W`.
#[derive(Debug, Default, Deserialize)]
pub struct ZonePairsQuery {
    pub window: Option<String>,
}

/// `GET /api/stops?window=W&zone=Z&limit=N`.
#[derive(Debug, Default, Deserialize)]
pub struct StopsQuery {
    pub window: Option<String>,
    pub zone: Option<String>,
    pub limit: Option<String>,
}

/// Stop places `/api/stops` lists when no limit is asked for, and at most.
pub const DEFAULT_STOP_LIMIT: usize = 10;
pub const MAX_STOP_LIMIT: usize = 500;

fn window<'a>(s: &'a Snapshot, asked: Option<&str>) -> Result<&'a WindowPlaces, BadRequest> {
    let asked = asked.unwrap_or(DEFAULT_WINDOW);
    s.places
        .windows
        .iter()
        .find(|w| w.window == asked)
        .ok_or_else(|| {
            let windows: Vec<&str> = s.places.windows.iter().map(|w| w.window.as_str()).collect();
            BadRequest(json!({
                "error": format!("window {asked:?} is not a rolling window of this service (calendar periods have no cells)"),
                "windows": windows,
            }))
        })
}

/// Person trips per mode, their total, events and group shares of a place that passed the k
/// rule; its modes and shares may still be null. `None` when the table's protection hides its
/// total too (a hidden group would follow from it): such a place is left out, and counted
/// with the suppressed ones.
fn numbers(totals: &ModeTotals, s: &Snapshot, k: u64) -> Option<serde_json::Map<String, Value>> {
    let numbers = public_place_numbers(totals, &s.groups, k);
    numbers
        .total_person_trips
        .is_some()
        .then(|| object(json!(numbers)))
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// The hexagon as a closed GeoJSON ring, `[lon, lat]` rounded to 1e-6 degrees (about 0.1 m).
fn hexagon(cell: CellIndex) -> Value {
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let mut ring: Vec<[f64; 2]> = cell
        .boundary()
        .iter()
        .map(|v| [round(v.lng()), round(v.lat())])
        .collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    json!({ "type": "Polygon", "coordinates": [ring] })
}

fn zone_id(s: &Snapshot, name: &str) -> Result<ZoneId, BadRequest> {
    s.zone_names
        .iter()
        .position(|z| z == name)
        .map(|i| ZoneId(i as u32))
        .ok_or_else(|| {
            BadRequest(json!({
                "error": format!("no zone is named {name:?}"),
                "zones": s.zone_names,
            }))
        })
}

/// The hex map of a window: a GeoJSON FeatureCollection of the cells that pass the k rule.
pub fn cells(s: &Snapshot, q: &CellsQuery, k: u64) -> Result<Value, BadRequest> {
    let configured = s.places.resolution;
    let resolution = match &q.resolution {
        None => configured,
        Some(text) => text
            .parse::<u8>()
            .ok()
            .and_then(|r| Resolution::try_from(r).ok())
            .filter(|r| *r <= configured)
            .ok_or_else(|| {
                BadRequest(json!({
                    "error": format!("resolution {text:?}: this service holds cells at resolution {configured}; ask for 0–{configured} (coarser cells are their parents)"),
                }))
            })?,
    };
    let zone = q.zone.as_deref().map(|z| zone_id(s, z)).transpose()?;
    let window = window(s, q.window.as_deref())?;
    let published = publish_cells(&window.cells, resolution, zone, k);
    let (features, suppressed) = match &published {
        Some(p) => {
            let features: Vec<Value> = p
                .cells
                .iter()
                .filter_map(|(cell, totals)| {
                    let mut properties = numbers(totals, s, k)?;
                    properties.insert("cell".into(), json!(cell.to_string()));
                    Some(json!({
                        "type": "Feature",
                        "id": cell.to_string(),
                        "geometry": hexagon(*cell),
                        "properties": properties,
                    }))
                })
                .collect();
            let hidden = p.cells.len() - features.len();
            (features, p.suppressed + hidden)
        }
        None => (Vec::new(), 0),
    };
    Ok(json!({
        "type": "FeatureCollection",
        "window": window.window,
        "watermark": s.places.watermark,
        "start": window.start,
        "end": window.end,
        "resolution": u8::from(resolution),
        "zone": q.zone,
        "k": k,
        "suppressed_cells": suppressed,
        "features": features,
    }))
}

/// The zone-to-zone matrix of a window's trips with a destination, pairs under k left out.
pub fn zone_pairs(s: &Snapshot, q: &ZonePairsQuery, k: u64) -> Result<Value, BadRequest> {
    let window = window(s, q.window.as_deref())?;
    let (shown, suppressed) = publish_zone_pairs(&window.zone_pairs, k);
    let name = |z: Option<ZoneId>| z.and_then(|z| s.zone_names.get(z.0 as usize).cloned());
    let mut pairs: Vec<Value> = shown
        .iter()
        .filter_map(|((origin, destination), totals)| {
            let mut pair = numbers(totals, s, k)?;
            pair.insert("origin".into(), json!(name(*origin)));
            pair.insert("destination".into(), json!(name(*destination)));
            Some(Value::Object(pair))
        })
        .collect();
    let suppressed = suppressed + (shown.len() - pairs.len());
    pairs.sort_by(|a, b| {
        let trips = |v: &Value| v["total_person_trips"].as_f64().unwrap_or(0.0);
        trips(b).total_cmp(&trips(a))
    });
    Ok(json!({
        "window": window.window,
        "watermark": s.places.watermark,
        "start": window.start,
        "end": window.end,
        "k": k,
        "zones": s.zone_names,
        "suppressed_pairs": suppressed,
        "pairs": pairs,
    }))
}

/// The stop places with the most first- and last-mile trips in a window, places under k left
/// out (`suppressed_stops`).
pub fn stops(s: &Snapshot, q: &StopsQuery, k: u64) -> Result<Value, BadRequest> {
    let limit = match &q.limit {
        None => DEFAULT_STOP_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_STOP_LIMIT).contains(n))
            .ok_or_else(|| {
                BadRequest(json!({
                    "error": format!("limit {text:?}: ask for 1–{MAX_STOP_LIMIT} stop places"),
                }))
            })?,
    };
    let zone = q.zone.as_deref().map(|z| zone_id(s, z)).transpose()?;
    let window = window(s, q.window.as_deref())?;
    let places = s.access.stops.places();
    let mut shown = Vec::new();
    let mut suppressed = 0;
    for (id, totals) in &window.stops {
        let Some(place) = places.get(id.0 as usize) else {
            continue;
        };
        if zone.is_some_and(|z| !place.zones.contains(&z)) {
            continue;
        }
        let all = totals.all();
        let numbers = passes(&all, k)
            .then(|| public_stop_numbers(totals, &s.groups, k))
            // As for cells and pairs (`numbers`): a place whose total the table's
            // protection hides is left out.
            .filter(|n| n.all.total_person_trips.is_some());
        match numbers {
            Some(numbers) => shown.push((place, numbers, all)),
            None => suppressed += 1,
        }
    }
    shown.sort_by(|a, b| {
        b.2.total()
            .cmp(&a.2.total())
            .then_with(|| a.0.name.cmp(&b.0.name))
    });
    let more = shown.len().saturating_sub(limit);
    let listed: Vec<Value> = shown
        .iter()
        .take(limit)
        .map(|(place, numbers, _)| {
            let mut stop = object(json!(numbers));
            let zones: Vec<&str> = place
                .zones
                .iter()
                .filter_map(|z| s.zone_names.get(z.0 as usize).map(String::as_str))
                .collect();
            stop.insert("stop".into(), json!(place.name));
            stop.insert("lat".into(), json!(place.point.lat()));
            stop.insert("lon".into(), json!(place.point.lon()));
            stop.insert("zones".into(), json!(zones));
            stop.insert("stops".into(), json!(place.stops));
            Value::Object(stop)
        })
        .collect();
    Ok(json!({
        "window": window.window,
        "watermark": s.places.watermark,
        "start": window.start,
        "end": window.end,
        "zone": q.zone,
        "k": k,
        "radius_m": s.access.radius_m,
        "modes": s.access.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "limit": limit,
        "suppressed_stops": suppressed,
        "more_stops": more,
        "stops": listed,
    }))
}

#[cfg(test)]
mod tests;

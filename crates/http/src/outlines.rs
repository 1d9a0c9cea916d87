//! `/api/outlines`: the configured zones' polygons with their names, as GeoJSON, so that a map
//! can show where each zone ends. Zones are configuration, not data about people: nothing here
//! counts a trip, so the k rule has nothing to hide.

use serde_json::{Value, json};

use crate::snapshot::Snapshot;

/// `[lon, lat]` rounded to 1e-6 degrees (about 0.1 m), as the hex map's cells.
fn position(x: f64, y: f64) -> Value {
    let round = |v: f64| (v * 1e6).round() / 1e6;
    json!([round(x), round(y)])
}

/// Every zone as a MultiPolygon feature, in configuration order, with its `name` and the
/// `note` and `attribution` its file gave it (`null` where it gave none).
pub fn outlines(s: &Snapshot) -> Value {
    let features: Vec<Value> = s
        .zones
        .iter()
        .map(|(_, zone)| {
            let polygons: Vec<Value> = zone
                .area
                .iter()
                .map(|polygon| {
                    let rings: Vec<Value> = std::iter::once(polygon.exterior())
                        .chain(polygon.interiors())
                        .map(|ring| ring.coords().map(|c| position(c.x, c.y)).collect())
                        .collect();
                    Value::Array(rings)
                })
                .collect();
            json!({
                "type": "Feature",
                "id": zone.name,
                "geometry": { "type": "MultiPolygon", "coordinates": polygons },
                "properties": {
                    "name": zone.name,
                    "note": zone.note,
                    "attribution": zone.attribution,
                },
            })
        })
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}

#[cfg(test)]
mod tests;

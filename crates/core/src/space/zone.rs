//! Zones: named areas from GeoJSON polygons, and exact point membership.
//!
//! An event is in every zone whose polygon contains its exact point in the OGC sense: a point
//! on the boundary is outside. The zone name is the feature's `name` property, verbatim.

use std::sync::Arc;

use geo::{BoundingRect, Contains, Coord, MultiPolygon, Rect};

use crate::vocabulary::GeoPoint;

/// The position of a zone in its [`Zones`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(pub u32);

/// One zone.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    /// The feature's `note` property, e.g. to say a boundary is approximate.
    pub note: Option<String>,
    /// The feature's `attribution` property: whose boundary it is and under which licence,
    /// shown wherever the outline is.
    pub attribution: Option<String>,
    pub area: MultiPolygon<f64>,
    pub bbox: Rect<f64>,
}

/// Why a zones file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    #[error("not valid GeoJSON: {0}")]
    Parse(String),
    #[error("expected a GeoJSON FeatureCollection of zone polygons")]
    NotAFeatureCollection,
    #[error("feature {index}: {message}")]
    Feature { index: usize, message: String },
}

/// All configured zones, in file order. Cloning shares them: every published snapshot holds
/// the zones for their outlines.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    zones: Arc<[Zone]>,
}

impl Zones {
    /// Reads a FeatureCollection whose features are Polygons or MultiPolygons with a `name`.
    pub fn from_geojson(text: &str) -> Result<Zones, ZoneError> {
        let geojson: geojson::GeoJson = text
            .parse()
            .map_err(|e: geojson::Error| ZoneError::Parse(e.to_string()))?;
        let geojson::GeoJson::FeatureCollection(collection) = geojson else {
            return Err(ZoneError::NotAFeatureCollection);
        };
        let mut zones: Vec<Zone> = Vec::with_capacity(collection.features.len());
        for (index, feature) in collection.features.into_iter().enumerate() {
            let fail = |message: String| ZoneError::Feature { index, message };
            let property = |key: &str| feature.properties.as_ref().and_then(|p| p.get(key));
            let name = match property("name") {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(other) => {
                    return Err(fail(format!(
                        "property `name` must be a non-empty string, got {other}"
                    )));
                }
                None => {
                    return Err(fail(
                        "has no `name` property; the name is the zone's key".into(),
                    ));
                }
            };
            if zones.iter().any(|z| z.name == name) {
                return Err(fail(format!("zone name {name:?} is used twice")));
            }
            let text = |key: &str| match property(key) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            let (note, attribution) = (text("note"), text("attribution"));
            let Some(geometry) = feature.geometry else {
                return Err(fail(format!("zone {name:?} has no geometry")));
            };
            let area = match geo::Geometry::<f64>::try_from(&geometry.value) {
                Ok(geo::Geometry::Polygon(p)) => MultiPolygon::new(vec![p]),
                Ok(geo::Geometry::MultiPolygon(mp)) => mp,
                Ok(_) => {
                    return Err(fail(format!(
                        "zone {name:?} must be a Polygon or MultiPolygon"
                    )));
                }
                Err(e) => return Err(fail(format!("zone {name:?}: {e}"))),
            };
            let coords = area.iter().flat_map(|p| {
                p.exterior()
                    .coords()
                    .chain(p.interiors().iter().flat_map(|r| r.coords()))
            });
            for c in coords {
                if GeoPoint::new(c.y, c.x).is_err() {
                    return Err(fail(format!(
                        "zone {name:?} has the position [{}, {}] outside WGS84 longitude/latitude",
                        c.x, c.y
                    )));
                }
            }
            let Some(bbox) = area.bounding_rect() else {
                return Err(fail(format!("zone {name:?} has an empty geometry")));
            };
            zones.push(Zone {
                name,
                note,
                attribution,
                area,
                bbox,
            });
        }
        Ok(Zones {
            zones: zones.into(),
        })
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub fn get(&self, id: ZoneId) -> &Zone {
        &self.zones[id.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (ZoneId, &Zone)> {
        self.zones
            .iter()
            .enumerate()
            .map(|(i, z)| (ZoneId(i as u32), z))
    }

    /// OGC contains: strictly inside the polygon (not on its boundary, not in a hole).
    pub fn contains(&self, id: ZoneId, point: GeoPoint) -> bool {
        let zone = self.get(id);
        let c = point.to_coord();
        in_rect(&zone.bbox, c) && zone.area.contains(&geo::Point(c))
    }

    /// Every zone containing the point, without any cache.
    pub fn zones_containing(&self, point: GeoPoint, out: &mut Vec<ZoneId>) {
        out.clear();
        out.extend(
            self.iter()
                .map(|(id, _)| id)
                .filter(|id| self.contains(*id, point)),
        );
    }
}

fn in_rect(r: &Rect<f64>, c: Coord<f64>) -> bool {
    c.x >= r.min().x && c.x <= r.max().x && c.y >= r.min().y && c.y <= r.max().y
}

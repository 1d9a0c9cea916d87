use super::*;

const ZONES: &str = include_str!("../../../../config/zones/baerum.geojson");

fn snapshot(zones: &str) -> Snapshot {
    let p = crate::test_support::live_pipeline(zones);
    Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark())
}

/// The positions of a GeoJSON geometry as a MultiPolygon's, rounded as the answer rounds them.
fn rounded_multipolygon(geometry: &Value) -> Value {
    let round = |v: &Value| (v.as_f64().unwrap() * 1e6).round() / 1e6;
    let polygon = |p: &Value| -> Value {
        p.as_array()
            .unwrap()
            .iter()
            .map(|ring| {
                ring.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| json!([round(&c[0]), round(&c[1])]))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .into()
    };
    match geometry["type"].as_str().unwrap() {
        "Polygon" => json!([polygon(&geometry["coordinates"])]),
        _ => geometry["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(polygon)
            .collect::<Vec<_>>()
            .into(),
    }
}

#[test]
fn every_zone_is_a_feature_with_its_polygons_name_note_and_attribution() {
    let s = snapshot(ZONES);
    let outlines = outlines(&s);
    assert_eq!(outlines["type"], "FeatureCollection");
    let file: Value = serde_json::from_str(ZONES).unwrap();
    let expected = file["features"].as_array().unwrap();
    let features = outlines["features"].as_array().unwrap();
    assert_eq!(features.len(), expected.len());
    for (feature, source) in features.iter().zip(expected) {
        let name = &source["properties"]["name"];
        assert_eq!(feature["id"], *name);
        assert_eq!(feature["properties"]["name"], *name);
        assert_eq!(feature["geometry"]["type"], "MultiPolygon");
        assert_eq!(
            feature["geometry"]["coordinates"],
            rounded_multipolygon(&source["geometry"]),
            "{name}"
        );
        for key in ["note", "attribution"] {
            let given = &source["properties"][key];
            let want = if given.is_null() { &Value::Null } else { given };
            assert_eq!(feature["properties"][key], *want, "{name} {key}");
        }
    }
    assert!(
        features[0]["properties"]["attribution"]
            .as_str()
            .is_some_and(|a| a.contains("Kartverket"))
    );
    assert!(
        features[1]["properties"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("Approximate"))
    );
}

#[test]
fn a_polygon_with_a_hole_keeps_its_hole_as_a_second_ring() {
    let zones = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
        "properties":{"name":"Ring"},
        "geometry":{"type":"Polygon","coordinates":[
            [[10.0,59.0],[11.0,59.0],[11.0,60.0],[10.0,60.0],[10.0,59.0]],
            [[10.4,59.4],[10.6,59.4],[10.6,59.6],[10.4,59.6],[10.4,59.4]]]}}]}"#;
    let outlines = outlines(&snapshot(zones));
    let polygons = outlines["features"][0]["geometry"]["coordinates"]
        .as_array()
        .unwrap();
    assert_eq!(polygons.len(), 1);
    let rings = polygons[0].as_array().unwrap();
    assert_eq!(rings.len(), 2, "the exterior and the hole");
    assert_eq!(rings[1][0], json!([10.4, 59.4]));
    assert_eq!(rings[1][4], json!([10.4, 59.4]), "closed");
    assert_eq!(outlines["features"][0]["properties"]["note"], Value::Null);
}

//! The HTTP API against its OpenAPI description: `modeshare run` on the simulator serves
//! `/api/openapi.json`, which documents every route, and every answer (the zones with both
//! bases, coverage, distance bands and transit access, the hex map at several resolutions,
//! zones and windows, the zone pairs, the stop places, the zones' outlines, the errors) validates
//! against its schema; the published cells, pairs and stop places obey the k rule.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;

use common::Service;
use modeshare_http::server::{ENDPOINTS, OPENAPI};
use serde_json::{Value, json};

/// A validator for `#/components/schemas/NAME` of the OpenAPI description.
fn schema(openapi: &Value, name: &str) -> jsonschema::Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": openapi["components"],
    });
    jsonschema::options().build(&root).unwrap()
}

fn assert_valid(openapi: &Value, name: &str, body: &Value, what: &str) {
    let validator = schema(openapi, name);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what} against {name}: {errors:#?}");
}

/// The schema name of a documented response, e.g. `Cells` for `/api/cells` 200.
fn response_schema(openapi: &Value, path: &str, status: &str) -> Option<String> {
    let reference =
        openapi["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()?;
    Some(reference.rsplit('/').next().unwrap().to_owned())
}

#[test]
fn every_answer_matches_the_served_openapi_description() {
    let service = Service::start(&[]);
    service.wait_for("cells in the 24h window", 60, |s| {
        let map = s.json("/api/cells");
        (map["features"].as_array().unwrap().len() > 10).then_some(())
    });
    let openapi = service.json("/api/openapi.json");
    assert_eq!(openapi, serde_json::from_str::<Value>(OPENAPI).unwrap());
    assert_eq!(openapi["openapi"], "3.1.0");
    // The schemas can fail: a bare collection lacks the required members.
    assert!(!schema(&openapi, "Cells").is_valid(&json!({ "type": "FeatureCollection" })));
    // Every route is documented, and only routes are.
    let documented: BTreeSet<&str> = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(documented, ENDPOINTS.into_iter().collect());
    assert_eq!(
        service.json_status("/nope").1["endpoints"],
        json!(ENDPOINTS)
    );

    // Each documented JSON answer, with its default parameters.
    for path in ENDPOINTS {
        let Some(name) = response_schema(&openapi, path, "200") else {
            continue;
        };
        assert_valid(&openapi, &name, &service.json(path), path);
    }
    let (status, metrics) = service.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("modeshare_window_group_person_trips"));
    // The simulated city's bands, first and last miles and both bases are on /metrics too.
    for series in [
        r#"modeshare_mode_share_by_basis_ratio{basis="filled",group="sustainable",window="24h",zone="Bærum"}"#,
        r#"modeshare_band_mode_share_ratio{band="0-1km",group="walking",window="24h",zone="Bærum"}"#,
        r#"modeshare_transit_access_share_ratio{window="24h",zone="Bærum"}"#,
        r#"modeshare_survey_share_measured_ratio{window="24h",zone="Bærum"}"#,
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }

    // The hex map in other resolutions, zones and windows.
    let k = 10.0;
    for query in [
        "resolution=7",
        "resolution=9&zone=Fornebu",
        "window=1h&zone=Sandvika",
        "window=7d&resolution=0",
        "zone=B%C3%A6rum",
    ] {
        let path = format!("/api/cells?{query}");
        let map = service.json(&path);
        assert_valid(&openapi, "Cells", &map, &path);
        for f in map["features"].as_array().unwrap() {
            let p = &f["properties"];
            assert!(p["events"].as_f64().unwrap() >= k, "{path}: {p}");
            assert!(
                p["total_person_trips"].as_f64().unwrap() >= k,
                "{path}: {p}"
            );
        }
    }
    // Both maps of the same summed state (places are summed again every 5 s).
    let (fornebu, baerum) = service.wait_for("two maps of one state", 30, |s| {
        let fornebu = s.json("/api/cells?zone=Fornebu");
        let baerum = s.json("/api/cells?zone=B%C3%A6rum");
        (fornebu["watermark"] == baerum["watermark"]).then_some((fornebu, baerum))
    });
    let cells = |m: &Value| -> BTreeSet<String> {
        m["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!cells(&fornebu).is_empty());
    assert!(
        cells(&fornebu).is_subset(&cells(&baerum)),
        "Fornebu lies in Bærum"
    );

    let od = service.json("/api/od?window=24h");
    assert_valid(&openapi, "ZonePairs", &od, "/api/od");
    let pairs = od["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty(), "the simulated trips have destinations");
    for p in pairs {
        assert!(
            p["events"].as_f64().unwrap() >= k && p["total_person_trips"].as_f64().unwrap() >= k
        );
    }

    // First- and last-mile stop places: the documented answer, places under k left out.
    let stops = service.wait_for("stop places that pass k", 30, |s| {
        let stops = s.json("/api/stops?limit=500");
        (!stops["stops"].as_array().unwrap().is_empty()).then_some(stops)
    });
    for (path, stops) in [
        ("/api/stops?limit=500", stops),
        (
            "/api/stops?zone=Fornebu&window=7d",
            service.json("/api/stops?zone=Fornebu&window=7d"),
        ),
    ] {
        assert_valid(&openapi, "Stops", &stops, path);
        for stop in stops["stops"].as_array().unwrap() {
            assert!(
                stop["events"].as_f64().unwrap() >= k
                    && stop["total_person_trips"].as_f64().unwrap() >= k,
                "{path}: {stop}"
            );
        }
    }
    // Zones carry both bases, the coverage and the breakdowns, as documented above.
    let zones = service.json("/api/zones");
    let day = common::window_view(&zones, "24h");
    let baerum = &day["zones"]["Bærum"];
    assert_eq!(baerum["basis"], "measured");
    assert_eq!(baerum["filled"]["basis"], "filled");
    assert!(
        !baerum["coverage"]["filled_person_trips"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert_eq!(baerum["distance_bands"].as_array().unwrap().len(), 6);
    assert!(
        baerum["transit_access"]["judged_person_trips"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // The zones' outlines: one feature per zone of /api/zones, named as there.
    assert!(
        !schema(&openapi, "Outlines").is_valid(&json!({ "type": "FeatureCollection",
            "features": [{ "type": "Feature", "id": "Bærum", "properties": { "name": "Bærum" },
                           "geometry": { "type": "Polygon", "coordinates": [] } }] })),
        "an outline without its note and attribution, or not a MultiPolygon, fails"
    );
    let outlines = service.json("/api/outlines");
    let outlined: Vec<&Value> = outlines["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["properties"]["name"])
        .collect();
    let zone_names: Vec<Value> = day["zones"]
        .as_object()
        .unwrap()
        .keys()
        .map(|z| json!(z))
        .collect();
    assert_eq!(outlined, zone_names.iter().collect::<Vec<_>>());

    // Requests the API cannot answer: 400 with the documented error.
    for path in [
        "/api/cells?window=day",
        "/api/cells?resolution=10",
        "/api/cells?zone=Oslo",
        "/api/od?window=fortnight",
        "/api/stops?limit=0",
        "/api/stops?zone=Oslo",
        "/api/stops?window=month",
    ] {
        let (status, body) = service.json_status(path);
        assert_eq!(status, 400, "{path}");
        let documented = path.split('?').next().unwrap();
        assert_eq!(
            response_schema(&openapi, documented, "400").as_deref(),
            Some("Error")
        );
        assert_valid(&openapi, "Error", &body, path);
    }
    service.stop("TERM", 10);
}

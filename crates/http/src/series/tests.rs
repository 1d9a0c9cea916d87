use super::*;

const ZONES: &str = include_str!("../../../../config/zones/baerum.geojson");

fn snapshot() -> Snapshot {
    let mut p = crate::test_support::live_pipeline(ZONES);
    for i in 0..40 {
        let line = format!(
            r#"{{"kind":"trip","id":"t{i}","source":"voi","mode":"bicycle","start_time":"2024-05-02T08:{:02}:00Z","origin":{{"lat":59.8905,"lon":10.5230}}}}"#,
            i % 60
        );
        p.observe_line(line.as_bytes(), "test", None);
    }
    p.observe_line(
        br#"{"kind":"trip","id":"late","source":"voi","mode":"walk","start_time":"2024-05-03T12:00:00Z","origin":{"lat":59.8905,"lon":10.5230}}"#,
        "test",
        None,
    );
    Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark())
}

fn ask(s: &Snapshot, query: &str) -> Result<Value, BadRequest> {
    let q: SeriesQuery = serde_json::from_value(
        query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), Value::String(v.to_owned()))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
    )
    .unwrap();
    answer(s, &q)
}

#[test]
fn the_default_is_the_first_zone_and_goal_day_by_day_up_to_the_watermark() {
    let s = snapshot();
    let series = ask(&s, "").unwrap();
    assert_eq!(series["zone"], "Bærum");
    assert_eq!(series["group"], "sustainable");
    assert_eq!(series["step"], "day");
    assert_eq!(series["to"], "2024-05-03");
    assert_eq!(
        series["steps"].as_array().unwrap().len(),
        DEFAULT_DAYS as usize
    );
    let day = ask(&s, "mode=bicycle&from=2024-05-02&to=2024-05-02").unwrap();
    assert_eq!(day["steps"][0]["person_trips"], 40.0);
    assert_eq!(day["steps"][0]["share"], 1.0);
}

#[test]
fn unanswerable_requests_say_what_would_work() {
    let s = snapshot();
    for (query, says) in [
        ("zone=Oslo", "no zone is named"),
        ("group=cycling&mode=bicycle", "not both"),
        ("mode=hoverboard", "not a canonical mode"),
        ("group=fast", "no group is named"),
        ("step=year", "step \"year\""),
        ("basis=guessed", "basis \"guessed\""),
        ("from=2024-13-01", "is not a date"),
        ("from=2023-01-01&to=2024-05-02", "1 to 400 days"),
        ("from=2024-05-03&to=2024-05-02", "1 to 400 days"),
    ] {
        let BadRequest(body) = ask(&s, query).unwrap_err();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{query}: {error}");
    }
}

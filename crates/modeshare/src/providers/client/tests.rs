use super::*;

#[test]
fn an_hour_is_asked_for_by_its_start_in_utc() {
    // 2024-05-02T07:00:00Z
    assert_eq!(
        hour_parameter(EventTimeMs(1_714_633_200_000)),
        "2024-05-02T07"
    );
}

#[test]
fn the_next_page_is_followed_only_when_named() {
    assert_eq!(
        next_link(br#"{"trips":[],"links":{"next":"https://p/trips?page=2"}}"#).as_deref(),
        Some("https://p/trips?page=2")
    );
    assert_eq!(next_link(br#"{"trips":[],"links":{"next":null}}"#), None);
    assert_eq!(next_link(br#"{"trips":[],"links":{"next":""}}"#), None);
    assert_eq!(next_link(br#"{"data":{"trips":[]}}"#), None);
    assert_eq!(next_link(b"not json"), None);
}

#[test]
fn backoff_honours_retry_after_and_grows_with_jitter_up_to_a_ceiling() {
    assert_eq!(
        backoff(1, Some(Duration::from_secs(7))),
        Duration::from_secs(7)
    );
    for attempt in 1..10 {
        let wait = backoff(attempt, None);
        let ceiling = FIRST_BACKOFF
            .saturating_mul(1 << (attempt - 1))
            .min(MAX_BACKOFF);
        assert!(
            wait <= ceiling && wait >= ceiling / 2,
            "{attempt}: {wait:?}"
        );
    }
}

#[test]
fn next_links_are_followed_only_on_the_provider_apis_origin() {
    let base = "https://mds.voi.example/provider";
    assert!(same_origin(
        "https://mds.voi.example/provider/trips?page=2",
        base
    ));
    assert!(same_origin("https://MDS.voi.example/other", base));
    assert!(same_origin("https://mds.voi.example:443/trips", base));
    assert!(!same_origin("http://mds.voi.example/provider/trips", base));
    assert!(!same_origin("https://mds.voi.example:8443/trips", base));
    assert!(!same_origin("https://evil.example/mds.voi.example/", base));
    assert!(!same_origin(
        "https://mds.voi.example.evil.example/trips",
        base
    ));
    assert!(!same_origin("/trips?page=2", base));
    let page = "https://mds.voi.example/provider/trips?end_time=2026-12-05T06";
    assert_eq!(
        absolute("/trips?page=2".into(), page),
        "https://mds.voi.example/trips?page=2"
    );
    assert_eq!(
        absolute("?page=2".into(), page),
        "https://mds.voi.example/provider/trips?page=2"
    );
    assert_eq!(absolute("https://x/y".into(), page), "https://x/y");
}

#[test]
fn retry_after_is_read_as_seconds_or_as_an_http_date() {
    // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
    let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
        Some(Duration::from_secs(30))
    );
    // The obsolete forms a recipient must accept.
    assert_eq!(
        retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        retry_after("Sun Nov  6 08:49:57 1994", now),
        Some(Duration::from_secs(20))
    );
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO),
        "a date past: at once"
    );
    for unusable in ["", "soon", "-5", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT"] {
        assert_eq!(retry_after(unusable, now), None, "{unusable:?}");
    }
}

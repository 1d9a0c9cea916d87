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

/// A page longer than what the hour may still hold is refused as it arrives: the body here
/// never ends, so reading it whole first would never return.
#[test]
fn a_page_over_the_hours_budget_is_refused_before_it_is_read_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = [
                format!("{:x}\r\n", 4096).into_bytes(),
                vec![b' '; 4096],
                b"\r\n".to_vec(),
            ]
            .concat();
            let mut sent = 0usize;
            while socket.write_all(&chunk).await.is_ok() {
                sent += 4096;
            }
            sent
        });
        let settings = crate::config::ProviderSettings {
            name: "endless".into(),
            url: format!("http://{address}"),
            version: MdsVersion::V2,
            source: "endless".into(),
            interval: Duration::from_secs(3600),
            start_ms: None,
            delay: Duration::ZERO,
            give_up_after: Duration::from_secs(7200),
            auth: ProviderAuth::None,
        };
        let mut client = ProviderClient::new(settings).unwrap();
        let url = format!("http://{address}/trips?end_time=2026-12-05T06");
        let got = tokio::time::timeout(Duration::from_secs(30), client.get(&url, 64 << 10))
            .await
            .expect("the endless page was read on and on");
        assert!(matches!(got, Err(FetchError::TooManyPages(_))), "{got:?}");
        drop(client);
        let sent = server.await.unwrap();
        assert!(sent < 64 << 20, "{sent} bytes sent before the refusal");
    });
}

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower::ServiceExt;

use super::*;

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_secs(5),
        max_concurrent_requests: 16,
        max_connections: 4096,
        max_request_bytes: 1024,
    }
}

fn app() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}

/// Serves `app` with `limits` on a random loopback port.
async fn start(app: Router, limits: Limits) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let app = with_limits(app, &limits);
    tokio::spawn(serve(listener, None, app, limits, shutdown.clone()));
    (address, shutdown)
}

/// One request on a fresh connection: the status line and body, or `None` when the server
/// closed the connection without an answer.
async fn get_once(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// Reads until the server closes the connection; fails after `seconds`.
async fn closed_by_server(stream: &mut TcpStream, seconds: u64) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(seconds), stream.read_to_end(&mut got));
    assert!(
        read.await.is_ok(),
        "connection still open after {seconds} s"
    );
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_while_others_are_served() {
    let (address, shutdown) = start(app(), limits()).await;
    // Slowloris: connections whose request headers never finish.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(address).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Others are still served meanwhile.
    let answer = get_once(address, "/healthz").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    // And the server closes every slow connection once its header read timeout passes.
    let started = Instant::now();
    for s in &mut slow {
        closed_by_server(s, 10).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let cap = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    };
    let (address, shutdown) = start(app(), cap).await;
    let mut first = TcpStream::connect(address).await.unwrap();
    let _second = TcpStream::connect(address).await.unwrap();
    // Both are accepted and idle. A third waits in the backlog, unanswered.
    let mut waiting = tokio::spawn(get_once(address, "/healthz"));
    let early = tokio::time::timeout(Duration::from_millis(500), &mut waiting);
    assert!(early.await.is_err(), "a third connection was served");
    // One of the two closes: the third is served.
    first.shutdown().await.unwrap();
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_with_503() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let app = Router::new().route(
        "/slow",
        get(move || {
            let (r, e) = (r.clone(), e.clone());
            async move {
                e.notify_one();
                r.notified().await;
                "done"
            }
        }),
    );
    let app = with_limits(
        app.merge(Router::new().route("/other", get(|| async { "other" }))),
        &Limits {
            max_concurrent_requests: 1,
            ..limits()
        },
    );
    let request = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let first = tokio::spawn(app.clone().oneshot(request("/slow")));
    entered.notified().await;
    // The limit is the router's, not a route's: another route is shed too.
    for path in ["/slow", "/other"] {
        let shed = app.clone().oneshot(request(path)).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
    }
    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    let after = app.oneshot(request("/other")).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_takes_too_long_is_answered_503() {
    let app = Router::new().route("/stuck", get(std::future::pending::<&'static str>));
    let app = with_limits(app, &limits());
    let request = Request::get("/stuck").body(Body::empty()).unwrap();
    let answer = app.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = with_limits(
        Router::new().route("/healthz", get(|| async { "ok" }).post(|| async { "ok" })),
        &limits(),
    );
    let request = Request::post("/healthz")
        .header(header::CONTENT_LENGTH, "4096")
        .body(Body::from(vec![b'x'; 4096]))
        .unwrap();
    let answer = app.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let small = Request::post("/healthz").body(Body::from("x")).unwrap();
    assert_eq!(app.oneshot(small).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_closes_idle_connections() {
    let (address, shutdown) = start(app(), limits()).await;
    let mut idle = TcpStream::connect(address).await.unwrap();
    let answer = get_once(address, "/healthz").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"));
    shutdown.cancel();
    closed_by_server(&mut idle, 10).await;
    // Nothing listens any more.
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if TcpStream::connect(address).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    assert!(refused.await.is_ok(), "still accepting after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_and_cuts_off_slow_handshakes() {
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let dir = std::env::temp_dir().join(format!("modeshare-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let acceptor = crate::tls::acceptor(&cert, &key).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let limits = limits();
    let served = with_limits(app(), &limits);
    tokio::spawn(serve(
        listener,
        Some(acceptor),
        served,
        limits,
        shutdown.clone(),
    ));

    let mut roots = RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(address).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Plain HTTP on the TLS port gets no answer, and a client that never finishes its
    // handshake is cut off.
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = closed_by_server(&mut plain, 10).await;
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    let mut silent = TcpStream::connect(address).await.unwrap();
    closed_by_server(&mut silent, 10).await;
    shutdown.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_damaged_key_is_named_without_its_content() {
    let dir = std::env::temp_dir().join(format!("modeshare-badtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n",
    )
    .unwrap();
    let e = crate::tls::acceptor(&cert, &key).err().unwrap().to_string();
    assert!(e.contains("key.pem"), "{e}");
    assert!(!e.contains("c2VjcmV0"), "{e}");
    let e = crate::tls::acceptor(&dir.join("none.pem"), &key)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("none.pem"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

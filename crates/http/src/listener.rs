//! What every listener shares, whatever its trust level (public, operators, admin): the tower
//! stack around its router and the loop that serves its socket.
//!
//! - The stack ([`with_limits`]): a request that takes longer than `request_timeout` is
//!   answered 503; beyond `max_concurrent_requests` in flight a request is shed at once with
//!   503 (`Retry-After: 1`) rather than queued; a body over `max_request_bytes` is refused with
//!   413. All of it tower and tower-http layers.
//! - The socket ([`serve`]): at most `max_connections` open connections (the next waits in
//!   the kernel's backlog until one closes); request headers must arrive within
//!   `header_read_timeout` (hyper's own timer; a slowloris client, or an idle keep-alive
//!   connection, is closed then), and so must a TLS handshake; on shutdown no new connection
//!   is accepted, open ones finish their requests and are closed, and the wait for them is
//!   bounded.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::{BoxError, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, warn};

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// How long a request may take, from its headers to the end of the answer's start.
    pub request_timeout: Duration,
    /// Requests served at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The largest request body accepted.
    pub max_request_bytes: usize,
}

/// `router` inside the stack every listener gets: timeout, load shedding beyond the
/// concurrency limit, body limit. The limit is one for the whole router: axum layers each route
/// on its own, so every route shares the one semaphore of a global limit.
pub fn with_limits(router: Router, limits: &Limits) -> Router {
    let in_flight = limits.max_concurrent_requests.max(1);
    router
        .layer(RequestBodyLimitLayer::new(limits.max_request_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(in_flight))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    limits.request_timeout,
                )),
        )
}

/// The answer when the concurrency limit is reached (the only error the stack raises).
async fn overloaded(error: BoxError) -> Response {
    let (status, message) = if error.is::<Overloaded>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests at once; retry shortly",
        )
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "the request failed")
    };
    let mut response = (
        status,
        Json(json!({ "error": "unavailable", "message": message })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Serves `app` on `listener` (through TLS when `tls` is given) until `shutdown` is
/// cancelled; then stops accepting, lets open connections finish their requests, and returns
/// once they are closed or `limits.request_timeout` has passed.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max_connections));
    // Every connection holds a receiver; `true` asks it to finish its request and close.
    let (closing, closing_rx) = watch::channel(false);
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine. Back off a little so that a lack of descriptors
                // does not spin.
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, closing) = (app.clone(), tls.clone(), closing_rx.clone());
        tokio::spawn(async move {
            // Released when the connection ends, whichever way.
            let _permit = permit;
            match tls {
                None => serve_connection(stream, app, &limits, closing).await,
                Some(tls) => {
                    let handshake = tls.accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => serve_connection(stream, app, &limits, closing).await,
                        Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                        Err(_) => debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every permit back means every connection closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(
        limits.request_timeout + Duration::from_secs(1),
        connections.acquire_many(all),
    );
    if drained.await.is_err() {
        warn!("connections still open after the request timeout; closing them");
    }
    Ok(())
}

/// One HTTP/1.1 connection, with hyper's header read timeout.
async fn serve_connection<I>(
    io: I,
    app: Router,
    limits: &Limits,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let mut asked_to_close = *closing.borrow();
    if asked_to_close {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = closing.changed(), if !asked_to_close => {
                // A closed channel (the server is gone) asks the same.
                if changed.is_err() || *closing.borrow() {
                    asked_to_close = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

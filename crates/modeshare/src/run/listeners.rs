//! The service's listeners, one per trust level, each its own router inside the stack every
//! listener shares (`modeshare_http::listener`): the public one on `http.listen`, the admin
//! one on `[admin] listen` when configured, and the operators' ingest one on `[ingest] listen`
//! when an operator is configured (both with bearer tokens, and TLS or loopback). They run on
//! the HTTP runtime, apart from the pipeline.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use modeshare_http::health::Health;
use modeshare_http::listener::{self, Limits};
use modeshare_http::metrics::Metrics;
use modeshare_http::server::{self, MetricsOn};
use modeshare_http::snapshot::Snapshot;
use modeshare_http::{admin, tls};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::AppConfig;
use crate::failure::Failure;

/// Connections the kernel queues while every connection slot is taken.
const BACKLOG: u32 = 1024;
/// Descriptors kept for everything but connections: Kafka's sockets, checkpoint files, logs.
const OTHER_FILES: u64 = 1024;

/// Binds every listener (on the `http` runtime) and serves them there until `shutdown`;
/// the handle ends when all have stopped.
pub(super) fn start(
    config: &AppConfig,
    latest: watch::Receiver<Arc<Snapshot>>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    ingest: Option<modeshare_http::ingest::IngestApi>,
    http: &Handle,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<Result<(), Failure>>, Failure> {
    let limits = config.limits;
    let public_router = server::router(
        latest.clone(),
        metrics.clone(),
        server::ApiSettings {
            k: config.settings.k,
        },
        config.metrics_on,
        health,
    );
    let public = {
        // Sockets register with the runtime that serves them.
        let _on_http = http.enter();
        bind(config.listen)?
    };
    let address = local_address(&public)?;
    let metrics_note = match config.metrics_on {
        MetricsOn::Public => "/metrics, ",
        MetricsOn::Admin => "",
    };
    info!(%address, "serving the page, {metrics_note}/healthz, /livez, /readyz and /api/* on http://{address}");
    let mut served = vec![
        http.spawn(listener::serve(
            public,
            None,
            metrics
                .requests()
                .instrument(listener::with_limits(public_router, &limits), "public"),
            limits,
            shutdown.clone(),
        )),
    ];

    if let Some(settings) = &config.admin {
        let router = admin::router(
            latest,
            metrics.clone(),
            config.metrics_on,
            settings.tokens.clone(),
        );
        let routes = admin::endpoints(config.metrics_on).join(", ");
        let authenticated = Authenticated {
            name: "admin",
            address: settings.listen,
            tls: settings.tls.as_ref(),
            limits,
        };
        served.push(authenticated.serve(router, &metrics, http, shutdown, |address, scheme| {
            info!(%address, tokens = settings.tokens.len(), "admin listener: {routes} at {scheme}://{address}");
        })?);
    }
    if let (Some(settings), Some(api)) = (&config.ingest, ingest) {
        let routes = modeshare_http::ingest::ENDPOINTS.join(", ");
        let authenticated = Authenticated {
            name: "ingest",
            address: settings.listen,
            tls: settings.tls.as_ref(),
            limits: Limits {
                max_request_bytes: settings.max_body_bytes,
                ..limits
            },
        };
        let router = modeshare_http::ingest::router(api);
        served.push(authenticated.serve(router, &metrics, http, shutdown, |address, scheme| {
            if scheme == "http" && !address.ip().is_loopback() {
                warn!(%address, "the ingest listener serves plain HTTP beyond loopback (allow_plain_http): only behind a proxy that terminates TLS");
            }
            info!(%address, operators = settings.operators.len(), "ingest listener: {routes} at {scheme}://{address}");
        })?);
    }
    Ok(http.spawn(async move {
        for listener in served {
            listener
                .await
                .map_err(|e| Failure::Internal(e.into()))?
                .map_err(|e| Failure::Input(e.into()))?;
        }
        Ok(())
    }))
}

/// A listener behind bearer tokens (admin, ingest): HTTPS when it has a certificate.
struct Authenticated<'a> {
    name: &'static str,
    address: SocketAddr,
    tls: Option<&'a (std::path::PathBuf, std::path::PathBuf)>,
    limits: Limits,
}

impl Authenticated<'_> {
    /// Binds it on the `http` runtime and serves `router` there until `shutdown`; `announce`
    /// is told the bound address and the scheme.
    fn serve(
        self,
        router: Router,
        metrics: &Metrics,
        http: &Handle,
        shutdown: &CancellationToken,
        announce: impl FnOnce(SocketAddr, &str),
    ) -> Result<JoinHandle<std::io::Result<()>>, Failure> {
        let acceptor = match self.tls {
            Some((cert, key)) => Some(
                tls::acceptor(cert, key)
                    .map_err(|e| Failure::Usage(anyhow::anyhow!("{}: {e}", self.name)))?,
            ),
            None => None,
        };
        let socket = {
            let _on_http = http.enter();
            bind(self.address)?
        };
        announce(
            local_address(&socket)?,
            if acceptor.is_some() { "https" } else { "http" },
        );
        Ok(http.spawn(listener::serve(
            socket,
            acceptor,
            metrics
                .requests()
                .instrument(listener::with_limits(router, &self.limits), self.name),
            self.limits,
            shutdown.clone(),
        )))
    }
}

/// A listening socket with a backlog for bursts of connections (called inside the runtime
/// that will serve it).
fn bind(address: SocketAddr) -> Result<TcpListener, Failure> {
    let fail =
        |e: std::io::Error| Failure::Usage(anyhow::anyhow!("cannot listen on {address}: {e}"));
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(address).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

fn local_address(listener: &TcpListener) -> Result<SocketAddr, Failure> {
    listener.local_addr().map_err(|e| Failure::Input(e.into()))
}

/// Raises the soft limit of open files so that every listener can hold its
/// `max_connections` (4,096 by default; many systems start processes at 1,024), up to the
/// hard limit; warns when even that is too low.
pub(super) fn raise_open_files_limit(config: &AppConfig) {
    let listeners = 1 + u64::from(config.admin.is_some()) + u64::from(config.ingest.is_some());
    let needed = listeners * connections(&config.limits) + OTHER_FILES;
    match rlimit::increase_nofile_limit(needed) {
        Ok(now) if now < needed => warn!(
            limit = now,
            needed,
            "the open-files limit (ulimit -n) is below what the listeners' max_connections need; \
             raise its hard limit or lower http.limits.max_connections"
        ),
        Ok(_) => {}
        Err(e) => warn!(error = %e, needed, "cannot raise the open-files limit"),
    }
}

fn connections(limits: &Limits) -> u64 {
    u64::try_from(limits.max_connections).unwrap_or(u64::MAX)
}

//! With `[kafka]`: the providers are polled by one instance of the group, the one that holds
//! the providers' lease ([`modeshare_kafka::lease`]). When it gains the lease it reads every
//! provider's cursor from the control topic and starts polling from there; when the lease is
//! revoked it stops its pollers (an hour being delivered is delivered and its cursor written
//! first) before the lease is given up. The pollers are created once, at the start, and kept
//! between leases.

use std::collections::BTreeMap;

use modeshare_kafka::{Lease, LeaseEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::Poller;
use super::cursor::highest;

/// Polls `pollers` while this instance holds `lease` (whose events come on `events`), until
/// `shutdown`; then leaves the lease group, so that another instance takes over at once.
pub async fn poll_while_leased(
    pollers: Vec<Poller>,
    lease: Lease,
    mut events: mpsc::UnboundedReceiver<LeaseEvent>,
    shutdown: CancellationToken,
) {
    let mut idle = pollers;
    let mut running: Option<(CancellationToken, Vec<JoinHandle<Poller>>)> = None;
    loop {
        let event = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            event = events.recv() => event,
        };
        match event {
            None => break,
            Some(LeaseEvent::Gained(records)) => {
                if running.is_some() {
                    continue;
                }
                let cursors: BTreeMap<String, i64> = highest(&records);
                info!(
                    providers = idle.len(),
                    "this instance polls the providers now"
                );
                let stop = shutdown.child_token();
                let tasks = idle
                    .drain(..)
                    .map(|mut poller| {
                        poller.hold(cursors.get(poller.name()).copied());
                        tokio::spawn(poller.run(stop.clone()))
                    })
                    .collect();
                running = Some((stop, tasks));
            }
            Some(LeaseEvent::Lost(release)) => {
                if let Some((stop, tasks)) = running.take() {
                    idle = stopped(stop, tasks).await;
                    for poller in &idle {
                        poller.forget();
                    }
                    info!("this instance has stopped polling the providers");
                }
                drop(release);
            }
        }
    }
    if let Some((stop, tasks)) = running.take() {
        stopped(stop, tasks).await;
    }
    // Nobody waits for a release any more: leaving the group gives the lease up at once.
    drop(events);
    if let Err(e) = tokio::task::spawn_blocking(move || lease.leave()).await {
        error!(error = %e, "cannot leave the providers' lease group");
    }
}

/// Stops the pollers and waits for them; their pollers back.
async fn stopped(stop: CancellationToken, tasks: Vec<JoinHandle<Poller>>) -> Vec<Poller> {
    stop.cancel();
    let mut pollers = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(poller) => pollers.push(poller),
            // A poller that panicked is a bug; the others go on without it.
            Err(e) => error!(error = %e, "a provider's poller failed"),
        }
    }
    pollers
}

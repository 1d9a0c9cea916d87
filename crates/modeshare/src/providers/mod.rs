//! Polling operators' MDS Provider APIs (`[[providers]]`): one task per provider asks for each
//! complete hour in order (an hour is complete `delay` after it ends), judges every page as the
//! push API judges a pushed page (the same decoder; every trip gets the provider's `source`),
//! and hands the accepted trips and the rejections to the push API's sink — the ingest topic
//! with `[kafka]`, else the spool. Only once the sink holds an hour is the next hour to fetch
//! checkpointed ([`cursor`]: a local file, or with `[kafka]` the providers' control topic): a
//! crash re-fetches at most that hour, whose trips then count as duplicates, never twice.
//!
//! With `[kafka]`, only the instance of the group that holds the providers' lease polls
//! ([`lease`]); the others wait for it.
//!
//! An hour answered 202 (not processed yet) is asked for again until `give_up_after` past its
//! end, then skipped (counted and logged) so later hours are not held back forever. A request
//! that fails after its retries leaves the hour for the next poll.

mod check;
mod client;
mod cursor;
mod lease;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modeshare_core::decode::{Format, FormatDecoder, FormatSettings};
use modeshare_core::vocabulary::{EventTimeMs, PersonTripFactors};
use modeshare_http::auth::TokenHashes;
use modeshare_http::health::ProviderNow;
use modeshare_http::ingest::{Delivery, EventSink, Operator, judge_pulled_page};
use modeshare_http::metrics::ProviderMetrics;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use self::check::check;
pub use self::client::{FetchError, Hour, ProviderClient, accept, hour_parameter};
pub use self::cursor::{ControlTopic, CursorStore};
pub use self::lease::poll_while_leased;
use crate::clock::wall_clock;
use crate::config::{DEFAULT_LOOK_BACK, ProviderSettings};

const HOUR_MS: i64 = 3_600_000;
/// The longest wait before an hour answered 202, or a failed one, is asked for again.
const RETRY_NOT_READY: Duration = Duration::from_secs(300);

/// Where each provider stands, for `/healthz`: shared by the pollers and the service's probe.
#[derive(Clone, Default)]
pub struct ProviderBoard(Arc<Mutex<BTreeMap<String, Standing>>>);

#[derive(Clone)]
struct Standing {
    next_hour: i64,
    delay: Duration,
    last_error: Option<String>,
}

impl ProviderBoard {
    fn update(&self, name: &str, change: impl FnOnce(&mut Standing)) {
        if let Ok(mut board) = self.0.lock()
            && let Some(standing) = board.get_mut(name)
        {
            change(standing);
        }
    }

    fn start(&self, name: &str, next_hour: i64, delay: Duration) {
        if let Ok(mut board) = self.0.lock() {
            board.insert(
                name.to_owned(),
                Standing {
                    next_hour,
                    delay,
                    last_error: None,
                },
            );
        }
    }

    /// The provider is not polled here any more (another instance holds the lease).
    fn forget(&self, name: &str) {
        if let Ok(mut board) = self.0.lock() {
            board.remove(name);
        }
    }

    /// Every provider now: how far behind, and why the last poll failed.
    pub fn now(&self) -> Vec<ProviderNow> {
        let now = wall_clock().0;
        let Ok(board) = self.0.lock() else {
            return Vec::new();
        };
        board
            .iter()
            .map(|(name, s)| {
                let delay = i64::try_from(s.delay.as_millis()).unwrap_or(i64::MAX);
                let behind = now.saturating_sub(delay) - HOUR_MS - s.next_hour;
                ProviderNow {
                    name: name.clone(),
                    next_hour: EventTimeMs(s.next_hour).to_rfc3339(),
                    behind_seconds: u64::try_from(behind / 1000).unwrap_or(0),
                    last_error: s.last_error.clone(),
                }
            })
            .collect()
    }
}

/// One provider's polling task.
pub struct Poller {
    settings: ProviderSettings,
    client: ProviderClient,
    decoder: FormatDecoder,
    operator: Operator,
    sink: Arc<dyn EventSink>,
    metrics: ProviderMetrics,
    cursors: CursorStore,
    board: ProviderBoard,
    /// The hour that failed in a way no retry mends, and in how many polls in a row.
    lasting_failures: (i64, u32),
}

/// Polls in a row an hour must fail in a lasting way, past `give_up_after`, before it is
/// skipped: a backlog's first failure (a wrong URL, a provider's hiccup) skips nothing.
const LASTING_FAILURES_TO_SKIP: u32 = 3;

impl Poller {
    pub fn new(
        settings: ProviderSettings,
        formats: &FormatSettings,
        factors: &PersonTripFactors,
        sink: Arc<dyn EventSink>,
        metrics: ProviderMetrics,
        cursors: CursorStore,
        board: ProviderBoard,
    ) -> Result<Poller, FetchError> {
        let decoder = FormatDecoder::new(&Format::Mds(settings.version), formats, factors);
        let operator = Operator {
            name: settings.name.clone(),
            sources: vec![settings.source.clone()],
            tokens: TokenHashes::default(),
        };
        Ok(Poller {
            client: ProviderClient::new(settings.clone())?,
            settings,
            decoder,
            operator,
            sink,
            metrics,
            cursors,
            board,
            lasting_failures: (0, 0),
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Polls until `shutdown`, and gives the poller back (to poll again when the lease comes
    /// back). A stop does not wait for a fetch or its retries — the hour in progress is fetched
    /// again at the next start — but an hour being delivered is delivered and checkpointed
    /// first, so that whoever polls next starts after it.
    pub async fn run(mut self, shutdown: CancellationToken) -> Poller {
        let name = self.settings.name.clone();
        let mut next = self.restored_cursor();
        // Written at once, so that a restart before the first hour is fetched does not move
        // a default start (24 h before now) along with the clock.
        self.save_cursor(next).await;
        self.metrics.delay(&name, self.settings.delay);
        self.board.start(&name, next, self.settings.delay);
        info!(provider = %name, next_hour = %EventTimeMs(next).to_rfc3339(), "polling the Provider API at {}", self.settings.url);
        loop {
            self.metrics.next_hour(&name, next);
            let polled = self.poll_due_hours(&mut next, &shutdown).await;
            if shutdown.is_cancelled() {
                break;
            }
            let wait = match polled {
                Ok(()) => self.settings.interval,
                Err(()) => self.settings.interval.min(RETRY_NOT_READY),
            };
            self.metrics.next_hour(&name, next);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        self
    }

    /// Polling stopped here for good (another instance holds the lease): nothing of the
    /// provider's standing is shown as this instance's any more.
    pub fn forget(&self) {
        self.board.forget(&self.settings.name);
        self.metrics.forget(&self.settings.name);
    }

    /// The lease was gained with `cursor` as the provider's next hour.
    pub fn hold(&mut self, cursor: Option<i64>) {
        self.cursors.hold(cursor);
    }

    /// Fetches every complete hour from `next` on, in order; `Err` when an hour must be asked
    /// for again sooner than the interval (202, a failure).
    async fn poll_due_hours(
        &mut self,
        next: &mut i64,
        shutdown: &CancellationToken,
    ) -> Result<(), ()> {
        let name = self.settings.name.clone();
        let delay = i64::try_from(self.settings.delay.as_millis()).unwrap_or(i64::MAX);
        while *next + HOUR_MS <= wall_clock().0.saturating_sub(delay) && !shutdown.is_cancelled() {
            let hour = EventTimeMs(*next);
            let waited = wall_clock().0 - (*next + HOUR_MS);
            let give_up =
                i64::try_from(self.settings.give_up_after.as_millis()).unwrap_or(i64::MAX);
            let fetched = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                fetched = self.client.fetch_hour(hour) => fetched,
            };
            match fetched {
                Ok(Hour::Pages(pages)) => {
                    if !self.deliver_hour(hour, &pages).await {
                        return Err(());
                    }
                    self.metrics
                        .hour(&name, if empty(&pages) { "empty" } else { "fetched" });
                }
                Ok(Hour::NotReady) => {
                    if waited < give_up {
                        return Err(());
                    }
                    warn!(provider = %name, hour = %hour.to_rfc3339(), "the provider has answered 202 (not processed yet) for {} h: the hour is skipped", waited / HOUR_MS);
                    self.metrics.hour(&name, "skipped");
                }
                Err(e) if e.is_lasting() && waited >= give_up && self.failed_lastingly(*next) => {
                    warn!(provider = %name, hour = %hour.to_rfc3339(), kind = e.kind(), "{e}; asked for since the hour ended {} h ago: the hour is skipped", waited / HOUR_MS);
                    self.metrics.error(&name, e.kind());
                    self.metrics.hour(&name, "skipped");
                }
                Err(e) => {
                    warn!(provider = %name, hour = %hour.to_rfc3339(), kind = e.kind(), "{e}; asked again later");
                    self.metrics.error(&name, e.kind());
                    // /healthz is public: the kind only (the log has the whole message).
                    let error = e.kind().to_owned();
                    self.board.update(&name, |s| s.last_error = Some(error));
                    return Err(());
                }
            }
            *next += HOUR_MS;
            self.save_cursor(*next).await;
            self.metrics.next_hour(&name, *next);
            let next_hour = *next;
            self.board.update(&name, |s| {
                s.next_hour = next_hour;
                s.last_error = None;
            });
        }
        Ok(())
    }

    /// Counts a lasting failure of `hour`; whether it has now failed so in enough polls in a
    /// row to be skipped.
    fn failed_lastingly(&mut self, hour: i64) -> bool {
        self.lasting_failures = match self.lasting_failures {
            (h, n) if h == hour => (h, n + 1),
            _ => (hour, 1),
        };
        self.lasting_failures.1 >= LASTING_FAILURES_TO_SKIP
    }

    /// Every page of an hour, judged and delivered; `false` when the sink cannot take them
    /// now (the hour is fetched again later).
    async fn deliver_hour(&mut self, hour: EventTimeMs, pages: &[Vec<u8>]) -> bool {
        let name = self.settings.name.clone();
        for (i, page) in pages.iter().enumerate() {
            let judged =
                judge_pulled_page(&self.decoder, &self.operator, &self.settings.source, page);
            let accepted = judged.events.len() as u64 - judged.duplicates;
            let (duplicates, rejected) = (judged.duplicates, judged.rejected.len() as u64);
            if !judged.rejected.is_empty() {
                let first = &judged.rejected[0];
                warn!(provider = %name, hour = %hour.to_rfc3339(), page = i + 1, rejected, "rejected trips, the first at item {}: {} ({})", first.index, first.message, first.reason.as_str());
            }
            if judged.events.is_empty() && judged.rejected.is_empty() {
                self.metrics.page(&name, 0, 0, 0);
                continue;
            }
            let delivery = Delivery {
                operator: Arc::from(name.as_str()),
                events: judged.events,
                rejected: judged.rejected,
            };
            if let Err(e) = self.sink.deliver(delivery).await {
                warn!(provider = %name, hour = %hour.to_rfc3339(), "the fetched trips cannot be made durable now: {e}");
                self.metrics.error(&name, "sink");
                let error = "sink".to_owned();
                self.board.update(&name, |s| s.last_error = Some(error));
                return false;
            }
            self.metrics.page(&name, accepted, duplicates, rejected);
        }
        true
    }

    /// The checkpointed next hour, else `start`, else the hour 24 h before now.
    fn restored_cursor(&self) -> i64 {
        self.cursors
            .restored(&self.settings.name)
            .or(self.settings.start_ms)
            .unwrap_or_else(|| {
                let back = i64::try_from(DEFAULT_LOOK_BACK.as_millis()).unwrap_or(0);
                (wall_clock().0 - back).div_euclid(HOUR_MS) * HOUR_MS
            })
    }

    async fn save_cursor(&self, next_hour: i64) {
        if let Err(e) = self.cursors.save(&self.settings.name, next_hour).await {
            // The hour is fetched again after a restart; its trips then count as duplicates.
            warn!(provider = %self.settings.name, "cannot save the next hour to fetch: {e}");
            self.metrics.error(&self.settings.name, "checkpoint");
        }
    }
}

/// Whether the pages hold no trip at all (an empty hour is a valid answer).
fn empty(pages: &[Vec<u8>]) -> bool {
    pages.iter().all(|p| {
        serde_json::from_slice::<serde_json::Value>(p).is_ok_and(|v| {
            let trips = v
                .get("trips")
                .or_else(|| v.get("data").and_then(|d| d.get("trips")));
            trips.and_then(|t| t.as_array()).is_some_and(Vec::is_empty)
        })
    })
}

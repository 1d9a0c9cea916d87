//! The service's side of the shared view ([`crate::shared_view`]): a task that reads the
//! parts every instance of the group published, every `[view] interval`, and hands the latest
//! to whoever builds snapshots; and the writes of this instance's own parts, one round at a
//! time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use modeshare_http::snapshot::{MissingPart, PartStatus, PartsStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::shared_view::{KnownParts, Part, SharedView};

/// The parts the last read found (one per partition, never older than what was shown).
pub type RemoteParts = Arc<Vec<Arc<Part>>>;

/// One of this instance's parts to write.
pub struct PartToWrite {
    pub topic: String,
    pub partition: i32,
    pub generation: u64,
    pub bytes: Vec<u8>,
    /// The first under this generation: the partition's lower generations are removed.
    pub first: bool,
}

/// Reads the group's parts in the background, and writes this instance's.
pub struct ViewLink {
    view: SharedView,
    latest: watch::Receiver<RemoteParts>,
    /// This instance's last round of writes, while it runs.
    writing: Option<JoinHandle<()>>,
}

impl ViewLink {
    /// Starts reading the parts every `interval` until `shutdown`.
    pub fn start(view: SharedView, interval: Duration, shutdown: CancellationToken) -> ViewLink {
        let (tell, latest) = watch::channel(RemoteParts::default());
        tokio::spawn(read_parts(view.clone(), interval, tell, shutdown));
        ViewLink {
            view,
            latest,
            writing: None,
        }
    }

    /// The parts last read.
    pub fn parts(&self) -> RemoteParts {
        self.latest.borrow().clone()
    }

    /// A receiver that hears each new read.
    pub fn subscribe(&self) -> watch::Receiver<RemoteParts> {
        self.latest.clone()
    }

    pub fn view(&self) -> &SharedView {
        &self.view
    }

    /// Whether the previous round of writes is still going on (a new round would be skipped).
    pub fn busy(&self) -> bool {
        self.writing.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Writes these parts in the background, unless the previous round is still being written
    /// (then this round is skipped: the next one carries newer state anyway).
    pub fn write(&mut self, parts: Vec<PartToWrite>) {
        if self.busy() {
            debug!("the previous round of view parts is still being written; skipping this one");
            return;
        }
        let view = self.view.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            for part in parts {
                let written = view.publish(
                    &part.topic,
                    part.partition,
                    part.generation,
                    &part.bytes,
                    part.first,
                );
                if let Err(e) = written {
                    warn!(topic = %part.topic, partition = part.partition, error = %e, "cannot publish the partition's part of the view");
                }
            }
        }));
    }

    /// Waits for the writes in flight (at a stop), at most until `give_up`.
    pub async fn written(&mut self, give_up: &CancellationToken) {
        if let Some(writing) = self.writing.take() {
            tokio::select! {
                _ = writing => {}
                _ = give_up.cancelled() => {}
            }
        }
    }
}

/// Reads the parts every `interval` and sends each read's result.
async fn read_parts(
    view: SharedView,
    interval: Duration,
    tell: watch::Sender<RemoteParts>,
    shutdown: CancellationToken,
) {
    let mut known = KnownParts::default();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (reader, previous) = (view.clone(), known.clone());
        let read = tokio::task::spawn_blocking(move || reader.read(&previous)).await;
        let (fresh, problems) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => {
                warn!(error = %e, "cannot read the other instances' parts of the view; showing the last read");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "the view reader failed");
                continue;
            }
        };
        // Each problem once, until it is mended.
        let now: BTreeSet<String> = problems.into_iter().collect();
        for problem in now.difference(&reported) {
            warn!(problem = %problem, "a part of the view cannot be read; it is left out");
        }
        reported = now;
        known = fresh;
        let parts = known.parts();
        if first {
            info!(parts = parts.len(), "read the group's parts of the view");
            first = false;
        }
        tell.send_replace(Arc::new(parts));
    }
}

/// What a view says of its parts: this instance's own partitions (fresh) and the others', and
/// the partitions below the highest of each topic that nobody published.
pub fn parts_status(
    own: &[(String, i32)],
    owner: &str,
    remote: &[&Part],
    now_ms: i64,
) -> PartsStatus {
    let mut parts: Vec<PartStatus> = own
        .iter()
        .map(|(topic, partition)| PartStatus {
            topic: topic.clone(),
            partition: *partition,
            instance: owner.to_owned(),
            age_seconds: 0.0,
        })
        .chain(remote.iter().map(|p| PartStatus {
            topic: p.header.topic.clone(),
            partition: p.header.partition,
            instance: p.header.owner.clone(),
            age_seconds: (now_ms - p.header.published_at).max(0) as f64 / 1000.0,
        }))
        .collect();
    parts.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut missing = Vec::new();
    let mut at = 0;
    while at < parts.len() {
        let topic = parts[at].topic.clone();
        let of_topic = parts[at..].iter().take_while(|p| p.topic == topic).count();
        let held: BTreeSet<i32> = parts[at..at + of_topic]
            .iter()
            .map(|p| p.partition)
            .collect();
        at += of_topic;
        let highest = held.last().copied().unwrap_or(0);
        missing.extend(
            (0..highest)
                .filter(|p| !held.contains(p))
                .map(|partition| MissingPart {
                    topic: topic.clone(),
                    partition,
                }),
        );
    }
    PartsStatus { parts, missing }
}

//! The service's side of the shared view ([`crate::shared_view`]): a task that reads the
//! parts every instance of the group published, every `[view] interval`, and hands the latest
//! to whoever builds snapshots; and the writes of this instance's own parts, one round at a
//! time.

use std::collections::{BTreeMap, BTreeSet};
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

/// What a view says of its parts: this instance's own partitions (fresh) and the others',
/// those not published again within `stale_after` (their owner is gone), and the partitions
/// nobody published: below the highest held, and up to the partition count of the topic as
/// `counts` (this instance's brokers) or the parts' owners say.
pub fn parts_status(
    own: &[(String, i32)],
    owner: &str,
    remote: &[&Part],
    counts: &[(String, i32)],
    now_ms: i64,
    stale_after: Duration,
) -> PartsStatus {
    let stale_after_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
    let mut parts: Vec<PartStatus> = own
        .iter()
        .map(|(topic, partition)| PartStatus {
            topic: topic.clone(),
            partition: *partition,
            instance: owner.to_owned(),
            age_seconds: 0.0,
            stale: false,
        })
        .chain(remote.iter().map(|p| {
            let age_ms = (now_ms - p.header.published_at).max(0);
            PartStatus {
                topic: p.header.topic.clone(),
                partition: p.header.partition,
                instance: p.header.owner.clone(),
                age_seconds: age_ms as f64 / 1000.0,
                stale: age_ms > stale_after_ms,
            }
        }))
        .collect();
    parts.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    // Each topic's partition count: the most any source says, at least the highest held + 1.
    let mut expected: BTreeMap<&str, i32> = BTreeMap::new();
    let said = counts
        .iter()
        .map(|(topic, n)| (topic.as_str(), *n))
        .chain(
            remote
                .iter()
                .map(|p| (p.header.topic.as_str(), p.header.topic_partitions)),
        )
        .chain(parts.iter().map(|p| (p.topic.as_str(), p.partition + 1)));
    for (topic, n) in said {
        let count = expected.entry(topic).or_default();
        *count = (*count).max(n);
    }
    let held: BTreeSet<(&str, i32)> = parts
        .iter()
        .map(|p| (p.topic.as_str(), p.partition))
        .collect();
    let missing = expected
        .iter()
        .flat_map(|(topic, count)| (0..*count).map(move |partition| (*topic, partition)))
        .filter(|key| !held.contains(key))
        .map(|(topic, partition)| MissingPart {
            topic: topic.to_owned(),
            partition,
        })
        .collect();
    PartsStatus {
        stale_after_seconds: stale_after.as_secs_f64(),
        parts,
        missing,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use modeshare_core::pipeline::Pipeline;

    use super::*;
    use crate::config::{self, Overrides};
    use crate::shared_view::PartHeader;

    const NOW: i64 = 1_800_000_000_000;

    fn part(partition: i32, topic_partitions: i32, age_ms: i64) -> Part {
        let config = config::load(None, [], &Overrides::default()).unwrap();
        Part {
            header: PartHeader {
                topic: "trips".into(),
                partition,
                topic_partitions,
                generation: 1,
                owner: format!("worker-{partition}/1"),
                published_at: NOW - age_ms,
                last_event_at: NOW - age_ms,
            },
            pipeline: Pipeline::live(config.settings, config.zones),
        }
    }

    fn partitions(list: &[MissingPart]) -> Vec<i32> {
        list.iter().map(|m| m.partition).collect()
    }

    #[test]
    fn missing_partitions_reach_the_topic_partition_count_and_old_parts_are_stale() {
        let own = [("trips".to_owned(), 0), ("trips".to_owned(), 1)];
        let (fresh, old) = (part(2, 6, 10_000), part(4, 0, 200_000));
        let stale_after = Duration::from_secs(150);
        let counts = [("trips".to_owned(), 4)];
        let status = parts_status(&own, "me/1", &[&fresh, &old], &counts, NOW, stale_after);
        // The owner of partition 2 says the topic has 6: partitions 3 and 5 are missing,
        // beyond what this instance's brokers said (4) and beyond the highest held (4).
        assert_eq!(partitions(&status.missing), [3, 5]);
        let stale: Vec<(i32, bool)> = status
            .parts
            .iter()
            .map(|p| (p.partition, p.stale))
            .collect();
        assert_eq!(stale, [(0, false), (1, false), (2, false), (4, true)]);
        assert_eq!(status.parts[2].age_seconds, 10.0);
        assert_eq!(status.parts[0].instance, "me/1");
        assert!(status.incomplete());

        // Nobody knows the count: the gaps below the highest held.
        let status = parts_status(&[], "me/1", &[&old], &[], NOW, Duration::MAX);
        assert_eq!(partitions(&status.missing), [0, 1, 2, 3]);
        assert!(
            !status.parts[0].stale,
            "never stale without a view interval"
        );

        // Everything held and fresh: complete.
        let own: Vec<(String, i32)> = (0..2).map(|p| ("trips".to_owned(), p)).collect();
        let last = part(2, 3, 10_000);
        let status = parts_status(
            &own,
            "me/1",
            &[&last],
            &[("trips".into(), 3)],
            NOW,
            stale_after,
        );
        assert!(
            status.missing.is_empty() && !status.incomplete(),
            "{status:?}"
        );
        // The public answer never names the instances.
        let public = serde_json::to_string(&status).unwrap();
        assert!(
            !public.contains("worker-") && !public.contains("me/1"),
            "{public}"
        );
    }
}

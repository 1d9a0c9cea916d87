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

/// The parts the last read found, with those of partitions this instance gave up since (one
/// per partition, never older than what was shown).
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
    /// Where this instance's parts of the partitions it holds are: the reads skip them, as
    /// their live state is shown instead.
    own: watch::Sender<Arc<BTreeSet<String>>>,
    /// Parts of partitions this instance gave up, from their last state, shown until a read
    /// brings a part of the partition at least as new (its own last write, or a new owner's).
    departed: Vec<Arc<Part>>,
    /// The last read with the parts departed since, and the read it was made from.
    merged: Option<(RemoteParts, RemoteParts)>,
    /// This instance's last round of writes, while it runs.
    writing: Option<JoinHandle<()>>,
}

impl ViewLink {
    /// Starts reading the parts every `interval` until `shutdown`.
    pub fn start(view: SharedView, interval: Duration, shutdown: CancellationToken) -> ViewLink {
        let (tell, latest) = watch::channel(RemoteParts::default());
        let (own, skipped) = watch::channel(Arc::default());
        tokio::spawn(read_parts(view.clone(), interval, tell, skipped, shutdown));
        ViewLink {
            view,
            latest,
            own,
            departed: Vec::new(),
            merged: None,
            writing: None,
        }
    }

    /// The parts last read, and those of partitions given up since.
    pub fn parts(&mut self) -> RemoteParts {
        let read = self.latest.borrow().clone();
        let before = self.departed.len();
        self.departed
            .retain(|gone| !read.iter().any(|part| as_new(part, gone)));
        if self.departed.is_empty() {
            self.merged = None;
            return read;
        }
        if let Some((from, merged)) = &self.merged
            && Arc::ptr_eq(from, &read)
            && self.departed.len() == before
        {
            return merged.clone();
        }
        let merged: RemoteParts = Arc::new(
            read.iter()
                .filter(|part| !self.departed.iter().any(|gone| as_new(gone, part)))
                .chain(&self.departed)
                .cloned()
                .collect(),
        );
        self.merged = Some((read, merged.clone()));
        merged
    }

    /// A receiver that hears each new read.
    pub fn subscribe(&self) -> watch::Receiver<RemoteParts> {
        self.latest.clone()
    }

    /// The partitions this instance holds now, each with its claim generation: the reads skip
    /// their parts, and a partition given up and held again is no longer shown as departed
    /// (its live state is).
    pub fn hold<'a>(&mut self, held: impl IntoIterator<Item = (&'a str, i32, u64)>) {
        let held: Vec<(&str, i32, u64)> = held.into_iter().collect();
        let departed = self.departed.len();
        self.departed.retain(|gone| {
            let h = &gone.header;
            !held
                .iter()
                .any(|(t, p, _)| h.topic == *t && h.partition == *p)
        });
        if self.departed.len() != departed {
            self.merged = None;
        }
        let locations = held
            .into_iter()
            .map(|(topic, partition, generation)| self.view.location(topic, partition, generation))
            .collect();
        self.own.send_replace(Arc::new(locations));
    }

    /// A partition given up, with its last state: shown until a read brings a part of it at
    /// least as new. Call [`ViewLink::hold`] without it as well, so that the reads take its
    /// part again.
    pub fn depart(&mut self, part: Part) {
        let part = Arc::new(part);
        self.departed.retain(|gone| !as_new(&part, gone));
        self.departed.push(part);
        self.merged = None;
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

    /// Waits for the writes in flight (before a round that must not be skipped: at a stop or
    /// a revocation), at most until `give_up` or for `limit`; a round still going on after
    /// that stays in flight.
    pub async fn written(&mut self, give_up: &CancellationToken, limit: Option<Duration>) {
        let Some(writing) = &mut self.writing else {
            return;
        };
        let limit = tokio::time::sleep(limit.unwrap_or(Duration::MAX));
        tokio::select! {
            _ = writing => self.writing = None,
            _ = give_up.cancelled() => {}
            _ = limit => {}
        }
    }
}

/// Whether `part` is of the same partition as `than` and at least as new: a higher claim
/// generation, or the same one published as late or later.
fn as_new(part: &Part, than: &Part) -> bool {
    let (a, b) = (&part.header, &than.header);
    a.topic == b.topic
        && a.partition == b.partition
        && (a.generation, a.published_at) >= (b.generation, b.published_at)
}

/// Reads the parts every `interval`, but for those at the locations `skipped` holds, and
/// sends each read's result.
async fn read_parts(
    view: SharedView,
    interval: Duration,
    tell: watch::Sender<RemoteParts>,
    skipped: watch::Receiver<Arc<BTreeSet<String>>>,
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
        let (reader, previous, skipped) = (view.clone(), known.clone(), skipped.borrow().clone());
        let read = tokio::task::spawn_blocking(move || reader.read(&previous, &skipped)).await;
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

    /// A part of `events` trips of partition `partition`, as `owner` would publish it.
    fn trips(
        partition: i32,
        (generation, published_at): (u64, i64),
        owner: &str,
        events: usize,
    ) -> Part {
        let config = config::load(None, [], &Overrides::default()).unwrap();
        let mut pipeline = Pipeline::live(config.settings, config.zones);
        for n in 0..events {
            let line = format!(
                r#"{{"kind":"trip","id":"{owner}-{n}","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{{"lat":59.89,"lon":10.62}}}}"#
            );
            pipeline.observe_line(line.as_bytes(), "t", None);
        }
        Part {
            header: PartHeader {
                topic: "trips".into(),
                partition,
                topic_partitions: 2,
                generation,
                owner: owner.into(),
                published_at,
                last_event_at: published_at,
            },
            pipeline,
        }
    }

    fn write(view: &SharedView, part: &Part) {
        let bytes = view.encode(&part.header, &part.pipeline);
        let h = &part.header;
        view.publish(&h.topic, h.partition, h.generation, &bytes, false)
            .unwrap();
    }

    /// Waits until the link shows these parts: (partition, owner, trips).
    async fn shows(link: &mut ViewLink, expected: &[(i32, &str, u64)]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut seen: Vec<(i32, String, u64)> = link
                .parts()
                .iter()
                .map(|p| {
                    let trips = p.pipeline.totals().events.accepted;
                    (p.header.partition, p.header.owner.clone(), trips)
                })
                .collect();
            seen.sort();
            let wanted: Vec<(i32, String, u64)> = expected
                .iter()
                .map(|(p, o, n)| (*p, (*o).to_owned(), *n))
                .collect();
            if seen == wanted {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "shown {seen:?}, expected {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The reads skip the parts of the partitions this instance holds (it shows their live
    /// state); a partition given up is shown from its last state until a read brings a part of
    /// it at least as new: not this instance's older write, but its final one or a new owner's.
    #[test]
    fn own_parts_are_not_read_back_and_a_departed_partition_never_goes_missing() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let config = config::load(None, [], &Overrides::default()).unwrap();
            let store = crate::checkpoint_store::CheckpointStore::in_memory();
            let view = SharedView::new(store, "group", config.settings, config.zones);
            let shutdown = CancellationToken::new();
            let mut link =
                ViewLink::start(view.clone(), Duration::from_millis(20), shutdown.clone());
            link.hold([("trips", 0, 1)]);
            write(&view, &trips(0, (1, 100), "me", 1));
            write(&view, &trips(1, (1, 100), "other", 2));
            shows(&mut link, &[(1, "other", 2)]).await;

            // Partition 0 is given up with 3 trips: shown at once, the merge made once.
            link.depart(trips(0, (1, 200), "me", 3));
            link.hold([]);
            let merged = link.parts();
            assert!(Arc::ptr_eq(&merged, &link.parts()));
            shows(&mut link, &[(0, "me", 3), (1, "other", 2)]).await;
            // A read that brings back its older write (1 trip) leaves the departed state shown.
            let mut reads = link.subscribe();
            let older_read = |parts: &RemoteParts| {
                parts
                    .iter()
                    .any(|p| p.header.partition == 0 && p.pipeline.totals().events.accepted == 1)
            };
            while !older_read(&reads.borrow_and_update()) {
                reads.changed().await.unwrap();
            }
            shows(&mut link, &[(0, "me", 3), (1, "other", 2)]).await;
            // Its final write replaces it once read (with 4 trips here, to tell them apart).
            write(&view, &trips(0, (1, 200), "me", 4));
            shows(&mut link, &[(0, "me", 4), (1, "other", 2)]).await;
            // And so does a new owner's part, of a higher generation though published earlier.
            link.depart(trips(0, (1, 300), "me", 5));
            shows(&mut link, &[(0, "me", 5), (1, "other", 2)]).await;
            write(&view, &trips(0, (2, 50), "new", 6));
            shows(&mut link, &[(0, "new", 6), (1, "other", 2)]).await;
            // A partition given up and held again (an eager rebalance gives most partitions
            // straight back) is not kept as departed, and its part is skipped again: its live
            // state is shown.
            link.depart(trips(1, (1, 400), "other", 7));
            shows(&mut link, &[(0, "new", 6), (1, "other", 7)]).await;
            link.hold([("trips", 1, 1)]);
            assert!(link.departed.is_empty());
            shows(&mut link, &[(0, "new", 6)]).await;
            shutdown.cancel();
        });
    }
}

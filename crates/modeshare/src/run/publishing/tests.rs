use modeshare_core::pipeline::Outcome;

use modeshare_http::metrics::Metrics;

use super::*;
use crate::config::{self, Overrides};
use crate::run::partitions::{PartitionKey, PartitionState};
use crate::shared_view::PartHeader;

const HOUR_MS: i64 = 3_600_000;
/// 2024-05-02T00:00Z.
const DAY: i64 = 1_714_608_000_000;

fn trip(id: &str, at: i64) -> String {
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"bicycle","start_time":{at},"origin":{{"lat":59.8958,"lon":10.6290}}}}"#
    )
}

fn key(partition: i32) -> PartitionKey {
    (Arc::from("trips"), partition)
}

/// Two Kafka partitions, each with one trip, partition 1's two hours after partition 0's;
/// both active now.
fn two_partitions(config: &AppConfig) -> Partitions {
    let mut partitions = Partitions::new();
    for (partition, at) in [(0, DAY), (1, DAY + 2 * HOUR_MS)] {
        let mut state = PartitionState::from_beginning(config);
        let id = format!("p{partition}");
        assert_eq!(
            state
                .pipeline
                .observe_line(trip(&id, at).as_bytes(), "test", None),
            Outcome::Accepted
        );
        partitions.insert(key(partition), state);
    }
    partitions
}

fn publisher(config: &AppConfig) -> (Publisher, watch::Receiver<Arc<Snapshot>>, Metrics) {
    let empty = Snapshot::build(&config.settings, &config.zones, &[], None);
    let (snapshots, latest) = watch::channel(Arc::new(empty));
    let metrics = Metrics::new(latest.clone()).unwrap();
    let publisher = Publisher::new(snapshots, None, metrics.service().pipeline.clone());
    (publisher, latest, metrics)
}

/// How many publishes `modeshare_publish_duration_seconds` observed.
fn publishes_observed(metrics: &Metrics) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let text = String::from_utf8(runtime.block_on(metrics.text()).unwrap()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("modeshare_publish_duration_seconds_count "))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn status(lag: i64) -> Option<BrokerStatus> {
    Some(BrokerStatus {
        connected: true,
        lag: vec![("trips".into(), 0, lag)],
        ..BrokerStatus::default()
    })
}

/// What a snapshot of `partitions` built from scratch now shows.
fn fresh(config: &AppConfig, partitions: &Partitions) -> Snapshot {
    let owned: Vec<(&Pipeline, i64)> = partitions
        .values()
        .map(|p| (&p.pipeline, p.last_event_at))
        .collect();
    let watermark = watermark_of(config, &owned, wall_clock().0);
    build(config, &owned, watermark, &mut PlacesCadence::default())
}

#[test]
fn a_tick_without_news_sends_the_last_snapshot_with_the_brokers_status_of_now_or_nothing() {
    let config = config::load(None, [], &Overrides::default()).unwrap();
    let mut partitions = two_partitions(&config);
    let (mut publisher, mut latest, metrics) = publisher(&config);
    publisher.publish(&config, &partitions, status(5), None);
    let first = latest.borrow_and_update().clone();
    assert_eq!(first.report_without_cells.events.accepted, 2);
    assert_eq!(first.kafka, status(5));

    // Nothing changed but the brokers' lag: the same numbers, the new status.
    publisher.publish(&config, &partitions, status(0), None);
    let again = latest.borrow_and_update().clone();
    assert_eq!(again.kafka, status(0));
    assert_eq!(again.full_report(), first.full_report());
    assert_eq!(again.view, first.view);
    assert_eq!(again.watermark, first.watermark);
    // And the same status as well: nothing is sent (`/metrics` keeps its encoding).
    publisher.publish(&config, &partitions, status(0), None);
    assert!(
        !latest.has_changed().unwrap(),
        "the same snapshot sent again"
    );

    // Partition 0 falls idle (its last event 10 minutes ago, past the 5-minute idle timeout):
    // with no new event the combined watermark moves on to partition 1's alone, and the view
    // with it, as a snapshot built from scratch shows.
    let idle = config.settings.windows.idle_timeout.0;
    if let Some(state) = partitions.get_mut(&key(0)) {
        state.last_event_at = wall_clock().0 - 2 * idle;
    }
    publisher.publish(&config, &partitions, status(0), None);
    let moved = latest.borrow_and_update().clone();
    let expected = fresh(&config, &partitions);
    assert!(
        moved.watermark > first.watermark,
        "{:?} after {:?}",
        moved.watermark,
        first.watermark
    );
    assert_eq!(moved.watermark, expected.watermark);
    assert_eq!(moved.view, expected.view);

    // A new event: summed again.
    if let Some(state) = partitions.get_mut(&key(1)) {
        let line = trip("p1-later", DAY + 3 * HOUR_MS);
        state.pipeline.observe_line(line.as_bytes(), "test", None);
    }
    publisher.state_changed();
    publisher.publish(&config, &partitions, status(0), None);
    assert_eq!(latest.borrow().report_without_cells.events.accepted, 3);
    // The publish time is observed for the three ticks that summed, not the two that did not.
    assert_eq!(publishes_observed(&metrics), 3);
}

/// An instance alone in its group shares the view (`[view] interval`, on by default) with no
/// other instance's parts to show: a tick without news sends nothing to either listener, as
/// without a shared view, until the brokers' status or the parts' status moves.
#[test]
fn a_tick_without_news_sends_nothing_when_the_city_is_this_instance_alone() {
    let config = config::load(None, [], &Overrides::default()).unwrap();
    let mut partitions = two_partitions(&config);
    let (_, mut latest, metrics) = publisher(&config);
    let (own, latest_own) = watch::channel(latest.borrow().clone());
    let (city, mut latest_city) = watch::channel(latest.borrow().clone());
    latest = latest_own;
    let mut publisher = Publisher::new(own, Some(city), metrics.service().pipeline.clone());
    let none = RemoteParts::default();
    let alone = || {
        Some(Others {
            parts: &none,
            owner: "host/1",
        })
    };
    publisher.publish(&config, &partitions, status(0), alone());
    let first = latest.borrow_and_update().clone();
    assert_eq!(first.report_without_cells.events.accepted, 2);
    let parts = |s: &Snapshot| s.parts.as_ref().map(|p| p.parts.len());
    assert_eq!(parts(&first), Some(2));
    assert!(Arc::ptr_eq(&latest_city.borrow_and_update(), &first));

    publisher.publish(&config, &partitions, status(0), alone());
    assert!(
        !latest.has_changed().unwrap(),
        "the same snapshot sent again"
    );
    assert!(
        !latest_city.has_changed().unwrap(),
        "the same city sent again"
    );

    // The brokers' status moved: sent, to both.
    publisher.publish(&config, &partitions, status(3), alone());
    assert_eq!(latest.borrow_and_update().kafka, status(3));
    assert_eq!(latest_city.borrow_and_update().kafka, status(3));
    // A partition assigned and nothing read from it yet: the numbers and the watermark are the
    // same, the parts' status is not, so it is sent.
    partitions.insert(key(2), PartitionState::from_beginning(&config));
    publisher.publish(&config, &partitions, status(3), alone());
    let third = latest.borrow_and_update().clone();
    assert_eq!(third.watermark, first.watermark);
    assert_eq!(parts(&third), Some(3));
    assert_eq!(parts(&latest_city.borrow_and_update()), Some(3));

    // Another instance's part shown, then gone (its owner gave the partition up): the city
    // without it is sent, though this instance's numbers did not move.
    let remote: RemoteParts = Arc::new(vec![Arc::new(Part {
        header: PartHeader {
            topic: "trips".into(),
            partition: 7,
            topic_partitions: 8,
            generation: 1,
            owner: "host/2".into(),
            published_at: wall_clock().0,
            last_event_at: wall_clock().0,
        },
        pipeline: Pipeline::live(config.settings.clone(), config.zones.clone()),
    })]);
    let with_other = Others {
        parts: &remote,
        owner: "host/1",
    };
    publisher.publish(&config, &partitions, status(3), Some(with_other));
    assert_eq!(parts(&latest_city.borrow_and_update()), Some(4));
    publisher.publish(&config, &partitions, status(3), alone());
    assert_eq!(parts(&latest_city.borrow_and_update()), Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_backlog_is_published_once_a_second_and_a_caught_up_stream_at_every_tick() {
    let config = config::load(None, [], &Overrides::default()).unwrap();
    let mut partitions = two_partitions(&config);
    let (mut publisher, mut latest, _metrics) = publisher(&config);
    let next_trip = |partitions: &mut Partitions, n: usize| {
        if let Some(state) = partitions.get_mut(&key(1)) {
            let line = trip(&format!("later-{n}"), DAY + 3 * HOUR_MS + n as i64);
            state.pipeline.observe_line(line.as_bytes(), "test", None);
        }
    };
    let accepted = |latest: &mut watch::Receiver<Arc<Snapshot>>| {
        latest
            .borrow_and_update()
            .report_without_cells
            .events
            .accepted
    };
    let backlog = status(BACKLOG_RECORDS);
    publisher.publish(&config, &partitions, backlog.clone(), None);
    assert_eq!(accepted(&mut latest), 2, "the first tick publishes");

    // Far behind: a new event waits for the next tick a second after the last publish.
    next_trip(&mut partitions, 1);
    publisher.state_changed();
    tokio::time::advance(BACKLOG_PUBLISH_INTERVAL / 2).await;
    publisher.publish(&config, &partitions, backlog.clone(), None);
    assert!(
        !latest.has_changed().unwrap(),
        "published within the second"
    );
    tokio::time::advance(BACKLOG_PUBLISH_INTERVAL / 2).await;
    publisher.publish(&config, &partitions, backlog.clone(), None);
    assert_eq!(
        accepted(&mut latest),
        3,
        "published a second after the last"
    );

    // Just short of a backlog, or caught up: every tick with news publishes.
    for (n, lag) in [(2, BACKLOG_RECORDS - 1), (3, 0)] {
        next_trip(&mut partitions, n);
        publisher.state_changed();
        publisher.publish(&config, &partitions, status(lag), None);
        assert_eq!(accepted(&mut latest), 2 + n as u64, "{lag} records behind");
    }
    // Files, the simulator and the spool have no brokers' status: every tick with news.
    next_trip(&mut partitions, 4);
    publisher.state_changed();
    publisher.publish(&config, &partitions, None, None);
    assert_eq!(accepted(&mut latest), 6);
}

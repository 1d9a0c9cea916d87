//! Several instances of one Kafka group, one view of the city, on the local broker (and an S3
//! store for their checkpoints and parts): each
//! instance, and `modeshare serve`, shows the whole city — the merge of every partition's
//! latest part — equal number for number to one instance reading the same events, through a
//! kill -9 and a newcomer; and an instance paused past its session timeout, while another
//! takes its partitions over, is fenced when it resumes: its stale checkpoint is refused and
//! the counts stay exact.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::kafka::{GoldenTopic, golden_messages, send};
use common::s3::S3Server;
use common::{
    Random, Service, Tool, assert_report_equals, metrics, poll_until, replay_report, requires, sum,
};

fn assigned(service: &Service, topic: &str) -> usize {
    let m = metrics(&service.get("/metrics").1);
    sum(
        &m,
        "modeshare_kafka_assigned_partitions",
        &[("topic", topic)],
    ) as usize
}

/// Events an instance counted in its own partitions (its `/metrics`).
fn own_events(service: &Service) -> f64 {
    sum(
        &metrics(&service.get("/metrics").1),
        "modeshare_events_total",
        &[],
    )
}

/// `/api/zones` without what differs between instances by design (who owns which part).
fn zones_view(service: &Service) -> Value {
    let mut zones = service.json("/api/zones");
    if let Some(map) = zones.as_object_mut() {
        map.remove("parts");
    }
    zones
}

/// What a planner reads from an instance: the zones (windows, shares, goals), the hex map and
/// the zone pairs of every window.
fn public_view(service: &Service) -> Value {
    let zones = zones_view(service);
    let mut view = serde_json::json!({ "zones": zones });
    for window in zones["windows"].as_array().into_iter().flatten() {
        let name = window["window"].as_str().unwrap_or_default();
        // Calendar periods (day, week, ...) have no places: those answers are 400 everywhere.
        for (what, path) in [("cells", "/api/cells"), ("od", "/api/od")] {
            let (status, body) = service.get(&format!("{path}?window={name}"));
            view[format!("{what} {name}")] = match status {
                200 => serde_json::from_str(&body).unwrap(),
                _ => Value::from(status),
            };
        }
    }
    view
}

/// Waits until every service shows what `reference` (one instance reading all events) shows;
/// both sides are read again until then (places are summed again only every few seconds).
fn assert_same_view(services: &[(&str, &Service)], reference: &Service, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let expected = public_view(reference);
        let differences: Vec<String> = services
            .iter()
            .filter_map(|(name, service)| {
                let view = public_view(service);
                first_difference(&view, &expected, String::new()).map(|d| format!("{name}: {d}"))
            })
            .collect();
        if differences.is_empty() {
            assert!(
                expected["zones"]["windows"]
                    .as_array()
                    .is_some_and(|w| !w.is_empty()),
                "no windows to compare"
            );
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "the instances show another view than one instance:\n{}",
                differences.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Where two JSON values first differ, and how.
fn first_difference(got: &Value, want: &Value, at: String) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for key in g.keys().chain(w.keys()) {
                let (a, b) = (
                    g.get(key).unwrap_or(&Value::Null),
                    w.get(key).unwrap_or(&Value::Null),
                );
                if let Some(d) = first_difference(a, b, format!("{at}.{key}")) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, format!("{at}[{i}]"))),
        _ => (got != want).then(|| format!("{at}: {got} where one instance shows {want}")),
    }
}

#[test]
fn three_instances_a_kill_and_a_newcomer_show_the_city_one_instance_shows() {
    requires!(Tool::Broker);
    let mut random = Random::seeded("instances test");
    let case = GoldenTopic::new("instances", 6);
    let (brokers, topic) = (&case.brokers, case.topic.as_str());
    let expected = replay_report();
    let messages = golden_messages();
    // The checkpoints and the parts of the view in an S3 store (a real S3-protocol server on
    // loopback); the fencing test below keeps them in a directory.
    let s3 = S3Server::start();
    let store = s3.env("city");

    let a = case.service_with(&store);
    let mut b = case.service_with(&store);
    let c = case.service_with(&store);
    poll_until("6 partitions split over 3 instances", 90, || {
        let counts = [
            assigned(&a, topic),
            assigned(&b, topic),
            assigned(&c, topic),
        ];
        (counts.iter().sum::<usize>() == 6 && counts.iter().all(|n| *n > 0)).then_some(())
    });

    // A seeded cut: the first part is read by a, b and c; b is killed; d joins; the rest.
    let cut = messages.len() / 4 + (random.next() as usize % (messages.len() / 2));
    eprintln!("{} messages, b killed after {cut}", messages.len());
    assert_eq!(send(brokers, topic, &messages[..cut]), cut);
    poll_until("b counting its partitions", 60, || {
        (own_events(&b) > 0.0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(random.next() % 500));
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let d = case.service_with(&store);
    assert_eq!(send(brokers, topic, &messages[cut..]), messages.len() - cut);

    // Every instance's report is the whole city's, equal to the replay.
    for service in [&a, &c, &d] {
        assert_report_equals(service, &expected, 180);
    }
    // Their own /metrics: their partitions only, together the whole input.
    let read = expected["events"]["read"].as_f64().unwrap();
    poll_until("the instances' own counts add up to the input", 60, || {
        let own = [own_events(&a), own_events(&c), own_events(&d)];
        (own.iter().sum::<f64>() == read).then_some(())
    });

    // The view alone, and one instance of another group reading the same events.
    let serve = case.serve_with(&store);
    assert_report_equals(&serve, &expected, 60);
    let single = case.another_group();
    let one = single.service();
    assert_report_equals(&one, &expected, 180);
    assert_same_view(
        &[("a", &a), ("c", &c), ("d", &d), ("serve", &serve)],
        &one,
        60,
    );
    // Who holds which part: six parts, none missing; serve exports no per-zone gauge.
    let parts = serve.json("/api/zones")["parts"].clone();
    assert_eq!(parts["parts"].as_array().unwrap().len(), 6, "{parts}");
    assert_eq!(parts["missing"], serde_json::json!([]));
    for part in parts["parts"].as_array().unwrap() {
        assert_eq!(part["stale"], false, "{parts}");
        assert!(
            part.get("instance").is_none(),
            "an owner named publicly: {parts}"
        );
    }
    let health = serve.json("/healthz");
    assert_eq!(health["view"]["parts"], 6, "{health}");
    assert_eq!(health["view"]["missing"], serde_json::json!([]), "{health}");
    let serve_metrics = serve.get("/metrics").1;
    assert!(
        !serve_metrics.contains("modeshare_mode_share_ratio"),
        "serve exports zone gauges"
    );
    assert!(
        !serve_metrics.contains("modeshare_events_total{"),
        "serve exports counts"
    );

    serve.stop("TERM", 20);
    // Stop one at a time: the broker can stall a group when two members leave at once.
    for service in [one, a, c, d] {
        service.stop("TERM", 30);
    }
    std::fs::remove_dir_all(&case.dir).unwrap();
    std::fs::remove_dir_all(&single.dir).unwrap();
}

/// An instance paused (SIGSTOP) past its session timeout while the other takes its partitions
/// over, then resumed: its stale checkpoint is refused, it drops the partitions, and the counts
/// stay exact.
#[test]
fn a_paused_instance_is_fenced_and_the_counts_stay_exact() {
    requires!(Tool::Broker);
    let case = GoldenTopic::new("paused", 2);
    let (brokers, topic) = (&case.brokers, case.topic.as_str());
    let expected = replay_report();
    let messages = golden_messages();
    // a checkpoints only when its partitions are revoked: what it counted before the pause is
    // in no checkpoint, and its one write comes after the resume.
    let a = case.service_with(&[("MODESHARE__STATE__INTERVAL".into(), "1h".into())]);
    let b = case.service();
    poll_until("the partitions split", 90, || {
        (assigned(&a, topic) == 1 && assigned(&b, topic) == 1).then_some(())
    });
    let half = messages.len() / 2;
    assert_eq!(send(brokers, topic, &messages[..half]), half);
    poll_until("a counting its partition", 60, || {
        (own_events(&a) > 0.0).then_some(())
    });
    let pid = a.child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    poll_until("b owning both partitions", 90, || {
        (assigned(&b, topic) == 2).then_some(())
    });
    assert_eq!(
        send(brokers, topic, &messages[half..]),
        messages.len() - half
    );
    assert_report_equals(&b, &expected, 120);
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut logged = Vec::new();
    loop {
        let Ok(line) = a
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            panic!(
                "a did not log the fencing within 60 s:\n{}",
                logged.join("\n")
            );
        };
        logged.push(line.clone());
        if line.contains("the partition has a new owner") {
            assert!(line.contains("stale"), "{line}");
            break;
        }
    }
    // a rejoins; whatever the group now gives it, both show exactly the replay.
    assert_report_equals(&a, &expected, 120);
    assert_report_equals(&b, &expected, 60);
    a.stop("TERM", 30);
    b.stop("TERM", 30);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

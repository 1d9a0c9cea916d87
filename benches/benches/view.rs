//! One view from N instances: what sharing costs. Oslo-region events, one a second of event
//! time, split over 8 partitions (as a topic keyed by source spreads them), at two resolutions
//! and sizes that give about 10 k and about 100 k cells. For each:
//!
//! - a part per partition ([`modeshare::shared_view`]): its size beside a checkpoint's, and the
//!   time to encode all 8 (what the owners spend per `[view] interval`);
//! - reading them back: decoding all 8 (a reader's cost when every part changed);
//! - the merge: the whole city's snapshot over the 8 pipelines, its places included (what every
//!   instance and `modeshare serve` build per publish while the parts change).
//!
//! Then one checkpoint of 1/8 of the events written (conditionally, as the service writes) to a
//! directory and to an S3-protocol server on loopback (s3s over s3s-fs): the write time of each
//! store. Best of five.
//!
//! `cargo bench -p modeshare-benches --bench view` (EVENTS=n, default 800,000).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use modeshare::checkpoint_store::{CheckpointStore, StoreLocation};
use modeshare::shared_view::{PartHeader, SharedView};
use modeshare_benches::{ZONES, best_of, config, for_each_region_event};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::checkpoint::{self, Fingerprint, Position};
use modeshare_core::space::Zones;
use modeshare_http::snapshot::Snapshot;

const PARTITIONS: usize = 8;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The events spread over the partitions round-robin, in chunks.
fn partitions(resolution: h3o::Resolution, events: usize) -> Vec<Pipeline> {
    let config = config(resolution);
    let mut pipelines: Vec<Pipeline> = (0..PARTITIONS)
        .map(|_| Pipeline::live(config.settings.clone(), config.zones.clone()))
        .collect();
    for_each_region_event(events, |i, line| {
        pipelines[i % PARTITIONS].observe_line(line, "bench", None);
    });
    pipelines
}

fn view_costs(resolution: h3o::Resolution, events: usize) {
    let config = config(resolution);
    let pipelines = partitions(resolution, events);
    let refs: Vec<&Pipeline> = pipelines.iter().collect();
    let watermark = pipelines.iter().filter_map(Pipeline::watermark).min();
    let whole = Snapshot::build(&config.settings, &config.zones, &refs, watermark);
    let cells = whole.cell_totals.len();
    let view = SharedView::new(
        CheckpointStore::open(&StoreLocation::Directory(std::env::temp_dir())).unwrap(),
        "bench",
        config.settings.clone(),
        config.zones.clone(),
    );
    let header = |partition: usize| PartHeader {
        topic: "mobility.events".into(),
        partition: partition as i32,
        topic_partitions: pipelines.len() as i32,
        generation: 1,
        owner: "bench/1".into(),
        published_at: 0,
        last_event_at: 0,
    };
    let (encode, parts) = best_of(5, || {
        pipelines
            .iter()
            .enumerate()
            .map(|(p, pipeline)| view.encode(&header(p), pipeline))
            .collect::<Vec<_>>()
    });
    let fingerprint = Fingerprint::of(&config.settings, &config.zones, true);
    let checkpoint_bytes: usize = pipelines
        .iter()
        .map(|p| checkpoint::encode(p, Position::Offset(0), fingerprint).len())
        .sum();
    let part_bytes: usize = parts.iter().map(Vec::len).sum();
    let (decode, decoded) = best_of(5, || {
        parts
            .iter()
            .map(|part| {
                let (_, state) = modeshare::shared_view::decode_header(part).unwrap();
                checkpoint::decode(state, config.settings.clone(), config.zones.clone(), true)
                    .unwrap()
                    .pipeline
            })
            .collect::<Vec<_>>()
    });
    let decoded_refs: Vec<&Pipeline> = decoded.iter().collect();
    let (merge, merged) = best_of(5, || {
        Snapshot::build(&config.settings, &config.zones, &decoded_refs, watermark)
    });
    assert_eq!(
        merged.full_report(),
        whole.full_report(),
        "the merge of the parts is the whole"
    );
    println!(
        "resolution {:>2}: {events} events, {cells:>7} cells over {PARTITIONS} partitions",
        u8::from(resolution)
    );
    println!(
        "  parts: {:>8.1} MiB (checkpoints {:.1} MiB); encode all {:>7.1} ms, decode all {:>7.1} ms",
        part_bytes as f64 / 1_048_576.0,
        checkpoint_bytes as f64 / 1_048_576.0,
        ms(encode),
        ms(decode)
    );
    println!(
        "  merge (the city's snapshot over the {PARTITIONS} parts, places included): {:>7.1} ms",
        ms(merge)
    );
}

/// An S3-protocol server on loopback (s3s over s3s-fs), its bucket in `root`.
fn s3_server(root: &std::path::Path) -> (tokio::runtime::Runtime, String) {
    std::fs::create_dir_all(root.join("bench")).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
    builder.set_auth(s3s::auth::SimpleAuth::from_single("bench", "bench-secret"));
    let service = builder.build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move {
        let http =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        while let Ok((socket, _)) = listener.accept().await {
            let connection = http
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(connection);
        }
    });
    (runtime, endpoint)
}

fn store_writes(events: usize) {
    let config = config(h3o::Resolution::Nine);
    let zones = Zones::from_geojson(ZONES).unwrap();
    let mut pipeline = Pipeline::live(config.settings.clone(), zones.clone());
    modeshare_benches::fill_with_region_events(&mut pipeline, events / PARTITIONS);
    let fingerprint = Fingerprint::of(&config.settings, &zones, true);
    let bytes = checkpoint::encode(&pipeline, Position::Offset(0), fingerprint);
    let root = std::env::temp_dir().join(modeshare_benches::unique("view-bench"));
    let (_server, endpoint) = s3_server(&root.join("s3"));
    let options = BTreeMap::from([
        ("aws_endpoint".to_owned(), endpoint),
        ("aws_allow_http".to_owned(), "true".to_owned()),
        ("aws_region".to_owned(), "eu-north-1".to_owned()),
        ("aws_access_key_id".to_owned(), "bench".to_owned()),
        (
            "aws_secret_access_key".to_owned(),
            "bench-secret".to_owned(),
        ),
    ]);
    let stores = [
        ("directory", StoreLocation::Directory(root.join("dir"))),
        (
            "S3 server",
            StoreLocation::parse("s3://bench/state", options).unwrap(),
        ),
    ];
    println!(
        "checkpoint of {} events: {:.1} MiB",
        events / PARTITIONS,
        bytes.len() as f64 / 1_048_576.0
    );
    for (name, location) in stores {
        let store = CheckpointStore::open(&location).unwrap();
        let key = ["group", "mobility.events", "0"];
        let mut version = store.write(&key, &bytes, None).unwrap();
        let (write, _) = best_of(5, || {
            version = store.write(&key, &bytes, Some(&version)).unwrap();
        });
        let (read, _) = best_of(5, || store.read(&key).unwrap().unwrap());
        println!(
            "  {name:<10} conditional write {:>7.1} ms, read {:>7.1} ms",
            ms(write),
            ms(read)
        );
    }
    let _ = std::fs::remove_dir_all(root);
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800_000);
    // About 10 k cells, then about 100 k.
    view_costs(h3o::Resolution::Eight, events);
    view_costs(h3o::Resolution::Ten, events / 4);
    store_writes(events);
}

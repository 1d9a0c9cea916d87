//! Per-stage costs of the hot path, one group per stage:
//! `cargo bench -p modeshare-benches --bench hot_paths`.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use modeshare_core::decode::CanonicalDecoder;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::space::Zones;
use modeshare_core::space::{SpatialIndex, cell_of};
use modeshare_core::state::{DedupKey, DedupMemory};
use modeshare_core::vocabulary::GeoPoint;
use modeshare_core::vocabulary::{EventTimeMs, parse_rfc3339};

const EVENTS: usize = 20_000;
use modeshare_benches::ZONES;

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = modeshare_benches::canonical_events(EVENTS, 7);
    let lines = lines(&data);
    let decoder = CanonicalDecoder::new(modeshare_benches::settings(h3o::Resolution::Nine).factors);
    let observations: Vec<_> = lines
        .iter()
        .map(|l| decoder.decode(l, None).unwrap())
        .collect();
    let points: Vec<GeoPoint> = observations.iter().map(|o| o.place).collect();

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| decoder.decode(l, None).is_ok())
                .count()
        })
    });
    g.bench_function("rfc3339", |b| {
        b.iter(|| parse_rfc3339(black_box("2024-05-02T07:31:12Z")))
    });
    g.bench_function("h3_cell", |b| {
        b.iter(|| {
            points
                .iter()
                .map(|p| u64::from(cell_of(*p, h3o::Resolution::Nine)))
                .fold(0, u64::wrapping_add)
        })
    });
    g.bench_function("zones_cached", |b| {
        let mut index =
            SpatialIndex::new(Zones::from_geojson(ZONES).unwrap(), h3o::Resolution::Nine);
        b.iter(|| {
            points
                .iter()
                .map(|p| index.place(*p).zones.len())
                .sum::<usize>()
        })
    });
    g.bench_function("zones_uncached", |b| {
        let zones = Zones::from_geojson(ZONES).unwrap();
        let mut out = Vec::new();
        b.iter(|| {
            points
                .iter()
                .map(|p| {
                    zones.zones_containing(*p, &mut out);
                    out.len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("dedup", |b| {
        b.iter(|| {
            let mut memory = DedupMemory::exact();
            observations
                .iter()
                .filter(|o| {
                    memory.remember(
                        DedupKey::new(&o.source, o.id.as_deref().unwrap_or("")),
                        EventTimeMs(0),
                    )
                })
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("observe_line");
    for resolution in [
        h3o::Resolution::Seven,
        h3o::Resolution::Nine,
        h3o::Resolution::Twelve,
    ] {
        g.throughput(Throughput::Elements(EVENTS as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(resolution),
            &resolution,
            |b, &resolution| {
                let settings = modeshare_benches::settings(resolution);
                b.iter(|| {
                    let mut p =
                        Pipeline::for_replay(settings.clone(), Zones::from_geojson(ZONES).unwrap());
                    for l in &lines {
                        black_box(p.observe_line(l, "bench", None));
                    }
                    p.totals().events.accepted
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

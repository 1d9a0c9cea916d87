use super::*;

#[test]
fn key_separates_source_and_id() {
    assert_ne!(DedupKey::new("ab", "c"), DedupKey::new("a", "bc"));
    assert_eq!(DedupKey::new("voi", "1"), DedupKey::new("voi", "1"));
    assert_ne!(DedupKey::new("voi", "1"), DedupKey::new("tier", "1"));
}

#[test]
fn exact_memory_never_forgets() {
    let mut m = DedupMemory::exact();
    assert!(m.remember(DedupKey::new("s", "1"), EventTimeMs(0)));
    m.advance_watermark(EventTimeMs(i64::MAX));
    assert!(!m.remember(DedupKey::new("s", "1"), EventTimeMs(0)));
    assert_eq!(m.len(), 1);
}

#[test]
fn horizon_forgets_only_ids_past_it() {
    let day = DurationMs::from_days(1).0;
    let mut m = DedupMemory::with_horizon(DurationMs::from_days(35));
    assert!(m.remember(DedupKey::new("s", "old"), EventTimeMs(0)));
    assert!(m.remember(DedupKey::new("s", "new"), EventTimeMs(30 * day)));
    m.advance_watermark(EventTimeMs(35 * day));
    assert!(
        !m.remember(DedupKey::new("s", "old"), EventTimeMs(0)),
        "exactly at the horizon it is still remembered"
    );
    m.advance_watermark(EventTimeMs(40 * day));
    assert!(
        m.remember(DedupKey::new("s", "old"), EventTimeMs(0)),
        "past the horizon it is forgotten"
    );
    assert!(!m.remember(DedupKey::new("s", "new"), EventTimeMs(30 * day)));
}

#[test]
fn positioned_memory_keeps_the_first_sighting() {
    let mut m = DedupMemory::positioned();
    assert!(m.remember_at(DedupKey::new("s", "1"), EventTimeMs(0), 7));
    assert!(!m.remember_at(DedupKey::new("s", "1"), EventTimeMs(0), 9));
    assert!(m.remember_at(DedupKey::new("s", "2"), EventTimeMs(0), 8));
    assert_eq!(m.len(), 2);
    let positions: Vec<u64> = m
        .shards_mut()
        .iter()
        .flat_map(|s| s.0.values().copied())
        .collect();
    assert_eq!(positions.iter().sum::<u64>(), 15, "{positions:?}");
}

/// Three parts' ids: "a" in all three, "b" in the last two, "c" in one.
fn three_parts() -> Vec<DedupMemory> {
    let sightings: [&[(&str, u64)]; 3] = [
        &[("a", 30), ("c", 31)],
        &[("a", 10), ("b", 21)],
        &[("b", 20), ("a", 40)],
    ];
    sightings
        .iter()
        .map(|part| {
            let mut m = DedupMemory::positioned();
            for (id, at) in *part {
                m.remember_at(DedupKey::new("s", id), EventTimeMs(0), *at);
            }
            m
        })
        .collect()
}

/// Shard `s` of each part, in `order`.
fn shard_of(parts: &mut [DedupMemory], order: [usize; 3], s: usize) -> Vec<&mut IdShard> {
    let mut refs: Vec<Option<&mut IdShard>> = parts
        .iter_mut()
        .map(|p| p.shards_mut().get_mut(s))
        .collect();
    order.iter().filter_map(|i| refs[*i].take()).collect()
}

#[test]
fn resolving_keeps_each_ids_earliest_position_in_any_order() {
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut parts = three_parts();
        let mut later = Vec::new();
        let mut kept = Vec::new();
        for s in 0..SHARDS {
            let mut shards = shard_of(&mut parts, order, s);
            assert_eq!(shards.len(), 3);
            later.extend(IdShard::resolve(&mut shards));
            kept.extend(shards[0].0.values().copied());
            assert!(shards[1..].iter().all(|s| s.is_empty()));
        }
        later.sort_unstable();
        kept.sort_unstable();
        assert_eq!(later, [21, 30, 40], "order {order:?}");
        assert_eq!(kept, [10, 20, 31], "order {order:?}");
    }
}

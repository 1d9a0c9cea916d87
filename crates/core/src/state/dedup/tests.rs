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

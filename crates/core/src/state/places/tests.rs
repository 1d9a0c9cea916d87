use super::*;

#[test]
fn buckets_stay_in_order_whatever_the_arrival_order() {
    let mut b: Buckets<u32> = Buckets::default();
    for bucket in [30, 10, 40, 20, 40, 10, 50] {
        *b.entry(bucket) += 1;
    }
    let all: Vec<(i64, u32)> = b.iter().copied().collect();
    assert_eq!(all, [(10, 2), (20, 1), (30, 1), (40, 2), (50, 1)]);
    let in_range: Vec<i64> = b.range(20, 50).map(|(k, _)| *k).collect();
    assert_eq!(in_range, [20, 30, 40]);
    assert_eq!(b.range(60, 70).count(), 0);
    assert_eq!(b.range(50, 20).count(), 0, "an empty range, not a panic");
    b.prune(35);
    let kept: Vec<i64> = b.iter().map(|(k, _)| *k).collect();
    assert_eq!(kept, [40, 50]);
}

use proptest::prelude::*;

use super::PersonTrips;

/// The split as a list, as the windows spread a count: every part in proportion, rounded down,
/// then one unit more to each of the first parts until the whole is used.
fn split_by_list(whole: u64, weights: &[u64]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<u64> = weights
        .iter()
        .map(|w| (u128::from(whole) * u128::from(*w) / total) as u64)
        .collect();
    let mut left = whole - parts.iter().sum::<u64>();
    for p in &mut parts {
        if left == 0 {
            break;
        }
        *p += 1;
        left -= 1;
    }
    parts
}

#[test]
fn a_split_adds_up_to_the_whole_with_the_remainder_first() {
    let parts: Vec<u64> = PersonTrips(10)
        .split([1u64, 1, 1].into_iter())
        .map(|p| p.0)
        .collect();
    assert_eq!(parts, [4, 3, 3]);
    let one: Vec<u64> = PersonTrips(7)
        .split([900_000u64].into_iter())
        .map(|p| p.0)
        .collect();
    assert_eq!(one, [7], "one weight takes the whole");
}

#[test]
fn zero_weights_split_into_zeros() {
    let parts: Vec<u64> = PersonTrips(5)
        .split([0u64, 0].into_iter())
        .map(|p| p.0)
        .collect();
    assert_eq!(parts, [0, 0]);
    assert_eq!(PersonTrips(5).split(std::iter::empty()).count(), 0);
}

proptest! {
    #[test]
    fn a_split_is_the_listed_split(
        whole in 0u64..=1_000_000_000_000_000,
        // Up to u64::MAX each: their sum is beyond a u64.
        weights in proptest::collection::vec(proptest::prop_oneof![0u64..=1_000, proptest::num::u64::ANY], 0..40),
    ) {
        let parts: Vec<u64> = PersonTrips(whole)
            .split(weights.iter().copied())
            .map(|p| p.0)
            .collect();
        prop_assert_eq!(&parts, &split_by_list(whole, &weights));
        if weights.iter().any(|w| *w > 0) {
            prop_assert_eq!(parts.iter().sum::<u64>(), whole);
        }
    }
}

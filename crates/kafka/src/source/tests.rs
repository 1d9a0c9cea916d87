use std::sync::Arc;

use super::{PartitionBatch, Record};

fn batch() -> PartitionBatch {
    let mut batch = PartitionBatch::new(Arc::from("events"), 3);
    batch.push(Some(b"source-a"), b"{\"id\":\"1\"}", 10);
    // No key, an empty payload (a tombstone), an empty key.
    batch.push(None, b"{\"id\":\"2\"}", 11);
    batch.push(Some(b"source-b"), b"", 12);
    batch.push(Some(b""), b"{\"id\":\"4\"}", 14);
    batch
}

#[test]
fn records_come_back_as_pushed() {
    let batch = batch();
    assert_eq!(batch.len(), 4);
    let records: Vec<Record<'_>> = batch.records_from(i64::MIN).collect();
    assert_eq!(
        records,
        [
            Record {
                key: Some(b"source-a"),
                payload: b"{\"id\":\"1\"}",
                offset: 10
            },
            Record {
                key: None,
                payload: b"{\"id\":\"2\"}",
                offset: 11
            },
            Record {
                key: Some(b"source-b"),
                payload: b"",
                offset: 12
            },
            Record {
                key: Some(b""),
                payload: b"{\"id\":\"4\"}",
                offset: 14
            },
        ]
    );
}

#[test]
fn records_from_an_offset_skip_the_earlier_ones() {
    let batch = batch();
    let offsets = |from| {
        batch
            .records_from(from)
            .map(|r| r.offset)
            .collect::<Vec<_>>()
    };
    assert_eq!(offsets(i64::MIN), [10, 11, 12, 14]);
    assert_eq!(offsets(11), [11, 12, 14]);
    assert_eq!(
        offsets(13),
        [14],
        "a gap in the offsets (a compacted or aborted record)"
    );
    assert!(offsets(15).is_empty());
    assert_eq!(batch.records_from(12).len(), 2);
    assert_eq!(
        batch.records_from(12).next_back().map(|r| r.payload),
        Some(&b"{\"id\":\"4\"}"[..])
    );
    assert!(PartitionBatch::new(Arc::from("events"), 0).is_empty());
}

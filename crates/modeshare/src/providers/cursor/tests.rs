#![allow(clippy::unwrap_used)]

use super::*;

/// 2024-05-02T07:00:00Z
const HOUR: i64 = 1_714_633_200_000;

fn record(key: Option<&str>, value: Option<&[u8]>, offset: i64) -> ControlRecord {
    ControlRecord {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(<[u8]>::to_vec),
        offset,
    }
}

fn cursor(key: &str, next_hour: i64, offset: i64) -> ControlRecord {
    record(Some(key), Some(&encode(next_hour)), offset)
}

#[test]
fn a_cursor_reads_back_as_written_and_is_the_local_files_json() {
    assert_eq!(encode(HOUR), br#"{"next_hour":1714633200000}"#);
    assert_eq!(decode(&encode(HOUR)).unwrap(), HOUR);
    assert_eq!(decode(&encode(-HOUR)).unwrap(), -HOUR);
}

#[test]
fn a_cursor_off_the_hour_or_not_a_cursor_is_refused_without_a_panic() {
    for damaged in [
        &br#"{"next_hour":1714633200001}"#[..],
        br#"{"next_hour":"2024-05-02T07:00:00Z"}"#,
        br#"{"next_hour":1714633200000,"other":1}"#,
        br#"{}"#,
        b"",
        b"\xff\xfe",
        br#"{"next_hour":1e400}"#,
    ] {
        assert!(
            decode(damaged).is_err(),
            "{}",
            String::from_utf8_lossy(damaged)
        );
    }
    assert!(matches!(
        decode(br#"{"next_hour":1714633200001}"#),
        Err(CursorError::NotAnHour(1_714_633_200_001))
    ));
}

#[test]
fn the_highest_cursor_wins_so_a_late_write_never_moves_a_provider_back() {
    let records = [
        cursor("voi", HOUR, 0),
        cursor("tier", HOUR, 1),
        cursor("voi", HOUR + 2 * HOUR_MS, 2),
        // A former holder, paused past its session, writes the cursor it had.
        cursor("voi", HOUR + HOUR_MS, 3),
        cursor("tier", HOUR + HOUR_MS, 4),
    ];
    let cursors = highest(&records);
    assert_eq!(cursors["voi"], HOUR + 2 * HOUR_MS);
    assert_eq!(cursors["tier"], HOUR + HOUR_MS);
    assert_eq!(cursors.len(), 2);
}

#[test]
fn damaged_records_are_skipped_and_the_others_still_count() {
    let records = [
        cursor("voi", HOUR, 0),
        record(Some("voi"), Some(b"{\"next_hour\": tomorrow}"), 1),
        record(None, Some(&encode(HOUR + 5 * HOUR_MS)), 2),
        record(Some("\u{0}"), Some(b""), 3),
        ControlRecord {
            key: Some(vec![0xff, 0xfe]),
            value: Some(encode(HOUR + 9 * HOUR_MS)),
            offset: 4,
        },
        cursor("voi", HOUR + HOUR_MS, 5),
    ];
    let cursors = highest(&records);
    assert_eq!(
        cursors.into_iter().collect::<Vec<_>>(),
        [("voi".to_owned(), HOUR + HOUR_MS)]
    );
}

#[test]
fn a_tombstone_forgets_the_cursors_before_it() {
    let records = [
        cursor("voi", HOUR + 9 * HOUR_MS, 0),
        cursor("tier", HOUR + 9 * HOUR_MS, 1),
        record(Some("voi"), None, 2),
        cursor("tier", HOUR, 3),
    ];
    let cursors = highest(&records);
    assert_eq!(cursors.get("voi"), None, "from the configured start again");
    assert_eq!(cursors["tier"], HOUR + 9 * HOUR_MS);
    let again = [records.to_vec(), vec![cursor("voi", HOUR, 4)]].concat();
    assert_eq!(highest(&again)["voi"], HOUR);
}

#[test]
fn an_empty_partition_holds_no_cursor() {
    assert!(highest(&[]).is_empty());
}

#[test]
fn a_local_cursor_file_reads_back_and_a_damaged_one_starts_over() {
    let dir = std::env::temp_dir().join(format!("modeshare-cursor-{}", std::process::id()));
    let store = CursorStore::Local(StateDir::new(&dir));
    assert_eq!(store.restored("voi"), None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(store.save("voi", HOUR)).unwrap();
    assert_eq!(store.restored("voi"), Some(HOUR));
    std::fs::write(dir.join("providers/voi.ckpt"), b"{\"next_hour\":").unwrap();
    assert_eq!(store.restored("voi"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// A fresh directory under the system's temporary one.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modeshare-spool-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn limits(segment_bytes: u64, max_bytes: u64) -> SpoolLimits {
    SpoolLimits {
        segment_bytes,
        max_bytes,
    }
}

/// Appends and waits for the answer.
fn append(spool: &Spool, lines: &[u8]) -> Result<Appended, AppendError> {
    let (tx, rx) = mpsc::channel();
    spool.appender().append(
        lines.to_vec(),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

/// Everything durable from `from`, read in batches of about `max` bytes.
fn read_all(spool: &Spool, mut from: u64, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while from < spool.durable_end() {
        let read = spool.read(from, max).unwrap();
        assert!(read.lines.ends_with(b"\n"), "whole lines only");
        assert!(read.next > from);
        out.extend_from_slice(&read.lines);
        from = read.next;
    }
    out
}

#[test]
fn appended_lines_read_back_at_their_offsets() {
    let dir = temp("back");
    let spool = Spool::open(&dir, limits(1 << 20, 1 << 30)).unwrap();
    let a = append(&spool, b"one\ntwo\n").unwrap();
    let b = append(&spool, b"three\n").unwrap();
    assert_eq!(a, Appended { start: 0, end: 8 });
    assert_eq!(b, Appended { start: 8, end: 14 });
    assert_eq!(spool.durable_end(), 14);
    assert_eq!(read_all(&spool, 0, 1 << 20), b"one\ntwo\nthree\n");
    assert_eq!(spool.read(8, 100).unwrap().lines, b"three\n");
    // About `max` bytes, whole lines: a line longer than it comes whole.
    assert_eq!(spool.read(0, 5).unwrap().lines, b"one\n");
    assert_eq!(spool.read(0, 2).unwrap().lines, b"one\n");
    assert_eq!(
        spool.read(14, 10).unwrap(),
        SpoolRead {
            lines: vec![],
            next: 14
        }
    );
    assert!(spool.read(15, 10).is_err(), "past the durable end");
    assert!(matches!(
        append(&spool, b"no newline"),
        Err(AppendError::NotLines)
    ));
    assert_eq!(
        append(&spool, b"").unwrap(),
        Appended { start: 14, end: 14 }
    );
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn concurrent_appenders_each_land_once_in_one_order() {
    let dir = temp("concurrent");
    let spool = Spool::open(&dir, limits(4096, 1 << 30)).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let appender = spool.appender();
            let tx = tx.clone();
            scope.spawn(move || {
                for i in 0..200 {
                    let lines = format!("{thread}-{i}-a\n{thread}-{i}-b\n").into_bytes();
                    let tx = tx.clone();
                    let sent = lines.clone();
                    appender.append(
                        lines,
                        Box::new(move |r| {
                            let _ = tx.send((sent, r.unwrap()));
                        }),
                    );
                }
            });
        }
    });
    drop(tx);
    let answers: Vec<(Vec<u8>, Appended)> = rx.iter().collect();
    assert_eq!(answers.len(), 1600);
    let all = read_all(&spool, 0, 10_000);
    for (sent, at) in &answers {
        let (start, end) = (at.start as usize, at.end as usize);
        assert_eq!(&all[start..end], sent.as_slice());
    }
    let mut ranges: Vec<(u64, u64)> = answers.iter().map(|(_, a)| (a.start, a.end)).collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "contiguous, no overlap");
    }
    assert_eq!(ranges.last().unwrap().1 as usize, all.len());
    assert!(
        fs::read_dir(&dir).unwrap().count() > 1,
        "the spool rolled to new segments"
    );
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn segments_roll_trim_and_keep_their_offsets_across_a_reopen() {
    let dir = temp("roll");
    let spool = Spool::open(&dir, limits(10, 1 << 20)).unwrap();
    for i in 0..5 {
        append(&spool, format!("line-{i}\n").as_bytes()).unwrap();
    }
    // A request starts a new segment once the current one holds 10 bytes: 0..14, 14..28,
    // 28..35.
    let mut segments: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    segments.sort();
    assert_eq!(
        segments,
        [
            "00000000000000000000.spool",
            "00000000000000000014.spool",
            "00000000000000000028.spool"
        ]
    );
    assert_eq!(
        read_all(&spool, 0, 3),
        b"line-0\nline-1\nline-2\nline-3\nline-4\n"
    );
    assert_eq!(
        spool.trim_below(20).unwrap(),
        14,
        "only segments that end below it"
    );
    assert_eq!(spool.start(), 14);
    assert!(spool.read(7, 100).is_err(), "trimmed: loud, not silent");
    assert_eq!(read_all(&spool, 14, 100), b"line-2\nline-3\nline-4\n");
    // The last segment stays, whatever the offset.
    spool.trim_below(u64::MAX).unwrap();
    assert_eq!(spool.start(), 28);
    spool.close();
    let spool = Spool::open(&dir, limits(10, 1 << 20)).unwrap();
    assert_eq!((spool.start(), spool.durable_end()), (28, 35));
    assert_eq!(
        append(&spool, b"line-5\n").unwrap(),
        Appended { start: 35, end: 42 }
    );
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cut_off_write_is_cut_at_open_and_later_appends_follow() {
    let dir = temp("recover");
    let spool = Spool::open(&dir, limits(1 << 20, 1 << 20)).unwrap();
    append(&spool, b"kept\n").unwrap();
    drop(spool);
    let mut file = OpenOptions::new()
        .append(true)
        .open(segment_path(&dir, 0))
        .unwrap();
    file.write_all(b"{\"kind\":\"tr").unwrap();
    drop(file);
    let spool = Spool::open(&dir, limits(1 << 20, 1 << 20)).unwrap();
    assert_eq!(spool.durable_end(), 5);
    assert_eq!(append(&spool, b"next\n").unwrap().start, 5);
    assert_eq!(read_all(&spool, 0, 100), b"kept\nnext\n");
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_gap_or_a_stray_file_refuses_to_open() {
    let dir = temp("gap");
    let spool = Spool::open(&dir, limits(4, 1 << 20)).unwrap();
    for line in [b"aaaa\n", b"bbbb\n", b"cccc\n"] {
        append(&spool, line).unwrap();
    }
    drop(spool);
    fs::remove_file(segment_path(&dir, 5)).unwrap();
    let e = Spool::open(&dir, limits(4, 1 << 20))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("00000000000000000000.spool") && e.contains("missing"),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();
    Spool::open(&dir, limits(4, 1 << 20)).unwrap();
    fs::write(dir.join("notes.txt"), "x").unwrap();
    let e = Spool::open(&dir, limits(4, 1 << 20))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("notes.txt"), "{e}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_full_spool_refuses_until_it_is_trimmed() {
    let dir = temp("full");
    let spool = Spool::open(&dir, limits(10, 30)).unwrap();
    for _ in 0..3 {
        append(&spool, b"123456789\n").unwrap();
    }
    match append(&spool, b"x\n") {
        Err(AppendError::Full { held: 30, max: 30 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(spool.durable_end(), 30, "a refused request leaves nothing");
    spool.trim_below(20).unwrap();
    assert_eq!(spool.held(), 10);
    assert_eq!(append(&spool, b"x\n").unwrap().start, 30);
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_reader_hears_of_every_commit() {
    let dir = temp("durable");
    let spool = Spool::open(&dir, limits(1 << 20, 1 << 20)).unwrap();
    let (tx, rx) = mpsc::channel();
    spool.on_durable(Box::new(move |end| {
        let _ = tx.send(end);
    }));
    append(&spool, b"a\n").unwrap();
    append(&spool, b"bb\n").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 2);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 5);
    assert_eq!(spool.wait_beyond(2, Duration::from_secs(5)), 5);
    assert_eq!(
        spool.wait_beyond(5, Duration::from_millis(1)),
        5,
        "times out"
    );
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn what_was_acknowledged_before_a_drop_is_there_after_a_reopen() {
    let dir = temp("reopen");
    let spool = Spool::open(&dir, limits(100, 1 << 20)).unwrap();
    let appender = spool.appender();
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        appender.append(
            format!("event-{i}\n").into_bytes(),
            Box::new(move |r| {
                let _ = tx.send(r.map(|a| (i, a)));
            }),
        );
    }
    drop(spool);
    drop(tx);
    let acknowledged: Vec<(usize, Appended)> = rx.iter().filter_map(Result::ok).collect();
    let spool = Spool::open(&dir, limits(100, 1 << 20)).unwrap();
    let all = read_all(&spool, 0, 1000);
    for (i, at) in &acknowledged {
        assert_eq!(
            &all[at.start as usize..at.end as usize],
            format!("event-{i}\n").as_bytes()
        );
    }
    // Requests queued before the close were written, not dropped.
    assert_eq!(acknowledged.len(), 100);
    drop(spool);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn appends_after_the_close_are_refused() {
    let dir = temp("closed");
    let spool = Spool::open(&dir, limits(100, 1 << 20)).unwrap();
    let appender = spool.appender();
    spool.close();
    let (tx, rx) = mpsc::channel();
    appender.append(
        b"late\n".to_vec(),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    assert!(matches!(rx.recv().unwrap(), Err(AppendError::Closed)));
    fs::remove_dir_all(dir).unwrap();
}

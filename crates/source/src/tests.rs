use std::io::{BufReader, Cursor};

use super::*;

fn lines(input: &[u8], max: usize, buffer: usize) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    let mut r = LineReader::new(
        BufReader::with_capacity(buffer, Cursor::new(input.to_vec())),
        max,
    );
    let mut out = Vec::new();
    while let Some(line) = r.next_line().unwrap() {
        let item = match line {
            Line::Text(t) => Ok(t.to_vec()),
            Line::TooLong { len } => Err(len),
        };
        out.push((r.line_no(), item));
    }
    assert_eq!(r.bytes_read(), input.len() as u64);
    out
}

#[test]
fn splits_lines_skips_blank_ones_and_strips_crlf() {
    let got = lines(b"a\r\n\n  \r\nbb\n\tc\nlast", 100, 3);
    let text: Vec<(u64, Result<Vec<u8>, u64>)> = vec![
        (1, Ok(b"a".to_vec())),
        (4, Ok(b"bb".to_vec())),
        (5, Ok(b"\tc".to_vec())),
        (6, Ok(b"last".to_vec())),
    ];
    assert_eq!(got, text);
}

#[test]
fn long_lines_are_reported_with_their_length_across_buffer_boundaries() {
    for buffer in [1, 2, 7, 64] {
        let got = lines(b"12345\n123456\n1234567890\nok\n", 6, buffer);
        assert_eq!(
            got,
            vec![
                (1, Ok(b"12345".to_vec())),
                (2, Ok(b"123456".to_vec())),
                (3, Err(10)),
                (4, Ok(b"ok".to_vec()))
            ],
            "buffer {buffer}"
        );
    }
}

#[test]
fn a_huge_line_is_not_buffered() {
    let mut input = vec![b'x'; 5_000_000];
    input.push(b'\n');
    input.extend_from_slice(b"{}\n");
    let mut r = LineReader::new(BufReader::with_capacity(4096, Cursor::new(input)), 1024);
    assert_eq!(
        r.next_line().unwrap(),
        Some(Line::TooLong { len: 5_000_000 })
    );
    assert!(
        r.buf.capacity() <= 8192,
        "buffered {} bytes",
        r.buf.capacity()
    );
    assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"{}")));
    assert_eq!(r.next_line().unwrap(), None);
}

#[test]
fn missing_files_and_directories_fail_to_open() {
    assert!(Input::open("/nonexistent/modeshare/input.ndjson").is_err());
    assert!(Input::open(env!("CARGO_MANIFEST_DIR")).is_err());
    let file = Input::open(concat!(env!("CARGO_MANIFEST_DIR"), "/src/tests.rs")).unwrap();
    assert!(file.size.is_some_and(|s| s > 0));
}

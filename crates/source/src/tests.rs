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

fn records(input: &str, max_document: usize) -> Vec<(u64, String)> {
    let mut reader = JsonRecords::new(input.as_bytes(), 64, max_document);
    let mut out = Vec::new();
    while let Some((line, record)) = reader.next_record().unwrap() {
        out.push((
            line,
            match record {
                Line::Text(t) => String::from_utf8(t.to_vec()).unwrap().trim_end().to_owned(),
                Line::TooLong { len } => format!("too long: {len}"),
            },
        ));
    }
    out
}

#[test]
fn json_records_are_lines_or_pretty_documents() {
    let input =
        "{\"a\": 1}\n\n{\n  \"data\": {\"s\": \"}{\\\"\"},\n  \"t\": [1,\n 2]\n}\r\n{\"b\": 2}\n";
    assert_eq!(
        records(input, 1 << 20),
        [
            (1, "{\"a\": 1}".to_owned()),
            (
                3,
                "{\n  \"data\": {\"s\": \"}{\\\"\"},\n  \"t\": [1,\n 2]\n}".to_owned()
            ),
            (8, "{\"b\": 2}".to_owned()),
        ]
    );
    // A truncated line is its own record, not glued to the next one.
    assert_eq!(records("{\"a\": \n{\"b\": 2}\n", 1 << 20).len(), 2);
    // A document over the limit is reported with its length; one left open ends the input.
    assert_eq!(records("[\n1,\n2\n]\n", 4), [(1, "too long: 9".to_owned())]);
    assert_eq!(
        records("{\n\"a\": 1\n", 1 << 20),
        [(1, "{\n\"a\": 1".to_owned())]
    );
}

/// Every line of `input` read range by range: (line number within the whole file, line).
fn lines_by_range(path: &str, input: &[u8], chunk: u64) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    let ranges = line_aligned_ranges(path, input.len() as u64, chunk).unwrap();
    let mut out = Vec::new();
    let (mut first_line, mut expected_start) = (0, 0);
    for range in ranges {
        assert_eq!(range.start, expected_start, "ranges are contiguous");
        assert!(
            range.start == 0 || input[range.start as usize - 1] == b'\n',
            "{range:?} starts a line"
        );
        expected_start = range.end;
        let input = Input::open_range(path, range.clone()).unwrap();
        let mut r = LineReader::new(input.reader, 6);
        while let Some(line) = r.next_line().unwrap() {
            let item = match line {
                Line::Text(t) => Ok(t.to_vec()),
                Line::TooLong { len } => Err(len),
            };
            out.push((first_line + r.line_no(), item));
        }
        assert_eq!(r.bytes_read(), range.end - range.start);
        first_line += r.line_no();
    }
    assert_eq!(expected_start, input.len() as u64, "ranges cover the file");
    out
}

#[test]
fn line_aligned_ranges_read_the_lines_of_the_whole_file() {
    let path = std::env::temp_dir().join(format!("modeshare-ranges-{}", std::process::id()));
    let path = path.to_str().unwrap();
    let inputs: [&[u8]; 5] = [
        b"a\r\n\n  \r\nbb\n\tc\nlast",
        b"12345\n123456\n1234567890123\nok\n\n",
        b"\n\n\nx\n",
        b"no newline at all, and too long",
        b"",
    ];
    for input in inputs {
        std::fs::write(path, input).unwrap();
        let whole = lines(input, 6, 64);
        for chunk in 1..=input.len() as u64 + 2 {
            assert_eq!(
                lines_by_range(path, input, chunk),
                whole,
                "{:?} in chunks of {chunk}",
                String::from_utf8_lossy(input)
            );
        }
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_range_ends_after_the_line_that_crosses_its_nominal_end() {
    let path = std::env::temp_dir().join(format!("modeshare-ranges-end-{}", std::process::id()));
    let path = path.to_str().unwrap();
    std::fs::write(path, b"aaaa\nbb\ncccccccccc\nd\n").unwrap();
    // "aaaa\n" ends exactly at 5; "bb\n" ends before 10, so the range runs on to the end of
    // the line that crosses 10.
    assert_eq!(
        line_aligned_ranges(path, 21, 5).unwrap(),
        vec![0..5, 5..19, 19..21]
    );
    assert_eq!(line_aligned_ranges(path, 21, 100).unwrap(), vec![0..21]);
    std::fs::remove_file(path).unwrap();
}

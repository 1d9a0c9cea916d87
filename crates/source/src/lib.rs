//! Local inputs: files and stdin, framed into lines of bounded length; the ingest spool
//! (`spool.rs`), where pushed events wait, durable, until the service has read and checkpointed
//! them.
//!
//! Owns reading bytes and splitting them into events; knows nothing of what a line means
//! (that is `modeshare-core`'s job). A line longer than the limit is reported without ever
//! being held in memory whole, so one 10 GB line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

pub mod simulator;
pub mod spool;

/// `[input]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The longest line (one event) accepted, in bytes; longer lines are rejected as
    /// `line_too_long`.
    pub max_line_bytes: usize,
    /// The largest pretty-printed JSON document (an MDS page saved by a tool) in bytes.
    pub max_document_bytes: usize,
}

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line without its `\n` (or `\r\n`).
    Text(&'a [u8]),
    /// A line over the limit, with its full length in bytes; its content was discarded.
    TooLong { len: u64 },
}

/// Splits a byte stream into non-blank lines (blank and whitespace-only lines are skipped:
/// they are not events and are not counted as read).
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_len: usize,
    line_no: u64,
    bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max_len: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max_len,
            line_no: 0,
            bytes_read: 0,
        }
    }

    /// A reader of an input opened at byte `bytes_read` (see [`Input::open_at`]), just after
    /// line `line_no`, so that line numbers and progress continue from there.
    pub fn resumed(inner: R, max_len: usize, line_no: u64, bytes_read: u64) -> Self {
        LineReader {
            line_no,
            bytes_read,
            ..LineReader::new(inner, max_len)
        }
    }

    /// The 1-based number of the line last returned.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Bytes consumed so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            self.buf.clear();
            let mut len: u64 = 0;
            let mut saw_any = false;
            loop {
                let chunk = match self.inner.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if chunk.is_empty() {
                    break;
                }
                saw_any = true;
                let (take, done) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i, true),
                    None => (chunk.len(), false),
                };
                len += take as u64;
                if len <= self.max_len as u64 {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
                let consumed = if done { take + 1 } else { take };
                self.inner.consume(consumed);
                self.bytes_read += consumed as u64;
                if done {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            self.line_no += 1;
            if len > self.max_len as u64 {
                return Ok(Some(Line::TooLong { len }));
            }
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(Line::Text(&self.buf)));
        }
    }
}

/// JSON records: each non-blank line, or a pretty-printed document (a saved API page) that
/// starts on a line holding only `{` or `[` and runs until its brackets close.
pub struct JsonRecords<R> {
    lines: LineReader<R>,
    record: Vec<u8>,
    max_document: usize,
    first_line: u64,
}

impl<R: BufRead> JsonRecords<R> {
    /// Lines are limited to `max_line` bytes, multi-line documents to `max_document`.
    pub fn new(inner: R, max_line: usize, max_document: usize) -> Self {
        JsonRecords {
            lines: LineReader::new(inner, max_line),
            record: Vec::new(),
            max_document,
            first_line: 0,
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }

    /// The next record with the 1-based line it starts on, or `None` at the end of the input.
    /// A document still open at the end of the input is returned as it is (and will be
    /// rejected as invalid JSON).
    pub fn next_record(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.record.clear();
        let mut depth = BracketDepth::default();
        let mut len: u64 = 0;
        loop {
            let starts_record = len == 0;
            // Ok(true): the record is complete after this line.
            let step = match self.lines.next_line()? {
                None => None,
                Some(Line::TooLong { len: n }) => {
                    len += n + 1;
                    depth.saw_unknown_bytes();
                    Some(Err(n))
                }
                Some(Line::Text(text)) => {
                    let opens_document = starts_record && matches!(text.trim_ascii(), b"{" | b"[");
                    len += text.len() as u64 + 1;
                    if len <= self.max_document as u64 {
                        self.record.extend_from_slice(text);
                        self.record.push(b'\n');
                    }
                    depth.feed(text);
                    Some(Ok((starts_record && !opens_document) || depth.closed()))
                }
            };
            if starts_record {
                self.first_line = self.lines.line_no();
            }
            match step {
                None if starts_record => return Ok(None),
                None => break,
                Some(Err(n)) if starts_record => {
                    return Ok(Some((self.first_line, Line::TooLong { len: n })));
                }
                Some(Err(_)) | Some(Ok(false)) => {}
                Some(Ok(true)) => break,
            }
        }
        if len > self.max_document as u64 {
            return Ok(Some((self.first_line, Line::TooLong { len })));
        }
        Ok(Some((self.first_line, Line::Text(&self.record))))
    }
}

/// Tracks how deep a JSON text is nested, ignoring brackets inside strings.
#[derive(Default)]
struct BracketDepth {
    depth: i64,
    in_string: bool,
    escaped: bool,
    /// Part of the document was too long to keep; it can only close by its brackets' count
    /// being unknown, so the document runs to the end of the input.
    unknown: bool,
}

impl BracketDepth {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }

    fn saw_unknown_bytes(&mut self) {
        self.unknown = true;
    }

    fn closed(&self) -> bool {
        !self.unknown && self.depth <= 0
    }
}

/// A file or stdin, opened for reading.
pub struct Input {
    /// The path as given, or `stdin`; stands in for an event's source when it cannot be read.
    pub name: String,
    /// The size in bytes when known (regular files), for progress.
    pub size: Option<u64>,
    pub reader: Box<dyn BufRead + Send>,
}

impl Input {
    /// Opens `-` as stdin and anything else as a file.
    pub fn open(path: &str) -> io::Result<Input> {
        if path == "-" {
            let stdin: Box<dyn Read + Send> = Box::new(io::stdin());
            return Ok(Input {
                name: "stdin".into(),
                size: None,
                reader: Box::new(BufReader::with_capacity(1 << 20, stdin)),
            });
        }
        let file = File::open(Path::new(path))?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        let size = meta.is_file().then_some(meta.len());
        Ok(Input {
            name: path.to_owned(),
            size,
            reader: Box::new(BufReader::with_capacity(1 << 20, file)),
        })
    }

    /// Opens bytes `range` of a file (see [`line_aligned_ranges`]): reading stops at its end.
    pub fn open_range(path: &str, range: Range<u64>) -> io::Result<Input> {
        let mut file = File::open(Path::new(path))?;
        file.seek(SeekFrom::Start(range.start))?;
        let len = range.end.saturating_sub(range.start);
        Ok(Input {
            name: path.to_owned(),
            size: Some(len),
            reader: Box::new(BufReader::with_capacity(1 << 20, file.take(len))),
        })
    }

    /// Opens a file at byte `offset` (to resume reading it); stdin cannot be resumed.
    pub fn open_at(path: &str, offset: u64) -> io::Result<Input> {
        if path == "-" {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "stdin cannot be resumed part-way",
            ));
        }
        let mut file = File::open(Path::new(path))?;
        let size = file.metadata()?.len();
        if offset > size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file has {size} bytes, fewer than the {offset} already read: it changed"
                ),
            ));
        }
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        Ok(Input {
            name: path.to_owned(),
            size: Some(size),
            reader: Box::new(BufReader::with_capacity(1 << 20, file)),
        })
    }
}

/// Cuts the first `size` bytes of a file into byte ranges of about `chunk` bytes, each starting
/// at the start of a line (just after a `\n`, or at 0), so that every line — blank, too long or
/// last without its `\n` — lies in exactly one range and a [`LineReader`] over each range in
/// turn reads the lines of the whole file. A range ends where the first line to end at or past
/// its nominal end does; a line longer than `chunk` makes its range longer. Reads a few bytes
/// per range (more when a long line crosses a nominal end).
pub fn line_aligned_ranges(path: &str, size: u64, chunk: u64) -> io::Result<Vec<Range<u64>>> {
    let chunk = chunk.max(1);
    let mut file = File::open(Path::new(path))?;
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut block = vec![0; 64 * 1024];
    while start < size {
        let nominal = start.saturating_add(chunk);
        if nominal >= size {
            ranges.push(start..size);
            break;
        }
        // The next line starts after the first `\n` at or after the nominal end's last byte.
        let mut at = nominal - 1;
        file.seek(SeekFrom::Start(at))?;
        let end = loop {
            let n = match file.read(&mut block) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break size;
            }
            if let Some(i) = memchr::memchr(b'\n', &block[..n]) {
                break (at + i as u64 + 1).min(size);
            }
            at += n as u64;
        };
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests;

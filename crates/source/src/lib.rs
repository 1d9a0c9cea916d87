//! Local inputs: files and stdin, framed into lines of bounded length.
//!
//! Owns reading bytes and splitting them into events; knows nothing of what a line means
//! (that is `modeshare-core`'s job). A line longer than the limit is reported without ever
//! being held in memory whole, so one 10 GB line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

pub mod simulator;

/// `[input]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The longest line (one event) accepted, in bytes; longer lines are rejected as
    /// `line_too_long`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_max_line_bytes() -> usize {
    1 << 20
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            max_line_bytes: default_max_line_bytes(),
        }
    }
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
}

#[cfg(test)]
mod tests;

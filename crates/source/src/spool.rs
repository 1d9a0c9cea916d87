//! A durable append-only spool of newline-separated events: what operators push without Kafka
//! is appended and fsynced here before the push is answered, and the service reads it back as
//! an input partition whose checkpoint records the spool offset its state ends at.
//!
//! A spool is a directory of segment files, each named by the offset of its first byte
//! (`00000000000000000000.spool`); an offset is a byte position in their concatenation. Offsets
//! only grow: trimming deletes whole old segments and never renumbers.
//!
//! Why nothing acknowledged is lost and nothing is counted twice:
//! - **Group commit.** One writer thread takes every queued request, writes them in order,
//!   calls `fsync` once, and only then tells each request it is durable (the push is answered
//!   after that). A request is whole lines and never spans two segments.
//! - **Readers see durable bytes only.** [`Spool::read`] never returns bytes past the durable
//!   end, so a checkpoint (which covers what was read) never covers bytes a crash could lose.
//! - **Recovery cuts only what was never acknowledged.** A failed write is truncated back to
//!   where its group began; at open, the last segment is cut after its last newline (a write
//!   a crash interrupted). With `kill -9` the kernel keeps what was written, so a group that
//!   was written but not yet answered survives and is read: its sender, having no answer, sends
//!   it again, and the second copy is counted as a duplicate. A power loss loses only what was
//!   not fsynced, which was never acknowledged.
//! - **Trimming follows checkpoints.** [`Spool::trim_below`] is called after a checkpoint that
//!   covers the offset is durable.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Segment files: the service's user reads and writes them, nobody else.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
const EXTENSION: &str = "spool";
/// Bytes one group commit takes at most (more wait for the next group).
const GROUP_BYTES: usize = 8 << 20;

/// How large segments grow, and how much the spool may hold.
#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    /// A new segment starts (at a request boundary) once the current one is this large.
    pub segment_bytes: u64,
    /// Bytes held (from the oldest segment's start to the durable end) beyond which appends
    /// are refused with [`AppendError::Full`].
    pub max_bytes: u64,
}

/// Where an appended request landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub start: u64,
    pub end: u64,
}

/// Why a request was not appended.
#[derive(Debug)]
pub enum AppendError {
    /// The spool holds `held` bytes, and the request would take it past `max`: the caller
    /// answers "come back later" (backpressure).
    Full { held: u64, max: u64 },
    /// Writing or fsyncing failed; nothing of the request is readable.
    Io(io::Error),
    /// The spool is closing.
    Closed,
    /// The bytes do not end with a newline.
    NotLines,
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Full { held, max } => {
                write!(f, "the spool holds {held} bytes, at its limit of {max}")
            }
            AppendError::Io(e) => write!(f, "the spool cannot be written: {e}"),
            AppendError::Closed => f.write_str("the spool is closing"),
            AppendError::NotLines => f.write_str("not whole lines"),
        }
    }
}

impl std::error::Error for AppendError {}

/// What a request is told once its fate is known.
pub type Done = Box<dyn FnOnce(Result<Appended, AppendError>) + Send>;

/// Told the new durable end each time the writer has synced more lines.
pub type OnDurable = Box<dyn Fn(u64) + Send + Sync>;

/// Lines read from the spool, and the offset after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolRead {
    pub lines: Vec<u8>,
    pub next: u64,
}

/// A spool directory, with its writer thread.
pub struct Spool {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

struct Shared {
    dir: PathBuf,
    limits: SpoolLimits,
    state: Mutex<State>,
    durable_changed: Condvar,
    queue: Mutex<Queue>,
    queued: Condvar,
    on_durable: Mutex<Option<OnDurable>>,
}

/// The segments and how far they are durable.
struct State {
    /// Start offsets of the segments, oldest first; never empty.
    segments: Vec<u64>,
    durable_end: u64,
}

#[derive(Default)]
struct Queue {
    requests: VecDeque<(Vec<u8>, Done)>,
    closed: bool,
}

/// Queues requests for the spool's writer thread.
#[derive(Clone)]
pub struct Appender {
    shared: Arc<Shared>,
}

impl Spool {
    /// Opens the spool in `dir` (created 0700 when missing), recovering it: segments must be
    /// contiguous, and the last is cut after its last newline.
    pub fn open(dir: &Path, limits: SpoolLimits) -> io::Result<Spool> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            match name.strip_suffix(&format!(".{EXTENSION}")) {
                Some(stem) if stem.len() == 20 => match stem.parse::<u64>() {
                    Ok(start) => segments.push(start),
                    Err(_) => return Err(stray(&path)),
                },
                _ if name.starts_with('.') => {}
                _ => return Err(stray(&path)),
            }
        }
        segments.sort_unstable();
        if segments.is_empty() {
            create_segment(dir, 0)?;
            segments.push(0);
        }
        for pair in segments.windows(2) {
            let length = fs::metadata(segment_path(dir, pair[0]))?.len();
            if pair[0] + length != pair[1] {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds {length} bytes, but the next segment starts at {}: a segment is missing or damaged",
                        segment_path(dir, pair[0]).display(),
                        pair[1]
                    ),
                ));
            }
        }
        let last = *segments.last().unwrap_or(&0);
        let kept = recover_last(&segment_path(dir, last))?;
        File::open(dir)?.sync_all()?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            limits,
            state: Mutex::new(State {
                segments,
                durable_end: last + kept,
            }),
            durable_changed: Condvar::new(),
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            on_durable: Mutex::new(None),
        });
        let writing = shared.clone();
        let writer = std::thread::Builder::new()
            .name("modeshare-spool".into())
            .spawn(move || write_groups(&writing))?;
        Ok(Spool {
            shared,
            writer: Some(writer),
        })
    }

    /// Queues requests for the writer thread.
    pub fn appender(&self) -> Appender {
        Appender {
            shared: self.shared.clone(),
        }
    }

    /// The offset after the last durable byte.
    pub fn durable_end(&self) -> u64 {
        self.shared.state().durable_end
    }

    /// The oldest offset still held (what trimming left).
    pub fn start(&self) -> u64 {
        self.shared.state().segments.first().copied().unwrap_or(0)
    }

    /// Bytes held: from [`Spool::start`] to the durable end.
    pub fn held(&self) -> u64 {
        let state = self.shared.state();
        state.durable_end - state.segments.first().copied().unwrap_or(0)
    }

    /// `tell` is called with the new durable end after every group commit (on the writer
    /// thread: it must not block).
    pub fn on_durable(&self, tell: OnDurable) {
        if let Ok(mut slot) = self.shared.on_durable.lock() {
            *slot = Some(tell);
        }
    }

    /// Waits until the durable end is past `offset`, at most `timeout`; the durable end then.
    pub fn wait_beyond(&self, offset: u64, timeout: std::time::Duration) -> u64 {
        let state = self.shared.state();
        let waited = self
            .shared
            .durable_changed
            .wait_timeout_while(state, timeout, |s| s.durable_end <= offset);
        match waited {
            Ok((state, _)) => state.durable_end,
            Err(poisoned) => poisoned.into_inner().0.durable_end,
        }
    }

    /// Whole durable lines from `from` (a line start: a `next` or a checkpoint's offset), about
    /// `max_bytes` of them (a longer line comes whole), and the offset after them. Reading
    /// below the oldest offset held, or past the durable end, is an error: it would mean lost
    /// or imagined data.
    pub fn read(&self, from: u64, max_bytes: usize) -> io::Result<SpoolRead> {
        let (segment, segment_end, durable_end) = {
            let state = self.shared.state();
            let oldest = state.segments.first().copied().unwrap_or(0);
            if from < oldest || from > state.durable_end {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "offset {from} is outside the spool's {oldest}..{} (trimmed, or never written)",
                        state.durable_end
                    ),
                ));
            }
            let i = state.segments.partition_point(|s| *s <= from) - 1;
            let end = state
                .segments
                .get(i + 1)
                .copied()
                .unwrap_or(state.durable_end);
            (
                state.segments[i],
                end.min(state.durable_end),
                state.durable_end,
            )
        };
        if from == durable_end {
            return Ok(SpoolRead {
                lines: Vec::new(),
                next: from,
            });
        }
        let mut file = File::open(segment_path(&self.shared.dir, segment))?;
        file.seek(SeekFrom::Start(from - segment))?;
        let available = usize::try_from(segment_end - from).unwrap_or(usize::MAX);
        let mut lines = vec![0; available.min(max_bytes.max(1))];
        file.read_exact(&mut lines)?;
        // Whole lines only; a line longer than `max_bytes` is read on to its end (segments end
        // at line ends, so it ends in this segment).
        match lines.iter().rposition(|b| *b == b'\n') {
            Some(last) => lines.truncate(last + 1),
            None => {
                let mut rest = Vec::new();
                file.take((available - lines.len()) as u64)
                    .read_to_end(&mut rest)?;
                let end = rest.iter().position(|b| *b == b'\n').ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "a durable line has no end")
                })?;
                lines.extend_from_slice(&rest[..=end]);
            }
        }
        Ok(SpoolRead {
            next: from + lines.len() as u64,
            lines,
        })
    }

    /// Deletes every segment that ends at or before `offset`, except the last; the bytes freed.
    pub fn trim_below(&self, offset: u64) -> io::Result<u64> {
        let mut state = self.shared.state();
        let mut freed = 0;
        while state.segments.len() > 1 && state.segments[1] <= offset {
            let first = state.segments[0];
            fs::remove_file(segment_path(&self.shared.dir, first))?;
            freed += state.segments[1] - first;
            state.segments.remove(0);
        }
        if freed > 0 {
            File::open(&self.shared.dir)?.sync_all()?;
        }
        Ok(freed)
    }

    /// Stops taking requests, writes what is queued, and stops the writer thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closed = true;
        }
        self.shared.queued.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Appender {
    /// Queues `lines` (whole lines, each ending in `\n`); `done` is told where they landed once
    /// they are durable, or why not. An empty request is durable at once.
    pub fn append(&self, lines: Vec<u8>, done: Done) {
        if lines.last().is_some_and(|b| *b != b'\n') {
            return done(Err(AppendError::NotLines));
        }
        let Ok(mut queue) = self.shared.queue.lock() else {
            return done(Err(AppendError::Closed));
        };
        if queue.closed {
            drop(queue);
            return done(Err(AppendError::Closed));
        }
        queue.requests.push_back((lines, done));
        drop(queue);
        self.shared.queued.notify_one();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer thread: group after group until the spool closes and its queue is empty.
fn write_groups(shared: &Shared) {
    let mut current: Option<(u64, File)> = None;
    loop {
        let group = {
            let Ok(mut queue) = shared.queue.lock() else {
                return;
            };
            while queue.requests.is_empty() && !queue.closed {
                queue = match shared.queued.wait(queue) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            if queue.requests.is_empty() {
                return;
            }
            // A group never outgrows a segment, so segments stay near their size.
            let most = GROUP_BYTES
                .min(usize::try_from(shared.limits.segment_bytes).unwrap_or(GROUP_BYTES));
            let mut group = Vec::new();
            let mut bytes = 0;
            while let Some((lines, _)) = queue.requests.front() {
                if !group.is_empty() && bytes + lines.len() > most {
                    break;
                }
                bytes += lines.len();
                group.extend(queue.requests.pop_front());
            }
            group
        };
        commit(shared, &mut current, group);
    }
}

/// Writes a group, fsyncs it once, and tells each request.
fn commit(shared: &Shared, current: &mut Option<(u64, File)>, group: Vec<(Vec<u8>, Done)>) {
    let (begin, oldest) = {
        let state = shared.state();
        (
            state.durable_end,
            state.segments.first().copied().unwrap_or(0),
        )
    };
    // Each request in order: refused when the spool would hold too much, else placed.
    let mut placed = Vec::new();
    let mut end = begin;
    for (lines, done) in group {
        if lines.is_empty() {
            done(Ok(Appended { start: end, end }));
            continue;
        }
        let len = lines.len() as u64;
        if end - oldest + len > shared.limits.max_bytes {
            done(Err(AppendError::Full {
                held: end - oldest,
                max: shared.limits.max_bytes,
            }));
            continue;
        }
        placed.push((end, lines, done));
        end += len;
    }
    if placed.is_empty() {
        return;
    }
    match write_and_sync(shared, current, begin, &placed) {
        Ok(()) => {
            shared.state().durable_end = end;
            shared.durable_changed.notify_all();
            if let Ok(tell) = shared.on_durable.lock()
                && let Some(tell) = tell.as_ref()
            {
                tell(end);
            }
            for (start, lines, done) in placed {
                done(Ok(Appended {
                    start,
                    end: start + lines.len() as u64,
                }));
            }
        }
        Err(e) => {
            // Nothing of the group may be read later: cut back to where it began.
            *current = None;
            let cut = {
                let state = shared.state();
                let last = state.segments.last().copied().unwrap_or(0);
                OpenOptions::new()
                    .write(true)
                    .open(segment_path(&shared.dir, last))
                    .and_then(|f| f.set_len(begin - last).and_then(|()| f.sync_all()))
            };
            for (_, _, done) in placed {
                let error = io::Error::new(e.kind(), e.to_string());
                done(Err(AppendError::Io(error)));
            }
            if let Err(cut) = cut {
                // The bytes past `begin` stay unreadable (reads stop at the durable end); the
                // next open cuts them. This crate logs nothing itself: the caller's log has
                // the failed requests, stderr this.
                eprintln!("modeshare spool: cannot cut back a failed write: {cut}");
            }
        }
    }
}

/// The group's bytes into the current segment (a new one first when it is full), then one
/// fsync (and one of the directory when a segment was created).
fn write_and_sync(
    shared: &Shared,
    current: &mut Option<(u64, File)>,
    begin: u64,
    placed: &[(u64, Vec<u8>, Done)],
) -> io::Result<()> {
    let last = shared.state().segments.last().copied().unwrap_or(0);
    let mut created = false;
    let segment = if begin > last && begin - last >= shared.limits.segment_bytes {
        create_segment(&shared.dir, begin)?;
        shared.state().segments.push(begin);
        created = true;
        begin
    } else {
        last
    };
    if current.as_ref().is_none_or(|(s, _)| *s != segment) {
        let file = OpenOptions::new()
            .append(true)
            .open(segment_path(&shared.dir, segment))?;
        *current = Some((segment, file));
    }
    let Some((_, file)) = current.as_mut() else {
        return Err(io::Error::other("no segment open"));
    };
    let mut group = Vec::with_capacity(placed.iter().map(|(_, l, _)| l.len()).sum());
    for (_, lines, _) in placed {
        group.extend_from_slice(lines);
    }
    file.write_all(&group)?;
    file.sync_data()?;
    if created {
        File::open(&shared.dir)?.sync_all()?;
    }
    Ok(())
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.{EXTENSION}"))
}

fn create_segment(dir: &Path, start: u64) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(segment_path(dir, start))?
        .sync_all()
}

/// Cuts the last segment after its last newline; the bytes kept.
fn recover_last(path: &Path) -> io::Result<u64> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let kept = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64;
    if kept < bytes.len() as u64 {
        file.set_len(kept)?;
        file.sync_all()?;
    }
    Ok(kept)
}

fn stray(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} is not a spool segment (NNNNNNNNNNNNNNNNNNNN.{EXTENSION}): move it out of the spool directory",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests;

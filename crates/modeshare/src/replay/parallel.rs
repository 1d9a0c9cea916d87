//! `replay --threads N`: the inputs read on N threads, with the report of reading them on one.
//!
//! The inputs are cut into units — line-aligned byte ranges of each file of canonical lines,
//! each other file whole — and N threads take the units in input order from a shared counter,
//! each into a [`ReplayPart`] of its own (the only shared state is that counter and the progress
//! bar). An event's position is its unit and its byte offset (lines) or item number (tables, MDS
//! records) within it, so a thread sees its events in increasing position. Afterwards the parts'
//! ids are resolved shard by shard on the N threads, each thread retracts the events it counted
//! whose id an earlier unit held (re-reading them), and the parts are added up. Needs files that
//! can be read again (not stdin) and runs without `--state` (its checkpoints hold one pipeline
//! and one input position).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use indicatif::ProgressBar;
use modeshare_core::decode::{DecodeError, Format, FormatDecoder};
use modeshare_core::pipeline::{Outcome, Pipeline, ReplayPart, merge_parts, shards_by_index};
use modeshare_core::state::IdShard;
use modeshare_source::{Input, JsonRecords, Line, LineReader, line_aligned_ranges};

use super::detect;
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::rejections::RejectionLog;

/// An event's position: its unit in the high bits, its offset within the unit in the low ones
/// (a unit of lines holds at most 1 TiB; a whole file at most 2⁴⁰ items).
const OFFSET_BITS: u32 = 40;

fn position(unit: usize, offset: u64) -> u64 {
    ((unit as u64) << OFFSET_BITS) | (offset & ((1 << OFFSET_BITS) - 1))
}

fn unit_of(position: u64) -> usize {
    (position >> OFFSET_BITS) as usize
}

fn offset_of(position: u64) -> u64 {
    position & ((1 << OFFSET_BITS) - 1)
}

/// What one thread reads at a time.
struct Unit {
    /// The input's path as given.
    name: String,
    /// Which input on the command line (units of one input are consecutive).
    input: usize,
    kind: UnitKind,
}

enum UnitKind {
    /// Canonical lines: a line-aligned byte range of the file.
    Lines(Range<u64>),
    /// A whole file of another format.
    Whole(Box<FormatDecoder>),
}

/// Whether every input can be read in parts: files that can be opened again (stdin, pipes and
/// other streams cannot, and are read on one thread).
pub(super) fn can_read(inputs: &[Input]) -> bool {
    inputs.iter().all(|i| i.size.is_some())
}

/// Replays `inputs` on `threads` threads, canonical files cut into ranges of about
/// `chunk_bytes` (by default enough for eight ranges per thread, 1–256 MiB each).
pub(super) fn replay(
    config: &AppConfig,
    forced: Option<&Format>,
    inputs: Vec<Input>,
    threads: usize,
    chunk_bytes: Option<u64>,
    progress: &ProgressBar,
) -> Result<(Pipeline, RejectionLog), Failure> {
    let units = plan(config, forced, inputs, threads, chunk_bytes)?;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let reader = Reader {
        config,
        units: &units,
        progress,
    };
    let results: Vec<Result<Thread, (usize, Failure)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| reader.read_units(&next, &stop)))
            .collect();
        handles.into_iter().map(join).collect()
    });
    // The failure of the earliest unit, as one thread would have met it first.
    let mut done = Vec::with_capacity(results.len());
    let mut first_failure: Option<(usize, Failure)> = None;
    for result in results {
        match result {
            Ok(thread) => done.push(thread),
            Err((unit, failure)) => {
                if first_failure.as_ref().is_none_or(|(u, _)| unit < *u) {
                    first_failure = Some((unit, failure));
                }
            }
        }
    }
    if let Some((_, failure)) = first_failure {
        return Err(failure);
    }
    let later = resolve(&mut done, threads)?;
    retract(&reader, &mut done, &later)?;
    progress.finish_and_clear();

    // Example lines counted from each unit's start become the input's line numbers.
    let mut lines_before = vec![0; units.len()];
    let mut unit_lines = vec![0; units.len()];
    for thread in &done {
        for (unit, lines) in &thread.lines {
            unit_lines[*unit] = *lines;
        }
    }
    for u in 1..units.len() {
        if units[u].input == units[u - 1].input {
            lines_before[u] = lines_before[u - 1] + unit_lines[u - 1];
        }
    }
    let mut examples = RejectionLog::default();
    let mut parts = Vec::with_capacity(done.len());
    for thread in done {
        examples.merge(thread.examples);
        parts.push(thread.part);
    }
    examples.renumber(|unit| lines_before.get(unit).copied().unwrap_or(0));
    let pipeline = merge_parts(parts)
        .unwrap_or_else(|| Pipeline::for_replay(config.settings.clone(), config.zones.clone()));
    Ok((pipeline, examples))
}

fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, (usize, Failure)>>,
) -> Result<T, (usize, Failure)> {
    handle.join().unwrap_or_else(|_| {
        Err((
            0,
            Failure::Internal(anyhow::anyhow!("a replay thread panicked")),
        ))
    })
}

/// The units of every input, in input order, each input's format recognised as one thread
/// would.
fn plan(
    config: &AppConfig,
    forced: Option<&Format>,
    inputs: Vec<Input>,
    threads: usize,
    chunk_bytes: Option<u64>,
) -> Result<Vec<Unit>, Failure> {
    let mut formats = Vec::with_capacity(inputs.len());
    for mut input in inputs {
        let format = match forced {
            Some(f) => f.clone(),
            None => detect(&mut input, config),
        };
        config.formats.check(&format).map_err(|e| {
            Failure::Usage(anyhow::anyhow!("{}: read as {format}: {e}", input.name))
        })?;
        formats.push((input, format));
    }
    let line_bytes: u64 = formats
        .iter()
        .filter(|(_, f)| *f == Format::Canonical)
        .filter_map(|(i, _)| i.size)
        .sum();
    let chunk = chunk_bytes
        .unwrap_or_else(|| (line_bytes / (threads as u64 * 8)).clamp(1 << 20, 256 << 20));
    let mut units = Vec::new();
    for (index, (input, format)) in formats.into_iter().enumerate() {
        let decoder = FormatDecoder::new(&format, &config.formats, &config.settings.factors);
        match decoder {
            FormatDecoder::Canonical(_) => {
                let size = input.size.unwrap_or(0);
                let ranges = line_aligned_ranges(&input.name, size, chunk)
                    .map_err(|e| Failure::Input(anyhow::anyhow!("reading {}: {e}", input.name)))?;
                units.extend(ranges.into_iter().map(|range| Unit {
                    name: input.name.clone(),
                    input: index,
                    kind: UnitKind::Lines(range),
                }));
            }
            decoder => units.push(Unit {
                name: input.name.clone(),
                input: index,
                kind: UnitKind::Whole(Box::new(decoder)),
            }),
        }
    }
    Ok(units)
}

/// What one thread read: its part, its rejection examples, the units it read and the lines of
/// each of its units of lines.
struct Thread {
    part: ReplayPart,
    examples: RejectionLog,
    units: Vec<usize>,
    lines: Vec<(usize, u64)>,
}

struct Reader<'a> {
    config: &'a AppConfig,
    units: &'a [Unit],
    progress: &'a ProgressBar,
}

impl Reader<'_> {
    /// Reads units, taking the next one in input order until none is left (or another thread
    /// failed).
    fn read_units(
        &self,
        next: &AtomicUsize,
        stop: &AtomicBool,
    ) -> Result<Thread, (usize, Failure)> {
        let mut thread = Thread {
            part: ReplayPart::new(self.config.settings.clone(), self.config.zones.clone()),
            examples: RejectionLog::default(),
            units: Vec::new(),
            lines: Vec::new(),
        };
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = self.units.get(index) else {
                break;
            };
            thread.units.push(index);
            let read = match &unit.kind {
                UnitKind::Lines(range) => self.lines(index, unit, range.clone(), &mut thread),
                UnitKind::Whole(decoder) => self.whole(index, unit, decoder, &mut thread),
            };
            if let Err(e) = read {
                stop.store(true, Ordering::Relaxed);
                return Err((
                    index,
                    Failure::Input(anyhow::anyhow!("reading {}: {e}", unit.name)),
                ));
            }
        }
        Ok(thread)
    }

    fn lines(
        &self,
        index: usize,
        unit: &Unit,
        range: Range<u64>,
        thread: &mut Thread,
    ) -> std::io::Result<()> {
        let max_line = self.config.input.max_line_bytes;
        let input = Input::open_range(&unit.name, range)?;
        let mut reader = LineReader::new(input.reader, max_line);
        let mut reported = 0;
        loop {
            let offset = reader.bytes_read();
            let Some(line) = reader.next_line()? else {
                break;
            };
            let rejection = match line {
                Line::Text(bytes) => {
                    match thread
                        .part
                        .observe_line(bytes, &unit.name, position(index, offset))
                    {
                        Outcome::Rejected(e) => Some(e.into_owned()),
                        Outcome::Accepted | Outcome::Duplicate => None,
                    }
                }
                Line::TooLong { len } => {
                    let e = DecodeError::line_too_long(len, max_line);
                    thread.part.observe_rejection(&e, &unit.name);
                    Some(e)
                }
            };
            if let Some(e) = rejection {
                thread
                    .examples
                    .record_in(index, &unit.name, reader.line_no(), &e);
            }
            if reader.line_no().is_multiple_of(4096) {
                self.progress.inc(reader.bytes_read() - reported);
                reported = reader.bytes_read();
            }
        }
        self.progress.inc(reader.bytes_read() - reported);
        thread.lines.push((index, reader.line_no()));
        Ok(())
    }

    /// A whole file of another format, its items numbered in the order its decoder gives them.
    fn whole(
        &self,
        index: usize,
        unit: &Unit,
        decoder: &FormatDecoder,
        thread: &mut Thread,
    ) -> std::io::Result<()> {
        let mut item = 0;
        let (part, examples) = (&mut thread.part, &mut thread.examples);
        let bytes = self.items(unit, decoder, &mut |line, decoded| {
            if let Some(Outcome::Rejected(e)) =
                part.observe_decoded(decoded, &unit.name, position(index, item))
            {
                examples.record_in(index, &unit.name, line, &e);
            }
            item += 1;
        })?;
        self.progress.inc(bytes);
        Ok(())
    }

    /// Every item of a whole file, with the line it is on, as the one-thread replay reads them;
    /// returns the bytes read.
    fn items(
        &self,
        unit: &Unit,
        decoder: &FormatDecoder,
        each: &mut dyn FnMut(u64, modeshare_core::decode::Decoded<'_>),
    ) -> std::io::Result<u64> {
        let input = Input::open(&unit.name)?;
        let limits = &self.config.input;
        match decoder {
            FormatDecoder::Table(table) => {
                let mut bytes = 0;
                table
                    .decode_table(input.reader, None, |row, decoded| {
                        bytes = row.byte;
                        each(row.line, decoded);
                    })
                    .map_err(std::io::Error::other)?;
                Ok(bytes)
            }
            FormatDecoder::Mds(_) | FormatDecoder::Canonical(_) => {
                let mut records = JsonRecords::new(
                    input.reader,
                    limits.max_line_bytes,
                    limits.max_document_bytes,
                );
                while let Some((line, record)) = records.next_record()? {
                    match record {
                        Line::Text(bytes) => {
                            decoder
                                .decode_record(bytes, None, &mut |_, decoded| each(line, decoded))
                        }
                        Line::TooLong { len } => each(
                            line,
                            modeshare_core::decode::Decoded::Event(Err(
                                DecodeError::line_too_long(len, limits.max_document_bytes),
                            )),
                        ),
                    }
                }
                Ok(records.bytes_read())
            }
        }
    }

    /// Takes back the events at `positions` (sorted), which `part` counted and whose ids an
    /// earlier unit held, reading them again.
    fn retract(&self, part: &mut ReplayPart, positions: &[u64]) -> Result<(), Failure> {
        let mut rest = positions;
        while let Some(&first) = rest.first() {
            let unit_index = unit_of(first);
            let count = rest
                .iter()
                .take_while(|p| unit_of(**p) == unit_index)
                .count();
            let (these, after) = rest.split_at(count);
            rest = after;
            let Some(unit) = self.units.get(unit_index) else {
                return Err(Failure::Internal(anyhow::anyhow!(
                    "a duplicate in unit {unit_index}, past the last"
                )));
            };
            let changed = || {
                Failure::Input(anyhow::anyhow!(
                    "{} changed while it was replayed; replay it again",
                    unit.name
                ))
            };
            let read_error =
                |e: std::io::Error| Failure::Input(anyhow::anyhow!("reading {}: {e}", unit.name));
            match &unit.kind {
                UnitKind::Lines(range) => {
                    let max_line = self.config.input.max_line_bytes;
                    let file = std::fs::File::open(&unit.name).map_err(read_error)?;
                    let mut file = BufReader::with_capacity(64 * 1024, file);
                    let mut at = file
                        .seek(SeekFrom::Start(range.start))
                        .map_err(read_error)?;
                    let mut line = Vec::new();
                    for p in these {
                        let target = range.start + offset_of(*p);
                        let step = i64::try_from(target.wrapping_sub(at)).map_err(|_| changed())?;
                        file.seek_relative(step).map_err(read_error)?;
                        line.clear();
                        let n = (&mut file)
                            .take(max_line as u64 + 2)
                            .read_until(b'\n', &mut line)
                            .map_err(read_error)?;
                        at = target + n as u64;
                        let text = line.strip_suffix(b"\n").unwrap_or(&line);
                        let text = text.strip_suffix(b"\r").unwrap_or(text);
                        if !part.retract_line(text) {
                            return Err(changed());
                        }
                    }
                }
                UnitKind::Whole(decoder) => {
                    let mut item = 0;
                    let mut wanted = these.iter().map(|p| offset_of(*p)).peekable();
                    let mut all_found = true;
                    self.items(unit, decoder, &mut |_, decoded| {
                        if wanted.peek() == Some(&item) {
                            wanted.next();
                            all_found &= part.retract_decoded(decoded);
                        }
                        item += 1;
                    })
                    .map_err(read_error)?;
                    if !all_found || wanted.next().is_some() {
                        return Err(changed());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Resolves the parts' ids shard by shard on `threads` threads; the positions of the events
/// that parts counted although an earlier unit held their ids.
fn resolve(done: &mut [Thread], threads: usize) -> Result<Vec<u64>, Failure> {
    let mut shards = shards_by_index(done.iter_mut().map(|t| &mut t.part));
    let per_thread = shards.len().div_ceil(threads.max(1)).max(1);
    let found: Vec<Result<Vec<u64>, (usize, Failure)>> = std::thread::scope(|s| {
        let handles: Vec<_> = shards
            .chunks_mut(per_thread)
            .map(|group| {
                s.spawn(move || {
                    Ok(group
                        .iter_mut()
                        .flat_map(|shard| IdShard::resolve(shard))
                        .collect::<Vec<u64>>())
                })
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    let mut later = Vec::new();
    for f in found {
        later.extend(f.map_err(|(_, failure)| failure)?);
    }
    Ok(later)
}

/// Each thread takes back, on a thread of its own, the events at `later` in the units it read.
fn retract(reader: &Reader<'_>, done: &mut [Thread], later: &[u64]) -> Result<(), Failure> {
    let mut reader_of = vec![0; reader.units.len()];
    for (t, thread) in done.iter().enumerate() {
        for unit in &thread.units {
            reader_of[*unit] = t;
        }
    }
    let mut mine: Vec<Vec<u64>> = done.iter().map(|_| Vec::new()).collect();
    for p in later {
        if let Some(t) = reader_of.get(unit_of(*p)) {
            mine[*t].push(*p);
        }
    }
    let results: Vec<Result<(), (usize, Failure)>> = std::thread::scope(|s| {
        let handles: Vec<_> = done
            .iter_mut()
            .zip(&mut mine)
            .filter(|(_, positions)| !positions.is_empty())
            .map(|(thread, positions)| {
                s.spawn(move || {
                    positions.sort_unstable();
                    reader
                        .retract(&mut thread.part, positions)
                        .map_err(|f| (0, f))
                })
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    for r in results {
        r.map_err(|(_, failure)| failure)?;
    }
    Ok(())
}

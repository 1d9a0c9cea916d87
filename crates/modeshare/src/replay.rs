//! `modeshare replay`: files or stdin → the report on stdout, a summary on stderr.
//!
//! Files are read on `--threads` threads ([`parallel`]); stdin, other streams and `--state`
//! (whose checkpoints hold one pipeline at one input position) on this one.

mod parallel;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modeshare_core::decode::{DecodeError, Format, FormatDecoder, TableDecoder};
use modeshare_core::pipeline::checkpoint;
use modeshare_core::pipeline::checkpoint::{Fingerprint, Position, Restored};
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::publish::Report;
use modeshare_core::publish::goal_gaps;
use modeshare_source::{Input, JsonRecords, Line, LineReader};

use crate::cli::{ReplayArgs, open_inputs};
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::rejections::RejectionLog;
use crate::state_dir::StateDir;

pub fn run(args: &ReplayArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    let started = Instant::now();
    let (pipeline, examples) = read(&config, args)?;
    let report = pipeline.report();
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &report)
        .map_err(anyhow::Error::from)
        .and_then(|()| writeln!(stdout).map_err(anyhow::Error::from))
        .map_err(Failure::Input)?;
    let summary = summary(
        &report,
        &examples,
        &pipeline,
        args.files.len(),
        started.elapsed().as_secs_f64(),
    );
    eprint!("{summary}");
    Ok(())
}

/// Reads the inputs `args` names into one replay pipeline, on `--threads` threads where it can;
/// the rejections with their first examples.
pub fn read(config: &AppConfig, args: &ReplayArgs) -> Result<(Pipeline, RejectionLog), Failure> {
    let inputs = open_inputs(&args.files)?;
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let one_thread_because = if args.state.is_some() {
        Some("--state checkpoints one pipeline")
    } else if !parallel::can_read(&inputs) {
        Some("stdin and other streams cannot be read in parts")
    } else {
        None
    };
    match one_thread_because {
        None if threads > 1 => {
            let forced = forced_format(config, args.format.as_deref())?;
            let progress = progress_bar(&inputs);
            parallel::replay(
                config,
                forced.as_ref(),
                inputs,
                threads,
                args.chunk_bytes,
                &progress,
            )
        }
        reason => {
            if let (Some(reason), true) = (reason, args.threads.is_some_and(|t| t > 1)) {
                eprintln!("reading on one thread: {reason}");
            }
            let mut checkpoints = args
                .state
                .as_deref()
                .map(|dir| Checkpoints::new(dir, config, &args.files, args.format.as_deref()));
            let read = replay_inputs(config, args.format.as_deref(), inputs, checkpoints.as_mut())?;
            if let Some(c) = &checkpoints {
                c.finish();
            }
            Ok(read)
        }
    }
}

fn replay_inputs(
    config: &AppConfig,
    format: Option<&str>,
    inputs: Vec<Input>,
    mut checkpoints: Option<&mut Checkpoints>,
) -> Result<(Pipeline, RejectionLog), Failure> {
    let forced = forced_format(config, format)?;
    let restored = match checkpoints.as_deref() {
        Some(c) => c.load(config)?,
        None => None,
    };
    let (mut pipeline, resume) = match restored {
        Some(r) => (r.pipeline, r.position),
        None => (
            Pipeline::for_replay(config.settings.clone(), config.zones.clone()),
            Position::Input {
                index: 0,
                byte: 0,
                line: 0,
            },
        ),
    };
    let Position::Input {
        index: resume_index,
        byte: resume_byte,
        line: resume_line,
    } = resume
    else {
        return Err(Failure::State(anyhow::anyhow!(
            "the replay checkpoint holds a Kafka position; remove it to start over"
        )));
    };
    let mut examples = RejectionLog::default();
    let progress = progress_bar(&inputs);
    let mut done_bytes = 0;
    for (index, mut input) in inputs.into_iter().enumerate() {
        let index = index as u32;
        let name = input.name.clone();
        if index < resume_index {
            done_bytes += input.size.unwrap_or(0);
            continue;
        }
        let format = match &forced {
            Some(f) => f.clone(),
            None => detect(&mut input, config),
        };
        config
            .formats
            .check(&format)
            .map_err(|e| Failure::Usage(anyhow::anyhow!("{name}: read as {format}: {e}")))?;
        let decoder = FormatDecoder::new(&format, &config.formats, &config.settings.factors);
        let read = ReadInput {
            name: &name,
            config,
            progress: &progress,
            done_bytes,
            index,
        };
        // Only line-by-line inputs are checkpointed part-way; others resume at their start.
        let (input, start) = match &decoder {
            FormatDecoder::Canonical(_) if index == resume_index && resume_byte > 0 => {
                let resumed = Input::open_at(&name, resume_byte).map_err(|e| {
                    Failure::Input(anyhow::anyhow!(
                        "resuming {name} at byte {resume_byte}: {e}"
                    ))
                })?;
                (resumed, (resume_line, resume_byte))
            }
            _ => (input, (0, 0)),
        };
        done_bytes += match &decoder {
            FormatDecoder::Canonical(_) => read.lines(
                input,
                start,
                &mut pipeline,
                &mut examples,
                checkpoints.as_deref_mut(),
            ),
            FormatDecoder::Table(table) => read
                .table(input, table, &mut pipeline, &mut examples)
                .map_err(ReadError::Input),
            FormatDecoder::Mds(_) => read
                .documents(input, &decoder, &mut pipeline, &mut examples)
                .map_err(ReadError::Input),
        }
        .map_err(|e| match e {
            ReadError::Input(e) => Failure::Input(anyhow::anyhow!("reading {name}: {e}")),
            ReadError::Checkpoint(e) => Failure::State(anyhow::anyhow!("reading {name}: {e}")),
        })?;
        if let Some(c) = checkpoints.as_deref_mut() {
            let next = Position::Input {
                index: index + 1,
                byte: 0,
                line: 0,
            };
            c.save(&pipeline, next)?;
        }
    }
    progress.finish_and_clear();
    Ok((pipeline, examples))
}

/// The format `--format` names, if it was given.
fn forced_format(config: &AppConfig, format: Option<&str>) -> Result<Option<Format>, Failure> {
    format
        .map(|f| Format::parse(f, &config.formats))
        .transpose()
        .map_err(|e| Failure::Usage(anyhow::anyhow!("--format: {e}")))
}

/// Why an input was not read to its end: the input itself, or the checkpoint taken part-way.
enum ReadError {
    Input(std::io::Error),
    Checkpoint(Failure),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Input(e)
    }
}

/// `replay --state DIR`: the replay's checkpoint, kept under a key of its format and inputs,
/// written every `[state] interval` and after each input, removed once the replay is done.
struct Checkpoints {
    dir: StateDir,
    file: PathBuf,
    fingerprint: Fingerprint,
    interval: Duration,
    written_at: Instant,
}

impl Checkpoints {
    fn new(dir: &Path, config: &AppConfig, files: &[String], format: Option<&str>) -> Checkpoints {
        let mut key = xxhash_rust::xxh3::Xxh3::new();
        for part in std::iter::once(format.unwrap_or("")).chain(files.iter().map(String::as_str)) {
            key.update(part.as_bytes());
            key.update(&[0]);
        }
        let dir = StateDir::new(dir);
        let file = dir.file(&["replay", &format!("{:016x}", key.digest())]);
        eprintln!(
            "checkpointing to {} every {:?} and after each input",
            file.display(),
            config.state.interval
        );
        Checkpoints {
            dir,
            file,
            fingerprint: Fingerprint::of(&config.settings, &config.zones, false),
            interval: config.state.interval,
            written_at: Instant::now(),
        }
    }

    /// The state of an interrupted replay of the same inputs, if there is one.
    fn load(&self, config: &AppConfig) -> Result<Option<Restored>, Failure> {
        let file = self.file.display();
        let Some(bytes) = self
            .dir
            .read(&self.file)
            .map_err(|e| Failure::State(anyhow::anyhow!("reading the checkpoint {file}: {e}")))?
        else {
            return Ok(None);
        };
        let restored =
            checkpoint::decode(&bytes, config.settings.clone(), config.zones.clone(), false)
                .map_err(|e| {
                    Failure::State(anyhow::anyhow!(
                        "cannot resume from {file}: {e}; remove it to replay from the start"
                    ))
                })?;
        if let Position::Input { index, byte, line } = restored.position {
            eprintln!(
                "resuming from {file}: input {} at line {line} (byte {byte}); the rejection \
                 examples below are those of this run",
                index + 1
            );
        }
        Ok(Some(restored))
    }

    fn due(&self) -> bool {
        self.written_at.elapsed() >= self.interval
    }

    fn save(&mut self, pipeline: &Pipeline, position: Position) -> Result<(), Failure> {
        let bytes = checkpoint::encode(pipeline, position, self.fingerprint);
        self.dir.write(&self.file, &bytes).map_err(|e| {
            Failure::State(anyhow::anyhow!(
                "writing the checkpoint {}: {e}",
                self.file.display()
            ))
        })?;
        self.written_at = Instant::now();
        Ok(())
    }

    /// The replay is complete: the next one of the same inputs starts over.
    fn finish(&self) {
        if let Err(e) = self.dir.remove(&self.file) {
            eprintln!("cannot remove the checkpoint {}: {e}", self.file.display());
        }
    }
}

/// The format of an input from its first bytes (canonical when they do not say, with a
/// warning when they do not look like JSON either).
fn detect(input: &mut Input, config: &AppConfig) -> Format {
    let head = input.reader.fill_buf().unwrap_or_default();
    if let Some(format) = Format::detect(head, &config.formats) {
        return format;
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        eprintln!(
            "{}: not JSON and not a known CSV layout; reading it as canonical events \
             (pass --format, or configure [formats.csv.NAME])",
            input.name
        );
    }
    Format::Canonical
}

/// Reading one input into the pipeline; each method returns the bytes it read.
struct ReadInput<'a> {
    name: &'a str,
    /// The input's place on the command line (a checkpoint's position).
    index: u32,
    config: &'a AppConfig,
    progress: &'a ProgressBar,
    done_bytes: u64,
}

impl ReadInput<'_> {
    /// Lines from `start` (line and byte already read), checkpointed every `[state] interval`
    /// when `checkpoints` is given.
    fn lines(
        &self,
        input: Input,
        start: (u64, u64),
        pipeline: &mut Pipeline,
        examples: &mut RejectionLog,
        mut checkpoints: Option<&mut Checkpoints>,
    ) -> Result<u64, ReadError> {
        let max_line = self.config.input.max_line_bytes;
        let mut reader = LineReader::resumed(input.reader, max_line, start.0, start.1);
        while let Some(line) = reader.next_line()? {
            let rejection = match line {
                Line::Text(bytes) => match pipeline.observe_line(bytes, self.name, None) {
                    Outcome::Rejected(e) => Some(e.into_owned()),
                    Outcome::Accepted | Outcome::Duplicate => None,
                },
                Line::TooLong { len } => {
                    let e = DecodeError::line_too_long(len, max_line);
                    pipeline.observe_rejection(&e, self.name, None);
                    Some(e)
                }
            };
            if let Some(e) = rejection {
                examples.record(self.name, reader.line_no(), &e);
            }
            if reader.line_no().is_multiple_of(4096) {
                self.progress
                    .set_position(self.done_bytes + reader.bytes_read());
                if let Some(checkpoints) = checkpoints.as_deref_mut()
                    && checkpoints.due()
                {
                    let position = Position::Input {
                        index: self.index,
                        byte: reader.bytes_read(),
                        line: reader.line_no(),
                    };
                    checkpoints
                        .save(pipeline, position)
                        .map_err(ReadError::Checkpoint)?;
                }
            }
        }
        Ok(reader.bytes_read())
    }

    /// JSON records that may hold many events (MDS pages), or span lines (a saved page).
    fn documents(
        &self,
        input: Input,
        decoder: &FormatDecoder,
        pipeline: &mut Pipeline,
        examples: &mut RejectionLog,
    ) -> std::io::Result<u64> {
        let limits = &self.config.input;
        let mut records = JsonRecords::new(
            input.reader,
            limits.max_line_bytes,
            limits.max_document_bytes,
        );
        while let Some((line, record)) = records.next_record()? {
            match record {
                Line::Text(bytes) => decoder.decode_record(bytes, None, &mut |_, decoded| {
                    if let Some(Outcome::Rejected(e)) =
                        pipeline.observe_decoded(decoded, self.name, None)
                    {
                        examples.record(self.name, line, &e);
                    }
                }),
                Line::TooLong { len } => {
                    let e = DecodeError::line_too_long(len, limits.max_document_bytes);
                    pipeline.observe_rejection(&e, self.name, None);
                    examples.record(self.name, line, &e);
                }
            }
            self.progress
                .set_position(self.done_bytes + records.bytes_read());
        }
        Ok(records.bytes_read())
    }

    fn table(
        &self,
        input: Input,
        table: &TableDecoder,
        pipeline: &mut Pipeline,
        examples: &mut RejectionLog,
    ) -> std::io::Result<u64> {
        let mut bytes = 0;
        table
            .decode_table(input.reader, None, |row, decoded| {
                if let Some(Outcome::Rejected(e)) =
                    pipeline.observe_decoded(decoded, self.name, None)
                {
                    examples.record(self.name, row.line, &e);
                }
                bytes = row.byte;
                if row.line.is_multiple_of(65_536) {
                    self.progress.set_position(self.done_bytes + bytes);
                }
            })
            .map_err(std::io::Error::other)?;
        Ok(bytes)
    }
}

/// A byte-based progress bar on stderr, only when stderr is a terminal.
fn progress_bar(inputs: &[Input]) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: Option<u64> = inputs.iter().map(|i| i.size).sum();
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {binary_bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The human summary: outcome counts, rejection examples, and each zone against each goal.
fn summary(
    report: &Report,
    examples: &RejectionLog,
    pipeline: &Pipeline,
    inputs: usize,
    seconds: f64,
) -> String {
    use std::fmt::Write as _;
    let e = &report.events;
    let mut s = String::new();
    let rate = e.read as f64 / seconds.max(1e-9);
    let _ = writeln!(
        s,
        "replayed {} input(s): {} read, {} accepted, {} rejected, {} duplicates in {seconds:.2} s ({:.2} M events/s)",
        inputs,
        e.read,
        e.accepted,
        e.rejected,
        e.duplicates,
        rate / 1e6
    );
    for (reason, n) in &report.skipped {
        let _ = writeln!(s, "skipped {n} row(s) that are not events ({reason})");
    }
    s.push_str(&examples.render());
    let goals = &pipeline.settings().goals;
    if !goals.is_empty() {
        let _ = writeln!(s, "shares of person trips against the goals:");
        for (zone, z) in &report.zones {
            if z.shares.is_empty() {
                let _ = writeln!(s, "  {zone:<14} no person trips");
                continue;
            }
            let gaps = goal_gaps(&z.shares, goals);
            for goal in goals {
                let (Some(share), Some(gap)) = (z.shares.get(&goal.group), gaps.get(&goal.group))
                else {
                    continue;
                };
                let baseline = match (goal.baseline, goal.baseline_year) {
                    (Some(b), Some(y)) => format!(", baseline {:.1} % ({y})", b * 100.0),
                    (Some(b), None) => format!(", baseline {:.1} %", b * 100.0),
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  {zone:<14} {:<14} {:>5.1} %  target {:.1} % by {}: {:+.1} pp{baseline}",
                    goal.group,
                    share * 100.0,
                    goal.target * 100.0,
                    goal.target_date,
                    gap * 100.0
                );
            }
        }
    }
    s
}

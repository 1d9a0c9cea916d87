//! `modeshare replay`: files or stdin → the report on stdout, a summary on stderr.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modeshare_core::decode::DecodeError;
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::report::Report;
use modeshare_core::share::goal_gaps;
use modeshare_source::{Input, Line, LineReader};

use crate::cli::{ReplayArgs, open_inputs};
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::rejections::RejectionLog;

pub fn run(args: &ReplayArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    let inputs = open_inputs(&args.files)?;
    let started = Instant::now();
    let (pipeline, examples) = replay_inputs(&config, inputs)?;
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

fn replay_inputs(
    config: &AppConfig,
    inputs: Vec<Input>,
) -> Result<(Pipeline, RejectionLog), Failure> {
    let mut pipeline = Pipeline::for_replay(config.settings.clone(), config.zones.clone());
    let mut examples = RejectionLog::default();
    let progress = progress_bar(&inputs);
    let mut done_bytes = 0;
    for input in inputs {
        let name = input.name;
        let mut reader = LineReader::new(input.reader, config.input.max_line_bytes);
        loop {
            let line = reader
                .next_line()
                .map_err(|e| Failure::Input(anyhow::anyhow!("reading {name}: {e}")))?;
            let rejection = match line {
                None => break,
                Some(Line::Text(bytes)) => match pipeline.observe_line(bytes, &name, None) {
                    Outcome::Rejected(e) => Some(e.into_owned()),
                    Outcome::Accepted | Outcome::Duplicate => None,
                },
                Some(Line::TooLong { len }) => {
                    let e = DecodeError::line_too_long(len, config.input.max_line_bytes);
                    pipeline.observe_rejection(&e, &name, None);
                    Some(e)
                }
            };
            if let Some(e) = rejection {
                examples.record(&name, reader.line_no(), &e);
            }
            if reader.line_no() % 65_536 == 0 {
                progress.set_position(done_bytes + reader.bytes_read());
            }
        }
        done_bytes += reader.bytes_read();
    }
    progress.finish_and_clear();
    Ok((pipeline, examples))
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

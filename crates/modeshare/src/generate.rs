//! `modeshare generate`: simulated canonical events on stdout.

use std::io::Write;

use modeshare_core::vocabulary::{DurationMs, EventTimeMs, parse_rfc3339};
use modeshare_source::simulator::Simulator;

use crate::cli::GenerateArgs;
use crate::config::{self, Overrides};
use crate::failure::Failure;

pub fn run(args: &GenerateArgs) -> Result<(), Failure> {
    let config = config::load(
        args.config.as_deref(),
        std::env::vars(),
        &Overrides::default(),
    )
    .map_err(|e| Failure::Usage(e.into()))?;
    let mut settings = config.simulator;
    if let Some(seed) = args.seed {
        settings.seed = seed;
    }
    let start = match &args.start {
        Some(text) => {
            parse_rfc3339(text).map_err(|e| Failure::Usage(anyhow::anyhow!("--start: {e:?}")))?
        }
        None => crate::clock::wall_clock().saturating_sub(DurationMs::from_hours(24)),
    };
    let simulator = Simulator::new(settings);
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut remaining = args.events;
    let mut minute = EventTimeMs(start.0.div_euclid(60_000) * 60_000);
    let mut buffer = Vec::new();
    while remaining > 0 {
        buffer.clear();
        simulator.emit(minute, EventTimeMs(minute.0 + 60_000), &mut buffer);
        for line in buffer.split_inclusive(|b| *b == b'\n') {
            if remaining == 0 {
                break;
            }
            stdout
                .write_all(line)
                .map_err(|e| Failure::Input(e.into()))?;
            remaining -= 1;
        }
        minute.0 += 60_000;
    }
    stdout.flush().map_err(|e| Failure::Input(e.into()))
}

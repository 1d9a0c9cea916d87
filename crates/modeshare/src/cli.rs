//! The command line (`modeshare --help`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use modeshare_source::Input;

use crate::config::{self, AppConfig, Overrides};
use crate::failure::Failure;
use crate::logging::LogFormat;

/// Live mode shares for cities: the share of person trips by walking, cycling, micromobility,
/// public transport and car, per area, against the city's goals.
#[derive(Debug, Parser)]
#[command(
    name = "modeshare",
    version = crate::version::VERSION_LINE,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Exit status: 0 when done; what every other status means is listed under \
                  \"Exit status\" in docs/operations.md."
)]
pub struct Cli {
    /// Without a command, `modeshare` runs the service as `modeshare run` would.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// How to write log lines to stderr: `text`, or `json` (one object a line). Default:
    /// `[log] format` of the configuration, else text.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Which log lines to write, in the `tracing` filter syntax (`debug`,
    /// `info,modeshare_kafka=debug`); `RUST_LOG`, when set, wins. Default: info.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl Cli {
    /// The `--config` file of the command, if it takes one.
    pub fn config_file(&self) -> Option<&std::path::Path> {
        let common = match &self.command {
            Some(Command::Replay(a)) => &a.common,
            Some(Command::Run(a)) => &a.common,
            Some(Command::Serve(a)) => &a.common,
            Some(Command::Produce(a)) => &a.common,
            Some(Command::Providers(ProvidersCommand::Check(a))) => &a.common,
            Some(Command::Config(ConfigCommand::Check(a) | ConfigCommand::Show(a))) => a,
            Some(Command::Generate(a)) => return a.config.as_deref(),
            Some(Command::Token(_) | Command::Completions(_) | Command::Man) | None => {
                return None;
            }
        };
        common.config.as_deref()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read events from files or stdin and print the report (JSON) to stdout.
    ///
    /// Every line (or CSV row, or trip of an MDS page) is one event. Each gets exactly one outcome (accepted, rejected with a
    /// reason, or duplicate); a summary with rejection examples and goal gaps goes to stderr.
    /// Exits 0 whatever the events held; non-zero only for unusable arguments or unreadable files.
    Replay(ReplayArgs),
    /// The live service: events → windows, shares and goal gaps, served on `/metrics`,
    /// `/healthz`, `/api/zones` and `/api/report` (127.0.0.1:9464 by default).
    ///
    /// Without inputs it runs on the built-in simulator of Bærum traffic, which back-fills the
    /// last 24 h and then runs in real time. With `--input` it reads those files instead and
    /// keeps serving. Stops cleanly on SIGINT or SIGTERM.
    Run(RunArgs),
    /// The whole city's view alone: reads the parts the `run` instances of the Kafka group
    /// publish (`[view] interval`) from the checkpoint store and serves the page, `/api/*` and
    /// `/healthz`; no input and no state of its own, so it scales freely. Its `/metrics` has no
    /// per-zone gauges (the workers export those).
    Serve(ServeArgs),
    /// Print simulated canonical events (NDJSON) to stdout, starting 24 h ago.
    Generate(GenerateArgs),
    /// Validate events and send the valid ones to Kafka, keyed by `source` (for operators).
    ///
    /// Prints rejections per reason with the first examples. If anything is rejected, nothing
    /// is sent and the exit status is 3; with `--allow-rejects` the valid events are sent and
    /// the exit status is still 3. Exit 0 only when every event was valid and delivered.
    Produce(ProduceArgs),
    /// Tokens of the operators' ingest API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The operators' MDS Provider APIs the service polls (`[[providers]]`).
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Check the configuration, or print the one in force.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script to stdout (`modeshare completions bash > …`).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout (`modeshare man | man -l -`).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the configuration (the embedded default, `--config`, `MODESHARE__*` variables,
    /// flags) and list every problem at once: unknown keys, wrong types and values, files that
    /// cannot be read. Exit 0 when it is usable, 2 when not.
    Check(CommonArgs),
    /// Print the configuration in force as TOML — the embedded default, `--config`,
    /// `MODESHARE__*` variables and flags layered, secrets read from their files — with every
    /// secret's value shown as "[redacted]". Exit 2 (after printing) when it is not usable.
    Show(CommonArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Fetch the latest complete hour (minus `delay`) from each configured provider and print
    /// what it got — pages, trips accepted, rejections with reasons, or why the request
    /// failed — without changing any state: the command to run when an operator says "it's
    /// live". Exit 0 when every provider answered, 1 when one failed.
    Check(ProvidersCheckArgs),
}

#[derive(Debug, Args)]
pub struct ProvidersCheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only this provider (its `name`).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh random token (256 bits) for operator NAME on stdout, once, and on stderr
    /// the `[[ingest.operators]]` lines that let it in (with the token's SHA-256, never the
    /// token). To rotate a token, add the new hash beside the old one, hand out the new token,
    /// then remove the old hash.
    New(TokenNewArgs),
}

#[derive(Debug, Args)]
pub struct TokenNewArgs {
    /// The operator's name (its metrics label, and the dead letters' header).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The sources it may write (repeatable); default: NAME.
    #[arg(long = "source", value_name = "SOURCE")]
    pub sources: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Bootstrap brokers, `host:port[,host:port…]`; default `kafka.brokers` of the
    /// configuration, whose `[kafka.options]` (TLS, SASL) are used either way.
    #[arg(long, value_name = "BROKERS")]
    pub brokers: Option<String>,
    /// The topic to send to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The format of the input lines (only canonical events are sent; other formats are
    /// checked with `replay --format`).
    #[arg(long, value_name = "F", default_value = "canonical")]
    pub format: String,
    /// Send the valid events even when some were rejected.
    #[arg(long)]
    pub allow_rejects: bool,
    /// Files of newline-delimited events; `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Read events from this file (repeatable; `-` is stdin) instead of the simulator.
    #[arg(long = "input", value_name = "FILE")]
    pub inputs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many events (lines) to print.
    #[arg(long, value_name = "N")]
    pub events: u64,
    /// Seed of the simulated city (default: `[simulator] seed`).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Event time of the first minute, RFC 3339 (default: 24 h ago).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// A TOML configuration layered over the embedded default (for `[simulator]`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options every command that binds events to places shares.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// A TOML configuration layered over the embedded default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A GeoJSON FeatureCollection of zone polygons (each with a `name`), replacing the configured zones.
    #[arg(long, value_name = "GEOJSON")]
    pub zones: Option<PathBuf>,
    /// H3 resolution of the cells (0–15).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=15))]
    pub resolution: Option<u8>,
    /// The GTFS feed (zip or folder) that locates TIDES boardings, replacing `formats.tides.gtfs`.
    #[arg(long, value_name = "FEED")]
    pub gtfs: Option<PathBuf>,
}

impl CommonArgs {
    /// The layered configuration with these flags on top (environment from the process).
    pub fn load_config(&self) -> Result<AppConfig, Failure> {
        config::load(self.config.as_deref(), std::env::vars(), &self.overrides())
            .map_err(|e| Failure::Usage(e.into()))
    }

    /// The flags that override the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            zones: self.zones.clone(),
            resolution: self.resolution,
            gtfs: self.gtfs.clone(),
        }
    }
}

/// Opens every input before any work, so an unreadable file fails the command at once.
pub fn open_inputs(paths: &[String]) -> Result<Vec<Input>, Failure> {
    paths
        .iter()
        .map(|path| {
            Input::open(path)
                .map_err(|e| Failure::Input(anyhow::anyhow!("cannot read {path}: {e}")))
        })
        .collect()
}

#[derive(Debug, Args, Default)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The input format: canonical, mds (mds:1.2, mds:2.0), trafikkdata, tides, or csv:NAME (a
    /// preset: oslobysykkel, louisville, kansascity, indianapolis; or a [formats.csv.NAME]
    /// layout). Default: recognised from each input's first bytes, else canonical.
    #[arg(long, value_name = "F")]
    pub format: Option<String>,
    /// Checkpoint the replay in DIR every `[state] interval` and after each input, and resume
    /// an interrupted replay of the same inputs from there (the checkpoint is removed once the
    /// replay completes). Line-by-line inputs resume at the line; others at their start.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Read on N threads (default: one per core). Files are cut into parts at line starts
    /// (other formats: whole files) and read side by side; the report is the same for any N.
    /// With `--state`, or when an input is stdin or another stream, the replay reads on one
    /// thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// The size in bytes of the parts files of lines are cut into when read on several threads
    /// (for tests: small parts put part boundaries everywhere).
    #[arg(long, value_name = "BYTES", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_bytes: Option<u64>,
    /// Input files: newline-delimited JSON, an MDS page, or a CSV table; `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}

//! Logs to stderr, as text (in colour only on a terminal) or as one JSON object a line, for a
//! log collector (docs/operations.md#logs).
//!
//! The format: `--log-format`, else `[log] format` of the layered configuration (file, then
//! `MODESHARE__LOG__FORMAT`), else text. Which lines: `RUST_LOG` when it is set (the whole
//! `tracing` filter syntax), else `--log-level`, else `info`. `RUST_LOG` wins so that a person
//! debugging a deployment can change what is logged without editing its command line.

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `2025-01-01T00:00:00.000000Z  INFO target: message key=value`.
    #[default]
    Text,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":…,"key":…},"target":…}`.
    Json,
}

/// The environment variable whose filter wins over `--log-level`.
pub const FILTER_VARIABLE: &str = "RUST_LOG";

/// The filter in force: `rust_log` (the value of `RUST_LOG`) when set and not blank, else
/// `level` (`--log-level`), else `info`. An unusable filter is an error naming where it came
/// from.
pub fn filter(rust_log: Option<&str>, level: Option<&str>) -> Result<EnvFilter, String> {
    let (source, text) = match (rust_log.filter(|t| !t.trim().is_empty()), level) {
        (Some(text), _) => (FILTER_VARIABLE, text),
        (None, Some(level)) => ("--log-level", level),
        (None, None) => ("the default", "info"),
    };
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| format!("{source}: {text:?} is not a log filter: {e}"))
}

/// Installs the process's logger.
pub fn init(format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rust_log_wins_over_the_level_flag_which_wins_over_info() {
        let shown = |rust_log, level| filter(rust_log, level).unwrap().to_string();
        assert_eq!(
            shown(Some("modeshare_kafka=debug"), Some("warn")),
            "modeshare_kafka=debug"
        );
        assert_eq!(shown(None, Some("warn")), "warn");
        assert_eq!(shown(Some("  "), Some("warn")), "warn");
        assert_eq!(shown(None, None), "info");
    }

    #[test]
    fn an_unusable_filter_names_where_it_came_from() {
        let e = filter(None, Some("loud=[")).unwrap_err();
        assert!(e.starts_with("--log-level: \"loud=[\""), "{e}");
        let e = filter(Some("x=nonsense"), None).unwrap_err();
        assert!(e.starts_with("RUST_LOG:"), "{e}");
    }
}

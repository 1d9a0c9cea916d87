//! `[log]`: how the process logs. Read before the rest of the configuration (the logger is
//! installed before anything is logged), and again with it, so that a bad value is reported
//! with every other problem.

use std::path::Path;

use serde::Deserialize;

use super::{DEFAULT_CONFIG, env_keys, env_value, merge};
use crate::logging::LogFormat;

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`; `--log-format` overrides.
    pub format: LogFormat,
}

/// `[log] format` of the embedded default, `file` and the environment (`MODESHARE__LOG__FORMAT`),
/// without reading or checking anything else. `None` when it cannot be told (a file that cannot
/// be read, a value that is not a format): the full load reports why.
pub fn format_of(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Option<LogFormat> {
    let mut merged: toml::Table = DEFAULT_CONFIG.parse().ok()?;
    if let Some(path) = file {
        let layer: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
        merge(&mut merged, layer);
    }
    let mut format = merged.get("log")?.get("format")?.clone();
    for (name, value) in env {
        if env_keys(&name).is_some_and(|keys| keys == ["log", "format"]) {
            format = env_value(&value);
        }
    }
    LogFormat::deserialize(format).ok()
}

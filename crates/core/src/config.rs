//! Configuration errors shared by every `FooConfig::validate()`: all problems are collected
//! with their key path and reported at once.

use std::fmt;

/// One problem with a configuration value, located by its key path (`goals[0].target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

/// Every problem found while validating a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was pushed.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", e.key, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The validated settings the domain runs with (the binary builds them from its config).
#[derive(Debug, Clone)]
pub struct Settings {
    pub groups: crate::mode::ModeGroups,
    pub goals: Vec<crate::goal::Goal>,
    pub factors: crate::factor::PersonTripFactors,
    pub resolution: h3o::Resolution,
    pub dedup_horizon: crate::time::DurationMs,
    pub windows: crate::window::WindowSettings,
}

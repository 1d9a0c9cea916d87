//! Configuration errors shared by every `FooConfig::validate()`: all problems are collected
//! with their key path and reported at once.

use std::fmt;

use super::time::DurationMs;

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

    /// Reads a duration like `"15m"` for `key`, within `range`; otherwise records the problem
    /// and returns the start of the range, only so that validation can go on and report
    /// everything at once (the value is never used: the configuration is refused).
    pub fn duration(
        &mut self,
        key: impl Into<String>,
        text: &str,
        range: std::ops::RangeInclusive<DurationMs>,
    ) -> DurationMs {
        let fallback = *range.start();
        match DurationMs::parse(text) {
            Ok(d) if range.contains(&d) => d,
            Ok(_) if *range.end() == DurationMs::MAX => {
                self.push(key, format!("{text:?} must be at least {}", range.start()));
                fallback
            }
            Ok(_) => {
                self.push(
                    key,
                    format!(
                        "{text:?} must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                );
                fallback
            }
            Err(e) => {
                self.push(key, e);
                fallback
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_within_their_range_or_reported() {
        let mut errors = ConfigErrors::default();
        assert_eq!(
            errors.duration("a", "15m", DurationMs::POSITIVE),
            DurationMs(900_000)
        );
        assert_eq!(
            errors.duration("b", "0s", DurationMs::POSITIVE),
            *DurationMs::POSITIVE.start()
        );
        assert_eq!(
            errors.duration("c", "2m", DurationMs(10)..=DurationMs(60_000)),
            DurationMs(10)
        );
        assert_eq!(
            errors.duration("d", "soon", DurationMs::POSITIVE),
            *DurationMs::POSITIVE.start()
        );
        let text = errors.to_string();
        assert!(text.contains("b: \"0s\" must be at least 1ms"), "{text}");
        assert!(
            text.contains("c: \"2m\" must be between 10ms and 1m"),
            "{text}"
        );
        assert!(text.contains("d: \"soon\" is not a duration"), "{text}");
        assert!(!text.contains("a:"), "{text}");
    }
}

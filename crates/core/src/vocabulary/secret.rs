//! A value that must never be shown: a password, a key, a token. Its `Debug` and `Display`
//! print a placeholder, and its text is read only through [`Secret::expose`], so that a log
//! line, an error message or a `{:?}` of a configuration cannot carry it by accident. Every
//! crate that holds one (Kafka options, the listeners' tokens) uses this one type.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a client's configuration, a hash).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` (a message from a library that may
    /// echo what it was given) with the placeholder.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, REDACTED)
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(
            format!("{:?}", Some(vec![s.clone()])),
            "Some([Secret([redacted])])"
        );
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrub_removes_every_occurrence() {
        let s = Secret::new("hunter2");
        assert_eq!(
            s.scrub("bad value \"hunter2\" for x (hunter2)"),
            "bad value \"[redacted]\" for x ([redacted])"
        );
        assert_eq!(Secret::new("").scrub("text"), "text");
    }
}

//! How a command fails, and the exit code that tells a script why.

use std::fmt;

/// A command failure and the exit code it warrants.
#[derive(Debug)]
pub enum Failure {
    /// Unusable arguments or configuration: exit 2.
    Usage(anyhow::Error),
    /// An input that cannot be read: exit 1.
    Input(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Input(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(e) | Failure::Input(e) => write!(f, "{e:#}"),
        }
    }
}

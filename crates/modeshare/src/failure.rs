//! How a command fails, and the exit code that tells a script why.

use std::fmt;

/// A command failure and the exit code it warrants.
#[derive(Debug)]
pub enum Failure {
    /// Unusable arguments or configuration: exit 2.
    Usage(anyhow::Error),
    /// An input that cannot be read, or events that could not be delivered: exit 1.
    Input(anyhow::Error),
    /// `produce`: events were rejected: exit 3.
    Rejected(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Input(_) => 1,
            Failure::Rejected(_) => 3,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(e) | Failure::Input(e) | Failure::Rejected(e) => write!(f, "{e:#}"),
        }
    }
}

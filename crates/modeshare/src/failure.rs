//! How a command fails, and the exit code that tells a script why.

use std::fmt;

/// A command failure and the exit code it warrants. The codes are a contract with scripts and
/// supervisors; they are listed, with what each means to an operator, in one table:
/// `docs/operations.md#exit-status`.
#[derive(Debug)]
pub enum Failure {
    /// Unusable arguments or configuration (an address that cannot be listened on included):
    /// exit 2.
    Usage(anyhow::Error),
    /// An input that cannot be read, IO that failed while serving, or events that could not be
    /// delivered: exit 1.
    Input(anyhow::Error),
    /// `produce`: events were rejected: exit 3.
    Rejected(anyhow::Error),
    /// Saved state that cannot be used or kept: a checkpoint refused (damaged, foreign, newer,
    /// of another configuration, or missing while the group has committed offsets) or one that
    /// cannot be read or written. Exit 2, as for configuration: a person decides (restore the
    /// checkpoint, rebuild, start afresh, free the disk) before a restart can help.
    State(anyhow::Error),
    /// A bug: the runtime could not be built, or a task panicked or was cancelled
    /// unexpectedly. Exit 70, `EX_SOFTWARE` of sysexits(3), so that supervisors and scripts
    /// tell it from anything the user's input or configuration caused.
    Internal(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::State(_) => 2,
            Failure::Input(_) => 1,
            Failure::Rejected(_) => 3,
            Failure::Internal(_) => 70,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(e)
            | Failure::Input(e)
            | Failure::Rejected(e)
            | Failure::State(e)
            | Failure::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(make: fn(anyhow::Error) -> Failure) -> Failure {
        make(anyhow::anyhow!("why"))
    }

    /// The table in docs/operations.md#exit-status, row by row.
    #[test]
    fn each_failure_exits_with_its_documented_code() {
        assert_eq!(failure(Failure::Input).exit_code(), 1);
        assert_eq!(failure(Failure::Usage).exit_code(), 2);
        assert_eq!(failure(Failure::State).exit_code(), 2);
        assert_eq!(failure(Failure::Rejected).exit_code(), 3);
        assert_eq!(failure(Failure::Internal).exit_code(), 70);
    }

    #[test]
    fn the_message_is_the_whole_chain() {
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(Failure::State(e).to_string(), "outer: inner");
    }
}

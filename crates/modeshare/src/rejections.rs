//! Rejections as a person reads them: a count per reason and the first few examples, each as
//! `input:line: message`.

use std::collections::BTreeMap;
use std::fmt::Write;

use modeshare_core::decode::{DecodeError, Reason};

/// How many examples of each reason are kept.
const EXAMPLES_PER_REASON: usize = 3;

#[derive(Debug, Default)]
pub struct RejectionLog {
    by_reason: BTreeMap<Reason, (u64, Vec<String>)>,
}

impl RejectionLog {
    pub fn record(&mut self, input: &str, line: u64, error: &DecodeError<'_>) {
        let (count, examples) = self.by_reason.entry(error.reason).or_default();
        *count += 1;
        if examples.len() < EXAMPLES_PER_REASON {
            examples.push(format!("{input}:{line}: {}", error.message));
        }
    }

    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|(n, _)| n).sum()
    }

    /// `rejected, by reason:` and a block per reason; empty when nothing was rejected.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.by_reason.is_empty() {
            return s;
        }
        let _ = writeln!(s, "rejected, by reason:");
        for (reason, (count, examples)) in &self.by_reason {
            let _ = writeln!(s, "  {:<18} {count:>10}", reason.as_str());
            for example in examples {
                let _ = writeln!(s, "      e.g. {example}");
            }
        }
        s
    }
}

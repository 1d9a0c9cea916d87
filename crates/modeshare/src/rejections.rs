//! Rejections as a person reads them: a count per reason and the first few examples, each as
//! `input:line: message`.

use std::collections::BTreeMap;
use std::fmt::Write;

use modeshare_core::decode::{DecodeError, Reason};

/// How many examples of each reason are kept.
const EXAMPLES_PER_REASON: usize = 3;

#[derive(Debug, Default)]
pub struct RejectionLog {
    by_reason: BTreeMap<Reason, (u64, Vec<Example>)>,
}

/// One example: where it is in the input (the unit of a replay read in parts, and the line
/// within it) and what was wrong.
#[derive(Debug)]
struct Example {
    unit: usize,
    input: String,
    line: u64,
    message: String,
}

impl RejectionLog {
    pub fn record(&mut self, input: &str, line: u64, error: &DecodeError<'_>) {
        self.record_in(0, input, line, error);
    }

    /// Records a rejection on `line` of `unit`, one of the units a replay read in parts cut
    /// its input into (see [`RejectionLog::renumber`]); a log must see its units in order.
    pub fn record_in(&mut self, unit: usize, input: &str, line: u64, error: &DecodeError<'_>) {
        let (count, examples) = self.by_reason.entry(error.reason).or_default();
        *count += 1;
        if examples.len() < EXAMPLES_PER_REASON {
            examples.push(Example {
                unit,
                input: input.to_owned(),
                line,
                message: error.message.to_string(),
            });
        }
    }

    /// Adds another log of the same input (another thread's units): the counts, and the first
    /// examples in input order.
    pub fn merge(&mut self, other: RejectionLog) {
        for (reason, (count, examples)) in other.by_reason {
            let (mine, kept) = self.by_reason.entry(reason).or_default();
            *mine += count;
            kept.extend(examples);
            kept.sort_by_key(|e| (e.unit, e.line));
            kept.truncate(EXAMPLES_PER_REASON);
        }
    }

    /// Turns line numbers counted from each unit's start into the input's: `first_line(unit)`
    /// is the number of lines of the input before the unit.
    pub fn renumber(&mut self, first_line: impl Fn(usize) -> u64) {
        for (_, examples) in self.by_reason.values_mut() {
            for e in examples {
                e.line += first_line(e.unit);
            }
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
            for e in examples {
                let _ = writeln!(s, "      e.g. {}:{}: {}", e.input, e.line, e.message);
            }
        }
        s
    }
}

//! Reading the layered table into a [`ConfigFile`] with every problem at once: serde stops at
//! the first unknown key or wrong type, so each problem found is recorded and mended — an
//! unknown key removed, a wrong value replaced by the embedded default's — and the table read
//! again, until it reads. What cannot be mended that way (an entry of `[[goals]]` without its
//! target, a wrong value without a default) is cut out whole, and the problems that only the cut
//! causes are not reported.

use serde_path_to_error::Segment;

use super::{ConfigFile, DEFAULT_CONFIG};

/// A step of a key path: a key of a table, or an index of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// What reading the table found.
pub(super) struct Read {
    /// Every problem, as `key.path: message`.
    pub problems: Vec<String>,
    /// The configuration, when it reads with at most unknown keys left out and single values
    /// replaced by their defaults: its own checks then find the remaining problems too.
    pub config: Option<ConfigFile>,
}

/// At most this many problems are mended before reading gives up.
const MAX_ROUNDS: usize = 256;

/// Reads `table`, recording and mending each problem serde finds.
pub(super) fn read_all(mut table: toml::Table) -> Read {
    let defaults: toml::Table = DEFAULT_CONFIG.parse().unwrap_or_default();
    let mut problems = Vec::new();
    // What was cut out whole: a "missing field" it causes is not the user's problem.
    let mut cut: Vec<Vec<Step>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let error = match serde_path_to_error::deserialize::<_, ConfigFile>(toml::Value::Table(
            table.clone(),
        )) {
            Ok(config) => {
                let config = cut.is_empty().then_some(config);
                return Read { problems, config };
            }
            Err(e) => e,
        };
        let shown = error.path().to_string();
        let steps = steps(error.path());
        let message = error.into_inner().message().to_owned();
        let Some(steps) = steps.filter(|s| !s.is_empty()) else {
            problems.push(format!("{shown}: {message}"));
            break;
        };
        let before = table.clone();
        if let Some(field) = missing_field(&message) {
            let mut wanted = steps.clone();
            wanted.push(Step::Key(field.to_owned()));
            if !cut.contains(&wanted) {
                problems.push(format!("{shown}: {message}"));
            }
            let whole = outermost_array(&steps).unwrap_or(steps);
            cut_out(&mut table, &defaults, &whole);
            cut.push(whole);
        } else {
            problems.push(format!("{shown}: {message}"));
            if message.starts_with("unknown field") {
                remove(&mut table, &steps);
            } else if let (None, Some(default)) = (outermost_array(&steps), get(&defaults, &steps))
            {
                let default = default.clone();
                set(&mut table, &steps, default);
            } else {
                let whole = outermost_array(&steps).unwrap_or(steps);
                cut_out(&mut table, &defaults, &whole);
                cut.push(whole);
            }
        }
        if table == before {
            break;
        }
    }
    Read {
        problems,
        config: None,
    }
}

/// serde's path as steps; `None` when it goes through something else (an enum's variant).
fn steps(path: &serde_path_to_error::Path) -> Option<Vec<Step>> {
    path.iter()
        .map(|segment| match segment {
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// The field of serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(field, _)| field)
}

/// The path of the first array on `steps` (`goals` of `goals[1].target`).
fn outermost_array(steps: &[Step]) -> Option<Vec<Step>> {
    let at = steps.iter().position(|s| matches!(s, Step::Index(_)))?;
    Some(steps[..at].to_vec())
}

/// Replaces the value at `steps` by the default's, or removes it where there is none.
fn cut_out(table: &mut toml::Table, defaults: &toml::Table, steps: &[Step]) {
    match get(defaults, steps) {
        Some(default) => {
            let default = default.clone();
            set(table, steps, default);
        }
        None => remove(table, steps),
    }
}

fn get<'a>(table: &'a toml::Table, steps: &[Step]) -> Option<&'a toml::Value> {
    let (first, rest) = steps.split_first()?;
    let Step::Key(key) = first else {
        return None;
    };
    let mut value = table.get(key)?;
    for step in rest {
        value = match step {
            Step::Key(key) => value.as_table()?.get(key)?,
            Step::Index(i) => value.as_array()?.get(*i)?,
        };
    }
    Some(value)
}

/// The container of the value at `steps`, and the last step.
fn parent<'a>(
    table: &'a mut toml::Table,
    steps: &'a [Step],
) -> Option<(&'a mut toml::Value, &'a Step)> {
    let (last, parents) = steps.split_last()?;
    let (first, rest) = parents.split_first()?;
    let Step::Key(key) = first else {
        return None;
    };
    let mut value = table.get_mut(key)?;
    for step in rest {
        value = match step {
            Step::Key(key) => value.as_table_mut()?.get_mut(key)?,
            Step::Index(i) => value.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some((value, last))
}

fn remove(table: &mut toml::Table, steps: &[Step]) {
    if let [Step::Key(key)] = steps {
        table.remove(key);
        return;
    }
    match parent(table, steps) {
        Some((toml::Value::Table(t), Step::Key(key))) => {
            t.remove(key);
        }
        Some((toml::Value::Array(a), Step::Index(i))) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn set(table: &mut toml::Table, steps: &[Step], value: toml::Value) {
    if let [Step::Key(key)] = steps {
        table.insert(key.clone(), value);
        return;
    }
    match parent(table, steps) {
        Some((toml::Value::Table(t), Step::Key(key))) => {
            t.insert(key.clone(), value);
        }
        Some((toml::Value::Array(a), Step::Index(i))) if *i < a.len() => {
            a[*i] = value;
        }
        _ => {}
    }
}

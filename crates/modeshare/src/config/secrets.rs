//! Secrets from files: one syntax for every key that holds a secret. Beside such a key `K`,
//! `K_file` names a file whose content is `K`'s value — in a `--config` file, or from the
//! environment as `MODESHARE__SECTION__K_FILE` (like every key). The file is read when the
//! configuration is loaded, and `K_file` replaces whatever `K` was (the embedded default's
//! empty list included). A trailing newline is not part of the value; a list is one item per
//! line (blank lines and `#` comments left out).
//!
//! The keys that take it: `admin.token_sha256` and each `ingest.operators[].token_sha256`
//! (lists), every `kafka.options.*`, and each `providers[].token` and
//! `providers[].client_secret`, and the object store's secret `state.options` (texts:
//! `aws_secret_access_key`, `aws_session_token`, `google_service_account_key`,
//! `azure_storage_account_key`, `azure_client_secret`, `azure_storage_sas_key`; the store's own
//! `*_file` options, such as `aws_web_identity_token_file`, stay file names).
//!
//! Errors name the key and the file, never what the file holds.

use std::path::Path;

/// What a secret file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The whole file is one value.
    Text,
    /// One value per line.
    Lines,
}

/// The keys that may be read from a file: a table's path (an array of tables: each of them),
/// and the key in it (`*`: every key of the table).
const SECRET_KEYS: &[(&[&str], &str, Shape)] = &[
    (&["admin"], "token_sha256", Shape::Lines),
    (&["ingest", "operators"], "token_sha256", Shape::Lines),
    (&["kafka", "options"], "*", Shape::Text),
    (&["providers"], "token", Shape::Text),
    (&["providers"], "client_secret", Shape::Text),
    (&["state", "options"], "aws_secret_access_key", Shape::Text),
    (&["state", "options"], "aws_session_token", Shape::Text),
    (
        &["state", "options"],
        "google_service_account_key",
        Shape::Text,
    ),
    (
        &["state", "options"],
        "azure_storage_account_key",
        Shape::Text,
    ),
    (&["state", "options"], "azure_client_secret", Shape::Text),
    (&["state", "options"], "azure_storage_sas_key", Shape::Text),
];

/// The tables that hold a secret (a `K_file` key of theirs names a file), each once.
pub(super) fn secret_tables() -> Vec<&'static [&'static str]> {
    let mut tables: Vec<&'static [&'static str]> =
        SECRET_KEYS.iter().map(|(path, _, _)| *path).collect();
    tables.dedup();
    tables
}

/// The suffix that names a file.
pub const FILE_SUFFIX: &str = "_file";

/// Replaces every `K_file` of [`SECRET_KEYS`] in `merged` by `K` read from the file; every
/// problem found, with its key.
pub fn read_secret_files(merged: &mut toml::Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, key, shape) in SECRET_KEYS {
        for (name, table) in tables_at(merged, path) {
            read_files_of(&name, table, key, *shape, &mut problems);
        }
    }
    problems
}

/// Replaces every `K_file` of `table` (named `name`) that names `key` by `K` read from its
/// file.
fn read_files_of(
    name: &str,
    table: &mut toml::Table,
    key: &str,
    shape: Shape,
    problems: &mut Vec<String>,
) {
    let named: Vec<String> = table
        .keys()
        .filter(|k| match k.strip_suffix(FILE_SUFFIX) {
            Some(base) => key == "*" || base == key,
            None => false,
        })
        .cloned()
        .collect();
    for file_key in named {
        let Some(value) = table.remove(&file_key) else {
            continue;
        };
        let full = format!("{name}.{file_key}");
        let base = file_key[..file_key.len() - FILE_SUFFIX.len()].to_owned();
        let Some(file) = value.as_str() else {
            problems.push(format!("{full}: must be a file name"));
            continue;
        };
        match read(Path::new(file), shape) {
            Ok(secret) => {
                table.insert(base, secret);
            }
            Err(e) => problems.push(format!("{full}: cannot read {file}: {e}")),
        }
    }
}

/// The tables at `path`, each with its name as messages give it: one table, or each table of
/// an array of tables (`ingest.operators[1]`).
pub(super) fn tables_at<'a>(
    merged: &'a mut toml::Table,
    path: &[&str],
) -> Vec<(String, &'a mut toml::Table)> {
    let Some((last, parents)) = path.split_last() else {
        return Vec::new();
    };
    let mut table = merged;
    for part in parents {
        match table.get_mut(*part).and_then(toml::Value::as_table_mut) {
            Some(t) => table = t,
            None => return Vec::new(),
        }
    }
    let name = path.join(".");
    match table.get_mut(*last) {
        Some(toml::Value::Table(t)) => vec![(name, t)],
        Some(toml::Value::Array(items)) => items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, item)| Some((format!("{name}[{i}]"), item.as_table_mut()?)))
            .collect(),
        _ => Vec::new(),
    }
}

fn read(path: &Path, shape: Shape) -> std::io::Result<toml::Value> {
    let text = std::fs::read_to_string(path)?;
    Ok(match shape {
        Shape::Text => toml::Value::String(text.trim_end_matches(['\n', '\r']).to_owned()),
        Shape::Lines => toml::Value::Array(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| toml::Value::String(l.to_owned()))
                .collect(),
        ),
    })
}

//! Cross-crate and differential tests live in `tests/`; this library gives them the
//! repository's fixture folder, and gives them and the service's tests GitHub's heading anchors
//! ([`anchors`]).

pub mod anchors;

use std::path::PathBuf;

/// `tests/fixtures/<name>` in the repository.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Data rows of a CSV fixture (comment lines starting with `#` and the header skipped).
pub fn csv_rows(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

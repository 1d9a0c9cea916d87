//! The git revision modeshare is built from, for `modeshare --version` and the
//! `modeshare_build_info` metric: `MODESHARE_REVISION` when the build sets it (the container
//! build, whose context has no `.git`), else `git rev-parse --short HEAD`, else `unknown`.
//! Compiled in as `MODESHARE_BUILD_REVISION`.
#![allow(clippy::print_stdout)] // what a build script says to cargo

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MODESHARE_REVISION");
    let from_env = std::env::var("MODESHARE_REVISION")
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let revision = match from_env {
        Some(revision) => revision,
        None => {
            watch_git_head();
            git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    // Only what a label and a version line can carry.
    let revision: String = revision
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        .take(64)
        .collect();
    println!("cargo:rustc-env=MODESHARE_BUILD_REVISION={revision}");
}

/// `git ARGS` in this crate's folder: its trimmed output, when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Runs this script again when HEAD moves: a commit, a checkout, a fetch that packs refs. Only
/// files that exist are named (a missing one would run the script at every build).
fn watch_git_head() {
    let absolute = |args: &[&str]| git(args).map(PathBuf::from);
    let (Some(git_dir), Some(common)) = (
        absolute(&["rev-parse", "--absolute-git-dir"]),
        absolute(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) else {
        return;
    };
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    for file in watched.iter().filter(|f| Path::new(f).exists()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

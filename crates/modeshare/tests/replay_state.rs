//! `replay --state DIR`: a replay killed with SIGKILL part-way resumes from its last
//! checkpoint and ends with exactly the report of an uninterrupted replay; unusable checkpoints
//! are refused with the reason and what to do.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modeshare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `modeshare generate`'s events, with every 50th line broken and every 40th sent twice.
fn events(path: &Path, n: u64, seed: u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args([
            "generate",
            "--events",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--start", "2024-05-02T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut text = String::new();
    for (i, line) in String::from_utf8(out.stdout).unwrap().lines().enumerate() {
        if i % 50 == 7 {
            text.push_str(&line[..line.len() / 2]);
        } else {
            text.push_str(line);
        }
        text.push('\n');
        if i % 40 == 3 {
            text.push_str(line);
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
}

fn replay(args: &[&Path], extra_env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modeshare"));
    cmd.arg("replay").args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

fn report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A child process killed and reaped when dropped, whatever path the test takes.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn checkpoint_files(state: &Path) -> Vec<PathBuf> {
    let replay = state.join("replay");
    std::fs::read_dir(&replay)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "ckpt"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_replay_resumes_and_reports_exactly_what_an_uninterrupted_one_does() {
    let dir = temp_dir("replay-state");
    let (big, small) = (dir.join("big.ndjson"), dir.join("small.ndjson"));
    events(&big, 300_000, 11);
    events(&small, 2_000, 12);
    let state = dir.join("state");
    let files: [&Path; 4] = [Path::new("--state"), &state, &small, &big];
    let fast = [("MODESHARE__STATE__INTERVAL", "50ms")];

    let expected = report(&replay(&[&small, &big], &[]).output().unwrap());

    // Kill the replay once it has checkpointed part-way into the big file.
    let mut child = Reaped(
        replay(&files, &fast)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_at = None;
    let mut versions = std::collections::BTreeSet::new();
    while Instant::now() < deadline {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the replay finished ({status}) before a part-way checkpoint; use more events");
        }
        // Checkpoints after the small file and then every 50 ms inside the big one: the
        // third distinct one is part-way into the big file.
        if let Some(bytes) = checkpoint_files(&state)
            .first()
            .and_then(|f| std::fs::read(f).ok())
        {
            versions.insert(bytes);
        }
        if versions.len() >= 3 {
            std::thread::sleep(Duration::from_millis(150));
            child.0.kill().unwrap();
            killed_at = Some(child.0.wait().unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(killed_at.is_some(), "no part-way checkpoint within 120 s");
    assert_eq!(
        checkpoint_files(&state).len(),
        1,
        "the checkpoint survives the kill"
    );

    let resumed = replay(&files, &fast).output().unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr).into_owned();
    assert!(stderr.contains("resuming from"), "{stderr}");
    let line: u64 = stderr
        .split("input 2 at line ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("resumed in the big file: {stderr}"));
    assert!(line > 0, "resumed part-way into the big file: {stderr}");
    let got = report(&resumed);
    assert_eq!(got, expected);
    assert!(got["events"]["duplicates"].as_u64().unwrap() > 1000);
    assert!(got["events"]["rejected"].as_u64().unwrap() > 1000);
    assert!(
        checkpoint_files(&state).is_empty(),
        "a finished replay removes its checkpoint"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unusable_replay_checkpoints_are_refused_with_what_to_do() {
    let dir = temp_dir("replay-state-bad");
    let events_file = dir.join("e.ndjson");
    events(&events_file, 5_000, 3);
    let state = dir.join("state");
    let files: [&Path; 3] = [Path::new("--state"), &state, &events_file];
    let out = replay(&files, &[]).output().unwrap();
    let full = report(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let key = stderr
        .lines()
        .find_map(|l| l.strip_prefix("checkpointing to "))
        .and_then(|rest| rest.split(" every ").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("the checkpoint file is named: {stderr}"));
    assert!(key.starts_with(&state), "{}", key.display());
    assert!(!key.exists(), "a finished replay removes its checkpoint");

    for (planted, what) in [
        (&b"MODESHARE-CKPT\0\0garbage"[..], "damaged"),
        (&b"{\"kind\":\"trip\"}"[..], "not a modeshare checkpoint"),
    ] {
        std::fs::write(&key, planted).unwrap();
        let out = replay(&files, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot resume from"), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert!(
            stderr.contains("remove it to replay from the start"),
            "{stderr}"
        );
        assert!(key.exists(), "a refused checkpoint is left alone");
    }
    // Removed as told: the replay starts over and completes.
    std::fs::remove_file(&key).unwrap();
    assert_eq!(report(&replay(&files, &[]).output().unwrap()), full);
    std::fs::remove_dir_all(&dir).unwrap();
}

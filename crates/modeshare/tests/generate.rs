//! `modeshare generate`: exactly N lines, the same for the same seed and start, different for
//! another seed, and valid canonical events apart from the simulated trickle of bad ones.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::process::Command;

fn generate(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("generate")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn generates_exactly_n_reproducible_events() {
    let start = ["--start", "2024-05-02T06:00:00+02:00"];
    let a = generate(&[&["--events", "3000", "--seed", "7"][..], &start].concat());
    assert_eq!(a.iter().filter(|b| **b == b'\n').count(), 3000);
    assert_eq!(
        a,
        generate(&[&["--events", "3000", "--seed", "7"][..], &start].concat())
    );
    assert_ne!(
        a,
        generate(&[&["--events", "3000", "--seed", "8"][..], &start].concat())
    );

    let dir = std::env::temp_dir().join(format!("modeshare-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.ndjson");
    std::fs::write(&file, &a).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("replay")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &report["events"];
    assert_eq!(e["read"], 3000);
    let accepted = e["accepted"].as_f64().unwrap();
    assert!(accepted / 3000.0 > 0.98, "{e}");
    assert!(
        e["rejected"].as_u64().unwrap() > 0 || e["duplicates"].as_u64().unwrap() > 0,
        "{e}"
    );
    assert!(
        report["zones"]["Bærum"]["total_person_trips"]
            .as_f64()
            .unwrap()
            > 1000.0
    );
}

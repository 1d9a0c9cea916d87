//! What a test that needs a tool from outside the repository (the local Kafka broker,
//! Prometheus, Chromium) does when the tool is missing: a plain `cargo test` skips it with a
//! message naming `scripts/test`, and `MODESHARE_EXTERNAL_TESTS=1` (which `scripts/test` sets)
//! fails it with the command that installs or starts the tool, so CI never passes by skipping.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::process::{Command, Output};

use common::{EXTERNAL_TESTS, Tool, Verdict, free_port, requires, verdict};

#[test]
fn a_missing_tool_skips_unless_every_test_is_asked_for() {
    let missing = || Some("promtool not on PATH".to_owned());
    for unset in [None, Some(""), Some("0")] {
        let Verdict::Skip(message) = verdict(Tool::Prometheus, missing(), unset) else {
            panic!("{unset:?}: not skipped");
        };
        assert_eq!(
            message,
            "skipped: needs Prometheus (promtool not on PATH); run scripts/test"
        );
    }
    let Verdict::Fail(message) = verdict(Tool::Prometheus, missing(), Some("1")) else {
        panic!("a missing tool passed under {EXTERNAL_TESTS}=1");
    };
    assert!(
        message.contains("needs Prometheus (promtool not on PATH)")
            && message.contains("`scripts/tools.sh install prometheus`")
            && message.contains("scripts/test"),
        "{message}"
    );
    for switch in [None, Some("0"), Some("1")] {
        assert_eq!(verdict(Tool::Chromium, None, switch), Verdict::Run);
    }
}

#[test]
fn a_misspelt_switch_fails_instead_of_skipping() {
    for switch in ["true", "yes", " 1"] {
        for missing in [None, Some("nothing listens on 127.0.0.1:1".to_owned())] {
            let Verdict::Fail(message) = verdict(Tool::Broker, missing, Some(switch)) else {
                panic!("{EXTERNAL_TESTS}={switch:?} accepted");
            };
            assert!(message.contains(EXTERNAL_TESTS), "{message}");
        }
    }
}

/// Stands for a test that needs Chromium; run only by `requires_skips_or_fails_the_test`, in a
/// process whose `PATH` has no Chromium.
#[test]
#[ignore = "run in a child process by requires_skips_or_fails_the_test"]
fn needs_chromium() {
    requires!(Tool::Chromium);
    panic!("ran without Chromium");
}

/// Stands for a test that needs the broker; run only by `requires_skips_or_fails_the_test`,
/// with a broker port nothing listens on.
#[test]
#[ignore = "run in a child process by requires_skips_or_fails_the_test"]
fn needs_the_broker() {
    requires!(Tool::Broker);
    panic!("ran without the broker");
}

/// This test binary running one of the stand-ins above with `PATH` empty, the broker port free
/// and `switch` as `MODESHARE_EXTERNAL_TESTS`; its output, stdout and stderr together.
fn run_stand_in(test: &str, port: u16, switch: Option<&str>) -> (Output, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PATH", "")
        .env("MODESHARE_TEST_BROKER_PORT", port.to_string())
        .env_remove(EXTERNAL_TESTS);
    if let Some(value) = switch {
        command.env(EXTERNAL_TESTS, value);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn requires_skips_or_fails_the_test() {
    let port = free_port();
    let cases = [
        (
            "needs_chromium",
            "Chromium (chromium and chromedriver not on PATH)",
            "`scripts/tools.sh install chromium`".to_owned(),
        ),
        (
            "needs_the_broker",
            &*format!("the local Kafka broker (nothing listens on 127.0.0.1:{port})"),
            format!("`scripts/broker.sh start {port}`"),
        ),
    ];
    for (test, needs, remedy) in cases {
        let (out, text) = run_stand_in(test, port, None);
        assert!(out.status.success(), "{test} not skipped:\n{text}");
        assert!(
            text.contains(&format!("skipped: needs {needs}; run scripts/test")),
            "{test}:\n{text}"
        );
        assert!(text.contains("1 passed"), "{test} not counted:\n{text}");

        let (out, text) = run_stand_in(test, port, Some("1"));
        assert!(
            !out.status.success(),
            "{test} passed without its tool:\n{text}"
        );
        assert!(
            text.contains(&format!("needs {needs}, and {EXTERNAL_TESTS}=1"))
                && text.contains(&remedy),
            "{test}:\n{text}"
        );
        assert!(!text.contains("ran without"), "{test} ran:\n{text}");
    }
}

//! The canonical event's JSON Schema (schema/) and the decoder agree on the shipped examples:
//! every valid example validates and is accepted; every invalid one fails the schema and is
//! rejected with the reason its file name starts with.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use modeshare_core::decode::CanonicalDecoder;
use modeshare_tests::repo_root;
use serde_json::Value;

fn examples(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("schema/examples").join(kind);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 5,
        "{} examples in {}",
        out.len(),
        dir.display()
    );
    out
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("schema/canonical-event.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(
        jsonschema::meta::is_valid(&schema),
        "the schema itself is not valid JSON Schema"
    );
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn valid_examples_validate_and_decode() {
    let validator = validator();
    for (name, bytes) in examples("valid") {
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let line = bytes.trim_ascii_end();
        if let Err(e) =
            CanonicalDecoder::new(modeshare_core::testing::default_factors()).decode(line, None)
        {
            panic!("{name}: rejected: {e}");
        }
    }
}

#[test]
fn invalid_examples_fail_both_with_the_named_reason() {
    let validator = validator();
    for (name, bytes) in examples("invalid") {
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(!validator.is_valid(&value), "{name} passes the schema");
        let reason = name.split('.').next().unwrap();
        match CanonicalDecoder::new(modeshare_core::testing::default_factors())
            .decode(bytes.trim_ascii_end(), None)
        {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert_eq!(e.reason(), reason, "{name}: {e}"),
        }
    }
}

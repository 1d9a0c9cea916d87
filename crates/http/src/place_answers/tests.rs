use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn places() -> Arc<Places> {
    Arc::new(Places {
        watermark: None,
        resolution: h3o::Resolution::Nine,
        windows: Vec::new(),
        days: BTreeMap::new(),
    })
}

#[test]
fn the_same_question_about_the_same_places_is_built_once() {
    let answers = PlaceAnswers::default();
    let (first, second) = (places(), places());
    let mut built = 0;
    let mut ask = |places: &Arc<Places>, question: &str, value: u64| {
        answers
            .answer(places, question.to_owned(), || {
                built += 1;
                Ok(json!({ "value": value }))
            })
            .unwrap()
    };
    assert_eq!(&ask(&first, "cells 9", 1)[..], br#"{"value":1}"#);
    // Kept: the builder is not called again, and what it would say now does not matter.
    assert_eq!(&ask(&first, "cells 9", 2)[..], br#"{"value":1}"#);
    assert_eq!(&ask(&first, "cells 0", 3)[..], br#"{"value":3}"#);
    // New places: everything is built again.
    assert_eq!(&ask(&second, "cells 9", 4)[..], br#"{"value":4}"#);
    assert_eq!(built, 3);
    assert_eq!(answers.hits(), 1);
}

#[test]
fn refusals_are_not_kept_and_a_full_set_starts_again() {
    let answers = PlaceAnswers::default();
    let places = places();
    for _ in 0..2 {
        let refused = answers.answer(&places, "cells nowhere".into(), || {
            Err(BadRequest(json!({ "error": "no zone" })))
        });
        assert!(refused.is_err());
    }
    for i in 0..MAX_ANSWERS + 10 {
        answers
            .answer(&places, format!("stops {i}"), || Ok(json!(i)))
            .unwrap();
    }
    // Full, the answers start again: the newest questions are kept.
    let kept = answers.kept.lock().unwrap().answers.len();
    assert_eq!(kept, 10);
    let last = format!("stops {}", MAX_ANSWERS + 9);
    answers
        .answer(&places, last, || Ok(json!("built again")))
        .unwrap();
    assert_eq!(answers.hits(), 1);
}

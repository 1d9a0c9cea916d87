use super::*;

fn groups(toml_like: &[(&str, &[&str])]) -> GroupsConfig {
    GroupsConfig(
        toml_like
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    )
}

#[test]
fn names_round_trip() {
    for m in Mode::ALL {
        assert_eq!(Mode::from_name(m.as_str()), Some(m));
    }
    assert_eq!(Mode::from_name("scooter"), None);
    assert_eq!(Mode::from_name("Walk"), None);
}

#[test]
fn nested_groups_resolve() {
    let cfg = groups(&[
        ("public_transport", &["bus", "rail"]),
        ("sustainable", &["walk", "public_transport"]),
    ]);
    let mut errors = ConfigErrors::default();
    let g = cfg.validate(&mut errors);
    assert!(errors.is_empty(), "{errors}");
    let s = g.get("sustainable").map(|g| g.modes);
    assert_eq!(
        s,
        Some([Mode::Walk, Mode::Bus, Mode::Rail].into_iter().collect())
    );
}

#[test]
fn cycles_unknown_members_and_bad_names_are_reported_together() {
    let cfg = groups(&[
        ("a", &["b"]),
        ("b", &["a"]),
        ("c", &["hovercraft"]),
        ("walk", &["walk"]),
        ("Bad Name", &["bus"]),
    ]);
    let mut errors = ConfigErrors::default();
    cfg.validate(&mut errors);
    let text = errors.to_string();
    assert!(
        text.contains("groups.a: groups refer to each other in a cycle: a → b → a"),
        "{text}"
    );
    assert!(
        text.contains("groups.c: \"hovercraft\" is neither"),
        "{text}"
    );
    assert!(
        text.contains("groups.walk: a group may not be named like a mode"),
        "{text}"
    );
    assert!(
        text.contains("groups.Bad Name: group names are metric labels"),
        "{text}"
    );
}

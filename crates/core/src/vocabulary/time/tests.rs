use super::*;

#[test]
fn rfc3339_with_offsets_and_fractions() {
    assert_eq!(
        parse_rfc3339("2024-05-02T07:31:12Z"),
        Ok(EventTimeMs(1_714_635_072_000))
    );
    assert_eq!(
        parse_rfc3339("2024-05-02T09:31:12+02:00"),
        Ok(EventTimeMs(1_714_635_072_000))
    );
    assert_eq!(
        parse_rfc3339("2024-05-02T07:31:12.5Z"),
        Ok(EventTimeMs(1_714_635_072_500))
    );
}

#[test]
fn rfc3339_without_offset_says_so() {
    let Err(TimeProblem::Malformed(m)) = parse_rfc3339("2024-05-02T07:31:12") else {
        panic!("accepted a local time")
    };
    assert!(m.contains("no UTC offset"), "{m}");
    assert!(matches!(
        parse_rfc3339("yesterday"),
        Err(TimeProblem::Malformed(_))
    ));
    assert!(matches!(parse_rfc3339(""), Err(TimeProblem::Malformed(_))));
}

#[test]
fn epoch_ms_integers_and_floats() {
    assert_eq!(
        from_epoch_ms(1_714_635_600_000.0),
        Ok(EventTimeMs(1_714_635_600_000))
    );
    assert_eq!(
        from_epoch_ms(1_563_178_970_253.552_2),
        Ok(EventTimeMs(1_563_178_970_253))
    );
}

#[test]
fn epoch_in_the_wrong_unit_is_named() {
    for (value, unit) in [
        (1_714_635_600.0, "seconds"),
        (1_714_635_600_000_000.0, "microseconds"),
        (1.7146356e18, "nanoseconds"),
    ] {
        let Err(TimeProblem::Malformed(m)) = from_epoch_ms(value) else {
            panic!("{value} accepted")
        };
        assert!(m.contains(unit), "{value}: {m}");
    }
}

#[test]
fn epoch_outside_the_calendar_is_out_of_range() {
    assert!(matches!(
        from_epoch_ms(-1e30),
        Err(TimeProblem::OutOfRange(_))
    ));
    assert!(matches!(
        from_epoch_ms(9e20),
        Err(TimeProblem::OutOfRange(_))
    ));
    // Small positive values are neither seconds nor milliseconds of this century: out of range
    // later, at the 2000-01-01 check, not malformed.
    assert_eq!(from_epoch_ms(5.0), Ok(EventTimeMs(5)));
}

#[test]
fn durations() {
    assert_eq!(DurationMs::parse("15m"), Ok(DurationMs(900_000)));
    assert_eq!(DurationMs::parse("35d"), Ok(DurationMs::from_days(35)));
    assert!(DurationMs::parse("soon").is_err());
}

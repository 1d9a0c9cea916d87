use super::*;

/// The default configuration's survey: walk .21, bicycle .035, bus .07, rail .06, metro .04,
/// car driver .46, car passenger .12, other .005.
fn survey() -> Survey {
    let shares = [
        ("walk", 0.21),
        ("bicycle", 0.035),
        ("bus", 0.07),
        ("rail", 0.06),
        ("metro", 0.04),
        ("car_driver", 0.46),
        ("car_passenger", 0.12),
        ("other", 0.005),
    ];
    let config = SurveyConfig {
        name: "RVU 2016".into(),
        year: Some(2016),
        shares: shares.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect(),
    };
    let mut errors = ConfigErrors::default();
    let survey = config.validate(&mut errors);
    assert!(errors.is_empty(), "{errors}");
    survey
}

fn measured(entries: &[(Mode, f64)]) -> ModeTotals {
    let mut t = ModeTotals::default();
    for (mode, trips) in entries {
        t.add(*mode, PersonTrips::from_f64(*trips).unwrap());
    }
    t
}

fn trips(t: &ModeTotals, mode: Mode) -> f64 {
    t.get(mode).person_trips.as_f64()
}

#[test]
fn a_zone_without_walking_data_gets_walking_filled_in_the_surveys_proportion() {
    // Counters saw 40 bicycles and 600 cars; nobody counted walking.
    let counted = measured(&[(Mode::Bicycle, 40.0), (Mode::CarDriver, 600.0)]);
    let coverage = survey().fill(&counted);
    let s_measured = 0.035 + 0.46;
    assert!((coverage.survey_share_measured - s_measured).abs() < 1e-12);
    let filled = coverage.filled_totals(&counted).unwrap();
    let scale = 640.0 / s_measured;
    for (mode, share) in [
        (Mode::Walk, 0.21),
        (Mode::Bus, 0.07),
        (Mode::Rail, 0.06),
        (Mode::Metro, 0.04),
        (Mode::CarPassenger, 0.12),
        (Mode::Other, 0.005),
    ] {
        assert!(
            (trips(&filled, mode) - scale * share).abs() < 1e-5,
            "{mode}"
        );
        assert_eq!(filled.get(mode).events, 0, "filled, not observed");
    }
    // Measured modes stay as measured.
    assert_eq!(trips(&filled, Mode::Bicycle), 40.0);
    assert_eq!(trips(&filled, Mode::CarDriver), 600.0);
    assert_eq!(coverage.filled.len(), 6);
    // The measured basis says walking is 0 % and cycling 6.25 %; the filled basis puts walking
    // at its survey share and cycling at 40 of the 640 / .495 person trips (3.1 %).
    let total = filled.total().as_f64();
    assert!((total - scale).abs() < 1e-4, "the survey's total, scaled");
    assert!((trips(&filled, Mode::Walk) / total - 0.21).abs() < 1e-6);
    assert!((trips(&filled, Mode::Bicycle) / total - 40.0 * s_measured / 640.0).abs() < 1e-9);
    assert_eq!(
        trips(&counted, Mode::Bicycle) / counted.total().as_f64(),
        0.0625
    );
    assert!(
        (coverage.filled_person_trips().as_f64() / total - (1.0 - s_measured)).abs() < 1e-6,
        "the filled fraction is the unmeasured modes' survey share"
    );
}

#[test]
fn modes_the_survey_does_not_know_are_kept_but_do_not_scale() {
    let with_scooters = measured(&[(Mode::Walk, 210.0), (Mode::EScooter, 1_000.0)]);
    let coverage = survey().fill(&with_scooters);
    let filled = coverage.filled_totals(&with_scooters).unwrap();
    // Scaled from walking alone: the car drivers are 210 / .21 × .46.
    assert!((trips(&filled, Mode::CarDriver) - 460.0).abs() < 1e-5);
    assert_eq!(trips(&filled, Mode::EScooter), 1_000.0);
    assert!((coverage.survey_share_measured - 0.21).abs() < 1e-12);
}

#[test]
fn nothing_is_filled_without_a_measured_mode_the_survey_knows_or_with_every_one_measured() {
    let scooters_only = measured(&[(Mode::EScooter, 50.0)]);
    let coverage = survey().fill(&scooters_only);
    assert!(!coverage.fillable);
    assert_eq!(coverage.filled_totals(&scooters_only), None);
    assert_eq!(coverage.survey_share_measured, 0.0);
    // A counter that read 0 measured its mode: there is nothing to scale from, nothing filled,
    // and walking is measured, not filled.
    let zero = measured(&[(Mode::Walk, 0.0)]);
    let coverage = survey().fill(&zero);
    assert!(coverage.measured.contains(Mode::Walk));
    assert!(!coverage.fillable && coverage.filled.is_empty());
    // The later piece of a count whose interval began before the window: person trips without
    // its event are measured too, never filled again.
    let mut spread = measured(&[(Mode::CarDriver, 100.0)]);
    spread.add_person_trips(Mode::Walk, PersonTrips::from_f64(20.0).unwrap());
    let coverage = survey().fill(&spread);
    assert!(coverage.measured.contains(Mode::Walk));
    assert!(coverage.filled.iter().all(|(m, _)| *m != Mode::Walk));
    // Everything the survey knows measured: nothing to fill, the bases agree.
    let all: Vec<(Mode, f64)> = survey().shares().map(|(m, s)| (m, s * 1000.0)).collect();
    let everything = measured(&all);
    let coverage = survey().fill(&everything);
    assert!(coverage.filled.is_empty());
    assert_eq!(coverage.filled_totals(&everything), Some(everything));
}

#[test]
fn bad_survey_settings_are_reported_with_their_key() {
    let validate = |name: &str, shares: &[(&str, f64)]| {
        let config = SurveyConfig {
            name: name.into(),
            year: None,
            shares: shares.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect(),
        };
        let mut errors = ConfigErrors::default();
        config.validate(&mut errors);
        errors.to_string()
    };
    let e = validate("RVU", &[("public_transport", 0.17)]);
    assert!(
        e.contains("survey.shares.public_transport") && e.contains("split"),
        "{e}"
    );
    let e = validate("RVU", &[("walk", 1.2)]);
    assert!(e.contains("survey.shares.walk") && e.contains("0–1"), "{e}");
    let e = validate("RVU", &[("walk", 0.6), ("car_driver", 0.6)]);
    assert!(e.contains("add up to 1.200"), "{e}");
    let e = validate(" ", &[("walk", 0.2)]);
    assert!(e.contains("survey.name"), "{e}");
    let e = validate("RVU", &[("walk", 0.0)]);
    assert!(e.contains("at least one mode"), "{e}");
    assert_eq!(validate("RVU", &[("walk", 0.5), ("car_driver", 0.503)]), "");
}

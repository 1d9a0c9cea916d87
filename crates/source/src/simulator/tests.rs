use modeshare_core::pipeline::Pipeline;
use modeshare_core::space::Zones;

use super::*;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_714_608_000_000; // 2024-05-02T00:00:00Z

fn sim() -> Simulator {
    let mut errors = ConfigErrors::default();
    let s = modeshare_core::testing::default_config::<SimulatorConfig>("simulator")
        .validate(&mut errors);
    assert!(errors.is_empty(), "{errors}");
    Simulator::new(s)
}

#[test]
fn the_same_minutes_give_the_same_events_however_they_are_cut() {
    let (mut whole, mut parts) = (Vec::new(), Vec::new());
    let n = sim().emit(EventTimeMs(T0), EventTimeMs(T0 + 3 * 3_600_000), &mut whole);
    let cut = T0 + 3_600_000 + 17 * 60_000 + 12_345;
    let a = sim().emit(EventTimeMs(T0), EventTimeMs(cut), &mut parts);
    let b = sim().emit(
        EventTimeMs(cut),
        EventTimeMs(T0 + 3 * 3_600_000),
        &mut parts,
    );
    assert_eq!((a + b, parts.len()), (n, whole.len()));
    assert_eq!(parts, whole);
    assert_eq!(n, whole.iter().filter(|b| **b == b'\n').count());
}

/// A simulated day through the core, in the default Bærum zones: the mode mix is near the 2016
/// survey, and the trickle of bad and re-sent events is there.
#[test]
fn a_day_has_the_survey_mode_mix_and_a_trickle_of_bad_events() {
    let mut out = Vec::new();
    let lines = sim().emit(EventTimeMs(T0), EventTimeMs(T0 + DAY), &mut out);
    assert!((10_000..30_000).contains(&lines), "{lines} lines a day");
    let zones = Zones::from_geojson(modeshare_core::testing::DEFAULT_ZONES).unwrap();
    let settings = modeshare_core::testing::default_settings(&zones);
    let mut p = Pipeline::for_replay(settings, zones);
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        p.observe_line(line, "sim", None);
    }
    let report = p.report();
    let shares = &report.zones["Bærum"].shares;
    for (group, want, tolerance) in [
        ("car", 0.58, 0.05),
        ("public_transport", 0.17, 0.03),
        ("cycling", 0.04, 0.015),
        ("walking", 0.19, 0.04),
    ] {
        let got = shares[group];
        assert!(
            (got - want).abs() <= tolerance,
            "{group}: {got:.3}, want {want} ± {tolerance}"
        );
    }
    assert!(report.events.duplicates > 0);
    assert!(report.rejections.len() >= 5, "{:?}", report.rejections);
    let bad = report.events.rejected as f64 / report.events.read as f64;
    assert!(bad < 0.01, "{bad}");
    assert!(
        report.zones["Fornebu"].total_person_trips > 0.0
            && report.zones["Sandvika"].total_person_trips > 0.0
    );
}

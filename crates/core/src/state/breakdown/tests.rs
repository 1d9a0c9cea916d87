use super::*;
use crate::space::{AccessFacts, StopId};

fn classes(band: Band, access: Option<Access>) -> TripClasses {
    TripClasses {
        band,
        access: access.map(|access| AccessFacts {
            access,
            origin_stop: Some(StopId(0)),
            destination_stop: None,
        }),
    }
}

#[test]
fn every_class_code_reads_back() {
    let bands = (0..16).map(|b| Class::Band(Band(b)));
    let all = bands
        .chain([Class::Band(Band::UNKNOWN)])
        .chain(Access::ALL.map(Class::Access));
    for class in all {
        assert_eq!(Class::from_code(class.code()), Some(class), "{class:?}");
    }
}

#[test]
fn tallies_land_in_their_zone_band_and_access_class() {
    let bands = crate::testing::default_bands();
    let mut b = Breakdown::default();
    let both = [ZoneId(0), ZoneId(2)];
    b.observe(
        &both,
        classes(Band(1), Some(Access::ToStop)),
        Mode::EScooter,
        PersonTrips::ONE,
        true,
    );
    b.observe(
        &[ZoneId(2)],
        classes(Band::UNKNOWN, None),
        Mode::Bus,
        PersonTrips::ONE,
        false,
    );
    b.observe(
        &[],
        classes(Band(0), None),
        Mode::Walk,
        PersonTrips::ONE,
        true,
    );
    let zones = b.by_zone(3, &bands);
    assert_eq!(zones.len(), 3);
    assert_eq!(zones[0].bands[1].get(Mode::EScooter).events, 1);
    assert_eq!(
        zones[0].access[Access::ToStop.index()].total(),
        PersonTrips::ONE
    );
    assert_eq!(zones[1], ZoneBreakdown::new(&bands), "zone 1 saw nothing");
    let unknown = &zones[2].bands[bands.slot(Band::UNKNOWN)];
    assert_eq!(unknown.get(Mode::Bus).person_trips, PersonTrips::ONE);
    assert_eq!(unknown.get(Mode::Bus).events, 0, "a later piece of a count");
    // Outside every zone: in no zone's breakdown.
    assert!(zones.iter().all(|z| z.bands[0].total().is_zero()));
}

#[test]
fn saved_breakdowns_restore_equal_and_refuse_foreign_zones() {
    let mut b = Breakdown::default();
    for (i, access) in Access::ALL.into_iter().enumerate() {
        b.observe(
            &[ZoneId(i as u32 % 2)],
            classes(Band(i as u8), Some(access)),
            Mode::Bicycle,
            PersonTrips::from_f64(1.5).unwrap(),
            true,
        );
    }
    let mut merged = b.clone();
    merged.merge(&b);
    let saved = merged.save();
    assert_eq!(saved, merged.save(), "the same bytes for the same state");
    let restored = Breakdown::restore(saved, 2).unwrap();
    assert_eq!(restored, merged);
    let e = Breakdown::restore(merged.save(), 1).unwrap_err();
    assert!(e.contains("zone 1 of 1"), "{e}");
}

//! The built-in layouts of published operator exports (Oslo Bysykkel, Louisville, Kansas City,
//! Indianapolis), as configuration a `[formats.csv.NAME]` table can start from.

use super::config::{ColumnMap, ColumnNames, OperatorConfig};

/// The built-in layouts, by name (`--format csv:NAME`).
pub const PRESETS: [&str; 4] = ["oslobysykkel", "louisville", "kansascity", "indianapolis"];

/// The layout of the preset `name`, as configuration.
pub(super) fn preset(name: &str) -> Option<OperatorConfig> {
    let cols = |s: &[&str]| {
        Some(ColumnNames::Joined(
            s.iter().map(|c| (*c).to_owned()).collect(),
        ))
    };
    let col = |s: &str| Some(ColumnNames::from(s));
    let layout = |source: &str, mode: &str, zone: &str, format: &str, unit: &str, columns| {
        Some(OperatorConfig {
            source: Some(source.into()),
            mode: Some(mode.into()),
            time_zone: Some(zone.into()),
            time_format: Some(format.into()),
            distance_unit: Some(unit.into()),
            columns,
            ..OperatorConfig::default()
        })
    };
    match name {
        // Oslo Bysykkel open data: UTC times with an offset, station positions, no trip id.
        "oslobysykkel" => layout(
            "oslobysykkel",
            "bicycle",
            "Europe/Oslo",
            "iso",
            "m",
            ColumnMap {
                start_time: col("started_at"),
                end_time: col("ended_at"),
                origin_lat: col("start_station_latitude"),
                origin_lon: col("start_station_longitude"),
                destination_lat: col("end_station_latitude"),
                destination_lon: col("end_station_longitude"),
                ..ColumnMap::default()
            },
        ),
        // Louisville "Dockless Vehicles": local date and HH:MM columns, distance in miles.
        "louisville" => layout(
            "louisville",
            "e_scooter",
            "America/Kentucky/Louisville",
            "%Y-%m-%d %H:%M",
            "mi",
            ColumnMap {
                id: col("TripID"),
                start_time: cols(&["StartDate", "StartTime"]),
                end_time: cols(&["EndDate", "EndTime"]),
                origin_lat: col("StartLatitude"),
                origin_lon: col("StartLongitude"),
                destination_lat: col("EndLatitude"),
                destination_lon: col("EndLongitude"),
                distance: col("TripDistance"),
                ..ColumnMap::default()
            },
        ),
        // Kansas City "Microtransit (Scooter and Ebike) Trips": the date column carries a
        // constant midnight, the time of day is its own column; distance in metres.
        "kansascity" => layout(
            "kansascity",
            "e_scooter",
            "America/Chicago",
            "%m/%d/%Y 12:00:00 AM %H:%M:%S",
            "m",
            ColumnMap {
                id: col("trip_id"),
                start_time: cols(&["Start Date", "Start Time"]),
                end_time: cols(&["End Date", "End Time"]),
                origin_lat: col("Start Latitude"),
                origin_lon: col("Start Longitude"),
                destination_lat: col("End Latitude"),
                destination_lon: col("End Longitude"),
                distance: col("Trip Distance"),
                ..ColumnMap::default()
            },
        ),
        // Indianapolis PURR e-scooter pilot: UTC times, distance in miles.
        "indianapolis" => layout(
            "indianapolis",
            "e_scooter",
            "America/Indiana/Indianapolis",
            "iso",
            "mi",
            ColumnMap {
                id: col("trip_id"),
                start_time: col("start_time_utc"),
                end_time: col("end_time_utc"),
                origin_lat: col("start_lat"),
                origin_lon: col("start_lon"),
                destination_lat: col("end_lat"),
                destination_lon: col("end_lon"),
                distance: col("distance_miles"),
                ..ColumnMap::default()
            },
        ),
        _ => None,
    }
}

//! The parts of a GTFS feed that locate and classify public-transport boardings: where each
//! stop is (`stops.txt`, a stop without coordinates taking its parent station's), which mode
//! each trip runs (`trips.txt` → `routes.txt` → `route_type`) and the agency's time zone.
//!
//! Reading the feed's files (a zip or a folder) is the caller's; this module reads their text.

use std::collections::HashMap;
use std::sync::Arc;

use csv::{ReaderBuilder, StringRecord, Trim};

use crate::vocabulary::{GeoPoint, Mode};

/// The text of the GTFS tables modeshare reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct GtfsTables<'a> {
    pub stops: &'a [u8],
    pub trips: &'a [u8],
    pub routes: &'a [u8],
    /// Optional: only its `agency_timezone` is read.
    pub agency: Option<&'a [u8]>,
}

/// The mode a GTFS `route_type` stands for, basic (0–12) or extended (the Hierarchical
/// Vehicle Types Entur and other European feeds use, 100–1799). `None` for a value neither
/// set defines.
pub(crate) fn route_type_mode(route_type: u32) -> Option<Mode> {
    let mode = match route_type {
        // Basic types.
        0 | 5 => Mode::Tram,   // tram, cable tram
        1 | 12 => Mode::Metro, // subway/metro, monorail
        2 => Mode::Rail,       // rail
        3 | 11 => Mode::Bus,   // bus, trolleybus
        4 => Mode::Ferry,      // ferry
        6 | 7 => Mode::Other,  // aerial lift, funicular
        // Extended types, by hundred.
        100..=199 | 300..=399 => Mode::Rail, // railway, suburban railway
        200..=299 => Mode::Bus,              // coach
        400..=699 => Mode::Metro,            // urban railway, metro, underground
        700..=899 => Mode::Bus,              // bus, trolleybus
        900..=999 => Mode::Tram,             // tram
        1000..=1099 | 1200..=1299 => Mode::Ferry, // water transport, ferry
        1500..=1599 => Mode::Taxi,           // taxi
        // Air, aerial lift, funicular, self drive, miscellaneous.
        1100..=1199 | 1300..=1499 | 1600..=1799 => Mode::Other,
        _ => return None,
    };
    Some(mode)
}

/// What a trip id resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripMode {
    Mode(Mode),
    /// The trip's route has a `route_type` no GTFS version defines.
    UnknownRouteType(u32),
}

/// What is wrong in a GTFS table. Its `Display` names the table and, for a row, the line and
/// the value; it is the whole message (a CSV error's text included, so it has no `source`).
#[derive(Debug, thiserror::Error)]
pub enum GtfsError {
    /// The table is not readable CSV (its header or a row).
    #[error("{table}: {error}")]
    Csv {
        table: &'static str,
        error: csv::Error,
    },
    #[error("{table}: no {column:?} column")]
    MissingColumn {
        table: &'static str,
        column: &'static str,
    },
    /// A row without its id (`stop_id`, `trip_id`).
    #[error("{table} line {line}: no {column}")]
    MissingId {
        table: &'static str,
        line: u64,
        column: &'static str,
    },
    #[error("stops.txt line {line}: stop {stop}: {lat}, {lon} is not a position")]
    NotAPosition {
        line: u64,
        stop: String,
        lat: f64,
        lon: f64,
    },
    #[error("stops.txt line {line}: stop {stop}: stop_lat/stop_lon is not a number")]
    PositionNotANumber { line: u64, stop: String },
    #[error("stops.txt line {line}: stop {stop}: location_type {value:?} is not 0–4")]
    BadLocationType {
        line: u64,
        stop: String,
        value: String,
    },
    #[error("routes.txt line {line}: route {route}: route_type {value:?} is not a number")]
    BadRouteType {
        line: u64,
        route: String,
        value: String,
    },
}

/// A loaded feed. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Gtfs(Arc<Feed>);

#[derive(Debug, Default)]
struct Feed {
    stops: HashMap<Box<str>, GeoPoint>,
    trips: HashMap<Box<str>, TripMode>,
    time_zone: Option<String>,
    /// Trips whose `route_id` is not in routes.txt (they resolve like unknown trips).
    dangling_trips: usize,
    /// Stops without coordinates of their own or of a parent station.
    stops_without_position: usize,
}

/// A table as rows of named columns.
struct Table<'a> {
    name: &'static str,
    reader: csv::Reader<&'a [u8]>,
    header: StringRecord,
}

impl<'a> Table<'a> {
    fn new(name: &'static str, text: &'a [u8]) -> Result<Table<'a>, GtfsError> {
        let mut reader = ReaderBuilder::new()
            .flexible(true)
            .trim(Trim::All)
            .from_reader(text);
        let header = reader
            .headers()
            .map_err(|error| GtfsError::Csv { table: name, error })?
            .clone();
        Ok(Table {
            name,
            reader,
            header,
        })
    }

    fn column(&self, column: &'static str) -> Result<usize, GtfsError> {
        self.optional(column).ok_or(GtfsError::MissingColumn {
            table: self.name,
            column,
        })
    }

    fn optional(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }

    /// Every row with its line number.
    fn rows(&mut self) -> impl Iterator<Item = Result<(u64, StringRecord), GtfsError>> + '_ {
        let name = self.name;
        self.reader.records().map(move |r| {
            let row = r.map_err(|error| GtfsError::Csv { table: name, error })?;
            let line = row.position().map_or(0, |p| p.line());
            Ok((line, row))
        })
    }
}

fn field(row: &StringRecord, column: Option<usize>) -> Option<&str> {
    column.and_then(|c| row.get(c)).filter(|t| !t.is_empty())
}

impl Gtfs {
    /// Reads the tables; `Err` names the table, the line and what is wrong.
    pub fn parse(tables: GtfsTables<'_>) -> Result<Gtfs, GtfsError> {
        let mut feed = Feed::default();
        read_stops(tables.stops, &mut feed)?;
        let route_types = read_routes(tables.routes)?;
        read_trips(tables.trips, &route_types, &mut feed)?;
        if let Some(agency) = tables.agency {
            let mut table = Table::new("agency.txt", agency)?;
            let zone = table.optional("agency_timezone");
            if let Some(row) = table.rows().next() {
                let (_, row) = row?;
                feed.time_zone = field(&row, zone).map(str::to_owned);
            }
        }
        Ok(Gtfs(Arc::new(feed)))
    }

    /// Where a stop is.
    pub fn stop(&self, stop_id: &str) -> Option<GeoPoint> {
        self.0.stops.get(stop_id).copied()
    }

    /// The mode of a trip.
    pub fn trip(&self, trip_id: &str) -> Option<TripMode> {
        self.0.trips.get(trip_id).copied()
    }

    /// The first agency's `agency_timezone`.
    pub fn time_zone(&self) -> Option<&str> {
        self.0.time_zone.as_deref()
    }

    /// A one-line account of the feed, for the log.
    pub fn summary(&self) -> String {
        let feed = &self.0;
        let mut text = format!(
            "{} stops with a position, {} trips",
            feed.stops.len(),
            feed.trips.len()
        );
        if feed.stops_without_position > 0 {
            text += &format!(
                "; {} stops without a position (boardings there are rejected as unknown_location)",
                feed.stops_without_position
            );
        }
        if feed.dangling_trips > 0 {
            text += &format!(
                "; {} trips name a route not in routes.txt (their boardings take the default mode)",
                feed.dangling_trips
            );
        }
        text
    }
}

fn read_stops(text: &[u8], feed: &mut Feed) -> Result<(), GtfsError> {
    let mut parents: Vec<(Box<str>, Box<str>)> = Vec::new();
    for stop in read_stop_rows(text)? {
        match (stop.point, stop.parent_station) {
            (Some(point), _) => {
                feed.stops.insert(stop.id.into(), point);
            }
            // Entrances, generic nodes and boarding areas may leave their position to their
            // parent station.
            (None, Some(parent)) => parents.push((stop.id.into(), parent.into())),
            (None, None) => feed.stops_without_position += 1,
        }
    }
    for (stop, parent) in parents {
        match feed.stops.get(&parent).copied() {
            Some(point) => {
                feed.stops.insert(stop, point);
            }
            None => feed.stops_without_position += 1,
        }
    }
    Ok(())
}

/// One row of `stops.txt`: TIDES boardings locate their stops with it, transit access judges
/// trips by them.
#[derive(Debug, Clone, PartialEq)]
pub struct GtfsStop {
    pub id: String,
    /// `stop_name`, else the id.
    pub name: String,
    /// Absent for rows that leave their position to their parent station.
    pub point: Option<GeoPoint>,
    pub parent_station: Option<String>,
    /// `location_type`: 0 (or empty) a stop or platform, 1 a station, 2–4 entrances, generic
    /// nodes and boarding areas.
    pub location_type: u8,
}

/// Every row of a `stops.txt`; `Err` names the line and what is wrong.
pub fn read_stop_rows(text: &[u8]) -> Result<Vec<GtfsStop>, GtfsError> {
    let mut table = Table::new("stops.txt", text)?;
    let id = table.column("stop_id")?;
    let (lat, lon) = (table.optional("stop_lat"), table.optional("stop_lon"));
    let name = table.optional("stop_name");
    let parent = table.optional("parent_station");
    let location_type = table.optional("location_type");
    let mut stops = Vec::new();
    for row in table.rows() {
        let (line, row) = row?;
        let Some(stop_id) = field(&row, Some(id)) else {
            return Err(GtfsError::MissingId {
                table: "stops.txt",
                line,
                column: "stop_id",
            });
        };
        let number = |c| field(&row, c).map(str::parse::<f64>);
        let point = match (number(lat), number(lon)) {
            (Some(Ok(lat)), Some(Ok(lon))) => {
                Some(
                    GeoPoint::new(lat, lon).map_err(|_| GtfsError::NotAPosition {
                        line,
                        stop: stop_id.to_owned(),
                        lat,
                        lon,
                    })?,
                )
            }
            (Some(Err(_)), _) | (_, Some(Err(_))) => {
                return Err(GtfsError::PositionNotANumber {
                    line,
                    stop: stop_id.to_owned(),
                });
            }
            _ => None,
        };
        let kind = field(&row, location_type).unwrap_or("0");
        let location_type = kind.parse::<u8>().map_err(|_| GtfsError::BadLocationType {
            line,
            stop: stop_id.to_owned(),
            value: kind.to_owned(),
        })?;
        stops.push(GtfsStop {
            id: stop_id.to_owned(),
            name: field(&row, name).unwrap_or(stop_id).to_owned(),
            point,
            parent_station: field(&row, parent).map(str::to_owned),
            location_type,
        });
    }
    Ok(stops)
}

/// `route_id` → the mode of its `route_type`.
fn read_routes(text: &[u8]) -> Result<HashMap<Box<str>, TripMode>, GtfsError> {
    let mut table = Table::new("routes.txt", text)?;
    let (id, kind) = (table.column("route_id")?, table.column("route_type")?);
    let mut routes = HashMap::new();
    for row in table.rows() {
        let (line, row) = row?;
        let route_id = field(&row, Some(id)).unwrap_or_default();
        let route_type = field(&row, Some(kind)).unwrap_or_default();
        let route_type: u32 = route_type.parse().map_err(|_| GtfsError::BadRouteType {
            line,
            route: route_id.to_owned(),
            value: route_type.to_owned(),
        })?;
        let mode = route_type_mode(route_type)
            .map_or(TripMode::UnknownRouteType(route_type), TripMode::Mode);
        routes.insert(route_id.into(), mode);
    }
    Ok(routes)
}

fn read_trips(
    text: &[u8],
    routes: &HashMap<Box<str>, TripMode>,
    feed: &mut Feed,
) -> Result<(), GtfsError> {
    let mut table = Table::new("trips.txt", text)?;
    let (id, route) = (table.column("trip_id")?, table.column("route_id")?);
    for row in table.rows() {
        let (line, row) = row?;
        let Some(trip_id) = field(&row, Some(id)) else {
            return Err(GtfsError::MissingId {
                table: "trips.txt",
                line,
                column: "trip_id",
            });
        };
        match field(&row, Some(route)).and_then(|r| routes.get(r)) {
            Some(mode) => {
                feed.trips.insert(trip_id.into(), *mode);
            }
            None => feed.dangling_trips += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Gtfs {
        Gtfs::parse(GtfsTables {
            stops: b"stop_id,stop_name,stop_lat,stop_lon,parent_station\n\
                     S1,Sandvika,59.8890,10.5236,\n\
                     Q1,Sandvika platform 1,,,S1\n\
                     Q2,Lost quay,,,NOPE\n\
                     \"S 3\",Quoted,59.9,10.6,\n",
            trips: b"route_id,service_id,trip_id\nR1,x,T1\nR2,x,T2\nR9,x,T9\nR3,x,T3\n",
            routes: b"route_id,route_type\nR1,3\nR2,1102\nR3,1800\n",
            agency: Some(b"agency_id,agency_name,agency_timezone\nA,Ruter,Europe/Oslo\n"),
        })
        .unwrap_or_default()
    }

    #[test]
    fn stops_take_their_parent_station_position_when_they_have_none() {
        let gtfs = feed();
        assert_eq!(gtfs.stop("Q1"), gtfs.stop("S1"));
        assert!(gtfs.stop("S1").is_some());
        assert_eq!(gtfs.stop("Q2"), None);
        assert!(gtfs.stop("S 3").is_some());
        assert!(gtfs.summary().contains("1 stops without a position"));
    }

    #[test]
    fn trips_resolve_through_their_route_type() {
        let gtfs = feed();
        assert_eq!(gtfs.trip("T1"), Some(TripMode::Mode(Mode::Bus)));
        assert_eq!(gtfs.trip("T2"), Some(TripMode::Mode(Mode::Other)));
        assert_eq!(gtfs.trip("T3"), Some(TripMode::UnknownRouteType(1800)));
        assert_eq!(gtfs.trip("T9"), None);
        assert!(
            gtfs.summary()
                .contains("1 trips name a route not in routes.txt")
        );
        assert_eq!(gtfs.time_zone(), Some("Europe/Oslo"));
    }

    #[test]
    fn basic_and_extended_route_types_map_to_modes() {
        let cases = [
            (0, Mode::Tram),
            (1, Mode::Metro),
            (2, Mode::Rail),
            (3, Mode::Bus),
            (4, Mode::Ferry),
            (11, Mode::Bus),
            (100, Mode::Rail),
            (117, Mode::Rail),
            (200, Mode::Bus),
            (209, Mode::Bus),
            (401, Mode::Metro),
            (405, Mode::Metro),
            (700, Mode::Bus),
            (716, Mode::Bus),
            (800, Mode::Bus),
            (900, Mode::Tram),
            (906, Mode::Tram),
            (1000, Mode::Ferry),
            (1200, Mode::Ferry),
            (1100, Mode::Other),
            (1102, Mode::Other),
            (1500, Mode::Taxi),
        ];
        for (route_type, mode) in cases {
            assert_eq!(route_type_mode(route_type), Some(mode), "{route_type}");
        }
        for unknown in [8, 13, 99, 1800, 65535] {
            assert_eq!(route_type_mode(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn a_broken_table_is_named_with_its_line() {
        let tables = GtfsTables {
            stops: b"stop_id,stop_lat,stop_lon\nA,59.9,x\n",
            trips: b"route_id,trip_id\n",
            routes: b"route_id,route_type\n",
            agency: None,
        };
        let e = Gtfs::parse(tables)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("stops.txt line 2") && e.contains("not a number"),
            "{e}"
        );
        let tables = GtfsTables {
            stops: b"stop_id,stop_lat,stop_lon\n",
            trips: b"trip_id\n",
            routes: b"route_id,route_type\nR,bus\n",
            agency: None,
        };
        let e = Gtfs::parse(tables)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("routes.txt line 2") && e.contains("\"bus\""),
            "{e}"
        );
        let tables = GtfsTables {
            stops: b"stop_id,stop_lat,stop_lon\n",
            trips: b"trip_id\n",
            routes: b"route_id,route_type\n",
            agency: None,
        };
        let e = Gtfs::parse(tables)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("trips.txt: no \"route_id\" column"), "{e}");
    }
}

//! Operator CSV trip exports (`--format csv:NAME`): a column mapping from config, or one of
//! the presets for published layouts.
//!
//! Each row is one trip. Times are RFC 3339 / ISO 8601 (with an offset, or local in the
//! layout's time zone), epoch seconds or milliseconds, or a `strftime` pattern; a time may be
//! spread over several columns (a date and a time), which are joined with a space. Local times
//! that a DST change makes ambiguous or skips are resolved by `local_time`. A row without a
//! trip id gets one derived from its times and places, so a re-sent export is deduplicated.

mod config;

mod presets;

pub use config::{ColumnMap, ColumnNames, OperatorConfig};
pub use presets::PRESETS;
use presets::preset;

use std::borrow::Cow;
use std::collections::BTreeMap;

use csv::ByteRecord;

use super::error::{DecodeError, Decoded, Reason};
use crate::decode::shared::check::{self, check_start_range, missing};
use crate::decode::shared::local_time::{LocalTimeRule, LocalTimes};
use crate::decode::shared::table::{Column, Header, derived_id, parse_number};
use crate::vocabulary::{
    ConfigErrors, EventTimeMs, GeoPoint, Kind, Mode, Observation, PersonTrips, from_epoch_ms,
    shorten,
};

#[derive(Debug, Clone, PartialEq)]
enum TimeFormat {
    Iso,
    EpochMs,
    EpochS,
    Pattern(String),
}

/// How one layout's times are read.
#[derive(Debug, Clone)]
struct Times {
    local: LocalTimes,
    format: TimeFormat,
}

impl Times {
    fn parse<'a>(&self, field: &str, text: &str) -> Result<EventTimeMs, DecodeError<'a>> {
        let epoch = |scale: f64| -> Result<EventTimeMs, DecodeError<'a>> {
            let n = parse_number(field, text)?;
            from_epoch_ms(n * scale).map_err(|p| check::time_error(field, p))
        };
        match &self.format {
            TimeFormat::EpochMs => epoch(1.0),
            TimeFormat::EpochS => epoch(1000.0),
            TimeFormat::Iso => self.local.parse_iso(field, text),
            TimeFormat::Pattern(pattern) => {
                let bad = |m: String| DecodeError::new(Reason::BadTime, format!("{field}: {m}"));
                let parsed = jiff::fmt::strtime::parse(pattern, text).map_err(|_| {
                    bad(format!(
                        "{:?} does not match the time format {pattern:?}",
                        shorten(text)
                    ))
                })?;
                if parsed.offset().is_some()
                    && let Ok(ts) = parsed.to_timestamp()
                {
                    return Ok(EventTimeMs(ts.as_millisecond()));
                }
                let dt = parsed.to_datetime().map_err(|e| {
                    bad(format!(
                        "{:?} is not a complete date and time ({e})",
                        shorten(text)
                    ))
                })?;
                self.local.local(field, dt)
            }
        }
    }
}

/// How each row's mode is found.
#[derive(Debug, Clone)]
enum ModeRule {
    Fixed(Mode),
    /// From a column, through the layout's value → mode table (then canonical names).
    Column {
        values: BTreeMap<String, Mode>,
        default: Option<Mode>,
    },
}

/// A validated operator layout.
#[derive(Debug, Clone)]
pub struct OperatorDecoder {
    name: String,
    source: String,
    mode: ModeRule,
    delimiter: u8,
    times: Times,
    metres_per_unit: f64,
    columns: ColumnMap,
}

impl OperatorDecoder {
    /// Validates the layout `name` (a preset, a configured table, or a table over a preset).
    /// `None` when there is no such layout.
    pub fn from_config(
        name: &str,
        configured: Option<&OperatorConfig>,
        errors: &mut ConfigErrors,
    ) -> Option<OperatorDecoder> {
        let key = |k: &str| format!("formats.csv.{name}.{k}");
        let config = match configured {
            Some(c) => {
                let base_name = c.preset.as_deref().unwrap_or(name);
                match preset(base_name) {
                    Some(base) => c.clone().over(base),
                    None if c.preset.is_some() => {
                        errors.push(
                            key("preset"),
                            format!("{base_name:?} is not a preset ({})", PRESETS.join(", ")),
                        );
                        return None;
                    }
                    None => c.clone(),
                }
            }
            None => preset(name)?,
        };
        let source = match config.source.as_deref() {
            Some(s) if !s.trim().is_empty() => s.to_owned(),
            _ => name.to_owned(),
        };
        let mut mode_of = |k: String, text: &str| -> Option<Mode> {
            let m = Mode::from_name(text);
            if m.is_none() {
                errors.push(
                    k,
                    format!("{text:?} is not a canonical mode ({})", Mode::names()),
                );
            }
            m
        };
        let default_mode = config.mode.as_deref().and_then(|m| mode_of(key("mode"), m));
        let mode = if config.columns.mode.is_some() {
            let values = config
                .modes
                .iter()
                .filter_map(|(v, m)| {
                    Some((v.to_lowercase(), mode_of(key(&format!("modes.{v}")), m)?))
                })
                .collect();
            ModeRule::Column {
                values,
                default: default_mode,
            }
        } else {
            match default_mode {
                Some(m) => ModeRule::Fixed(m),
                None => {
                    if config.mode.is_none() {
                        errors.push(
                            key("mode"),
                            "set a mode, or columns.mode with a modes table",
                        );
                    }
                    ModeRule::Fixed(Mode::Other)
                }
            }
        };
        let delimiter = match config.delimiter.as_deref().unwrap_or(",").as_bytes() {
            [d] => *d,
            _ => {
                errors.push(key("delimiter"), "must be a single ASCII character");
                b','
            }
        };
        let format = match config.time_format.as_deref().unwrap_or("iso") {
            "iso" => TimeFormat::Iso,
            "epoch_ms" => TimeFormat::EpochMs,
            "epoch_s" => TimeFormat::EpochS,
            p if p.contains('%') => TimeFormat::Pattern(p.to_owned()),
            other => {
                errors.push(
                    key("time_format"),
                    format!("{other:?} is not iso, epoch_ms, epoch_s or a strftime pattern"),
                );
                TimeFormat::Iso
            }
        };
        let rule =
            LocalTimeRule::from_config(key("local_time"), config.local_time.as_deref(), errors);
        let local = LocalTimes::from_config(
            key("time_zone"),
            config.time_zone.as_deref().unwrap_or("UTC"),
            rule,
            errors,
        );
        let metres_per_unit = match config.distance_unit.as_deref().unwrap_or("m") {
            "m" => 1.0,
            "km" => 1000.0,
            "mi" => 1609.344,
            "ft" => 0.3048,
            other => {
                errors.push(
                    key("distance_unit"),
                    format!("{other:?} is not m, km, mi or ft"),
                );
                1.0
            }
        };
        for (field, column) in [
            ("start_time", &config.columns.start_time),
            ("origin_lat", &config.columns.origin_lat),
            ("origin_lon", &config.columns.origin_lon),
        ] {
            if column.is_none() {
                errors.push(key(&format!("columns.{field}")), "is required");
            }
        }
        Some(OperatorDecoder {
            name: name.to_owned(),
            source,
            mode,
            delimiter,
            times: Times { local, format },
            metres_per_unit,
            columns: config.columns,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Whether a header has every column this layout maps (how a preset is recognised).
    pub(crate) fn matches_header(&self, header: &[String]) -> bool {
        let c = &self.columns;
        let mapped: Vec<&str> = [
            &c.id,
            &c.start_time,
            &c.end_time,
            &c.origin_lat,
            &c.origin_lon,
            &c.destination_lat,
            &c.destination_lon,
            &c.distance,
            &c.mode,
        ]
        .into_iter()
        .flatten()
        .flat_map(ColumnNames::names)
        .collect();
        !mapped.is_empty() && mapped.iter().all(|m| header.iter().any(|h| h == m))
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Binds to an export's header; `Err` names a missing column.
    pub(crate) fn bind(&self, header: &Header) -> Result<OperatorBinding<'_>, String> {
        let field = |names: &Option<ColumnNames>| -> Result<Field, String> {
            let columns: Vec<Column> = match names {
                None => Vec::new(),
                Some(n) => n
                    .names()
                    .into_iter()
                    .map(|c| header.require(c))
                    .collect::<Result<_, _>>()?,
            };
            let label = columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(" + ");
            Ok(Field { columns, label })
        };
        let c = &self.columns;
        let columns = BoundColumns {
            id: field(&c.id)?,
            start_time: field(&c.start_time)?,
            end_time: field(&c.end_time)?,
            origin_lat: field(&c.origin_lat)?,
            origin_lon: field(&c.origin_lon)?,
            destination_lat: field(&c.destination_lat)?,
            destination_lon: field(&c.destination_lon)?,
            distance: field(&c.distance)?,
            mode: field(&c.mode)?,
        };
        Ok(OperatorBinding {
            decoder: self,
            columns,
        })
    }
}

/// A mapped field: its columns (several are joined with a space) and its name in messages,
/// both found once per table.
#[derive(Debug)]
struct Field {
    columns: Vec<Column>,
    label: String,
}

impl Field {
    /// The field's text: `None` when every column is empty.
    fn get<'r>(&self, row: &'r ByteRecord) -> Result<Option<Cow<'r, str>>, DecodeError<'r>> {
        match self.columns.as_slice() {
            [] => Ok(None),
            [one] => one.get(row),
            many => {
                let parts = many
                    .iter()
                    .map(|c| c.get(row))
                    .collect::<Result<Vec<_>, _>>()?;
                if parts.iter().all(Option::is_none) {
                    return Ok(None);
                }
                let texts: Vec<&str> = parts.iter().map(|p| p.as_deref().unwrap_or("")).collect();
                Ok(Some(Cow::Owned(texts.join(" "))))
            }
        }
    }

    /// The field's text, or `missing_field`.
    fn required<'r>(&self, row: &'r ByteRecord) -> Result<Cow<'r, str>, DecodeError<'r>> {
        self.get(row)?.ok_or_else(|| missing(&self.label))
    }

    /// The field as a number; `None` when empty.
    fn number<'r>(&self, row: &'r ByteRecord) -> Result<Option<f64>, DecodeError<'r>> {
        self.get(row)?
            .map(|t| parse_number(&self.label, &t))
            .transpose()
    }
}

#[derive(Debug)]
struct BoundColumns {
    id: Field,
    start_time: Field,
    end_time: Field,
    origin_lat: Field,
    origin_lon: Field,
    destination_lat: Field,
    destination_lon: Field,
    distance: Field,
    mode: Field,
}

/// An [`OperatorDecoder`] bound to one export's header.
#[derive(Debug)]
pub struct OperatorBinding<'d> {
    decoder: &'d OperatorDecoder,
    columns: BoundColumns,
}

impl OperatorBinding<'_> {
    pub(crate) fn decode_row<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Decoded<'r> {
        check::table_row(&self.decoder.source, Ok(None), || {
            self.decode_trip(row, now)
        })
    }

    fn decode_trip<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Result<Observation<'r>, DecodeError<'r>> {
        let (d, c) = (self.decoder, &self.columns);
        let start_text = c.start_time.required(row)?;
        let start = d.times.parse(&c.start_time.label, &start_text)?;
        check_start_range(start, now)?;
        let end_text = c.end_time.get(row)?;
        let end = end_text
            .as_deref()
            .map(|t| d.times.parse(&c.end_time.label, t))
            .transpose()?
            .map(|end| check::end_after_start(start, end))
            .transpose()?;
        let origin_lat = c
            .origin_lat
            .number(row)?
            .ok_or_else(|| missing(&c.origin_lat.label))?;
        let origin_lon = c
            .origin_lon
            .number(row)?
            .ok_or_else(|| missing(&c.origin_lon.label))?;
        let origin = check::coordinate("origin", origin_lat, origin_lon)?;
        let destination = match (
            c.destination_lat.number(row)?,
            c.destination_lon.number(row)?,
        ) {
            (Some(lat), Some(lon)) => Some(check::coordinate("destination", lat, lon)?),
            _ => None,
        };
        let distance = match c.distance.number(row)? {
            None => None,
            Some(n) if n >= 0.0 => Some(n * d.metres_per_unit),
            Some(n) => {
                return Err(DecodeError::new(
                    Reason::BadValue,
                    format!("{}: {n} must be ≥ 0", c.distance.label),
                ));
            }
        };
        let mode = self.mode(row)?;
        let id = match c.id.get(row)? {
            Some(id) => id,
            None => Cow::Owned(derived_id(&[
                &start_text,
                end_text.as_deref().unwrap_or(""),
                &coordinate_text(origin),
                &destination.map(coordinate_text).unwrap_or_default(),
            ])),
        };
        Ok(Observation {
            kind: Kind::Trip,
            id: Some(id),
            source: Cow::Borrowed(""),
            mode,
            start_time: start,
            end_time: end,
            place: origin,
            destination,
            reported_distance_m: distance,
            person_trips: PersonTrips::ONE,
            coverage: None,
        })
    }

    fn mode<'r>(&self, row: &'r ByteRecord) -> Result<Mode, DecodeError<'r>> {
        let field = &self.columns.mode;
        match &self.decoder.mode {
            ModeRule::Fixed(m) => Ok(*m),
            ModeRule::Column { values, default } => match field.get(row)? {
                None => default.ok_or_else(|| missing(&field.label)),
                Some(v) => values
                    .get(&v.to_lowercase())
                    .copied()
                    .or_else(|| Mode::from_name(&v))
                    .ok_or_else(|| {
                        DecodeError::new(
                            Reason::UnknownMode,
                            format!(
                                "{}: {:?} is not in formats.csv.{}.modes or a canonical mode",
                                field.label,
                                shorten(&v),
                                self.decoder.name
                            ),
                        )
                    }),
            },
        }
    }
}

fn coordinate_text(p: GeoPoint) -> String {
    format!("{},{}", p.lat(), p.lon())
}

#[cfg(test)]
mod tests;

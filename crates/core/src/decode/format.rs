//! Input formats: which decoder reads an input, how its bytes are framed into records, and
//! recognising a format from an input's first bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::canonical::CanonicalDecoder;
use super::error::Decoded;
use super::mds::{MdsConfig, MdsDecoder, MdsSettings, MdsVersion};
use super::operator::{OperatorConfig, OperatorDecoder, PRESETS};
use super::table_decoder::TableDecoder;
use super::tides::{TidesConfig, TidesDecoder, TidesSettings};
use super::trafikkdata::{RegistrationPoints, TrafikkdataConfig, TrafikkdataDecoder};
use crate::decode::shared::gtfs::Gtfs;
use crate::decode::shared::table::row_document;
use crate::vocabulary::{ConfigErrors, EventTimeMs, Mode, PersonTripFactors};

/// An input format, as `--format` and `[[kafka.topics]] format` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// modeshare's canonical JSON events, one per line or message.
    Canonical,
    /// MDS Provider trips (`mds`, `mds:1.2`, `mds:2.0`).
    Mds(MdsVersion),
    /// Statens vegvesen trafikkdata hourly CSV.
    Trafikkdata,
    /// TIDES `passenger_events` CSV, located through a GTFS feed.
    Tides,
    /// An operator CSV layout: a preset or a `[formats.csv.NAME]` table.
    Csv(String),
}

/// A format that cannot be read: an unknown name, or one the settings cannot read. Its
/// `Display` is the message a user acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{name:?} is not a CSV layout: the presets are {}; others are configured as \
         [formats.csv.{name}]",
        PRESETS.join(", ")
    )]
    NotACsvLayout { name: String },
    #[error(
        "{name:?} is not a format (canonical, mds, mds:1.2, mds:2.0, trafikkdata, tides, csv:NAME)"
    )]
    NotAFormat { name: String },
    #[error(
        "tides needs the agency's GTFS feed for stop positions and route types: set \
         formats.tides.gtfs to a GTFS zip or folder (or pass --gtfs)"
    )]
    TidesWithoutFeed,
}

/// How an input's bytes are cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document per line (or a pretty-printed document starting with a lone `{`).
    Json,
    /// One CSV table with a header; each row is a record.
    Table,
}

impl Format {
    /// Reads a format name; `csv:NAME` must name a preset or a configured layout.
    pub fn parse(text: &str, settings: &FormatSettings) -> Result<Format, FormatError> {
        let format = match text {
            "canonical" => Format::Canonical,
            "mds" => Format::Mds(MdsVersion::Infer),
            "mds:1.2" | "mds:1" => Format::Mds(MdsVersion::V1),
            "mds:2.0" | "mds:2" => Format::Mds(MdsVersion::V2),
            "trafikkdata" => Format::Trafikkdata,
            "tides" => Format::Tides,
            other => match other.strip_prefix("csv:") {
                Some(name) if settings.operators.contains_key(name) => Format::Csv(name.into()),
                Some(name) => {
                    return Err(FormatError::NotACsvLayout { name: name.into() });
                }
                None => {
                    return Err(FormatError::NotAFormat { name: other.into() });
                }
            },
        };
        settings.check(&format)?;
        Ok(format)
    }

    pub fn framing(&self) -> Framing {
        match self {
            Format::Canonical | Format::Mds(_) => Framing::Json,
            Format::Trafikkdata | Format::Tides | Format::Csv(_) => Framing::Table,
        }
    }

    /// The format of an input from its first bytes, when they say so unambiguously: a
    /// trafikkdata, TIDES or preset CSV header, or an MDS trip or page. `None` otherwise (the input
    /// is then read as canonical events, each line accepted or rejected with a reason).
    pub fn detect(head: &[u8], settings: &FormatSettings) -> Option<Format> {
        let head = super::shared::table::text(head);
        let text = head.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with('{') {
            let first_line = text.lines().next().unwrap_or_default();
            let keys = top_level_keys(first_line);
            // Keys a canonical event never has (a canonical line missing `kind` must not
            // turn a whole file into MDS).
            let mds_keys = ["route", "start_location", "data"];
            return match keys {
                Some(keys) if keys.iter().any(|k| k == "kind") => None,
                Some(keys) if keys.iter().any(|k| mds_keys.contains(&k.as_str())) => {
                    Some(Format::Mds(MdsVersion::Infer))
                }
                // A pretty-printed document: its first line is a lone `{`.
                None if first_line.trim() == "{" && text.contains("\"trips\"") => {
                    Some(Format::Mds(MdsVersion::Infer))
                }
                _ => None,
            };
        }
        let header = text.lines().next().unwrap_or_default();
        if header.starts_with("Trafikkregistreringspunkt;") {
            return Some(Format::Trafikkdata);
        }
        let columns: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .from_reader(header.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
            .map(|r| r.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        if ["passenger_event_id", "event_type"]
            .iter()
            .all(|c| columns.iter().any(|h| h == c))
        {
            return Some(Format::Tides);
        }
        let matches: Vec<&OperatorDecoder> = settings
            .operators
            .values()
            .filter(|d| d.matches_header(&columns))
            .collect();
        match matches.as_slice() {
            [one] => Some(Format::Csv(one.name().to_owned())),
            _ => None,
        }
    }
}

fn top_level_keys(line: &str) -> Option<Vec<String>> {
    serde_json::from_str::<BTreeMap<String, serde::de::IgnoredAny>>(line)
        .ok()
        .map(|m| m.into_keys().collect())
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Canonical => f.write_str("canonical"),
            Format::Mds(MdsVersion::Infer) => f.write_str("mds"),
            Format::Mds(MdsVersion::V1) => f.write_str("mds:1.2"),
            Format::Mds(MdsVersion::V2) => f.write_str("mds:2.0"),
            Format::Trafikkdata => f.write_str("trafikkdata"),
            Format::Tides => f.write_str("tides"),
            Format::Csv(name) => write!(f, "csv:{name}"),
        }
    }
}

/// `[formats]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatsConfig {
    pub mds: MdsConfig,
    pub trafikkdata: TrafikkdataConfig,
    pub tides: TidesConfig,
    /// Operator CSV layouts by name; a name of a preset overrides that preset's keys.
    #[serde(default)]
    pub csv: BTreeMap<String, OperatorConfig>,
}

/// The validated `[formats]`, with the registration points trafikkdata exports need and the
/// GTFS feed TIDES boardings need.
#[derive(Debug, Clone)]
pub struct FormatSettings {
    pub mds: MdsSettings,
    trafikkdata_source: String,
    trafikkdata_point_modes: BTreeMap<String, Mode>,
    points: RegistrationPoints,
    tides: Option<TidesSettings>,
    operators: BTreeMap<String, OperatorDecoder>,
}

impl FormatsConfig {
    /// Validates every format's settings; `points` is the registration-point list in use and
    /// `gtfs` the feed of `formats.tides.gtfs`, when one is configured.
    pub fn validate(
        &self,
        points: RegistrationPoints,
        gtfs: Option<Gtfs>,
        errors: &mut ConfigErrors,
    ) -> FormatSettings {
        let mut operators = BTreeMap::new();
        for name in PRESETS
            .iter()
            .copied()
            .chain(self.csv.keys().map(String::as_str))
        {
            if let Some(d) = OperatorDecoder::from_config(name, self.csv.get(name), errors) {
                operators.insert(name.to_owned(), d);
            }
        }
        FormatSettings {
            mds: self.mds.validate(errors),
            trafikkdata_source: self.trafikkdata.source.clone(),
            trafikkdata_point_modes: self.trafikkdata.validate(errors),
            points,
            tides: self.tides.validate(gtfs, errors),
            operators,
        }
    }
}

impl FormatSettings {
    /// Whether `format` can be read with these settings (`tides` needs a GTFS feed).
    pub fn check(&self, format: &Format) -> Result<(), FormatError> {
        if *format == Format::Tides && self.tides.is_none() {
            return Err(FormatError::TidesWithoutFeed);
        }
        Ok(())
    }

    /// Names of the CSV layouts (`csv:NAME`).
    pub fn csv_layouts(&self) -> impl Iterator<Item = &str> {
        self.operators.keys().map(String::as_str)
    }
}

/// The decoder of one format, ready for records.
#[derive(Debug, Clone)]
pub enum FormatDecoder {
    Canonical(CanonicalDecoder),
    Mds(MdsDecoder),
    Table(Box<TableDecoder>),
}

impl FormatDecoder {
    pub fn new(
        format: &Format,
        settings: &FormatSettings,
        factors: &PersonTripFactors,
    ) -> FormatDecoder {
        match format {
            Format::Canonical => FormatDecoder::Canonical(CanonicalDecoder::new(factors.clone())),
            Format::Mds(version) => {
                FormatDecoder::Mds(MdsDecoder::new(*version, settings.mds.clone()))
            }
            Format::Trafikkdata => FormatDecoder::Table(Box::new(TableDecoder::Trafikkdata(
                TrafikkdataDecoder::new(
                    settings.trafikkdata_source.clone(),
                    settings.points.clone(),
                    settings.trafikkdata_point_modes.clone(),
                    factors.clone(),
                ),
            ))),
            Format::Tides => match &settings.tides {
                Some(tides) => FormatDecoder::Table(Box::new(TableDecoder::Tides(
                    TidesDecoder::new(tides.clone(), factors.clone()),
                ))),
                // `Format::parse` and `FormatSettings::check` refuse `tides` without a feed.
                None => FormatDecoder::Canonical(CanonicalDecoder::new(factors.clone())),
            },
            Format::Csv(name) => match settings.operators.get(name) {
                Some(d) => {
                    FormatDecoder::Table(Box::new(TableDecoder::Operator(Box::new(d.clone()))))
                }
                // `Format::parse` only names configured layouts.
                None => FormatDecoder::Canonical(CanonicalDecoder::new(factors.clone())),
            },
        }
    }

    /// Decodes one JSON record (a line or a message) and hands each item, with the bytes it
    /// came from, to `each`. A table decoder reads the record as a whole table.
    pub fn decode_record<'a>(
        &'a self,
        record: &'a [u8],
        now: Option<EventTimeMs>,
        each: &mut dyn FnMut(Cow<'_, [u8]>, Decoded<'_>),
    ) {
        match self {
            FormatDecoder::Canonical(d) => {
                each(Cow::Borrowed(record), Decoded::Event(d.decode(record, now)));
            }
            FormatDecoder::Mds(d) => d.decode_record(record, now, &mut |raw, decoded| {
                each(Cow::Borrowed(raw), decoded)
            }),
            FormatDecoder::Table(d) => {
                let delimiter = d.delimiter();
                // Reading from a slice cannot fail.
                let _ = d.decode_table(record, now, |row, decoded| {
                    let raw = match &decoded {
                        Decoded::Event(Err(_)) => row_document(row.header, row.record, delimiter),
                        _ => Vec::new(),
                    };
                    each(Cow::Owned(raw), decoded);
                });
            }
        }
    }
}

//! `[formats.csv.NAME]` as written: which column holds each canonical field, and the keys of a
//! layout, with how a layout overrides the preset it starts from.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One column, or several joined with a space (`["Start Date", "Start Time"]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ColumnNames {
    One(String),
    Joined(Vec<String>),
}

impl ColumnNames {
    pub(super) fn names(&self) -> Vec<&str> {
        match self {
            ColumnNames::One(n) => vec![n.as_str()],
            ColumnNames::Joined(ns) => ns.iter().map(String::as_str).collect(),
        }
    }
}

impl From<&str> for ColumnNames {
    fn from(name: &str) -> Self {
        ColumnNames::One(name.to_owned())
    }
}

/// `[formats.csv.NAME.columns]`: which column holds each canonical field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    pub id: Option<ColumnNames>,
    pub start_time: Option<ColumnNames>,
    pub end_time: Option<ColumnNames>,
    pub origin_lat: Option<ColumnNames>,
    pub origin_lon: Option<ColumnNames>,
    pub destination_lat: Option<ColumnNames>,
    pub destination_lon: Option<ColumnNames>,
    pub distance: Option<ColumnNames>,
    pub mode: Option<ColumnNames>,
}

impl ColumnMap {
    /// `self`'s columns, falling back to `base`'s.
    fn over(self, base: ColumnMap) -> ColumnMap {
        ColumnMap {
            id: self.id.or(base.id),
            start_time: self.start_time.or(base.start_time),
            end_time: self.end_time.or(base.end_time),
            origin_lat: self.origin_lat.or(base.origin_lat),
            origin_lon: self.origin_lon.or(base.origin_lon),
            destination_lat: self.destination_lat.or(base.destination_lat),
            destination_lon: self.destination_lon.or(base.destination_lon),
            distance: self.distance.or(base.distance),
            mode: self.mode.or(base.mode),
        }
    }
}

/// `[formats.csv.NAME]` as written. A table named like a preset, or with `preset = "…"`,
/// starts from that preset and overrides the keys it sets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    pub preset: Option<String>,
    /// The `source` of the events.
    pub source: Option<String>,
    /// The mode of every row, unless `columns.mode` names a column.
    pub mode: Option<String>,
    /// Column value → canonical mode, for `columns.mode` (canonical names map to themselves).
    #[serde(default)]
    pub modes: BTreeMap<String, String>,
    /// The field separator (one character; default `,`).
    pub delimiter: Option<String>,
    /// IANA time zone of times written without an offset.
    pub time_zone: Option<String>,
    /// `iso` (default), `epoch_ms`, `epoch_s`, or a `strftime` pattern (`%m/%d/%Y %H:%M`).
    pub time_format: Option<String>,
    /// Local times a DST change makes ambiguous or skips: `compatible` (default: the earlier
    /// of a repeated time, the later of a skipped one), `earlier`, `later` or `reject`.
    pub local_time: Option<String>,
    /// Unit of the distance column: `m` (default), `km`, `mi` or `ft`.
    pub distance_unit: Option<String>,
    #[serde(default)]
    pub columns: ColumnMap,
}

impl OperatorConfig {
    /// `self` over `base`: every key `self` sets wins.
    pub(super) fn over(self, base: OperatorConfig) -> OperatorConfig {
        let mut modes = base.modes;
        modes.extend(self.modes);
        OperatorConfig {
            preset: None,
            source: self.source.or(base.source),
            mode: self.mode.or(base.mode),
            modes,
            delimiter: self.delimiter.or(base.delimiter),
            time_zone: self.time_zone.or(base.time_zone),
            time_format: self.time_format.or(base.time_format),
            local_time: self.local_time.or(base.local_time),
            distance_unit: self.distance_unit.or(base.distance_unit),
            columns: self.columns.over(base.columns),
        }
    }
}

//! Reading CSV tables (trafikkdata exports, TIDES passenger events, operator trip exports): the
//! header's columns, field text (UTF-8, else Latin-1), numbers with decimal commas, stable ids
//! for rows without one, and the one-row document a rejected row is dead-lettered as.

use std::borrow::Cow;

use csv::ByteRecord;

use super::check::missing;
use crate::decode::error::{DecodeError, Reason};
use crate::vocabulary::{number_text, shorten};

type Result<'a, T> = std::result::Result<T, DecodeError<'a>>;

/// A table's column names, trimmed (a UTF-8 byte-order mark is already gone).
#[derive(Debug, Clone)]
pub(crate) struct Header {
    names: Vec<String>,
}

impl Header {
    pub(crate) fn new(record: &ByteRecord) -> Header {
        Header {
            names: record.iter().map(|f| text(f).trim().to_owned()).collect(),
        }
    }

    /// The column called `name`: an exact match, else one that differs only in case.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The column called `name`, or the rejection every row of this table gets.
    pub(crate) fn require(&self, name: &str) -> std::result::Result<Column, String> {
        self.find(name)
            .map(|index| Column {
                index,
                name: name.to_owned(),
            })
            .ok_or_else(|| {
                let names = self.names.join(", ");
                format!(
                    "column {name:?} is not in the header (columns: {})",
                    shorten(&names)
                )
            })
    }
}

/// A column found in the header.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) index: usize,
    pub(crate) name: String,
}

impl Column {
    /// The field's text; `None` when it is empty. A row too short to have the column is
    /// `invalid_csv`.
    pub(crate) fn get<'r>(&self, row: &'r ByteRecord) -> Result<'r, Option<Cow<'r, str>>> {
        match row.get(self.index) {
            None => Err(DecodeError::new(
                Reason::InvalidCsv,
                format!(
                    "the row has {} fields, too few for column {:?} (field {})",
                    row.len(),
                    self.name,
                    self.index + 1
                ),
            )),
            Some(b"") => Ok(None),
            Some(bytes) => Ok(Some(text(bytes))),
        }
    }

    /// The field's text, or `missing_field`.
    pub(crate) fn required<'r>(&self, row: &'r ByteRecord) -> Result<'r, Cow<'r, str>> {
        self.get(row)?.ok_or_else(|| missing(&self.name))
    }
}

/// Field text: UTF-8 when it is valid UTF-8, else Latin-1 (trafikkdata exports are
/// ISO-8859-1; every Latin-1 byte is a character, so nothing is lost).
pub(crate) fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// A finite number, with `.` or a single `,` as the decimal mark (`100,0`).
pub(crate) fn parse_number<'a>(field: &str, text: &str) -> Result<'a, f64> {
    let normalised: Cow<'_, str> = if text.contains(',') && !text.contains('.') {
        Cow::Owned(text.replacen(',', ".", 1))
    } else {
        Cow::Borrowed(text)
    };
    match normalised.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        Ok(n) => Err(DecodeError::new(
            Reason::BadValue,
            format!("{field}: {} is not a finite number", number_text(n)),
        )),
        Err(_) => Err(DecodeError::new(
            Reason::BadValue,
            format!("{field}: {:?} is not a number", shorten(text)),
        )),
    }
}

/// A stable id for a row that has none: a hash of the values that identify the trip, so a
/// re-sent export is recognised as duplicates.
pub(crate) fn derived_id(parts: &[&str]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0x1f]);
    }
    format!("row-{:032x}", hasher.digest128())
}

/// A rejected row as a table of its own: the header and the row, ready to be fixed and sent
/// again (the form rows take on the dead-letter topic).
pub(crate) fn row_document(header: &ByteRecord, row: &ByteRecord, delimiter: u8) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_byte_record(header);
    let _ = writer.write_byte_record(row);
    writer.into_inner().unwrap_or_default()
}

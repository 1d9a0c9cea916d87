//! CSV tables (trafikkdata exports, TIDES passenger events, operator trip exports): the header's columns, field text
//! (UTF-8, else Latin-1), numbers with decimal commas, stable ids for rows without one, and
//! the one-row document a rejected row is dead-lettered as.
//!
//! A table is read with its header: one `Read` (a file, or one Kafka message holding a whole
//! export) is one table. Blank lines are skipped; a row with too few fields is rejected as
//! `invalid_csv` while the rows around it are read normally.

use std::borrow::Cow;
use std::io::Read;

use csv::{ByteRecord, ReaderBuilder, Trim};

use super::check::missing;
use super::operator::{OperatorBinding, OperatorDecoder};
use super::tides::{TidesBinding, TidesDecoder};
use super::trafikkdata::{TrafikkdataBinding, TrafikkdataDecoder};
use super::{DecodeError, Decoded, Reason, number_text, shorten};
use crate::time::EventTimeMs;

type Result<'a, T> = std::result::Result<T, DecodeError<'a>>;

/// A decoder for one CSV layout.
#[derive(Debug, Clone)]
pub enum TableDecoder {
    Trafikkdata(TrafikkdataDecoder),
    Tides(TidesDecoder),
    Operator(Box<OperatorDecoder>),
}

/// A [`TableDecoder`] bound to one table's header.
#[derive(Debug)]
pub enum TableBinding<'d> {
    Trafikkdata(TrafikkdataBinding<'d>),
    Tides(TidesBinding<'d>),
    Operator(Box<OperatorBinding<'d>>),
    /// The header lacks a column the layout needs: every row is rejected, naming it.
    MissingColumn {
        source: &'d str,
        message: String,
    },
}

/// One data row as read, for the caller's bookkeeping (line numbers for examples, the row
/// document for the dead-letter topic).
pub struct Row<'r> {
    /// 1-based line of the row's start in its table.
    pub line: u64,
    /// Byte offset of the row's start, for progress.
    pub byte: u64,
    pub header: &'r ByteRecord,
    pub record: &'r ByteRecord,
}

impl TableDecoder {
    /// The field separator of this layout.
    pub fn delimiter(&self) -> u8 {
        match self {
            TableDecoder::Trafikkdata(_) => b';',
            TableDecoder::Tides(_) => b',',
            TableDecoder::Operator(d) => d.delimiter(),
        }
    }

    /// Binds the decoder to a table's header (columns are found by name, so their order and
    /// any extra columns do not matter).
    pub fn bind(&self, header: &ByteRecord) -> TableBinding<'_> {
        let header = Header::new(header);
        let (bound, source) = match self {
            TableDecoder::Trafikkdata(d) => {
                (d.bind(&header).map(TableBinding::Trafikkdata), d.source())
            }
            TableDecoder::Tides(d) => (d.bind(&header).map(TableBinding::Tides), d.source()),
            TableDecoder::Operator(d) => (
                d.bind(&header).map(|b| TableBinding::Operator(Box::new(b))),
                d.source(),
            ),
        };
        bound.unwrap_or_else(|message| TableBinding::MissingColumn { source, message })
    }

    /// Reads one table and hands every data row with its decoded item to `each`. Errors are
    /// only those of `reader` itself.
    pub fn decode_table<R: Read>(
        &self,
        reader: R,
        now: Option<EventTimeMs>,
        mut each: impl FnMut(Row<'_>, Decoded<'_>),
    ) -> std::result::Result<(), csv::Error> {
        let mut reader = ReaderBuilder::new()
            .delimiter(self.delimiter())
            .flexible(true)
            .trim(Trim::All)
            .from_reader(reader);
        let header = reader.byte_headers()?.clone();
        let binding = self.bind(&header);
        let mut record = ByteRecord::new();
        while reader.read_byte_record(&mut record)? {
            let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
            let decoded = binding.decode_row(&record, now);
            each(
                Row {
                    line,
                    byte,
                    header: &header,
                    record: &record,
                },
                decoded,
            );
        }
        Ok(())
    }
}

impl TableBinding<'_> {
    /// Decodes one data row.
    pub fn decode_row<'r>(&'r self, row: &'r ByteRecord, now: Option<EventTimeMs>) -> Decoded<'r> {
        match self {
            TableBinding::Trafikkdata(b) => b.decode_row(row, now),
            TableBinding::Tides(b) => b.decode_row(row, now),
            TableBinding::Operator(b) => b.decode_row(row, now),
            TableBinding::MissingColumn { source, message } => Decoded::Event(Err(DecodeError {
                reason: Reason::MissingField,
                message: message.clone(),
                event_source: Some(Cow::Borrowed(source)),
            })),
        }
    }
}

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
pub fn row_document(header: &ByteRecord, row: &ByteRecord, delimiter: u8) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_byte_record(header);
    let _ = writer.write_byte_record(row);
    writer.into_inner().unwrap_or_default()
}

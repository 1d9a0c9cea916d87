//! One decoder for every CSV layout (trafikkdata, TIDES, operator exports): binds the layout to
//! a table's header, then reads the table row by row.
//!
//! A table is read with its header: one `Read` (a file, or one Kafka message holding a whole
//! export) is one table. Blank lines are skipped; a row with too few fields is rejected as
//! `invalid_csv` while the rows around it are read normally.

use std::borrow::Cow;
use std::io::Read;

use csv::{ByteRecord, ReaderBuilder, Trim};

use super::error::{DecodeError, Decoded, Reason};
use super::operator::{OperatorBinding, OperatorDecoder};
use super::tides::{TidesBinding, TidesDecoder};
use super::trafikkdata::{TrafikkdataBinding, TrafikkdataDecoder};
use crate::decode::shared::table::Header;
use crate::vocabulary::EventTimeMs;

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

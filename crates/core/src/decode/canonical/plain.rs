//! The canonical line as producers and the ingest API write it, read without serde: one pass
//! over the bytes for lines that are plainly written, which is most of them.
//!
//! "Plainly written" means: an object whose values are strings without escapes, numbers,
//! booleans and, for the three positions, objects of those; no key twice; any JSON whitespace.
//! For such a line [`read_into`] gives exactly the fields serde's pass returns (the tests compare
//! the two on generated lines, written plainly and otherwise). For any other line it returns
//! `None` and the line takes serde's pass, so every rejection message is still serde's: `null`,
//! escapes, arrays and nested objects, a key twice, a number too large for an `f64`, and every
//! syntax error all go there.

use std::borrow::Cow;

use super::RawEvent;
use crate::decode::shared::json::{Json, RawPoint};

/// The fields of a plainly written line into `raw` (empty when called), or `None` to read it
/// with serde (`raw` then holds what was read before the line stopped being plain). The
/// caller's fields are filled in place: they are some 600 bytes, which a returned value was
/// copied as three times on its way to the decoder.
pub(super) fn read_into<'a>(text: &'a str, raw: &mut RawEvent<'a>) -> Option<()> {
    debug_assert_eq!(*raw, RawEvent::default(), "read into empty fields");
    let mut line = Cursor { text, at: 0 };
    line.expect(b'{')?;
    if !line.empty()? {
        loop {
            let key = line.string()?;
            line.expect(b':')?;
            match key {
                "kind" => set(&mut raw.kind, line.scalar()?)?,
                "id" => set(&mut raw.id, line.scalar()?)?,
                "source" => set(&mut raw.source, line.scalar()?)?,
                "mode" => set(&mut raw.mode, line.scalar()?)?,
                "start_time" => set(&mut raw.start_time, line.scalar()?)?,
                "end_time" => set(&mut raw.end_time, line.scalar()?)?,
                "origin" => set(&mut raw.origin, line.position()?)?,
                "destination" => set(&mut raw.destination, line.position()?)?,
                "location" => set(&mut raw.location, line.position()?)?,
                "distance_m" => set(&mut raw.distance_m, line.scalar()?)?,
                "persons" => set(&mut raw.persons, line.scalar()?)?,
                "count" => set(&mut raw.count, line.scalar()?)?,
                "persons_per_unit" => set(&mut raw.persons_per_unit, line.scalar()?)?,
                // A producer's own field: serde skips it, after checking it is valid JSON.
                _ => drop(line.scalar()?),
            }
            if line.end()? {
                break;
            }
        }
    }
    line.skip_whitespace();
    (line.at == text.len()).then_some(())
}

/// Fills a field seen for the first time; a second time is serde's `duplicate field` error.
fn set<T>(field: &mut Option<T>, value: T) -> Option<()> {
    match field {
        Some(_) => None,
        None => {
            *field = Some(value);
            Some(())
        }
    }
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

/// Bytes that end a plain string: its closing quote, and the escapes and control characters
/// left to serde.
const ENDS_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Powers of ten an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The next byte after any whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        let byte = *self.text.as_bytes().get(self.at)?;
        if byte > b' ' {
            return Some(byte);
        }
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Just after an object's `{`: `true` when it closes at once.
    fn empty(&mut self) -> Option<bool> {
        let closes = self.peek()? == b'}';
        self.at += usize::from(closes);
        Some(closes)
    }

    /// After a member: `true` at the object's end, `false` after a comma.
    fn end(&mut self) -> Option<bool> {
        let closes = match self.peek()? {
            b',' => false,
            b'}' => true,
            _ => return None,
        };
        self.at += 1;
        Some(closes)
    }

    /// A string without escapes or control characters (serde rejects the latter).
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut end = start;
        while !ENDS_STRING[usize::from(*bytes.get(end)?)] {
            end += 1;
        }
        if bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends are at ASCII quotes, so at character boundaries.
        self.text.get(start..end)
    }

    /// A string, number or boolean.
    fn scalar(&mut self) -> Option<Json<'a>> {
        match self.peek()? {
            b'"' => Some(Json::String(Cow::Borrowed(self.string()?))),
            b'-' | b'0'..=b'9' => Some(Json::Number(self.number()?)),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Json<'a>) -> Option<Json<'a>> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| {
            self.at = end;
            value
        })
    }

    /// A JSON number as serde_json reads it, correctly rounded (the workspace enables its
    /// `float_roundtrip`), or `None` where serde_json would not give a finite `f64`.
    fn number(&mut self) -> Option<f64> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let negative = bytes[start] == b'-';
        let mut at = start + usize::from(negative);
        // The digits' value while it stays exact, and how many there were.
        let mut mantissa = 0u64;
        let mut digits = |at: &mut usize| {
            let from = *at;
            while let Some(digit) = bytes.get(*at).and_then(|b| b.checked_sub(b'0')) {
                if digit > 9 {
                    break;
                }
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
                *at += 1;
            }
            *at - from
        };
        let integer_digits = digits(&mut at);
        if integer_digits == 0 || (integer_digits > 1 && bytes[at - integer_digits] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            fraction_digits = digits(&mut at);
            if fraction_digits == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let from = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == from {
                return None;
            }
            exponent = true;
        }
        self.at = at;
        if !exponent && integer_digits + fraction_digits <= 15 {
            // Fewer than 2⁵³ over an exact power of ten: one correctly rounded division, the
            // value every correctly rounding reader gives.
            let value = mantissa as f64 / EXACT_POWERS_OF_TEN[fraction_digits];
            return Some(if negative { -value } else { value });
        }
        let literal = &self.text[start..at];
        let value: f64 = literal.parse().ok()?;
        // Out of range, or so small that it rounds to zero: serde_json's own answer decides.
        let rounded_to_zero = value == 0.0 && literal.bytes().any(|b| matches!(b, b'1'..=b'9'));
        (value.is_finite() && !rounded_to_zero).then_some(value)
    }

    /// A position object of scalars; anything else in a position's place goes to serde.
    fn position(&mut self) -> Option<RawPoint<'a>> {
        self.expect(b'{')?;
        let (mut lat, mut lon) = (None, None);
        if !self.empty()? {
            loop {
                let key = self.string()?;
                self.expect(b':')?;
                let value = self.scalar()?;
                match key {
                    "lat" => set(&mut lat, value)?,
                    "lon" => set(&mut lon, value)?,
                    _ => {}
                }
                if self.end()? {
                    break;
                }
            }
        }
        Some(RawPoint::Object { lat, lon })
    }
}

#[cfg(test)]
mod tests;

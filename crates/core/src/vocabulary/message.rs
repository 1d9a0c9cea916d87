//! How messages quote what they found: values shortened so one huge field cannot flood a log,
//! numbers readable whatever their size.

use std::borrow::Cow;

/// At most 60 characters of a value for a message, so one huge field cannot flood logs.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 60;
    match text.char_indices().nth(MAX_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// A number as a message shows it: as written for ordinary values, in scientific notation for
/// huge or tiny ones so that `1e300` does not become three hundred digits.
pub(crate) fn number_text(n: f64) -> String {
    if n != 0.0 && !(1e-4..1e15).contains(&n.abs()) {
        format!("{n:e}")
    } else {
        n.to_string()
    }
}

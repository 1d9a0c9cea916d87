use super::*;
use crate::decode::canonical::{CanonicalDecoder, encode};
use proptest::prelude::*;

/// [`read_into`] as a value: the fields of a plainly written line, or `None`.
fn read(line: &str) -> Option<RawEvent<'_>> {
    let mut raw = RawEvent::default();
    read_into(line, &mut raw).map(|()| raw)
}

/// serde's pass over the same line.
fn serde_read(line: &str) -> Result<RawEvent<'_>, serde_json::Error> {
    serde_json::from_str(line)
}

/// The two readers agree on a line the plain reader takes; `Debug` tells `-0.0` from `0.0`.
fn assert_same_as_serde(line: &str) {
    if let Some(plain) = read(line) {
        match serde_read(line) {
            Ok(serde) => assert_eq!(format!("{plain:?}"), format!("{serde:?}"), "{line}"),
            Err(e) => panic!("serde rejects what the plain reader took ({e}): {line}"),
        }
    }
}

#[test]
fn plainly_written_lines_are_read_plainly_and_as_serde_reads_them() {
    let lines = [
        r#"{"kind":"trip","id":"b87acd0f","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","end_time":1714635600000,"origin":{"lat":59.8937,"lon":10.6281},"destination":{"lat":59.9127,"lon":10.6370},"distance_m":2140,"persons":1}"#,
        r#"{"kind":"count","id":"70429B619257/2024-05-02T05:00:00Z","source":"trafikkdata","mode":"bicycle","location":{"lat":59.9112,"lon":10.7041},"start_time":"2024-05-02T07:00:00+02:00","end_time":"2024-05-02T08:00:00+02:00","count":85,"persons_per_unit":1.0}"#,
        " \t{ \"kind\" : \"trip\" ,\r\n \"origin\" : { \"lon\" : -0 , \"lat\" : -12.5e-3 , \"alt\" : 3 } , \"vendor\" : true , \"x\" : false } \n",
        r#"{}"#,
        r#"{"origin":{}}"#,
        r#"{"source":"Bærum kommune 🚲","persons":1E2,"count":0.000001,"distance_m":123456789012345678901234567890}"#,
        r#"{"kind":7,"id":false,"start_time":-9007199254740993,"end_time":9007199254740993,"mode":""}"#,
    ];
    for line in lines {
        assert!(read(line).is_some(), "not read plainly: {line}");
        assert_same_as_serde(line);
    }
}

#[test]
fn what_the_ingest_api_writes_is_read_plainly() {
    let decoder = CanonicalDecoder::new(crate::testing::default_factors());
    let trip = r#"{"kind":"trip","id":"b87acd0f","source":"voi","mode":"e_scooter","start_time":1714635072000,"origin":{"lat":59.8937,"lon":10.6281},"destination":{"lat":59.9127,"lon":10.637},"distance_m":2140.5,"persons":0.333333}"#;
    let encoded = encode(&decoder.decode(trip.as_bytes(), None).unwrap());
    let encoded = std::str::from_utf8(&encoded).unwrap();
    assert!(read(encoded).is_some(), "{encoded}");
    assert_same_as_serde(encoded);
}

#[test]
fn anything_else_goes_to_serde() {
    let lines = [
        r#"{"kind":null}"#,
        r#"{"origin":{"lat":null,"lon":1}}"#,
        r#"{"source":"v\u00f8i"}"#,
        r#"{"source":"a\"b"}"#,
        "{\"source\":\"tab\there\"}",
        r#"{"kind":["trip"]}"#,
        r#"{"kind":{"a":1}}"#,
        r#"{"vendor":{"a":1}}"#,
        r#"{"vendor":[]}"#,
        r#"{"origin":[59.9,10.6]}"#,
        r#"{"origin":"59.9,10.6"}"#,
        r#"{"origin":{"lat":{"deg":59}}}"#,
        r#"{"kind":"trip","kind":"count"}"#,
        r#"{"origin":{"lat":1,"lat":2}}"#,
        r#"{"persons":1e400}"#,
        r#"{"persons":-1e400}"#,
        r#"{"persons":1e-400}"#,
        r#"{"persons":01}"#,
        r#"{"persons":1.}"#,
        r#"{"persons":.5}"#,
        r#"{"persons":-}"#,
        r#"{"persons":1e}"#,
        r#"{"persons":+1}"#,
        r#"{"persons":NaN}"#,
        r#"{"persons":1x}"#,
        r#"{"persons":tru}"#,
        r#"{"persons":1,}"#,
        r#"{,"persons":1}"#,
        r#"{"persons":1 "count":2}"#,
        r#"{"persons" 1}"#,
        r#"{"persons":1}}"#,
        r#"{"persons":1} x"#,
        r#"{"persons":1"#,
        r#"{"#,
        r#"[1]"#,
        r#""#,
    ];
    for line in lines {
        assert!(read(line).is_none(), "read plainly: {line}");
    }
}

/// Numbers at the edges of an `f64` and of the integers serde reads as such: both readers give
/// the same value, or the plain reader leaves the number to serde.
#[test]
fn numbers_at_the_edges_agree_with_serde() {
    let halfway = format!("9007199254740993.{}1", "0".repeat(800));
    let edges = [
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "2.2250738585072011e-308",
        "4.9e-324",
        "9007199254740993",
        "9007199254740993.000000000000000000001",
        &halfway,
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "999999999999999",
        "-999999999999999",
        "1000000000000000",
        "0.000000000000001",
        "-0.0",
        "-0",
        "1e0000000000000000000001",
        "1E-0",
    ];
    for number in edges {
        assert_same_as_serde(&format!("{{\"persons\":{number}}}"));
    }
    assert!(read(r#"{"persons":-0.0}"#).is_some());
}

/// A JSON value as text, plainly written or not, valid or not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        // Strings: plain ones of any characters but quotes, backslashes and controls; escaped
        // ones; ones with raw control characters.
        "[^\"\\\\\\x00-\\x1f]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{0,3}\\\\[\"\\\\/bfnrtu][0-9a-f]{0,4}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{0,3}[\\x00-\\x1f][a-z]{0,3}".prop_map(|s| format!("\"{s}\"")),
        // Numbers in every form, from the shortest to beyond an f64's range.
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        // Numbers that are not JSON.
        "[+-]?0[0-9]{1,3}|-|[0-9]+\\.|\\.[0-9]+|[0-9]+[eE]|NaN|Infinity|-Infinity",
        any::<f64>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
        Just("tru".to_string()),
        Just("[]".to_string()),
        Just("[1,{\"a\":2}]".to_string()),
        Just("{\"a\":{\"b\":1}}".to_string()),
    ]
}

/// A position: mostly objects of `lat`, `lon` and others, sometimes a scalar.
fn position() -> impl Strategy<Value = String> {
    let key = prop_oneof![Just("lat"), Just("lon"), Just("alt"), Just("Lat")];
    prop_oneof![
        4 => proptest::collection::vec((key, value()), 0..4).prop_map(|members| {
            let members: Vec<String> = members.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", members.join(","))
        }),
        1 => value(),
    ]
}

const KEYS: [&str; 15] = [
    "kind",
    "id",
    "source",
    "mode",
    "start_time",
    "end_time",
    "origin",
    "destination",
    "location",
    "distance_m",
    "persons",
    "count",
    "persons_per_unit",
    "vendor",
    "Kind",
];

/// A line: members of known and unknown keys (sometimes twice), with any JSON whitespace
/// between tokens, and now and then a broken piece of syntax.
fn line() -> impl Strategy<Value = String> {
    let member = (0..KEYS.len(), value(), position()).prop_map(|(k, v, p)| {
        let value = if matches!(KEYS[k], "origin" | "destination" | "location") {
            p
        } else {
            v
        };
        (KEYS[k], value)
    });
    let space = "[ \t\r\n]{0,2}";
    (
        proptest::collection::vec((member, space, space, space), 0..8),
        space,
        space,
        prop_oneof![8 => Just(""), 1 => Just(","), 1 => Just("}"), 1 => Just(" x")],
    )
        .prop_map(|(members, before, after, extra)| {
            let members: Vec<String> = members
                .into_iter()
                .map(|((key, value), a, b, c)| format!("{a}\"{key}\"{b}:{c}{value}"))
                .collect();
            format!("{before}{{{}}}{extra}{after}", members.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whatever the plain reader takes, serde takes too, with the same fields and values.
    #[test]
    fn the_plain_reader_agrees_with_serde(line in line()) {
        assert_same_as_serde(&line);
    }

    /// Numbers of every form are read to the same `f64` as serde's, or left to it.
    #[test]
    fn numbers_agree_with_serde(number in value()) {
        assert_same_as_serde(&format!("{{\"persons\":{number}}}"));
    }

    /// Decimals of up to 15 digits, the plain reader's own division: serde's value exactly.
    #[test]
    fn decimals_agree_with_serde(mantissa in 0..1_000_000_000_000_000u64, point in 0..16usize, negative in any::<bool>()) {
        let digits = format!("{mantissa:016}");
        let (integer, fraction) = digits.split_at(16 - point);
        let integer = integer.trim_start_matches('0');
        let integer = if integer.is_empty() { "0" } else { integer };
        let sign = if negative { "-" } else { "" };
        let number = if point == 0 { format!("{sign}{integer}") } else { format!("{sign}{integer}.{fraction}") };
        let line = format!("{{\"persons\":{number}}}");
        prop_assert!(read(&line).is_some(), "{}", line);
        assert_same_as_serde(&line);
    }

    /// Any text: read or left to serde, never a panic.
    #[test]
    fn any_text_never_panics(text in "\\PC{0,64}|[{}\\[\\]\":,0-9eE.+\\- a-z\\\\]{0,64}") {
        assert_same_as_serde(&text);
    }
}

proptest! {
    /// A string of any length with or without one quote, backslash or control character at
    /// any place: read where it ends, or left to serde where it is escaped or broken.
    #[test]
    fn strings_end_where_serde_says(
        text in "[a-zA-Z0-9 øæå🚲~\\x7f]{0,40}",
        special in proptest::option::of((any::<prop::sample::Index>(), prop_oneof![Just('"'), Just('\\'), (0u8..0x20).prop_map(char::from)])),
    ) {
        let mut text = text;
        if let Some((at, c)) = special {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            text.insert(boundaries[at.index(boundaries.len())], c);
        }
        let line = format!("{{\"source\":\"{text}\",\"x\":\"{text}\"}}");
        prop_assert_eq!(read(&line).is_some(), special.is_none(), "{}", line);
        assert_same_as_serde(&line);
    }
}

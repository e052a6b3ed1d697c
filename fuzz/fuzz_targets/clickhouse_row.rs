//! The ClickHouse action's encodings (`omclickhouse::row`), on messages
//! parsed from outside bytes: the default JSONEachRow line and a user
//! template's escaped literal must give back, read as ClickHouse reads them,
//! exactly the property bytes, and no value may end its string early.
//!
//! Input: a message as a sender sends it.
#![no_main]

use gsslog_fuzz::{parse_message, received_time};
use libfuzzer_sys::fuzz_target;
use omclickhouse::{escape_json, escape_literal, RowFormat};
use syslog::template::Template;

/// Reads a JSON string body as ClickHouse's JSONEachRow does, up to its
/// closing quote: the decoded bytes and what follows the quote.
fn json_string(s: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => return (out, &s[i + 1..]),
            b'\\' => {
                match s[i + 1] {
                    b'u' => {
                        let hex = std::str::from_utf8(&s[i + 2..i + 6]).unwrap();
                        let code = u32::from_str_radix(hex, 16).unwrap();
                        assert!(code < 0x80, "only bytes below 0x80 are written \\u");
                        out.push(code as u8);
                        i += 6;
                        continue;
                    }
                    c @ (b'"' | b'\\') => out.push(c),
                    c => panic!("unexpected escape \\{}", c as char),
                }
                i += 2;
            }
            c => {
                assert!(c >= 0x20 && c != 0x7f, "a raw control byte in a JSON string");
                out.push(c);
                i += 1;
            }
        }
    }
    panic!("unterminated JSON string");
}

/// Reads a ClickHouse string literal body up to its closing quote.
fn literal(s: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\'' => return (out, &s[i + 1..]),
            b'\\' => {
                match s[i + 1] {
                    b'x' => {
                        out.push(u8::from_str_radix(std::str::from_utf8(&s[i + 2..i + 4]).unwrap(), 16).unwrap());
                        i += 4;
                        continue;
                    }
                    c @ (b'\'' | b'\\') => out.push(c),
                    c => panic!("unexpected escape \\{}", c as char),
                }
                i += 2;
            }
            c => {
                assert!(c >= 0x20 && c != 0x7f, "a raw control byte in a literal");
                out.push(c);
                i += 1;
            }
        }
    }
    panic!("unterminated literal");
}

fuzz_target!(|data: &[u8]| {
    let Some(message) = parse_message(data, 1_790_000_000) else { return };
    let now = received_time(1_795_000_000);
    let render = |text: &str| {
        let mut out = Vec::new();
        Template::parse("t", text).0.render(&message, &now, &mut out);
        out
    };
    // The default row: one line, and each string column gives back its property.
    let mut row = Vec::new();
    RowFormat::standard().render(&message, &now, &mut row);
    assert_eq!(row.iter().filter(|&&b| b == b'\n').count(), 1, "one row, one line");
    let mut rest = &row[..];
    for (key, property) in [("hostname", "%hostname%"), ("tag", "%syslogtag%"), ("message", "%msg%")] {
        let marker = format!(",\"{key}\":\"");
        let at = rest.windows(marker.len()).position(|w| w == marker.as_bytes()).expect("the column is there");
        let (value, after) = json_string(&rest[at + marker.len()..]);
        assert_eq!(value, render(property), "{key}");
        rest = after;
    }
    assert_eq!(rest, b"}\n");
    // The same bytes through escape_json and escape_literal alone.
    let raw = render("%msg%");
    let mut json = Vec::new();
    escape_json(&raw, &mut json);
    json.push(b'"');
    assert_eq!(json_string(&json), (raw.clone(), &b""[..]));
    let mut lit = Vec::new();
    escape_literal(&raw, &mut lit);
    lit.extend_from_slice(b"')");
    assert_eq!(literal(&lit), (raw, &b")"[..]));
});

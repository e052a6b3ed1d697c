//! What one message becomes in the queue: a row, rendered on the
//! collector's render threads, stored as bytes, and sent later.
//!
//! - The default template (`StdClickHouseFmt`) renders one `JSONEachRow`
//!   line: `{"severity":6,"facility":4,"timestamp":1765130000,"hostname":"…",
//!   "tag":"…","message":"…"}`. In the strings, `"` and `\` are escaped with
//!   a backslash and the bytes below 0x20 and 0x7F as `\u00XX`; every other
//!   byte, including bytes that are not UTF-8, is copied as it is.
//!   ClickHouse's JSON reader takes string bytes as bytes and decodes
//!   `\u00XX` to the one byte XX, so a `String` column holds exactly the
//!   bytes the file output writes. The statement text is fixed and travels
//!   in the URL, apart from the data: no value is ever parsed as SQL.
//! - A user template renders the whole `INSERT` statement, as in rsyslog;
//!   every property value is escaped for a ClickHouse string literal by
//!   [`escape_literal`] (the template's own text is not).

use syslog::template::Template;
use syslog::{Message, Timestamp};

use crate::params::{DEFAULT_COLUMNS, DEFAULT_TABLE};

/// How an action turns a message into a row.
#[derive(Debug, Clone)]
pub enum RowFormat {
    /// `StdClickHouseFmt`, as JSONEachRow.
    Standard(Box<StandardColumns>),
    /// A user template rendering the INSERT statement.
    Statement(std::sync::Arc<Template>),
}

/// The default template's columns, each a one-property template.
#[derive(Debug, Clone)]
pub struct StandardColumns {
    numbers: [(&'static str, Template); 3],
    strings: [(&'static str, Template); 3],
}

impl StandardColumns {
    fn new() -> Self {
        let t = |text: &str| Template::parse("StdClickHouseFmt", text).0;
        StandardColumns {
            numbers: [("severity", t("%syslogseverity%")), ("facility", t("%syslogfacility%")), ("timestamp", t("%timereported:::date-unixtimestamp%"))],
            strings: [("hostname", t("%hostname%")), ("tag", t("%syslogtag%")), ("message", t("%msg%"))],
        }
    }
}

impl RowFormat {
    /// The default template.
    pub fn standard() -> Self {
        RowFormat::Standard(Box::new(StandardColumns::new()))
    }

    /// Renders `m`'s row onto `out`.
    pub fn render(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>) {
        match self {
            RowFormat::Standard(columns) => {
                let mut value = Vec::new();
                out.push(b'{');
                for (i, (name, t)) in columns.numbers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    value.clear();
                    t.render(m, now, &mut value);
                    out.push(b'"');
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                    // Always digits (a property the message lacks renders
                    // empty): anything else would make the line invalid.
                    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
                        out.extend_from_slice(&value);
                    } else {
                        out.push(b'0');
                    }
                }
                for (name, t) in &columns.strings {
                    value.clear();
                    t.render(m, now, &mut value);
                    out.extend_from_slice(b",\"");
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":\"");
                    escape_json(&value, out);
                    out.push(b'"');
                }
                out.extend_from_slice(b"}\n");
            }
            RowFormat::Statement(t) => t.render_escaped(m, now, out, escape_literal),
        }
    }

    /// The query a batch of these rows is sent under, in the URL; `None`
    /// when the rows are statements themselves (sent as the body).
    pub fn query(&self) -> Option<String> {
        match self {
            RowFormat::Standard(_) => Some(format!("INSERT INTO {DEFAULT_TABLE} ({DEFAULT_COLUMNS}) FORMAT JSONEachRow")),
            RowFormat::Statement(_) => None,
        }
    }
}

/// A value inside a JSON string, as ClickHouse's JSONEachRow reads it back
/// byte for byte (see the module's documentation).
pub fn escape_json(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f | 0x7f => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
            _ => out.push(b),
        }
    }
}

/// A property value inside a ClickHouse string literal (`'...'`): `\` and
/// `'` get a backslash before them, the bytes below 0x20 and 0x7F are
/// written `\xHH`; every other byte is copied (ClickHouse's strings are
/// bytes). The value can therefore neither end the literal nor carry a
/// byte that ClickHouse's parser would treat as anything but data.
pub fn escape_literal(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            0..=0x1f | 0x7f => out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use syslog::message::{parse, Origin, ParseOptions};
    use syslog::time::parse_rfc3339;

    fn msg(s: &[u8]) -> Message {
        let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
        let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi", provenance: Default::default() });
        parse(s, origin, base, &ParseOptions { max_message_size: 128 * 1024 }).unwrap()
    }

    fn row(format: &RowFormat, m: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        format.render(&msg(m), &parse_rfc3339(b"2026-11-05T08:09:10+00:00").unwrap().0, &mut out);
        out
    }

    #[test]
    fn the_standard_row_is_one_json_line() {
        let r = row(&RowFormat::standard(), b"<38>2026-12-07T17:53:20Z node1 sshd[42]: Accepted \"x\" \\ from y");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "{\"severity\":6,\"facility\":4,\"timestamp\":1796666000,\"hostname\":\"node1\",\"tag\":\"sshd[42]:\",\"message\":\" Accepted \\\"x\\\" \\\\ from y\"}\n"
        );
    }

    #[test]
    fn json_escaping_keeps_every_byte() {
        let mut out = Vec::new();
        escape_json(b"a\"b\\c\x00\x1f\x7f\xff\xfe", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\u0000\\u001f\\u007f\xff\xfe");
    }

    #[test]
    fn literal_escaping_cannot_end_the_literal() {
        let mut out = Vec::new();
        escape_literal(b"\\'); DROP TABLE x; --\x00\n\xff", &mut out);
        assert_eq!(out, b"\\\\\\'); DROP TABLE x; --\\x00\\x0A\xff");
        // Every quote in the output is preceded by an odd number of backslashes.
        for (i, &b) in out.iter().enumerate() {
            if b == b'\'' {
                let run = out[..i].iter().rev().take_while(|&&c| c == b'\\').count();
                assert_eq!(run % 2, 1);
            }
        }
    }

    #[test]
    fn a_user_template_escapes_values_not_its_text() {
        let t = Template::parse("t", "INSERT INTO t (m) VALUES ('%msg%')").0;
        let r = row(&RowFormat::Statement(Arc::new(t)), b"<13>Dec  7 10:00:00 h tag: it's \\' x");
        assert_eq!(String::from_utf8(r).unwrap(), "INSERT INTO t (m) VALUES (' it\\'s \\\\\\' x')");
    }
}

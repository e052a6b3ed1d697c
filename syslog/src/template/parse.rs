//! Parsing template text: literals with their escapes, and each
//! `%property:from:to:options%` entry into a [`PropertyRef`].

use regex::bytes::Regex;

use super::properties::{Property, INVALID_PROPERTY};
use super::replacer::{Case, ControlChars, Extract, NoMatch, PropertyRef, SecPath};
use super::{Part, Template, TemplateProblem};
use crate::time::DateFormat;

impl Template {
    /// Parses template text (the part between the quotes, escapes still in).
    /// Returns the template and, if it is malformed, what rsyslog would say.
    pub fn parse(name: &str, text: &str) -> (Template, Option<TemplateProblem>) {
        let mut parts = Vec::new();
        let mut problem = None;
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut literal = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if i + 1 < bytes.len() => {
                    i += 1;
                    match bytes[i] {
                        b'n' => literal.push(b'\n'),
                        b'r' => literal.push(b'\r'),
                        b't' => literal.push(b'\t'),
                        d @ b'0'..=b'7' if i + 2 < bytes.len() && bytes[i + 1].is_ascii_digit() && bytes[i + 2].is_ascii_digit() => {
                            literal.push((d - b'0') * 64 + (bytes[i + 1] - b'0') * 8 + (bytes[i + 2] - b'0'));
                            i += 2;
                        }
                        other => literal.push(other),
                    }
                    i += 1;
                }
                b'%' => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    let end = bytes[i + 1..].iter().position(|&c| c == b'%').map(|p| i + 1 + p);
                    let Some(end) = end else {
                        problem = Some(TemplateProblem(format!("unterminated property '%{}'", &text[i + 1..])));
                        break;
                    };
                    match parse_property(&text[i + 1..end]) {
                        Ok(p) => parts.push(Part::Property(p)),
                        Err(e) => {
                            parts.push(Part::Property(PropertyRef::plain(Property::Invalid)));
                            problem = Some(TemplateProblem(format!(
                                "{e}; rsyslog ignores the rest of the template ('{}') and writes {} in its place",
                                &text[i..],
                                String::from_utf8_lossy(INVALID_PROPERTY)
                            )));
                            break;
                        }
                    }
                    i = end + 1;
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        (Template { name: name.to_string(), parts }, problem)
    }
}

fn parse_property(spec: &str) -> Result<PropertyRef, String> {
    // name[:from:to[:options]]; a regex ends in "--end".
    let (name, rest) = match spec.find(':') {
        Some(p) => (&spec[..p], Some(&spec[p + 1..])),
        None => (spec, None),
    };
    let property = Property::from_name(name).ok_or_else(|| format!("invalid property '{name}'"))?;
    let mut r = PropertyRef::plain(property);
    let Some(rest) = rest else { return Ok(r) };
    let (from, rest) = split_once_or_all(rest, ':');
    let (to, options) = if from.starts_with('R') {
        let end = rest.find("--end").ok_or("regex without --end")?;
        let after = &rest[end + 5..];
        (&rest[..end], after.strip_prefix(':').unwrap_or(after))
    } else {
        split_once_or_all(rest, ':')
    };
    if let Some(re) = from.strip_prefix('R') {
        let params: Vec<&str> = re.trim_start_matches(',').split(',').collect();
        let ere = params.first().is_none_or(|t| *t != "BRE");
        let submatch = params.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let nomatch = match params.get(2).copied() {
            Some("BLANK") => NoMatch::Blank,
            Some("ZERO") => NoMatch::Zero,
            Some("FIELD") => NoMatch::Field,
            _ => NoMatch::Default,
        };
        let pattern = if ere { to.to_string() } else { bre_to_ere(to) };
        let re = Regex::new(&pattern).map_err(|e| format!("invalid regex '{to}': {e}"))?;
        r.extract = Extract::Regex { re, submatch, nomatch };
    } else if let Some(field) = from.strip_prefix('F') {
        let delimiter = match field.strip_prefix(',') {
            Some(d) => d.trim_end_matches('+').parse::<u8>().map_err(|_| format!("invalid field delimiter '{d}'"))?,
            None => b'\t',
        };
        let number = to.parse().map_err(|_| format!("invalid field number '{to}'"))?;
        r.extract = Extract::Field { delimiter, number };
    } else if !from.is_empty() || !to.is_empty() {
        let from_n: usize = if from.is_empty() { 1 } else { from.parse().map_err(|_| format!("invalid start position '{from}'"))? };
        let to_n = if to.is_empty() || to == "$" { None } else { Some(to.parse().map_err(|_| format!("invalid end position '{to}'"))?) };
        r.extract = Extract::Substring { from: from_n.max(1), to: to_n };
    }
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match opt.to_ascii_lowercase().as_str() {
            "lowercase" => r.case = Case::Lower,
            "uppercase" => r.case = Case::Upper,
            "escape-cc" => r.control = ControlChars::Escape,
            "drop-cc" => r.control = ControlChars::Drop,
            "space-cc" => r.control = ControlChars::Space,
            "drop-last-lf" => r.drop_last_lf = true,
            "sp-if-no-1st-sp" => r.sp_if_no_first_sp = true,
            "secpath-drop" => r.secpath = SecPath::Drop,
            "secpath-replace" => r.secpath = SecPath::Replace,
            "date-utc" => r.utc = true,
            "date-rfc3164" => r.date = DateFormat::Rfc3164,
            "date-rfc3164-buggyday" => r.date = DateFormat::Rfc3164BuggyDay,
            "date-rfc3339" => r.date = DateFormat::Rfc3339,
            "date-mysql" => r.date = DateFormat::Mysql,
            "date-pgsql" => r.date = DateFormat::Pgsql,
            "date-unixtimestamp" | "date-unix" => r.date = DateFormat::Unix,
            "date-year" => r.date = DateFormat::Year,
            "date-month" => r.date = DateFormat::Month,
            "date-day" => r.date = DateFormat::Day,
            "date-hour" => r.date = DateFormat::Hour,
            "date-minute" => r.date = DateFormat::Minute,
            "date-second" => r.date = DateFormat::Second,
            "date-subseconds" => r.date = DateFormat::Subseconds,
            "date-wday" => r.date = DateFormat::Wday,
            "date-tzoffshour" => r.date = DateFormat::TzOffsHour,
            other => return Err(format!("unknown property option '{other}'")),
        }
    }
    Ok(r)
}

fn split_once_or_all(s: &str, c: char) -> (&str, &str) {
    s.split_once(c).unwrap_or((s, ""))
}

/// POSIX basic regular expressions: `\( \) \{ \} \| \+ \?` are operators and
/// the bare characters are literals; the regex crate speaks the extended form.
pub(crate) fn bre_to_ere(bre: &str) -> String {
    let mut out = String::new();
    let mut chars = bre.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(op @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) => out.push(op),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

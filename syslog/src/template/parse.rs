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
                            // Up to \799: like C's `(char)` cast, keep the low 8 bits.
                            let value = u32::from(d - b'0') * 64 + u32::from(bytes[i + 1] - b'0') * 8 + u32::from(bytes[i + 2] - b'0');
                            literal.push(value as u8);
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
                        Ok((p, warning)) => {
                            parts.push(Part::Property(p));
                            if let Some(w) = warning {
                                problem.get_or_insert(TemplateProblem(w));
                            }
                        }
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

/// Parses one entry the way rsyslog's `template.c` (`do_Parameter`) does:
/// `name[:from:to[:options[:fieldname]]]`. An unknown property name is an
/// error (rsyslog then ignores the rest of the template); a bad option or a
/// regex that does not compile is a warning, and the entry is kept as
/// rsyslog keeps it.
fn parse_property(spec: &str) -> Result<(PropertyRef, Option<String>), String> {
    let (name, rest) = match spec.find(':') {
        Some(p) => (&spec[..p], Some(&spec[p + 1..])),
        None => (spec, None),
    };
    let property = Property::from_name(name).ok_or_else(|| format!("invalid property '{name}'"))?;
    let mut r = PropertyRef::plain(property);
    let mut warning = None;
    let Some(rest) = rest else { return Ok((r, warning)) };
    let (from, rest) = split_once_or_all(rest, ':');
    let mut is_regex = false;
    let mut is_field = false;
    let mut regex_ere = false;
    let (mut submatch, mut match_index, mut nomatch) = (0, 0, NoMatch::Default);
    if let Some(params) = from.strip_prefix('R') {
        is_regex = true;
        let mut params = params.split(',').skip(1).peekable();
        match params.peek().copied() {
            Some("ERE") => {
                regex_ere = true;
                params.next();
            }
            Some("BRE") => {
                params.next();
            }
            _ => {}
        }
        if let Some(n) = params.next() {
            submatch = first_digit(n);
        }
        if let Some(mode) = params.next() {
            nomatch = match mode {
                "BLANK" => NoMatch::Blank,
                "ZERO" => NoMatch::Zero,
                "FIELD" => NoMatch::Field,
                _ => NoMatch::Default,
            };
        }
        if let Some(n) = params.next() {
            match_index = first_digit(n);
        }
    } else if let Some(field) = from.strip_prefix('F') {
        is_field = true;
        let delimiter = match field.strip_prefix(',') {
            None => b'\t',
            Some(d) => {
                let (delim, field_from) = split_once_or_all(d, ',');
                r.from = leading_number(field_from);
                match delim.trim_end_matches('+').parse::<u16>() {
                    Ok(n) if n <= 255 => n as u8,
                    _ => return Err(format!("invalid field delimiter '{delim}' (a DECIMAL character code)")),
                }
            }
        };
        r.extract = Extract::Field { delimiter, number: 0 };
    } else {
        r.from = leading_number(from);
    }
    let options = if is_regex {
        let end = rest.find("--end").ok_or("regex without --end")?;
        let pattern = &rest[..end];
        let translated = if regex_ere { pattern.to_string() } else { bre_to_ere(pattern) };
        let re = match Regex::new(&translated) {
            Ok(re) => Some(re),
            Err(e) => {
                warning = Some(format!("invalid regex '{pattern}': {e}; rsyslog writes \"**NO MATCH** **BAD REGULAR EXPRESSION**\""));
                None
            }
        };
        r.extract = Extract::Regex { re, submatch, match_index, nomatch };
        let after = &rest[end + 5..];
        after.strip_prefix(':').unwrap_or(after)
    } else {
        let (to, options) = split_once_or_all(rest, ':');
        if to.starts_with('$') {
            r.to = 9_999_999;
        } else if is_field {
            let (number, field_to) = split_once_or_all(to, ',');
            if let Extract::Field { number: n, .. } = &mut r.extract {
                *n = leading_number(number);
            }
            r.to = leading_number(field_to);
        } else {
            r.to = leading_number(to);
        }
        options
    };
    // Options end at a ':' (a field name for JSON output follows) or the end.
    let options = options.split(':').next().unwrap_or("");
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        if let Err(e) = apply_option(&mut r, &opt.to_ascii_lowercase()) {
            warning.get_or_insert(e);
        }
    }
    let swap = if r.end_relative { r.to > r.from } else { r.to < r.from };
    if swap {
        (r.from, r.to) = (r.to, r.from);
    }
    Ok((r, warning))
}

/// The digits at the start of `s` as a number (rsyslog skips what follows).
fn leading_number(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0')))
}

/// A single-digit regex parameter (submatch, match number).
fn first_digit(s: &str) -> usize {
    s.bytes().next().filter(u8::is_ascii_digit).map_or(0, |d| usize::from(d - b'0'))
}

fn apply_option(r: &mut PropertyRef, opt: &str) -> Result<(), String> {
    match opt {
        "lowercase" => r.case = Case::Lower,
        "uppercase" => r.case = Case::Upper,
        "escape-cc" => r.control = ControlChars::Escape,
        "drop-cc" => r.control = ControlChars::Drop,
        "space-cc" => r.control = ControlChars::Space,
        "drop-last-lf" => r.drop_last_lf = true,
        "sp-if-no-1st-sp" => r.sp_if_no_first_sp = true,
        "secpath-drop" => r.secpath = SecPath::Drop,
        "secpath-replace" => r.secpath = SecPath::Replace,
        "compressspace" => r.compress_space = true,
        "csv" => r.csv = true,
        "pos-end-relative" => r.end_relative = true,
        "fixed-width" => r.fixed_width = true,
        "mandatory-field" => {}
        "date-utc" => r.utc = true,
        "date-rfc3164" => r.date = DateFormat::Rfc3164,
        "date-rfc3164-buggyday" => r.date = DateFormat::Rfc3164BuggyDay,
        "date-rfc3339" => r.date = DateFormat::Rfc3339,
        "date-mysql" => r.date = DateFormat::Mysql,
        "date-pgsql" => r.date = DateFormat::Pgsql,
        "date-unixtimestamp" => r.date = DateFormat::Unix,
        "date-year" => r.date = DateFormat::Year,
        "date-month" => r.date = DateFormat::Month,
        "date-day" => r.date = DateFormat::Day,
        "date-hour" => r.date = DateFormat::Hour,
        "date-minute" => r.date = DateFormat::Minute,
        "date-second" => r.date = DateFormat::Second,
        "date-subseconds" => r.date = DateFormat::Subseconds,
        "date-wday" => r.date = DateFormat::Wday,
        "date-tzoffshour" => r.date = DateFormat::TzOffsHour,
        other => return Err(format!("property option '{other}' is not supported (rsyslog ignores an option it does not know; this collector ignores it too)")),
    }
    Ok(())
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

//! rsyslog templates (`$template Name,"text %property:from:to:options% text"`)
//! and the property replacer.

use regex::bytes::Regex;

use crate::message::{Message, FACILITY_NAMES, SEVERITY_NAMES};
use crate::time::{push2, push4, Timestamp};

/// What rsyslog writes for an entry whose property name was invalid.
pub const INVALID_PROPERTY: &[u8] = b"**INVALID PROPERTY NAME**";
const NO_MATCH: &[u8] = b"**NO MATCH**";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    Msg,
    RawMsg,
    Hostname,
    FromHost,
    FromHostIp,
    SyslogTag,
    ProgramName,
    Pri,
    PriText,
    Facility,
    FacilityText,
    Severity,
    SeverityText,
    TimeReported,
    TimeGenerated,
    InputName,
    AppName,
    ProcId,
    MsgId,
    StructuredData,
    ProtocolVersion,
    /// `$NOW`, `$YEAR`, …: local (or UTC) time when the template is rendered.
    Now(NowField, bool),
    /// An entry rsyslog registered with an invalid name.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NowField {
    Now,
    Year,
    Month,
    Day,
    Hour,
    HHour,
    QHour,
    Minute,
    Wday,
}

impl Property {
    /// Property names are case-insensitive, as in rsyslog's code.
    pub fn from_name(name: &str) -> Option<Property> {
        let n = name.to_ascii_lowercase();
        let (base, utc) = match n.strip_suffix("-utc") {
            Some(b) if b.starts_with('$') => (b.to_string(), true),
            _ => (n.clone(), false),
        };
        Some(match base.as_str() {
            "msg" => Property::Msg,
            "rawmsg" => Property::RawMsg,
            "hostname" | "source" => Property::Hostname,
            "fromhost" => Property::FromHost,
            "fromhost-ip" => Property::FromHostIp,
            "syslogtag" => Property::SyslogTag,
            "programname" => Property::ProgramName,
            "pri" => Property::Pri,
            "pri-text" => Property::PriText,
            "syslogfacility" => Property::Facility,
            "syslogfacility-text" => Property::FacilityText,
            "syslogseverity" | "syslogpriority" => Property::Severity,
            "syslogseverity-text" | "syslogpriority-text" => Property::SeverityText,
            "timereported" | "timestamp" => Property::TimeReported,
            "timegenerated" => Property::TimeGenerated,
            "inputname" => Property::InputName,
            "app-name" => Property::AppName,
            "procid" => Property::ProcId,
            "msgid" => Property::MsgId,
            "structured-data" => Property::StructuredData,
            "protocol-version" => Property::ProtocolVersion,
            "$now" => Property::Now(NowField::Now, utc),
            "$year" => Property::Now(NowField::Year, utc),
            "$month" => Property::Now(NowField::Month, utc),
            "$day" => Property::Now(NowField::Day, utc),
            "$hour" => Property::Now(NowField::Hour, utc),
            "$hhour" => Property::Now(NowField::HHour, utc),
            "$qhour" => Property::Now(NowField::QHour, utc),
            "$minute" => Property::Now(NowField::Minute, utc),
            "$wday" => Property::Now(NowField::Wday, utc),
            _ => return None,
        })
    }

    fn timestamp<'m>(&self, m: &'m Message) -> Option<&'m Timestamp> {
        match self {
            Property::TimeReported => Some(&m.reported),
            Property::TimeGenerated => Some(&m.generated),
            _ => None,
        }
    }

    /// The raw value of a non-date property.
    pub fn value<'m>(&self, m: &'m Message, scratch: &'m mut Vec<u8>) -> &'m [u8] {
        match self {
            Property::Msg => m.msg(),
            Property::RawMsg => &m.raw,
            Property::Hostname => m.hostname(),
            Property::FromHost => m.origin.fromhost.as_bytes(),
            Property::FromHostIp => m.origin.fromhost_ip.as_bytes(),
            Property::SyslogTag => m.tag(),
            Property::ProgramName => m.programname(),
            Property::InputName => m.origin.inputname.as_bytes(),
            // RFC 3164 messages have no APP-NAME or PROCID: rsyslog emulates
            // them from the TAG (programname, and what stands in [brackets]).
            Property::AppName if m.protocol == 0 => m.programname(),
            Property::ProcId if m.protocol == 0 => nil_if_empty(legacy_procid(m.tag())),
            Property::AppName => nil_if_empty(m.app_name()),
            Property::ProcId => nil_if_empty(m.procid()),
            Property::MsgId => nil_if_empty(m.msgid()),
            Property::StructuredData => nil_if_empty(m.structured_data()),
            Property::FacilityText => name(&FACILITY_NAMES, m.facility()),
            Property::SeverityText => name(&SEVERITY_NAMES, m.severity()),
            Property::Invalid => INVALID_PROPERTY,
            _ => {
                scratch.clear();
                let s = match self {
                    Property::Pri => m.pri.to_string(),
                    Property::Facility => m.facility().to_string(),
                    Property::Severity => m.severity().to_string(),
                    Property::ProtocolVersion => m.protocol.to_string(),
                    // rsyslog 8.2302 writes "kern.emerg" (its docs show a "<pri>" suffix).
                    Property::PriText => format!(
                        "{}.{}",
                        String::from_utf8_lossy(name(&FACILITY_NAMES, m.facility())),
                        String::from_utf8_lossy(name(&SEVERITY_NAMES, m.severity()))
                    ),
                    _ => String::new(),
                };
                scratch.extend_from_slice(s.as_bytes());
                scratch
            }
        }
    }
}

/// The `pid` of a `prog[pid]:` TAG.
fn legacy_procid(tag: &[u8]) -> &[u8] {
    let Some(open) = tag.iter().position(|&c| c == b'[') else { return b"" };
    let rest = &tag[open + 1..];
    match rest.iter().position(|&c| c == b']') {
        Some(close) => &rest[..close],
        None => b"",
    }
}

fn nil_if_empty(v: &[u8]) -> &[u8] {
    if v.is_empty() {
        b"-"
    } else {
        v
    }
}

fn name(names: &[&'static str], i: u8) -> &'static [u8] {
    names.get(usize::from(i)).map_or(b"invld", |n| n.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    Default,
    Rfc3164,
    Rfc3164BuggyDay,
    Rfc3339,
    Mysql,
    Pgsql,
    Unix,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Subseconds,
    Wday,
    TzOffsHour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlChars {
    Keep,
    Escape,
    Drop,
    Space,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecPath {
    Keep,
    Drop,
    Replace,
}

#[derive(Debug, Clone)]
enum Extract {
    None,
    /// 1-based, inclusive; `to == None` means to the end.
    Substring { from: usize, to: Option<usize> },
    Regex { re: Regex, submatch: usize, nomatch: NoMatch },
    Field { delimiter: u8, number: usize },
}

#[derive(Debug, Clone, Copy)]
enum NoMatch {
    Default,
    Blank,
    Zero,
    Field,
}

/// One `%property:from:to:options%` entry.
#[derive(Debug, Clone)]
pub struct PropertyRef {
    pub property: Property,
    extract: Extract,
    date: DateFormat,
    utc: bool,
    case: Case,
    control: ControlChars,
    drop_last_lf: bool,
    sp_if_no_first_sp: bool,
    /// rsyslog's built-in formats are C code (strgen modules) that add the
    /// space also when MSG is empty; a template string does not.
    space_even_if_empty: bool,
    secpath: SecPath,
}

impl PropertyRef {
    pub fn plain(property: Property) -> Self {
        PropertyRef {
            property,
            extract: Extract::None,
            date: DateFormat::Default,
            utc: false,
            case: Case::Keep,
            control: ControlChars::Keep,
            drop_last_lf: false,
            sp_if_no_first_sp: false,
            space_even_if_empty: false,
            secpath: SecPath::Keep,
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Literal(Vec<u8>),
    Property(PropertyRef),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    parts: Vec<Part>,
}

/// A problem in a template's text. rsyslog keeps such a template, cut at the
/// error, and renders the bad entry as `**INVALID PROPERTY NAME**`; so do we,
/// and the config check reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem(pub String);

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

    /// Properties this template reads (for config checks).
    pub fn properties(&self) -> impl Iterator<Item = &PropertyRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Property(r) => Some(r),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template for `m`; `now` is the time `$NOW` and friends use.
    pub fn render(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>) {
        self.render_with(m, now, out, false);
    }

    /// Whether every message of one batch (one session, one `$NOW`) renders
    /// the same text: the template uses only the sender and the clock.
    pub fn same_for_a_batch(&self) -> bool {
        self.parts.iter().all(|part| match part {
            Part::Literal(_) => true,
            Part::Property(p) => matches!(
                p.property,
                Property::FromHost | Property::FromHostIp | Property::InputName | Property::Now(..)
            ),
        })
    }

    /// Renders a file path: no property value can add a directory level or
    /// climb out of one (`/` becomes `_`, a value `.` or `..` becomes `_`).
    pub fn render_path(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>) {
        self.render_with(m, now, out, true);
    }

    fn render_with(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>, path: bool) {
        let mut scratch = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Property(p) => {
                    let start = out.len();
                    render_property(p, m, now, out, &mut scratch);
                    if path {
                        make_path_safe(out, start);
                    }
                }
            }
        }
    }
}

/// Neutralises the value at `out[start..]` for use in a file path.
fn make_path_safe(out: &mut Vec<u8>, start: usize) {
    for c in out[start..].iter_mut() {
        if *c == b'/' || *c == 0 {
            *c = b'_';
        }
    }
    if &out[start..] == b"." || &out[start..] == b".." {
        out.truncate(start);
        out.push(b'_');
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

/// A property's value with no replacer options (dates in the default format).
pub(crate) fn render_plain(property: Property, m: &Message, out: &mut Vec<u8>) {
    render_property(&PropertyRef::plain(property), m, &Timestamp::now(), out, &mut Vec::new());
}

impl PropertyRef {
    /// True when the value is used as it is, or only looked at (first space,
    /// last LF): no copy is needed.
    fn borrows(&self) -> bool {
        matches!(self.extract, Extract::None) && self.case == Case::Keep && self.control == ControlChars::Keep && self.secpath == SecPath::Keep
    }
}

fn render_property(p: &PropertyRef, m: &Message, now: &Timestamp, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    if p.borrows() && !matches!(p.property, Property::Now(..)) {
        // The common case (the built-in formats, plain %property%): no copies.
        let value: &[u8] = match p.property.timestamp(m) {
            Some(ts) => {
                scratch.clear();
                format_date_into(ts, p.date, p.utc, scratch);
                scratch
            }
            None => p.property.value(m, scratch),
        };
        if p.sp_if_no_first_sp {
            let space = match value.first() {
                Some(&c) => c != b' ',
                None => p.space_even_if_empty,
            };
            if space {
                out.push(b' ');
            }
            return;
        }
        let value = match value {
            [head @ .., b'\n'] if p.drop_last_lf => head,
            v => v,
        };
        out.extend_from_slice(value);
        return;
    }
    let mut value: Vec<u8> = if let Property::Now(field, utc) = p.property {
        let t = if utc { now.to_utc() } else { *now };
        let mut v = Vec::new();
        match field {
            NowField::Now => t.write_date(&mut v, b'-'),
            NowField::Year => push4(&mut v, t.year),
            NowField::Month => push2(&mut v, t.month.into()),
            NowField::Day => push2(&mut v, t.day.into()),
            NowField::Hour => push2(&mut v, t.hour.into()),
            NowField::HHour => push2(&mut v, u32::from(t.minute) / 30),
            NowField::QHour => push2(&mut v, u32::from(t.minute) / 15),
            NowField::Minute => push2(&mut v, t.minute.into()),
            NowField::Wday => v.extend_from_slice(t.weekday().to_string().as_bytes()),
        }
        v
    } else if let Some(ts) = p.property.timestamp(m) {
        let mut v = Vec::new();
        format_date_into(ts, p.date, p.utc, &mut v);
        v
    } else {
        p.property.value(m, scratch).to_vec()
    };

    value = match &p.extract {
        Extract::None => value,
        Extract::Substring { from, to } => {
            let start = (from - 1).min(value.len());
            let end = to.map_or(value.len(), |t| t.min(value.len())).max(start);
            value[start..end].to_vec()
        }
        Extract::Regex { re, submatch, nomatch } => match re.captures(&value).and_then(|c| c.get(*submatch)) {
            Some(found) => found.as_bytes().to_vec(),
            None => match nomatch {
                NoMatch::Default => NO_MATCH.to_vec(),
                NoMatch::Blank => Vec::new(),
                NoMatch::Zero => b"0".to_vec(),
                NoMatch::Field => value,
            },
        },
        Extract::Field { delimiter, number } => {
            value.split(|c| c == delimiter).nth(number.saturating_sub(1)).map(<[u8]>::to_vec).unwrap_or_else(|| NO_MATCH.to_vec())
        }
    };
    match p.case {
        Case::Keep => {}
        Case::Lower => value.make_ascii_lowercase(),
        Case::Upper => value.make_ascii_uppercase(),
    }
    if p.control != ControlChars::Keep && value.iter().any(|c| *c < 32) {
        let mut v = Vec::with_capacity(value.len());
        for c in value {
            match (c < 32, p.control) {
                (false, _) | (true, ControlChars::Keep) => v.push(c),
                (true, ControlChars::Drop) => {}
                (true, ControlChars::Space) => v.push(b' '),
                (true, ControlChars::Escape) => v.extend_from_slice(format!("#{:03o}", c).as_bytes()),
            }
        }
        value = v;
    }
    if p.drop_last_lf && value.last() == Some(&b'\n') {
        value.pop();
    }
    match p.secpath {
        SecPath::Keep => {}
        SecPath::Drop => value.retain(|c| *c != b'/'),
        SecPath::Replace => value.iter_mut().filter(|c| **c == b'/').for_each(|c| *c = b'_'),
    }
    if p.secpath != SecPath::Keep && (value.as_slice() == b"." || value.as_slice() == b"..") {
        value = b"_".to_vec();
    }
    if p.sp_if_no_first_sp {
        // rsyslog: the whole value becomes one space, or nothing (also for an
        // empty value).
        let space = match value.first() {
            Some(&c) => c != b' ',
            None => p.space_even_if_empty,
        };
        out.extend_from_slice(if space { b" " } else { b"" });
        return;
    }
    out.extend_from_slice(&value);
}

fn format_date_into(ts: &Timestamp, format: DateFormat, utc: bool, v: &mut Vec<u8>) {
    let t = if utc { ts.to_utc() } else { *ts };
    let start = v.len();
    match format {
        DateFormat::Default | DateFormat::Rfc3164 => t.write_rfc3164(v),
        DateFormat::Rfc3164BuggyDay => {
            t.write_rfc3164(v);
            if v[start + 4] == b' ' {
                v[start + 4] = b'0';
            }
        }
        DateFormat::Rfc3339 => t.write_rfc3339(v),
        DateFormat::Mysql => t.write_mysql(v),
        DateFormat::Pgsql => {
            t.write_date(v, b'-');
            v.extend_from_slice(format!(" {:02}:{:02}:{:02}", t.hour, t.minute, t.second).as_bytes());
        }
        DateFormat::Unix => v.extend_from_slice(t.unix().to_string().as_bytes()),
        DateFormat::Year => push4(v, t.year),
        DateFormat::Month => push2(v, t.month.into()),
        DateFormat::Day => push2(v, t.day.into()),
        DateFormat::Hour => push2(v, t.hour.into()),
        DateFormat::Minute => push2(v, t.minute.into()),
        DateFormat::Second => push2(v, t.second.into()),
        DateFormat::Subseconds => t.write_secfrac(v),
        DateFormat::Wday => v.extend_from_slice(t.weekday().to_string().as_bytes()),
        DateFormat::TzOffsHour => push2(v, t.offset_hour.into()),
    }
}

/// rsyslog's built-in templates.
pub fn builtin(name: &str) -> Option<Template> {
    let text = match name {
        "RSYSLOG_FileFormat" => "%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        "RSYSLOG_TraditionalFileFormat" => "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        "RSYSLOG_ForwardFormat" => "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
        "RSYSLOG_TraditionalForwardFormat" => "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
        "RSYSLOG_SyslogProtocol23Format" => "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\\n",
        "RSYSLOG_FileFormatUTC" => "%TIMESTAMP:::date-rfc3339,date-utc% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        _ => return None,
    };
    let mut t = Template::parse(name, text).0;
    for part in &mut t.parts {
        if let Part::Property(p) = part {
            p.space_even_if_empty = p.sp_if_no_first_sp;
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Origin, ParseOptions};
    use crate::time::parse_rfc3339;
    use std::sync::Arc;

    fn msg(s: &str) -> Message {
        let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
        let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi" });
        parse(s.as_bytes(), origin, base, &ParseOptions::default()).unwrap()
    }

    fn render(t: &Template, m: &Message) -> String {
        let now = parse_rfc3339(b"2026-11-05T08:09:10+00:00").unwrap().0;
        let mut out = Vec::new();
        t.render(m, &now, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn builtin_file_formats() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd[42]: accepted");
        assert_eq!(render(&builtin("RSYSLOG_FileFormat").unwrap(), &m), "2026-11-23T12:14:25+00:00 vm sshd[42]: accepted\n");
        assert_eq!(render(&builtin("RSYSLOG_TraditionalFileFormat").unwrap(), &m), "Nov 23 12:14:25 vm sshd[42]: accepted\n");
        assert_eq!(
            render(&builtin("RSYSLOG_TraditionalForwardFormat").unwrap(), &m),
            "<38>Nov 23 12:14:25 vm sshd[42]: accepted"
        );
        let m = msg("<13>1 2026-11-23T12:00:00Z vm app - - - hi");
        assert_eq!(render(&builtin("RSYSLOG_FileFormat").unwrap(), &m), "2026-11-23T12:00:00Z vm app hi\n");
    }

    #[test]
    fn seed_paths_and_the_typo() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd: x");
        let (t, p) = Template::parse("t", "/var/log/hosts/%$YEAR%/%$MONTH%/%fromhost-ip%/auth.log");
        assert!(p.is_none());
        assert_eq!(render(&t, &m), "/var/log/hosts/2026/11/127.0.0.2/auth.log");
        let (t, p) = Template::parse("t", "/var/log/hosts/pbs/%$YEAR%/%$MONTH%/log.%$YEAR%$MONTH%%$DAY%");
        assert!(p.unwrap().0.contains("invalid property ''"));
        assert_eq!(render(&t, &m), "/var/log/hosts/pbs/2026/11/log.2026$MONTH**INVALID PROPERTY NAME**");
    }

    #[test]
    fn replacer_options() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd[42]: User Root/../x");
        let r = |s: &str| render(&Template::parse("t", s).0, &m);
        assert_eq!(r("%syslogtag:1:4%"), "sshd");
        assert_eq!(r("%msg:2:5:uppercase%"), "USER");
        assert_eq!(r("%msg:R,ERE,1,DFLT:(R[a-z]+)--end%"), "Root");
        assert_eq!(r("%msg:R,ERE,1,DFLT:(Z+)--end%"), "**NO MATCH**");
        assert_eq!(r("%msg:F,47:2%"), "..");
        assert_eq!(r("%timereported:::date-year%-%timereported:::date-month%"), "2026-11");
        assert_eq!(r("%pri-text% %syslogfacility-text%.%syslogseverity-text%"), "auth.info auth.info");
        assert_eq!(r("%app-name% %procid% %msgid%"), "sshd 42 -");
        assert_eq!(r("%msg:::secpath-replace%"), " User Root_.._x");
        let mut out = Vec::new();
        Template::parse("p", "/x/%msg:F,47:2%/%programname%").0.render_path(&m, &m.generated, &mut out);
        assert_eq!(out, b"/x/_/sshd", "a value of '..' cannot climb out of the directory");
    }

    #[test]
    fn octal_escape_above_0377_keeps_the_low_byte_instead_of_panicking() {
        // Found by the template fuzz target: `\444` overflowed a u8 (a panic in
        // debug builds). As C's `(char)` cast, only the low 8 bits are kept.
        let m = msg("<13>x");
        assert_eq!(render(&Template::parse("t", "\\444").0, &m).as_bytes(), b"$");
        assert_eq!(render(&Template::parse("t", "a\\101").0, &m), "aA");
        let mut out = Vec::new();
        Template::parse("t", "\\777").0.render(&m, &m.generated, &mut out);
        assert_eq!(out, [0xff]);
    }
}

//! A rule's [`Filter`], one of the two legacy filters: facility/priority selectors (`auth.*,authpriv.*`,
//! `*.*;kern,auth,authpriv.none`) and property filters
//! (`:programname, contains, "pbs mom"`).

use regex::bytes::Regex;

use crate::message::{Message, FACILITY_NAMES};
use crate::template::Property;

/// The filter of a rule: a selector line or a property filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `facility.priority;...`
    Selector(Selector),
    /// `:property, compare-op, "value"`
    Property(PropertyFilter),
    /// A RainerScript condition (`if ... then`), with the conditions of the
    /// blocks around it.
    Expr(std::sync::Arc<crate::expr::Expr>),
}

impl Filter {
    /// Whether message `m` passes the filter.
    pub fn matches(&self, m: &Message) -> bool {
        match self {
            Filter::Selector(s) => s.matches(m.facility(), m.severity()),
            Filter::Property(p) => p.matches(m),
            Filter::Expr(e) => e.matches(m),
        }
    }
}

/// Facilities 0..=23 from the network, 24 for an invalid PRI, 25 for "mark".
const FACILITY_SLOTS: usize = 26;
const MARK: usize = 25;

/// A per-facility severity bit mask, as rsyslog builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    masks: [u8; FACILITY_SLOTS],
}

impl Selector {
    /// Parses a selector field such as `*.*;kern,auth,authpriv.none`. Parts
    /// separated by `;` apply left to right, each overwriting the facilities it
    /// names; `,` separates facilities sharing a priority or whole `fac.pri` items.
    pub fn parse(field: &str) -> Result<Selector, String> {
        let mut masks = [0u8; FACILITY_SLOTS];
        let b = field.as_bytes();
        let mut p = 0;
        while p < b.len() {
            // The facility list runs to the '.', the priority from there to , ; or the end.
            let dot = b[p..].iter().position(|&c| c == b'.').map(|d| p + d).ok_or_else(|| format!("selector '{field}' has no priority (missing '.')"))?;
            let mut q = dot + 1;
            while q < b.len() && !matches!(b[q], b',' | b';') {
                q += 1;
            }
            let facilities = &field[p..dot];
            let priority = &field[dot + 1..q];
            let (mask_op, sev) = parse_priority(priority)?;
            for fac in facilities.split(',').filter(|f| !f.is_empty()) {
                for slot in facility_slots(fac)? {
                    masks[slot] = mask_op.apply(masks[slot], sev);
                }
            }
            p = q;
            while p < b.len() && matches!(b[p], b';' | b',') {
                p += 1;
            }
        }
        Ok(Selector { masks })
    }

    /// Whether a message of this facility and severity is selected.
    pub fn matches(&self, facility: u8, severity: u8) -> bool {
        self.masks.get(usize::from(facility)).is_some_and(|m| m & (1 << (severity & 7)) != 0)
    }
}

#[derive(Debug, Clone, Copy)]
enum MaskOp {
    All,
    None,
    UpTo,
    Exactly,
    NotUpTo,
    NotExactly,
}

impl MaskOp {
    fn apply(self, mask: u8, sev: u8) -> u8 {
        let up_to = if sev >= 7 { 0xff } else { (1u8 << (sev + 1)) - 1 };
        // `!` only removes bits: on its own (`mail.!err`) it selects nothing,
        // as in rsyslog 8.2302 (checked by the differential test).
        match self {
            MaskOp::All => 0xff,
            MaskOp::None => 0,
            MaskOp::UpTo => mask | up_to,
            MaskOp::Exactly => mask | (1 << sev),
            MaskOp::NotUpTo => mask & !up_to,
            MaskOp::NotExactly => mask & !(1 << sev),
        }
    }
}

fn parse_priority(p: &str) -> Result<(MaskOp, u8), String> {
    let (negate, rest) = match p.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, p),
    };
    let (exact, name) = match rest.strip_prefix('=') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if name == "*" {
        return Ok((if negate { MaskOp::None } else { MaskOp::All }, 7));
    }
    if name.eq_ignore_ascii_case("none") {
        return Ok((MaskOp::None, 0));
    }
    let sev = severity_number(name).ok_or_else(|| format!("unknown priority name '{name}'"))?;
    Ok((
        match (negate, exact) {
            (false, false) => MaskOp::UpTo,
            (false, true) => MaskOp::Exactly,
            (true, false) => MaskOp::NotUpTo,
            (true, true) => MaskOp::NotExactly,
        },
        sev,
    ))
}

/// A severity by name (`info`, `warn`, …) or number (0-7).
pub fn severity_number(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    Some(match name.to_ascii_lowercase().as_str() {
        "emerg" | "panic" => 0,
        "alert" => 1,
        "crit" => 2,
        "err" | "error" => 3,
        "warning" | "warn" => 4,
        "notice" => 5,
        "info" => 6,
        "debug" => 7,
        _ => return None,
    })
}

fn facility_slots(name: &str) -> Result<Vec<usize>, String> {
    if name == "*" {
        return Ok((0..FACILITY_SLOTS).collect());
    }
    if let Ok(n) = name.parse::<usize>() {
        return if n < FACILITY_SLOTS { Ok(vec![n]) } else { Err(format!("facility number {n} out of range")) };
    }
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "security" => Ok(vec![4]),
        "mark" => Ok(vec![MARK]),
        _ => FACILITY_NAMES[..24]
            .iter()
            .position(|f| *f == lower)
            .map(|i| vec![i])
            .ok_or_else(|| format!("unknown facility name '{name}'")),
    }
}

/// The comparison of a property filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `contains`: the value occurs in the property.
    Contains,
    /// `isequal`: the property is the value.
    IsEqual,
    /// `startswith`.
    StartsWith,
    /// `endswith`.
    EndsWith,
    /// `regex`: a POSIX basic regular expression.
    Regex,
    /// `ereregex`: a POSIX extended regular expression.
    EreRegex,
    /// `isempty`: the property is empty (the value is ignored).
    IsEmpty,
}

/// `:property, [!]operation, "value"`.
#[derive(Debug, Clone)]
pub struct PropertyFilter {
    /// The property compared.
    pub property: Property,
    /// The property's name as written (for messages).
    pub property_name: String,
    /// `!`: the filter matches when the comparison fails.
    pub negate: bool,
    /// The comparison.
    pub op: CompareOp,
    /// The value compared with, its escapes resolved.
    pub value: Vec<u8>,
    regex: Option<Regex>,
}

impl PropertyFilter {
    /// Parses the filter part of a line starting with `:`; returns it and the
    /// rest of the line (the action).
    pub fn parse(line: &str) -> Result<(PropertyFilter, &str), String> {
        let body = line.strip_prefix(':').ok_or("a property filter starts with ':'")?;
        let (prop_name, rest) = body.split_once(',').ok_or("property filter: missing ',' after the property name")?;
        let prop_name = prop_name.trim();
        let property = Property::from_name(prop_name).ok_or_else(|| format!("property filter: unknown property '{prop_name}'"))?;
        let rest = rest.trim_start();
        let (op_text, rest) = match rest.split_once(',') {
            Some((o, r)) => (o.trim(), r),
            None => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        let (negate, op_name) = match op_text.strip_prefix('!') {
            Some(o) => (true, o),
            None => (false, op_text),
        };
        let op = match op_name {
            "contains" => CompareOp::Contains,
            "isequal" => CompareOp::IsEqual,
            "startswith" => CompareOp::StartsWith,
            "endswith" => CompareOp::EndsWith,
            "regex" => CompareOp::Regex,
            "ereregex" => CompareOp::EreRegex,
            "isempty" => CompareOp::IsEmpty,
            other => return Err(format!("property filter: unknown compare operation '{other}'")),
        };
        let (value, action) = if op == CompareOp::IsEmpty {
            (Vec::new(), rest)
        } else {
            parse_quoted(rest.trim_start())?
        };
        let regex = match op {
            CompareOp::Regex | CompareOp::EreRegex => {
                let text = String::from_utf8_lossy(&value).into_owned();
                let pattern = if op == CompareOp::Regex { crate::template::bre_to_ere(&text) } else { text.clone() };
                Some(Regex::new(&pattern).map_err(|e| format!("property filter: invalid regex '{text}': {e}"))?)
            }
            _ => None,
        };
        Ok((
            PropertyFilter { property, property_name: prop_name.to_string(), negate, op, value, regex },
            action.trim_start(),
        ))
    }

    /// Whether message `m` passes the filter.
    pub fn matches(&self, m: &Message) -> bool {
        let mut scratch = Vec::new();
        let v = match self.property {
            Property::TimeReported | Property::TimeGenerated | Property::Now(..) => {
                crate::template::render_plain(self.property, m, &mut scratch);
                scratch.as_slice()
            }
            p => p.value(m, &mut scratch),
        };
        let hit = match self.op {
            CompareOp::Contains => self.value.is_empty() || v.windows(self.value.len()).any(|w| w == self.value.as_slice()),
            CompareOp::IsEqual => v == self.value.as_slice(),
            CompareOp::StartsWith => v.starts_with(&self.value),
            CompareOp::EndsWith => v.ends_with(&self.value),
            CompareOp::Regex | CompareOp::EreRegex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            CompareOp::IsEmpty => v.is_empty(),
        };
        hit != self.negate
    }

    /// Why this filter can never match (or always matches), if it is so:
    /// `programname` stops at a space, `:`, `[` or `/`, and a TAG at a space.
    pub fn never_matches(&self) -> Option<String> {
        let forbidden: &[u8] = match self.property {
            Property::ProgramName => b" :[/",
            Property::SyslogTag => b" ",
            _ => return None,
        };
        let positive = matches!(self.op, CompareOp::Contains | CompareOp::IsEqual | CompareOp::StartsWith | CompareOp::EndsWith);
        let bad = self.value.iter().find(|c| forbidden.contains(c))?;
        if !positive {
            return None;
        }
        let outcome = if self.negate { "always matches" } else { "can never match" };
        Some(format!(
            "this filter {outcome}: {} never contains {:?} (rsyslog ends it there), but the value \"{}\" does",
            self.property_name,
            *bad as char,
            String::from_utf8_lossy(&self.value)
        ))
    }
}

/// A quoted value with `\"` and `\\` escapes; returns it and what follows.
fn parse_quoted(s: &str) -> Result<(Vec<u8>, &str), String> {
    let body = s.strip_prefix('"').ok_or("property filter: the value must be in double quotes")?;
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                out.push(bytes[i + 1]);
                i += 2;
            }
            b'"' => return Ok((out, &body[i + 1..])),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("property filter: unterminated quoted value".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_selectors() {
        let auth = Selector::parse("auth.*,authpriv.*").unwrap();
        assert!(auth.matches(4, 7) && auth.matches(10, 0) && !auth.matches(0, 0));
        let syslog = Selector::parse("*.*;kern,auth,authpriv.none").unwrap();
        assert!(syslog.matches(1, 6) && syslog.matches(16, 7) && syslog.matches(24, 7));
        assert!(!syslog.matches(0, 0) && !syslog.matches(4, 3) && !syslog.matches(10, 6));
        let kern = Selector::parse("kern.*").unwrap();
        assert!(kern.matches(0, 7) && !kern.matches(1, 0));
    }

    #[test]
    fn priority_forms() {
        let s = Selector::parse("mail.warn").unwrap();
        assert!(s.matches(2, 4) && s.matches(2, 0) && !s.matches(2, 5));
        let s = Selector::parse("mail.=info").unwrap();
        assert!(s.matches(2, 6) && !s.matches(2, 5));
        let s = Selector::parse("mail.*;mail.!err").unwrap();
        assert!(s.matches(2, 4) && !s.matches(2, 3));
        assert!(!Selector::parse("mail.!err").unwrap().matches(2, 7), "alone it selects nothing");
        let s = Selector::parse("*.debug;local6.err").unwrap();
        assert!(s.matches(22, 7), "rsyslog's known limitation: later parts add, they do not restrict");
        assert!(Selector::parse("auth.bogus").is_err());
        assert!(Selector::parse("nosuch.*").is_err());
    }

    #[test]
    fn property_filter_parses_and_warns() {
        let (f, action) = PropertyFilter::parse(r#":programname, contains, "pbs mom" -?PbsService"#).unwrap();
        assert_eq!(action, "-?PbsService");
        assert_eq!(f.op, CompareOp::Contains);
        assert_eq!(f.value, b"pbs mom");
        assert!(f.never_matches().unwrap().contains("can never match"));
        let (f, _) = PropertyFilter::parse(r#":msg, !regex, "a\"b" /x"#).unwrap();
        assert!(f.negate && f.value == b"a\"b");
        assert!(PropertyFilter::parse(r#":nosuch, contains, "x" /x"#).is_err());
    }
}

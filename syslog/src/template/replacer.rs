//! The property replacer: one `%property:from:to:options%` entry, and how it
//! turns a message's property into text (extraction, case, control
//! characters, `sp-if-no-1st-sp`, path safety).

use regex::bytes::Regex;

use super::properties::Property;
use crate::message::Message;
use crate::time::{DateFormat, Timestamp};

const NO_MATCH: &[u8] = b"**NO MATCH**";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    Keep,
    Lower,
    Upper,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ControlChars {
    Keep,
    Escape,
    Drop,
    Space,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecPath {
    Keep,
    Drop,
    Replace,
}

#[derive(Debug, Clone)]
pub(super) enum Extract {
    None,
    /// 1-based, inclusive; `to == None` means to the end.
    Substring { from: usize, to: Option<usize> },
    Regex { re: Regex, submatch: usize, nomatch: NoMatch },
    Field { delimiter: u8, number: usize },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum NoMatch {
    Default,
    Blank,
    Zero,
    Field,
}

/// One `%property:from:to:options%` entry.
#[derive(Debug, Clone)]
pub struct PropertyRef {
    /// The property the entry reads.
    pub property: Property,
    pub(super) extract: Extract,
    pub(super) date: DateFormat,
    pub(super) utc: bool,
    pub(super) case: Case,
    pub(super) control: ControlChars,
    pub(super) drop_last_lf: bool,
    pub(super) sp_if_no_first_sp: bool,
    /// rsyslog's built-in formats are C code (strgen modules) that add the
    /// space also when MSG is empty; a template string does not.
    pub(super) space_even_if_empty: bool,
    pub(super) secpath: SecPath,
}

impl PropertyRef {
    /// `%property%` with no options.
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

    /// True when the value is used as it is, or only looked at (first space,
    /// last LF): no copy is needed.
    fn borrows(&self) -> bool {
        matches!(self.extract, Extract::None) && self.case == Case::Keep && self.control == ControlChars::Keep && self.secpath == SecPath::Keep
    }

    /// `sp-if-no-1st-sp`: rsyslog writes the whole value as one space, or as
    /// nothing when it starts with a space (or is empty, except in the
    /// built-in formats).
    fn write_sp_if_no_first_sp(&self, value: &[u8], out: &mut Vec<u8>) {
        let space = match value.first() {
            Some(&c) => c != b' ',
            None => self.space_even_if_empty,
        };
        if space {
            out.push(b' ');
        }
    }
}

/// A property's value with no replacer options (dates in the default format).
pub(crate) fn render_plain(property: Property, m: &Message, out: &mut Vec<u8>) {
    render_property(&PropertyRef::plain(property), m, &Timestamp::now(), out, &mut Vec::new());
}

pub(super) fn render_property(p: &PropertyRef, m: &Message, now: &Timestamp, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    if p.borrows() && !matches!(p.property, Property::Now(..)) {
        // The common case (the built-in formats, plain %property%): no copies.
        let value: &[u8] = match p.property.timestamp(m) {
            Some(ts) => {
                scratch.clear();
                ts.write_formatted(p.date, p.utc, scratch);
                scratch
            }
            None => p.property.value(m, scratch),
        };
        if p.sp_if_no_first_sp {
            p.write_sp_if_no_first_sp(value, out);
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
        field.write(&t, &mut v);
        v
    } else if let Some(ts) = p.property.timestamp(m) {
        let mut v = Vec::new();
        ts.write_formatted(p.date, p.utc, &mut v);
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
        p.write_sp_if_no_first_sp(&value, out);
        return;
    }
    out.extend_from_slice(&value);
}

/// Neutralises the value at `out[start..]` for use in a file path.
pub(super) fn make_path_safe(out: &mut Vec<u8>, start: usize) {
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

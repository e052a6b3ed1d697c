//! The property replacer: one `%property:from:to:options%` entry, and how it
//! turns a message's property into text.
//!
//! The steps and their order are rsyslog 8.2302's (`runtime/msg.c`,
//! `MsgGetProp`): field or regex extraction, then the from/to substring, then
//! `sp-if-no-1st-sp`, case conversion and control characters (these two on a
//! non-empty value only), then `secpath-*`, `drop-last-lf`, `compressspace`
//! and `csv`.

use regex::bytes::Regex;

use super::properties::Property;
use crate::message::Message;
use crate::time::{DateFormat, Timestamp};

/// rsyslog's texts for an extraction that found nothing.
pub const NO_MATCH: &[u8] = b"**NO MATCH**";
/// A field number past the last field (or 0).
pub const FIELD_NOT_FOUND: &[u8] = b"**FIELD NOT FOUND**";
/// A regex that did not compile: rsyslog keeps the entry and writes this.
pub const BAD_REGEX: &[u8] = b"**NO MATCH** **BAD REGULAR EXPRESSION**";

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
    /// `R,type,submatch,nomatch,match--end`; `re` is `None` when the
    /// expression did not compile.
    Regex { re: Option<Regex>, submatch: usize, match_index: usize, nomatch: NoMatch },
    /// `F,delimiter:number` (1-based).
    Field { delimiter: u8, number: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// rsyslog's from and to positions as written (1-based, 0 = not given),
    /// already swapped so that `from <= to` (`to <= from` with `pos-end-relative`).
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) end_relative: bool,
    pub(super) fixed_width: bool,
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
    pub(super) compress_space: bool,
    pub(super) csv: bool,
}

impl PropertyRef {
    /// `%property%` with no options.
    pub fn plain(property: Property) -> Self {
        PropertyRef {
            property,
            extract: Extract::None,
            from: 0,
            to: 0,
            end_relative: false,
            fixed_width: false,
            date: DateFormat::Default,
            utc: false,
            case: Case::Keep,
            control: ControlChars::Keep,
            drop_last_lf: false,
            sp_if_no_first_sp: false,
            space_even_if_empty: false,
            secpath: SecPath::Keep,
            compress_space: false,
            csv: false,
        }
    }

    /// True when the value is used as it is, or only looked at (first space,
    /// last LF): no copy is needed.
    fn borrows(&self) -> bool {
        matches!(self.extract, Extract::None)
            && self.from == 0
            && self.to == 0
            && self.case == Case::Keep
            && self.control == ControlChars::Keep
            && self.secpath == SecPath::Keep
            && !self.compress_space
            && !self.csv
    }

    /// `sp-if-no-1st-sp`: rsyslog writes the whole value as one space, or as
    /// nothing when it starts with a space (or is empty, except in the
    /// built-in formats).
    fn sp_if_no_first_sp(&self, value: &[u8]) -> &'static [u8] {
        let space = match value.first() {
            Some(&c) => c != b' ',
            None => self.space_even_if_empty,
        };
        if space {
            b" "
        } else {
            b""
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
            out.extend_from_slice(p.sp_if_no_first_sp(value));
            return;
        }
        let value = match value {
            [head @ .., b'\n'] if p.drop_last_lf && p.control != ControlChars::Escape => head,
            v => v,
        };
        out.extend_from_slice(value);
        return;
    }
    let value: Vec<u8> = if let Property::Now(field, utc) = p.property {
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
    out.extend_from_slice(&apply_options(p, value));
}

/// Every option of `p` applied to `value`, in rsyslog's order.
fn apply_options(p: &PropertyRef, value: Vec<u8>) -> Vec<u8> {
    let mut value = match &p.extract {
        Extract::None => value,
        Extract::Field { delimiter, number } => match field(&value, *delimiter, *number) {
            Some(f) => f.to_vec(),
            None => return FIELD_NOT_FOUND.to_vec(),
        },
        Extract::Regex { re: None, .. } => return BAD_REGEX.to_vec(),
        Extract::Regex { re: Some(re), submatch, match_index, nomatch } => {
            match regex_match(re, &value, *match_index) {
                // A match whose wanted group took no part in it gives an empty
                // value whatever the no-match mode (what 8.2302 writes).
                Some((offset, groups)) => match groups.get(*submatch) {
                    Some(Some((start, end))) => value[offset + start..offset + end].to_vec(),
                    _ => Vec::new(),
                },
                None => match nomatch {
                    NoMatch::Default => NO_MATCH.to_vec(),
                    NoMatch::Blank => Vec::new(),
                    NoMatch::Zero => b"0".to_vec(),
                    NoMatch::Field => value,
                },
            }
        }
    };
    value = substring(p, value);
    if p.sp_if_no_first_sp && !value.is_empty() {
        value = p.sp_if_no_first_sp(&value).to_vec();
    }
    if !value.is_empty() {
        match p.case {
            Case::Keep => {}
            Case::Lower => value.make_ascii_lowercase(),
            Case::Upper => value.make_ascii_uppercase(),
        }
        value = control_characters(p.control, value);
    }
    if p.secpath != SecPath::Keep {
        match p.secpath {
            SecPath::Drop => value.retain(|c| *c != b'/'),
            _ => value.iter_mut().filter(|c| **c == b'/').for_each(|c| *c = b'_'),
        }
        value = match value.as_slice() {
            b"" | b"." => b"_".to_vec(),
            b".." => b"_.".to_vec(),
            _ => value,
        };
    }
    if p.drop_last_lf && p.control != ControlChars::Escape && value.last() == Some(&b'\n') {
        value.pop();
    }
    if p.compress_space {
        value.dedup_by(|next, prev| *next == b' ' && *prev == b' ');
    }
    if p.csv {
        let mut quoted = Vec::with_capacity(value.len() + 2);
        quoted.push(b'"');
        for c in value {
            if c == b'"' {
                quoted.push(b'"');
            }
            quoted.push(c);
        }
        quoted.push(b'"');
        value = quoted;
    }
    value
}

/// Field `number` (1-based) of `value` split at `delimiter`; `None` when
/// there are fewer fields (or `number` is 0).
fn field(value: &[u8], delimiter: u8, number: usize) -> Option<&[u8]> {
    let mut current = 1;
    let mut pos = 0;
    while pos < value.len() && current < number {
        while pos < value.len() && value[pos] != delimiter {
            pos += 1;
        }
        if pos < value.len() {
            pos += 1;
            current += 1;
        }
    }
    if current != number {
        return None;
    }
    let end = value[pos..].iter().position(|&c| c == delimiter).map_or(value.len(), |e| pos + e);
    Some(&value[pos..end])
}

/// A match's groups: each one's range, or `None` when it took no part.
type Groups = Vec<Option<(usize, usize)>>;

/// The `match_index`-th (0-based) match of `re`, each search starting where
/// the previous match ended (and anchoring there, as `regexec` on the rest of
/// the string does): its offset and its groups relative to that offset.
fn regex_match(re: &Regex, value: &[u8], match_index: usize) -> Option<(usize, Groups)> {
    let mut offset = 0;
    for attempt in 0..=match_index {
        let caps = re.captures(value.get(offset..)?)?;
        let whole = caps.get(0)?;
        if attempt == match_index {
            let groups = (0..caps.len()).map(|i| caps.get(i).map(|g| (g.start(), g.end()))).collect();
            return Some((offset, groups));
        }
        offset += whole.end();
    }
    None
}

/// The from/to substring, as rsyslog computes it: positions are 1-based and
/// inclusive; past the end the value stops (or, `fixed-width`, is padded
/// with spaces).
fn substring(p: &PropertyRef, value: Vec<u8>) -> Vec<u8> {
    if p.from == 0 && p.to == 0 {
        return value;
    }
    let len = value.len();
    let (from, mut to) = if p.end_relative {
        (len.saturating_sub(p.from), len.saturating_sub(p.to))
    } else {
        (p.from.saturating_sub(1), p.to.saturating_sub(1))
    };
    if from >= len {
        return Vec::new();
    }
    if from == 0 && to >= len && !p.fixed_width {
        return value;
    }
    if to >= len && !p.fixed_width {
        to = len - 1;
    }
    if to < from {
        return Vec::new();
    }
    let mut out: Vec<u8> = value[from..(to + 1).min(len)].to_vec();
    out.resize(to + 1 - from, b' ');
    out
}

/// `drop-cc`, `space-cc`, `escape-cc`: a control character is what C's
/// `iscntrl` accepts in rsyslog's C locale, 0-31 and DEL (127); `escape-cc`
/// writes it as `#` and three decimal digits (`#127`).
fn control_characters(mode: ControlChars, value: Vec<u8>) -> Vec<u8> {
    let is_control = |c: u8| c < 32 || c == 127;
    if mode == ControlChars::Keep || !value.iter().any(|&c| is_control(c)) {
        return value;
    }
    let mut out = Vec::with_capacity(value.len() + 8);
    for c in value {
        match (is_control(c), mode) {
            (false, _) | (true, ControlChars::Keep) => out.push(c),
            (true, ControlChars::Drop) => {}
            (true, ControlChars::Space) => out.push(b' '),
            (true, ControlChars::Escape) => out.extend_from_slice(format!("#{c:03}").as_bytes()),
        }
    }
    out
}

/// Neutralises the value at `out[start..]` for use in a file path: whatever
/// the entry's options, no value adds a directory level (`/` becomes `_`) or
/// names the directory itself or its parent (`.` becomes `_`, `..` becomes
/// `_.`, as `secpath-replace` makes them). An empty value stays empty, as in
/// rsyslog. C1 control characters (see [`crate::c1`]) become `_`, one per
/// byte.
///
/// `gss-principal` is mapped one to one instead, so that two principals
/// never share a file: `%` becomes `%25`, `/` `%2F`, NUL `%00`, and each
/// byte of a C1 control `%XX` (`host/n1@R` gives `host%2Fn1@R`, which the
/// principal `host_n1@R` can never give; `a\u{9b}@R` gives `a%C2%9B@R`, not
/// the `a__@R` of `a__@R`).
pub(super) fn make_path_safe(out: &mut Vec<u8>, start: usize, property: Property) {
    if property == Property::GssPrincipal
        && out[start..].iter().any(|c| matches!(c, b'%' | b'/' | 0) || crate::c1::may_contain(&[*c]))
    {
        let value = out.split_off(start);
        crate::c1::split(&value, |run, control| {
            for &c in run {
                match c {
                    b'%' | b'/' | 0 => out.extend_from_slice(format!("%{c:02X}").as_bytes()),
                    c if control => out.extend_from_slice(format!("%{c:02X}").as_bytes()),
                    c => out.push(c),
                }
            }
        });
    }
    for c in out[start..].iter_mut() {
        if *c == b'/' || *c == 0 {
            *c = b'_';
        }
    }
    if crate::c1::may_contain(&out[start..]) {
        let value = out.split_off(start);
        crate::c1::split(&value, |run, control| {
            if control {
                out.extend(std::iter::repeat_n(b'_', run.len()));
            } else {
                out.extend_from_slice(run);
            }
        });
    }
    let replacement: &[u8] = match &out[start..] {
        b"." => b"_",
        b".." => b"_.",
        _ => return,
    };
    out.truncate(start);
    out.extend_from_slice(replacement);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &[u8], set: impl FnOnce(&mut PropertyRef)) -> Vec<u8> {
        let mut p = PropertyRef::plain(Property::Msg);
        set(&mut p);
        apply_options(&p, value.to_vec())
    }

    #[test]
    fn delete_is_a_control_character_for_every_cc_option() {
        for (mode, expected) in [
            (ControlChars::Drop, &b"ab"[..]),
            (ControlChars::Space, b"a b"),
            (ControlChars::Escape, b"a#127b"),
            (ControlChars::Keep, b"a\x7fb"),
        ] {
            assert_eq!(with(b"a\x7fb", |p| p.control = mode), expected, "{mode:?}");
        }
        // Escapes are decimal: ESC (27) is #027, not octal #033.
        assert_eq!(with(b"\x1b[", |p| p.control = ControlChars::Escape), b"#027[");
        // Bytes above 127 are not control characters in the C locale.
        assert_eq!(with(b"\x80\xff", |p| p.control = ControlChars::Drop), b"\x80\xff");
    }

    #[test]
    fn fields_and_their_error_text() {
        for (value, number, expected) in [
            (&b"a b c"[..], 1, &b"a"[..]),
            (b"a b c", 3, b"c"),
            (b"a b c", 4, FIELD_NOT_FOUND),
            (b"a b c", 0, FIELD_NOT_FOUND),
            (b"single", 2, FIELD_NOT_FOUND),
            (b"", 1, b""),
            (b"", 2, FIELD_NOT_FOUND),
            (b"a ", 2, b""),
            (b"a  b", 3, b"b"),
        ] {
            let got = with(value, |p| p.extract = Extract::Field { delimiter: b' ', number });
            assert_eq!(got, expected, "{:?} field {number}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn secure_paths_of_empty_and_dot_values() {
        for mode in [SecPath::Drop, SecPath::Replace] {
            for (value, expected) in [(&b""[..], &b"_"[..]), (b".", b"_"), (b"..", b"_."), (b"...", b"..."), (b"/", b"_")] {
                let want: &[u8] = if mode == SecPath::Drop && value == b"/" { b"_" } else { expected };
                assert_eq!(with(value, |p| p.secpath = mode), want, "{mode:?} {:?}", String::from_utf8_lossy(value));
            }
        }
        assert_eq!(with(b"a/../b", |p| p.secpath = SecPath::Replace), b"a_.._b");
        assert_eq!(with(b"a/../b", |p| p.secpath = SecPath::Drop), b"a..b");
    }

    #[test]
    fn substrings_as_rsyslog_computes_them() {
        let sub = |from, to, end_relative, fixed_width| {
            with(b"abcdef", |p| {
                (p.from, p.to, p.end_relative, p.fixed_width) = (from, to, end_relative, fixed_width);
            })
        };
        assert_eq!(sub(1, 3, false, false), b"abc");
        assert_eq!(sub(2, 2, false, false), b"b");
        assert_eq!(sub(4, 9999999, false, false), b"def");
        assert_eq!(sub(7, 9, false, false), b"");
        assert_eq!(sub(0, 2, false, false), b"ab");
        assert_eq!(sub(5, 8, false, true), b"ef  ");
        assert_eq!(sub(3, 1, true, false), b"def", "the last three");
    }

    #[test]
    fn order_of_the_steps() {
        // sp-if-no-1st-sp makes the value empty; secpath then writes "_".
        assert_eq!(with(b" x", |p| (p.sp_if_no_first_sp, p.secpath) = (true, SecPath::Replace)), b"_");
        // drop-last-lf is not applied together with escape-cc.
        assert_eq!(with(b"x\n", |p| (p.drop_last_lf, p.control) = (true, ControlChars::Escape)), b"x#010");
        assert_eq!(with(b"a   b  c", |p| p.compress_space = true), b"a b c");
        assert_eq!(with(b"say \"hi\"", |p| p.csv = true), b"\"say \"\"hi\"\"\"");
    }

    #[test]
    fn regex_match_index_and_submatches() {
        let re = Regex::new("([0-9]+)(x)?").unwrap();
        let r = |match_index, submatch, nomatch| {
            with(b"a1 b22 c333", |p| p.extract = Extract::Regex { re: Some(re.clone()), submatch, match_index, nomatch })
        };
        assert_eq!(r(0, 1, NoMatch::Default), b"1");
        assert_eq!(r(2, 1, NoMatch::Default), b"333");
        assert_eq!(r(3, 1, NoMatch::Default), NO_MATCH);
        assert_eq!(r(3, 1, NoMatch::Zero), b"0");
        assert_eq!(r(3, 1, NoMatch::Field), b"a1 b22 c333");
        assert_eq!(r(0, 2, NoMatch::Default), b"", "a group that took no part");
        assert_eq!(with(b"x", |p| p.extract = Extract::Regex { re: None, submatch: 0, match_index: 0, nomatch: NoMatch::Default }), BAD_REGEX);
    }
}

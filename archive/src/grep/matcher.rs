//! Which lines match, as GNU grep decides it in the C locale: bytes, not
//! characters (files need not be UTF-8); `-i` folds ASCII letters only;
//! word constituents are `[A-Za-z0-9_]`. A pattern with newlines is one
//! pattern per line, as in grep. `-w` selects a line when some match of the
//! pattern is preceded and followed by a non-word byte or the line's ends,
//! which is what GNU grep's retrying of later and shorter matches amounts to.
//!
//! Patterns are Rust `regex` syntax, which agrees with POSIX ERE on the
//! common ground; see docs/archive.md for where the two differ.

use aho_corasick::AhoCorasick;
use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, HirKind};

use crate::store::index::Probe;

pub struct Matcher {
    re: Regex,
    /// A word piece every matching line holds, for the token index.
    pub probe: Option<Probe>,
    /// With `-i`, that piece found in any case: only the lines that hold it
    /// are given to the regex (its own prefilter gives up on the many case
    /// variants of a long literal and scans every byte with its DFA).
    prefilter: Option<AhoCorasick>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    pub fixed: bool,
    pub ignore_case: bool,
    pub word: bool,
}

impl Matcher {
    pub fn new(pattern: &str, mode: Mode) -> Result<Matcher, regex::Error> {
        let parts: Vec<String> = pattern.split('\n').map(|p| if mode.fixed { regex::escape(p) } else { p.to_string() }).collect();
        // Each pattern alone first, so that an error shows the admin's text, not ours.
        for part in &parts {
            regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(part)
                .map_err(|e| regex::Error::Syntax(e.to_string()))?;
        }
        let body = parts.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
        let body = if mode.word { format!("(?:^|[^0-9A-Za-z_])(?:{body})(?:[^0-9A-Za-z_]|$)") } else { body };
        let re = RegexBuilder::new(&body)
            .unicode(false)
            .multi_line(true)
            .case_insensitive(mode.ignore_case)
            .size_limit(1 << 28)
            .dfa_size_limit(1 << 28)
            .build()?;
        let probe = if parts.len() == 1 { probe_of(&parts[0], mode.word) } else { None };
        let prefilter = match &probe {
            Some(Probe::Exact(piece) | Probe::Contains(piece)) if mode.ignore_case && !piece.is_empty() => {
                AhoCorasick::builder().ascii_case_insensitive(true).build([piece]).ok()
            }
            _ => None,
        };
        Ok(Matcher { re, probe, prefilter })
    }

    /// Calls `each` with every matching line of `buf` (whole lines, the
    /// last one possibly without its newline), in order, until it returns false.
    pub fn for_each_line(&self, buf: &[u8], mut each: impl FnMut(&[u8]) -> bool) {
        if let Some(pre) = &self.prefilter {
            let mut pos = 0;
            while pos < buf.len() {
                let Some(hit) = pre.find(&buf[pos..]) else { break };
                let at = pos + hit.start();
                let start = memchr::memrchr(b'\n', &buf[pos..at]).map_or(pos, |i| pos + i + 1);
                let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
                let line = &buf[start..end];
                if self.re.is_match(line) && !each(line) {
                    return;
                }
                pos = end + 1;
            }
            return;
        }
        let mut pos = 0;
        while pos < buf.len() {
            let Some(m) = self.re.find_at(buf, pos) else { break };
            if m.start() == buf.len() && buf.last() == Some(&b'\n') {
                // An empty match after the last newline: no line is there.
                break;
            }
            let start = memchr::memrchr(b'\n', &buf[pos..m.start()]).map_or(pos, |i| pos + i + 1);
            let end = memchr::memchr(b'\n', &buf[m.start()..]).map_or(buf.len(), |i| m.start() + i);
            let line = &buf[start..end];
            // A match that runs past the line (a class matching the newline)
            // says nothing about the line alone: ask again on the line.
            if (m.end() <= end || self.re.is_match(line)) && !each(line) {
                return;
            }
            pos = end + 1;
        }
    }
}

/// The probe of the literal every match of `pattern` contains, if one is found.
fn probe_of(pattern: &str, word: bool) -> Option<Probe> {
    let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).multi_line(true).build().parse(pattern).ok()?;
    let (literal, whole) = required_literal(&hir)?;
    Probe::for_literal(&literal, word && whole)
}

/// The longest literal that every match of `hir` contains, and whether it is all of the match.
fn required_literal(hir: &Hir) -> Option<(Vec<u8>, bool)> {
    match hir.kind() {
        HirKind::Literal(lit) => Some((lit.0.to_vec(), true)),
        HirKind::Capture(c) => required_literal(&c.sub),
        HirKind::Concat(subs) => {
            let lits = subs.iter().filter_map(|s| match s.kind() {
                HirKind::Literal(lit) => Some(lit.0.to_vec()),
                _ => None,
            });
            lits.max_by_key(|l| l.len()).map(|l| (l, false))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pattern: &str, mode: Mode, buf: &[u8]) -> Vec<String> {
        let m = match Matcher::new(pattern, mode) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let mut out = Vec::new();
        m.for_each_line(buf, |l| {
            out.push(String::from_utf8_lossy(l).into_owned());
            true
        });
        out
    }

    #[test]
    fn a_class_that_matches_the_newline_does_not_join_lines() {
        assert_eq!(lines("a[^x]b", Mode::default(), b"a\nb\nazb\n"), vec!["azb"]);
    }

    #[test]
    fn word_mode_retries_later_matches_as_gnu_grep_does() {
        let w = Mode { word: true, ..Mode::default() };
        assert_eq!(lines("ab", w, b"abc ab\nxab\nab\n"), vec!["abc ab", "ab"]);
        assert_eq!(lines("a.*", w, b"ab c\n"), vec!["ab c"]);
        assert_eq!(lines("foo", w, b"foo_bar\nfoo-bar\n"), vec!["foo-bar"]);
    }

    #[test]
    fn ignore_case_folds_ascii_only_and_the_last_line_needs_no_newline() {
        let i = Mode { ignore_case: true, ..Mode::default() };
        assert_eq!(lines("realuser", i, b"RealUser\n\xc3\x89x\nREALUSER"), vec!["RealUser", "REALUSER"]);
        assert_eq!(lines("\u{e9}", i, "\u{c9}\n\u{e9}\n".as_bytes()), vec!["\u{e9}"]);
    }

    #[test]
    fn ignore_case_reads_only_lines_with_the_piece_and_matches_them_as_before() {
        let i = Mode { ignore_case: true, ..Mode::default() };
        let m = Matcher::new("OUT OF MEMORY: Killed", i).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.prefilter.is_some());
        let buf = b"Out of memory: Killed process 1\nmemory ok\nOUT OF MEMORY: KILLED\nout of memory killed\nMemory: killed";
        let mut got = Vec::new();
        m.for_each_line(buf, |l| {
            got.push(String::from_utf8_lossy(l).into_owned());
            true
        });
        assert_eq!(got, vec!["Out of memory: Killed process 1", "OUT OF MEMORY: KILLED"]);
        let w = Mode { ignore_case: true, word: true, ..Mode::default() };
        assert_eq!(lines("^realuser$", w, b"RealUser\nxrealuser\nREALUSER"), vec!["RealUser", "REALUSER"]);
        assert_eq!(lines("realuser", w, b"a realuser_x realuser\nrealuserx\n"), vec!["a realuser_x realuser"]);
    }

    #[test]
    fn an_empty_match_after_the_last_newline_is_no_line() {
        assert_eq!(lines("x*$", Mode::default(), b"ab\n"), vec!["ab"]);
        assert_eq!(lines("^$", Mode::default(), b"ab\n"), Vec::<String>::new());
        assert_eq!(lines("^$", Mode::default(), b"ab\n\n"), vec![""]);
    }

    #[test]
    fn fixed_strings_are_not_patterns_and_newlines_separate_patterns() {
        let f = Mode { fixed: true, ..Mode::default() };
        assert_eq!(lines("a.c", f, b"abc\na.c\n"), vec!["a.c"]);
        assert_eq!(lines("x\ny", Mode::default(), b"x\nz\ny\n"), vec!["x", "y"]);
    }

    #[test]
    fn the_probe_is_a_literal_the_pattern_requires() {
        let probe = |p: &str, word| Matcher::new(p, Mode { word, ..Mode::default() }).ok().and_then(|m| m.probe);
        assert_eq!(probe("realuser", false), Some(Probe::Contains(b"realuser".to_vec())));
        assert_eq!(probe("realuser", true), Some(Probe::Exact(b"realuser".to_vec())));
        assert_eq!(probe("Failed password for (invalid user )?root", false), Some(Probe::Exact(b"password".to_vec())));
        assert_eq!(probe("root|admin", false), None);
    }
}

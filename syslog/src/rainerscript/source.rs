//! The text of a file being read: position, line, blanks and comments,
//! object names, quoted strings, and skipping what is not read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Location;

/// Object names that start a RainerScript statement (followed by `(`).
const OBJECTS: &[&str] = &[
    "template",
    "action",
    "input",
    "include",
    "global",
    "module",
    "ruleset",
    "main_queue",
    "timezone",
    "parser",
    "lookup_table",
    "dyn_stats",
    "percentile_stats",
    "property",
    "constant",
];
/// Words that start a RainerScript statement.
pub(super) const KEYWORDS: &[&str] = &["if", "stop", "set", "unset", "reset", "call", "call_indirect", "foreach", "continue", "reload_lookup_table"];

/// The text of one file being read, with a position and its line number.
pub(crate) struct Source<'a> {
    text: &'a str,
    pub(super) pos: usize,
    pub(super) line: usize,
    file: Arc<str>,
}

/// What `include(...)` needs: the file being read, and the chain of files
/// being read (its includers, then itself) to refuse a loop.
pub(crate) struct IncludeContext<'a> {
    pub path: &'a Path,
    pub chain: &'a [PathBuf],
}

impl<'a> Source<'a> {
    pub(crate) fn new(text: &'a str, file: Arc<str>) -> Self {
        Source { text, pos: 0, line: 1, file }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(crate) fn location(&self) -> Location {
        Location { file: self.file.clone(), line: self.line }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.text.len() - self.pos);
        self.line += self.text[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    /// Skips whitespace, newlines and comments (`#` to the end of the line,
    /// `/* ... */`).
    pub(crate) fn skip_blank(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.advance(rest.len() - trimmed.len());
            let rest = self.rest();
            if rest.starts_with('#') {
                self.advance(rest.find('\n').unwrap_or(rest.len()));
            } else if rest.starts_with("/*") {
                self.advance(rest.find("*/").map_or(rest.len(), |e| e + 2));
            } else {
                return;
            }
        }
    }

    /// The rest of the current line (without its newline), consumed.
    pub(crate) fn take_line(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find('\n').unwrap_or(rest.len());
        self.advance(end);
        &rest[..end]
    }

    pub(super) fn word(&self) -> String {
        let rest = self.rest();
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        rest[..end].to_ascii_lowercase()
    }

    /// `name` followed by optional blanks and `(`: consumed, true.
    pub(super) fn eat_object(&mut self, name: &str) -> bool {
        match object_name(self.rest()) {
            Some((n, len)) if n == name => {
                self.advance(len);
                true
            }
            _ => false,
        }
    }
}

/// `name(` at the start of `text` (blanks allowed before the parenthesis):
/// the name and the length up to and with the parenthesis.
pub(super) fn object_name(text: &str) -> Option<(String, usize)> {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let name = text[..end].to_ascii_lowercase();
    let after = &text[end..];
    let blanks = after.len() - after.trim_start().len();
    (after[blanks..].starts_with('(') && OBJECTS.contains(&name.as_str())).then_some((name, end + blanks + 1))
}

/// Whether a statement of RainerScript starts at `text` (at a line start).
pub(crate) fn starts_statement(text: &str) -> bool {
    if object_name(text).is_some() || text.starts_with('{') || text.starts_with('}') {
        return true;
    }
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    let word = text[..end].to_ascii_lowercase();
    // "stop" alone is also a legacy action; either way it is the same statement.
    KEYWORDS.contains(&word.as_str()) && !text[end..].starts_with(['.', ',', ';'])
}

/// Whether an action written after a legacy filter is RainerScript.
pub(crate) fn starts_block(text: &str) -> bool {
    text.starts_with('{') || object_name(text).is_some_and(|(n, _)| n == "action")
}

/// A quoted string at the start of `text`, its escapes resolved as rsyslog's
/// `unescapeStr` does; and the length of the quoted text.
pub(super) fn unquote(text: &str, quote: char) -> Option<(Vec<u8>, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == quote as u8 {
            return Some((out, i + 1));
        }
        if c != b'\\' || i + 1 >= bytes.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = bytes[i + 1];
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'x' => {
                let hex: String = text[i..].chars().take(2).take_while(char::is_ascii_hexdigit).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(0));
                i += hex.len();
            }
            b'0'..=b'7' => {
                let mut n = u32::from(e - b'0');
                let mut digits = 1;
                while digits < 3 && i < bytes.len() && (b'0'..=b'7').contains(&bytes[i]) {
                    n = n * 8 + u32::from(bytes[i] - b'0');
                    i += 1;
                    digits += 1;
                }
                out.push(n as u8);
            }
            other => out.push(other),
        }
    }
    None
}

/// Skips to after the `)` that closes an object (strings respected).
pub(super) fn skip_to_close(src: &mut Source) {
    let rest = src.rest();
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ')' if !in_string => {
                src.advance(i + 1);
                return;
            }
            _ => {}
        }
    }
    src.advance(rest.len());
}

/// Skips a braced block (after an object or a keyword), strings respected.
pub(super) fn skip_braces(src: &mut Source) {
    src.skip_blank();
    if !src.rest().starts_with('{') {
        return;
    }
    let mut depth = 0usize;
    let mut in_string: Option<char> = None;
    let rest = src.rest();
    for (i, c) in rest.char_indices() {
        match (c, in_string) {
            ('"' | '\'', None) => in_string = Some(c),
            (q, Some(open)) if q == open => in_string = None,
            ('{', None) => depth += 1,
            ('}', None) => {
                depth -= 1;
                if depth == 0 {
                    src.advance(i + 1);
                    return;
                }
            }
            _ => {}
        }
    }
    src.advance(rest.len());
}

pub(super) fn skip_braces_from_inside(src: &mut Source) {
    let rest = src.rest();
    src.advance(rest.find('}').map_or(rest.len(), |e| e + 1));
}


#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source::new(text, Arc::from("t.conf"))
    }

    #[test]
    fn blanks_and_both_kinds_of_comment_are_skipped_and_lines_counted() {
        let mut src = source("  # a comment\n /* two\nlines */\n\tstop");
        src.skip_blank();
        assert_eq!(src.rest(), "stop");
        assert_eq!(src.location().line, 4);
        assert_eq!(src.take_line(), "stop");
        assert!(src.at_end());
    }

    #[test]
    fn objects_are_known_names_before_a_parenthesis() {
        assert_eq!(object_name("Template (name=\"x\")"), Some(("template".to_string(), 10)));
        assert_eq!(object_name("frobnicate(x)"), None, "not an object rsyslog has");
        assert_eq!(object_name("action"), None, "no parenthesis");
        let mut src = source("action (type=\"omfile\")");
        assert!(src.eat_object("action") && src.rest() == "type=\"omfile\")");
    }

    #[test]
    fn statements_and_blocks_start_as_rsyslog_decides() {
        for text in ["if $msg contains \"x\" then", "stop", "template(name=\"t\")", "{", "}", "set $.x = 1;"] {
            assert!(starts_statement(text), "{text}");
        }
        for text in ["*.* /var/log/all", "stop.log", ":msg, contains, \"x\" /f", "$ModLoad imtcp"] {
            assert!(!starts_statement(text), "{text}");
        }
        assert!(starts_block("{ stop }") && starts_block("action(type=\"omfile\")") && !starts_block("/var/log/x"));
    }

    #[test]
    fn quoted_strings_resolve_rsyslogs_escapes() {
        assert_eq!(unquote(r#""a\n\x41\101\"b" rest"#, '"'), Some((b"a\nAA\"b".to_vec(), 16)));
        assert_eq!(unquote("'it''s'", '\''), Some((b"it".to_vec(), 4)));
        assert_eq!(unquote("\"never closed", '"'), None);
    }

    #[test]
    fn skipping_respects_strings_and_nesting() {
        let mut src = source("a=\")\" b=\"x\") after");
        skip_to_close(&mut src);
        assert_eq!(src.rest(), " after");
        let mut src = source(" { a { \"}\" } '}' } after");
        skip_braces(&mut src);
        assert_eq!(src.rest(), " after");
    }
}

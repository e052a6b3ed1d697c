//! The RainerScript subset that collector configurations use, read into the
//! same located statements as the legacy lines (the two mix freely, as in
//! rsyslog):
//! - `template(name=... type="string" string=...)` and `type="list"` with
//!   `property(...)` and `constant(...)`: a [`Statement::Template`] whose
//!   text is what the legacy `$template` line would hold;
//! - `action(type="omfile" ...)`: a [`Statement::ActionCall`];
//! - `if EXPR then BLOCK [else BLOCK]`, `stop`, legacy actions and legacy
//!   filters inside blocks: flattened into rules whose filter is the
//!   conjunction of the conditions around them (the rules run in order and
//!   `stop` ends the message's run, so the flattening is exact);
//! - `input(type="imtcp" port=...)`, `include(file=...)`, `global(...)`,
//!   `module(load=...)`: directives, as their legacy lines give.
//!
//! Everything else (rulesets, variables set by `set`, functions, arithmetic,
//! `foreach`, other objects) is a `FILE:LINE` error: never a silent
//! difference. The grammar and the lexer are rsyslog 8.2302's
//! (`grammar/grammar.y`, `grammar/lexer.l`): `and` and `or` share one
//! precedence level and group from the left, comparisons bind tighter, and
//! `not` tighter still (`not $a == "x"` is `(not $a) == "x"`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{ActionCall, ConfigText, Line, Location, Statement};
use crate::expr::{CmpOp, Expr};
use crate::filter::Filter;
use crate::template::Property;

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
const KEYWORDS: &[&str] = &["if", "stop", "set", "unset", "reset", "call", "call_indirect", "foreach", "continue", "reload_lookup_table"];

/// The text of one file being read, with a position and its line number.
pub(crate) struct Source<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
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

    fn word(&self) -> String {
        let rest = self.rest();
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        rest[..end].to_ascii_lowercase()
    }

    /// `name` followed by optional blanks and `(`: consumed, true.
    fn eat_object(&mut self, name: &str) -> bool {
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
fn object_name(text: &str) -> Option<(String, usize)> {
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

/// The block or action after a legacy filter (`*.* action(...)`,
/// `:msg, contains, "x" { ... }`).
pub(crate) fn block_under(src: &mut Source, filter: Filter, out: &mut ConfigText) {
    block(src, &[Expr::Legacy(filter)], out);
}

/// The filter of rules under `conditions` (all must hold).
fn filter_of(conditions: &[Expr]) -> Filter {
    let mut all = conditions.iter().cloned();
    let first = all.next().unwrap_or_else(Expr::always);
    if let (Expr::Legacy(f), 1) = (&first, conditions.len()) {
        return f.clone();
    }
    Filter::Expr(Arc::new(all.fold(first, |acc, c| Expr::And(Box::new(acc), Box::new(c)))))
}

fn push(out: &mut ConfigText, location: Location, statement: Statement) {
    out.lines.push(Line { location, statement });
}

/// One top-level statement at `src` (which [`starts_statement`] accepted).
pub(crate) fn top_statement(src: &mut Source, out: &mut ConfigText, include: &IncludeContext) {
    let at = src.location();
    let rest = src.rest();
    if rest.starts_with('{') || rest.starts_with('}') {
        out.error(&at, format!("unexpected '{}': a block belongs after 'then', 'else' or a filter", &rest[..1]));
        src.advance(1);
        return;
    }
    if let Some((name, len)) = object_name(rest) {
        match name.as_str() {
            "template" => {
                src.advance(len);
                template(src, out, &at);
            }
            "input" => {
                src.advance(len);
                input(src, out, &at);
            }
            "include" => {
                src.advance(len);
                let Some(params) = parameters(src, out, "include") else { return };
                include_files(&params, out, &at, include);
            }
            "global" => {
                src.advance(len);
                let Some(params) = parameters(src, out, "global") else { return };
                for p in params {
                    let statement = Statement::Directive { name: p.name.clone(), spelled: p.spelled, value: p.value };
                    push(out, p.location, statement);
                }
            }
            "module" => {
                src.advance(len);
                module(src, out, &at);
            }
            "action" => statement(src, &[], out),
            other => unsupported_object(src, out, &at, other),
        }
        return;
    }
    statement(src, &[], out);
}

/// A statement inside a block (or an action-like one at the top level).
fn statement(src: &mut Source, conditions: &[Expr], out: &mut ConfigText) {
    src.skip_blank();
    let at = src.location();
    if src.at_end() {
        out.error(&at, "the file ends where a statement should follow");
        return;
    }
    if src.eat_object("action") {
        if let Some(params) = parameters(src, out, "action") {
            action(params, conditions, out, &at);
        }
        return;
    }
    if let Some((name, _)) = object_name(src.rest()) {
        out.error(&at, format!("{name}(...) is not permitted in an action block (rsyslog refuses it too)"));
        unsupported_object(src, out, &at, "");
        return;
    }
    let rest = src.rest();
    if rest.starts_with('&') {
        // `action(...) & action(...)`: the next action under the same conditions.
        src.advance(1);
        return statement(src, conditions, out);
    }
    let word = src.word();
    match word.as_str() {
        "if" => {
            src.advance(2);
            if_statement(src, conditions, out, &at);
            return;
        }
        "stop" => {
            src.advance(4);
            push(out, at, Statement::Rule { filter: filter_of(conditions), action: "stop".into() });
            return;
        }
        w if KEYWORDS.contains(&w) => {
            out.error(&at, format!("'{w}' is not supported by this collector (supported RainerScript: template(), action(type=\"omfile\"), if/then/else, stop, input(type=\"imtcp\"), include(), global(), module())"));
            skip_unsupported(src);
            return;
        }
        _ => {}
    }
    if let Some((filter, len)) = crate::config::legacy_filter(rest) {
        // A legacy filter followed by a block or an action.
        src.advance(len);
        let mut inner = conditions.to_vec();
        inner.push(Expr::Legacy(filter));
        block(src, &inner, out);
        return;
    }
    if rest.starts_with(['/', '-', '?', '~', ':', '|', '@', '^', '>', '.', '*']) {
        let action = src.take_line().trim();
        let action = action.strip_suffix('}').map_or(action, |a| {
            // `{ /var/log/x }` on one line: the brace closes the block.
            src.pos -= 1;
            a.trim_end()
        });
        push(out, at, Statement::Rule { filter: filter_of(conditions), action: action.to_string() });
        return;
    }
    let shown: String = rest.chars().take(40).take_while(|c| *c != '\n').collect();
    out.error(&at, format!("cannot understand '{shown}' (not in the supported RainerScript subset or the legacy syntax)"));
    src.take_line();
}

/// `{ statements }` or one statement.
fn block(src: &mut Source, conditions: &[Expr], out: &mut ConfigText) {
    src.skip_blank();
    if !src.rest().starts_with('{') {
        statement(src, conditions, out);
        return;
    }
    let open = src.location();
    src.advance(1);
    loop {
        src.skip_blank();
        if src.at_end() {
            out.error(&open, "this '{' is never closed");
            return;
        }
        if src.rest().starts_with('}') {
            src.advance(1);
            return;
        }
        let before = src.pos;
        statement(src, conditions, out);
        if src.pos == before {
            // Nothing was consumed: step over one character so the reading ends.
            src.advance(1);
        }
    }
}

fn if_statement(src: &mut Source, conditions: &[Expr], out: &mut ConfigText, at: &Location) {
    let mut tokens = Tokens { src, errors: Vec::new() };
    let parsed = tokens.expr();
    let mut then = tokens.next();
    if let (Some(_), Some(Token::Unsupported(word))) = (&parsed, &then) {
        tokens.errors.push(unsupported_message(word));
    }
    if parsed.is_none() || !tokens.errors.is_empty() {
        // Past the bad part of the condition, to its 'then'.
        while !matches!(then, None | Some(Token::Then)) {
            then = tokens.next();
        }
    }
    let mut errors = tokens.errors;
    let expr = match (parsed, then) {
        (Some(e), Some(Token::Then)) if errors.is_empty() => Some(e),
        (_, Some(Token::Then)) => None,
        (_, other) => {
            errors.push(format!("'if' condition must end with 'then', found {}", describe(&other)));
            None
        }
    };
    for e in &errors {
        out.error(at, e.clone());
    }
    // With a bad condition, the blocks are still read (for their own
    // errors), and their rules are dropped.
    let mut scratch = ConfigText::default();
    let expr = expr.unwrap_or_else(Expr::always);
    let keep = errors.is_empty();
    let target: &mut ConfigText = if keep { out } else { &mut scratch };
    let mut inner = conditions.to_vec();
    inner.push(expr.clone());
    block(src, &inner, target);
    src.skip_blank();
    if src.word() == "else" {
        src.advance(4);
        let mut inner = conditions.to_vec();
        inner.push(Expr::Not(Box::new(expr)));
        block(src, &inner, target);
    }
    if !keep {
        out.problems.append(&mut scratch.problems);
    }
}

/// A tokenizer and parser for the expression after `if`.
struct Tokens<'s, 'a> {
    src: &'s mut Source<'a>,
    errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Then,
    And,
    Or,
    Not,
    Open,
    Close,
    Cmp(CmpOp),
    Number(i64),
    String(Vec<u8>),
    Var(String),
    /// Something outside the subset, as written.
    Unsupported(String),
}

fn describe(t: &Option<Token>) -> String {
    match t {
        None => "the end of the file".into(),
        Some(Token::Unsupported(s)) => format!("'{s}'"),
        Some(other) => format!("{other:?}"),
    }
}

impl Tokens<'_, '_> {
    fn peek(&mut self) -> Option<Token> {
        let (pos, line) = (self.src.pos, self.src.line);
        let t = self.next();
        (self.src.pos, self.src.line) = (pos, line);
        t
    }

    fn next(&mut self) -> Option<Token> {
        self.src.skip_blank();
        let rest = self.src.rest();
        let first = rest.chars().next()?;
        let two = rest.get(..2).unwrap_or("");
        let (token, len) = match first {
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '=' if two == "==" => (Token::Cmp(CmpOp::Eq), 2),
            '!' if two == "!=" => (Token::Cmp(CmpOp::Ne), 2),
            '<' if two == "<>" => (Token::Cmp(CmpOp::Ne), 2),
            '<' if two == "<=" => (Token::Cmp(CmpOp::Le), 2),
            '>' if two == ">=" => (Token::Cmp(CmpOp::Ge), 2),
            '<' => (Token::Cmp(CmpOp::Lt), 1),
            '>' => (Token::Cmp(CmpOp::Gt), 1),
            '\'' | '"' => return self.string(first),
            '$' => {
                let end = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || "$!./@-_[]".contains(c))).map_or(rest.len(), |e| e + 1);
                (Token::Var(rest[1..end].to_ascii_lowercase()), end)
            }
            '0'..='9' => {
                let end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
                let text = &rest[..end];
                let parsed = if let Some(hex) = text.strip_prefix("0x") {
                    i64::from_str_radix(hex, 16).ok()
                } else if text.len() > 1 && text.starts_with('0') {
                    i64::from_str_radix(&text[1..], 8).ok()
                } else {
                    text.parse().ok()
                };
                match parsed {
                    Some(n) => (Token::Number(n), end),
                    None => (Token::Unsupported(text.to_string()), end),
                }
            }
            c if c.is_ascii_alphabetic() => {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                let token = match rest[..end].to_ascii_lowercase().as_str() {
                    "then" => Token::Then,
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "contains" => Token::Cmp(CmpOp::Contains),
                    "startswith" => Token::Cmp(CmpOp::StartsWith),
                    _ => Token::Unsupported(rest[..end].to_string()),
                };
                (token, end)
            }
            _ => (Token::Unsupported(rest[..first.len_utf8()].to_string()), first.len_utf8()),
        };
        self.src.advance(len);
        Some(token)
    }

    /// A quoted string of an expression; a `$` in double quotes must be
    /// escaped (rsyslog's lexer refuses it too).
    fn string(&mut self, quote: char) -> Option<Token> {
        let rest = self.src.rest();
        let Some((value, len)) = unquote(rest, quote) else {
            self.errors.push("unterminated string".into());
            self.src.advance(rest.len());
            return None;
        };
        if quote == '"' && has_unescaped_dollar(&rest[..len]) {
            self.errors.push(format!("$-sign in double quotes must be escaped: {}", &rest[..len]));
        }
        self.src.advance(len);
        Some(Token::String(value))
    }

    /// expr := comparison (("and" | "or") comparison)*, from the left.
    fn expr(&mut self) -> Option<Expr> {
        let mut left = self.comparison()?;
        loop {
            match self.peek() {
                Some(Token::And) => {
                    self.next();
                    left = Expr::And(Box::new(left), Box::new(self.comparison()?));
                }
                Some(Token::Or) => {
                    self.next();
                    left = Expr::Or(Box::new(left), Box::new(self.comparison()?));
                }
                _ => return Some(left),
            }
        }
    }

    /// comparison := unary (op unary)*, from the left.
    fn comparison(&mut self) -> Option<Expr> {
        let mut left = self.unary()?;
        while let Some(Token::Cmp(op)) = self.peek() {
            self.next();
            left = Expr::Compare(op, Box::new(left), Box::new(self.unary()?));
        }
        Some(left)
    }

    /// unary := "not" unary | "(" expr ")" | value.
    fn unary(&mut self) -> Option<Expr> {
        match self.next() {
            Some(Token::Not) => Some(Expr::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Token::Close) => Some(e),
                    other => {
                        self.errors.push(format!("expected ')', found {}", describe(&other)));
                        None
                    }
                }
            }
            Some(Token::Number(n)) => Some(Expr::Number(n)),
            Some(Token::String(s)) => Some(Expr::String(s)),
            Some(Token::Var(name)) => variable(&name).map_err(|e| self.errors.push(e)).ok(),
            Some(Token::Unsupported(s)) => {
                self.errors.push(unsupported_message(&s));
                None
            }
            other => {
                self.errors.push(format!("expected a value, found {}", describe(&other)));
                None
            }
        }
    }
}

/// Why a word or sign of a condition is refused.
fn unsupported_message(s: &str) -> String {
    let what = match s {
        "contains_i" | "startswith_i" => format!("the operator '{s}'"),
        "exists" => "the function exists()".to_string(),
        "+" | "-" | "*" | "/" | "%" | "&" => format!("arithmetic and string concatenation ('{s}')"),
        "=~" | "[" => format!("'{s}'"),
        _ if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => format!("the function or word '{s}'"),
        _ => format!("'{s}'"),
    };
    format!("{what} is not supported by this collector (supported: ==, !=, <>, <, >, <=, >=, contains, startswith, and, or, not, parentheses, properties, $!/$. names, strings, numbers)")
}

/// `$name` of an expression (the `$` already removed).
fn variable(name: &str) -> Result<Expr, String> {
    if let Some(rest) = name.strip_prefix('!').or_else(|| name.strip_prefix('.')) {
        let _ = rest;
        return Ok(Expr::Variable);
    }
    if name.starts_with('/') {
        return Err(format!("global variables (${name}) are not supported by this collector"));
    }
    Property::from_name(name).map(Expr::Property).ok_or_else(|| format!("unknown property '${name}'"))
}

fn has_unescaped_dollar(quoted: &str) -> bool {
    let mut escaped = false;
    for c in quoted.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '$' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// A quoted string at the start of `text`, its escapes resolved as rsyslog's
/// `unescapeStr` does; and the length of the quoted text.
fn unquote(text: &str, quote: char) -> Option<(Vec<u8>, usize)> {
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

/// One `name="value"` of an object.
struct Param {
    /// Lowercased, for matching.
    name: String,
    /// As written, for messages.
    spelled: String,
    value: String,
    location: Location,
}

/// The `name="value" ...)` of an object whose `(` was read.
fn parameters(src: &mut Source, out: &mut ConfigText, object: &str) -> Option<Vec<Param>> {
    let start = src.location();
    let mut params = Vec::new();
    let mut ok = true;
    loop {
        src.skip_blank();
        let at = src.location();
        let rest = src.rest();
        if rest.is_empty() {
            out.error(&start, format!("{object}(: the closing ')' is missing"));
            return None;
        }
        if rest.starts_with(')') {
            src.advance(1);
            return ok.then_some(params);
        }
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
        if end == 0 {
            out.error(&at, format!("{object}(...): expected a parameter name, found '{}'", rest.chars().next().unwrap_or(' ')));
            skip_to_close(src);
            return None;
        }
        let spelled = rest[..end].to_string();
        src.advance(end);
        src.skip_blank();
        if !src.rest().starts_with('=') {
            out.error(&at, format!("{object}(...): parameter '{spelled}' needs '=\"value\"'"));
            skip_to_close(src);
            return None;
        }
        src.advance(1);
        src.skip_blank();
        let rest = src.rest();
        if !rest.starts_with('"') {
            let shown: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != ')').collect();
            out.error(&at, format!("{object}(...): the value of '{spelled}' must be a double-quoted string, found '{shown}' (arrays and backticks are not supported)"));
            ok = false;
            src.advance(shown.len().max(1));
            continue;
        }
        let Some((value, len)) = unquote(rest, '"') else {
            out.error(&at, format!("{object}(...): unterminated string for '{spelled}'"));
            src.advance(rest.len());
            return None;
        };
        src.advance(len);
        params.push(Param {
            name: spelled.to_ascii_lowercase(),
            spelled,
            value: String::from_utf8_lossy(&value).into_owned(),
            location: at,
        });
    }
}

/// Skips to after the `)` that closes an object (strings respected).
fn skip_to_close(src: &mut Source) {
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
fn skip_braces(src: &mut Source) {
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

fn unsupported_object(src: &mut Source, out: &mut ConfigText, at: &Location, name: &str) {
    if !name.is_empty() {
        out.error(at, format!("{name}(...) is not supported by this collector (supported RainerScript: template(), action(type=\"omfile\"), if/then/else, stop, input(type=\"imtcp\"), include(), global(), module())"));
    }
    if let Some((_, len)) = object_name(src.rest()) {
        src.advance(len);
    }
    skip_to_close(src);
    skip_braces(src);
}

/// After an unsupported keyword: to the end of its statement (a `;`, a
/// block, or the line).
fn skip_unsupported(src: &mut Source) {
    let line = src.rest().split('\n').next().unwrap_or("");
    match (line.find(';'), line.find('{')) {
        (Some(semi), brace) if brace.is_none_or(|b| semi < b) => src.advance(semi + 1),
        (_, Some(brace)) => {
            src.advance(brace);
            skip_braces(src);
            src.skip_blank();
            if src.word() == "else" {
                src.advance(4);
                skip_braces(src);
            }
        }
        _ => {
            src.take_line();
        }
    }
}

fn action(params: Vec<Param>, conditions: &[Expr], out: &mut ConfigText, at: &Location) {
    let Some(kind) = params.iter().find(|p| p.name == "type").map(|p| p.value.to_ascii_lowercase()) else {
        out.error(at, "action(...) without type=\"...\"");
        return;
    };
    let params = params.into_iter().filter(|p| p.name != "type").map(|p| (p.name, p.value)).collect();
    let call = ActionCall { kind, params };
    push(out, at.clone(), Statement::ActionCall { filter: filter_of(conditions), action: call });
}

fn input(src: &mut Source, out: &mut ConfigText, at: &Location) {
    let Some(params) = parameters(src, out, "input") else { return };
    let kind = params.iter().find(|p| p.name == "type").map(|p| p.value.to_ascii_lowercase());
    if kind.as_deref() != Some("imtcp") {
        let shown = kind.unwrap_or_else(|| "(none)".into());
        out.error(at, format!("input(type=\"{shown}\") is not supported: RainerScript inputs are imtcp only (the GSS listener is $InputGSSServerRun, as in rsyslog)"));
        return;
    }
    let mut port = None;
    for p in &params {
        match p.name.as_str() {
            "type" => {}
            "port" => port = Some(p),
            _ => out.error(&p.location, format!("input(type=\"imtcp\"): parameter '{}' is not supported (only port)", p.spelled)),
        }
    }
    let Some(port) = port else {
        out.error(at, "input(type=\"imtcp\") without port=\"...\"");
        return;
    };
    let modload = Statement::Directive { name: "modload".into(), spelled: "ModLoad".into(), value: "imtcp".into() };
    push(out, at.clone(), modload);
    let run = Statement::Directive { name: "inputtcpserverrun".into(), spelled: "InputTCPServerRun".into(), value: port.value.clone() };
    push(out, port.location.clone(), run);
}

fn module(src: &mut Source, out: &mut ConfigText, at: &Location) {
    let Some(params) = parameters(src, out, "module") else { return };
    let mut loaded = false;
    for p in params {
        if p.name == "load" {
            let statement = Statement::Directive { name: "modload".into(), spelled: "ModLoad".into(), value: p.value };
            push(out, at.clone(), statement);
            loaded = true;
        } else {
            out.warn(&p.location, format!("module(...): parameter '{}' ignored", p.spelled));
        }
    }
    if !loaded {
        out.error(at, "module(...) without load=\"name\"");
    }
}

fn include_files(params: &[Param], out: &mut ConfigText, at: &Location, include: &IncludeContext) {
    let mut file = None;
    let mut optional = false;
    for p in params {
        match p.name.as_str() {
            "file" => file = Some(p.value.clone()),
            "mode" if p.value.eq_ignore_ascii_case("optional") => optional = true,
            "mode" if p.value.eq_ignore_ascii_case("abort-if-missing") => {}
            _ => out.error(&p.location, format!("include(...): '{}=\"{}\"' is not supported (file= and mode=)", p.spelled, p.value)),
        }
    }
    let Some(file) = file else {
        out.error(at, "include(...) without file=\"...\"");
        return;
    };
    crate::config::include(&file, at, include.path, out, include.chain, optional);
}

fn template(src: &mut Source, out: &mut ConfigText, at: &Location) {
    let Some(params) = parameters(src, out, "template") else {
        skip_braces(src);
        return;
    };
    let get = |n: &str| params.iter().find(|p| p.name == n);
    let Some(name) = get("name").map(|p| p.value.clone()) else {
        out.error(at, "template(...) without name=\"...\"");
        skip_braces(src);
        return;
    };
    let kind = get("type").map(|p| p.value.to_ascii_lowercase()).unwrap_or_default();
    let mut options = Vec::new();
    for p in &params {
        match p.name.as_str() {
            "name" | "type" | "string" => {}
            "option.sql" | "option.stdsql" | "option.json" | "option.jsonf" | "option.casesensitive" => {
                if crate::config::parse_bool(&p.value).unwrap_or(false) {
                    options.push(p.name.trim_start_matches("option.").to_string());
                }
            }
            _ => out.error(&p.location, format!("template '{name}': parameter '{}' is not supported", p.spelled)),
        }
    }
    let text = match kind.as_str() {
        "string" => match get("string") {
            // The lexer has resolved the escapes once; the template parser
            // resolves them again, as rsyslog's tplAddLine does.
            Some(s) => s.value.clone(),
            None => {
                out.error(at, format!("template '{name}' of type string needs a string parameter"));
                return;
            }
        },
        "list" => match list_template(src, out, &name) {
            Some(text) => text,
            None => return,
        },
        other => {
            out.error(at, format!("template '{name}': type \"{other}\" is not supported (string or list)"));
            skip_braces(src);
            return;
        }
    };
    push(out, at.clone(), Statement::Template { name, text, options: options.join(",") });
}

/// The `{ property(...) constant(...) }` of a list template, as legacy
/// template text.
fn list_template(src: &mut Source, out: &mut ConfigText, name: &str) -> Option<String> {
    src.skip_blank();
    let open = src.location();
    if !src.rest().starts_with('{') {
        out.error(&open, format!("template '{name}' of type list needs {{ property(...) constant(...) }}"));
        return None;
    }
    src.advance(1);
    let mut text = String::new();
    let mut ok = true;
    loop {
        src.skip_blank();
        let at = src.location();
        if src.at_end() {
            out.error(&open, "this '{' is never closed");
            return None;
        }
        if src.rest().starts_with('}') {
            src.advance(1);
            return ok.then_some(text);
        }
        if src.eat_object("constant") {
            let params = parameters(src, out, "constant")?;
            for p in params {
                match p.name.as_str() {
                    "value" => text.push_str(&p.value.replace('\\', "\\\\").replace('%', "\\%")),
                    "outname" | "format" => {}
                    _ => {
                        out.error(&p.location, format!("constant(...): parameter '{}' is not supported", p.spelled));
                        ok = false;
                    }
                }
            }
        } else if src.eat_object("property") {
            let params = parameters(src, out, "property")?;
            match property_entry(&params) {
                Ok(entry) => text.push_str(&entry),
                Err(e) => {
                    out.error(&at, format!("template '{name}': {e}"));
                    ok = false;
                }
            }
        } else {
            let shown: String = src.rest().chars().take(30).take_while(|c| *c != '\n').collect();
            out.error(&at, format!("template '{name}': expected property(...) or constant(...), found '{shown}'"));
            skip_braces_from_inside(src);
            return None;
        }
    }
}

fn skip_braces_from_inside(src: &mut Source) {
    let rest = src.rest();
    src.advance(rest.find('}').map_or(rest.len(), |e| e + 1));
}

/// A `property(...)` as a legacy `%name:from:to:options%` entry.
fn property_entry(params: &[Param]) -> Result<String, String> {
    let mut name = None;
    let (mut from, mut to) = (String::new(), String::new());
    let (mut field_number, mut field_delimiter) = (None, None);
    let (mut regex, mut regex_type, mut nomatch, mut submatch, mut match_index) =
        (None, "BRE".to_string(), "DFLT".to_string(), "0".to_string(), "0".to_string());
    let mut options: Vec<String> = Vec::new();
    let on = |p: &Param| crate::config::parse_bool(&p.value).map_err(|e| format!("property(...): {}: {e}", p.spelled));
    for p in params {
        let v = p.value.as_str();
        let lower = v.to_ascii_lowercase();
        match p.name.as_str() {
            "name" => name = Some(v.to_string()),
            "outname" | "datatype" | "onempty" | "mandatory" => {}
            "position.from" => from = number(p)?,
            "position.to" => to = number(p)?,
            "position.relativetoend" if on(p)? => options.push("pos-end-relative".into()),
            "field.number" => field_number = Some(number(p)?),
            "field.delimiter" => field_delimiter = Some(number(p)?),
            "regex.expression" => regex = Some(v.to_string()),
            "regex.type" => regex_type = v.to_ascii_uppercase(),
            "regex.nomatchmode" => nomatch = v.to_ascii_uppercase(),
            "regex.submatch" => submatch = number(p)?,
            "regex.match" => match_index = number(p)?,
            "droplastlf" if on(p)? => options.push("drop-last-lf".into()),
            "spifno1stsp" if on(p)? => options.push("sp-if-no-1st-sp".into()),
            "fixedwidth" if on(p)? => options.push("fixed-width".into()),
            "compressspace" if on(p)? => options.push("compressspace".into()),
            "date.inutc" if on(p)? => options.push("date-utc".into()),
            "position.relativetoend" | "droplastlf" | "spifno1stsp" | "fixedwidth" | "compressspace" | "date.inutc" => {}
            "format" => options.push(lower),
            "controlcharacters" => options.push(match lower.as_str() {
                "escape" => "escape-cc".into(),
                "space" => "space-cc".into(),
                "drop" => "drop-cc".into(),
                _ => return Err(format!("invalid controlcharacters mode '{v}'")),
            }),
            "securepath" => options.push(match lower.as_str() {
                "drop" => "secpath-drop".into(),
                "replace" => "secpath-replace".into(),
                _ => return Err(format!("invalid securepath mode '{v}'")),
            }),
            "caseconversion" => options.push(match lower.as_str() {
                "lower" => "lowercase".into(),
                "upper" => "uppercase".into(),
                _ => return Err(format!("invalid caseconversion type '{v}'")),
            }),
            "dateformat" => options.push(format!("date-{lower}")),
            _ => return Err(format!("property(...): parameter '{}' is not supported", p.spelled)),
        }
    }
    let name = name.ok_or("property(...) without name=\"...\"")?;
    if name.contains([':', '%']) {
        return Err(format!("property name '{name}' is invalid"));
    }
    let (from, to) = match (regex, field_number) {
        (Some(_), Some(_)) => return Err("both field extraction and regex extraction specified".into()),
        (Some(re), None) => {
            if re.contains('%') || re.contains("--end") {
                return Err("a regex.expression holding '%' or '--end' is not supported".into());
            }
            (format!("R,{regex_type},{submatch},{nomatch},{match_index}"), format!("{re}--end"))
        }
        (None, Some(n)) => {
            let from_part = if from.is_empty() { String::new() } else { format!(",{from}") };
            let to_part = if to.is_empty() { String::new() } else { format!(",{to}") };
            (format!("F,{}{from_part}", field_delimiter.unwrap_or_else(|| "9".into())), format!("{n}{to_part}"))
        }
        (None, None) => (from, to),
    };
    if from.is_empty() && to.is_empty() && options.is_empty() {
        return Ok(format!("%{name}%"));
    }
    Ok(format!("%{name}:{from}:{to}:{}%", options.join(",")))
}

fn number(p: &Param) -> Result<String, String> {
    let v = p.value.trim();
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("property(...): {} must be a number, found '{}'", p.spelled, p.value));
    }
    Ok(v.to_string())
}

//! The condition after `if`: rsyslog 8.2302's expression grammar, as far as
//! the subset goes (`and`/`or` one level from the left, comparisons
//! tighter, `not` tightest).

use super::source::{unquote, Source};
use crate::expr::{CmpOp, Expr};
use crate::template::Property;

/// The condition of an `if` at `src`, through its `then`: the expression,
/// or why it is refused (the reading then stops after the `then`).
pub(super) fn read_condition(src: &mut Source) -> Result<Expr, Vec<String>> {
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
    match (parsed, then) {
        (Some(e), Some(Token::Then)) if errors.is_empty() => Ok(e),
        (_, Some(Token::Then)) => Err(errors),
        (_, other) => {
            errors.push(format!("'if' condition must end with 'then', found {}", describe(&other)));
            Err(errors)
        }
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


#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The expression as a compact tree: `(and a b)`, `(Eq x y)`, `$`, `"s"`, `3`.
    fn shape(e: &Expr) -> String {
        match e {
            Expr::Number(n) => n.to_string(),
            Expr::String(s) => format!("{:?}", String::from_utf8_lossy(s)),
            Expr::Property(_) => "$".into(),
            Expr::Variable => "var".into(),
            Expr::Not(a) => format!("(not {})", shape(a)),
            Expr::And(a, b) => format!("(and {} {})", shape(a), shape(b)),
            Expr::Or(a, b) => format!("(or {} {})", shape(a), shape(b)),
            Expr::Compare(op, a, b) => format!("({op:?} {} {})", shape(a), shape(b)),
            Expr::Legacy(_) => "legacy".into(),
        }
    }

    fn condition(text: &str) -> Result<String, Vec<String>> {
        let mut src = Source::new(text, Arc::from("t.conf"));
        read_condition(&mut src).map(|e| shape(&e))
    }

    #[test]
    fn precedence_is_rsyslogs() {
        assert_eq!(condition("not $msg == \"x\" then").unwrap(), "(Eq (not $) \"x\")", "not binds tightest");
        assert_eq!(condition("$msg == 'a' or $msg == 'b' and $pri > 3 then").unwrap(), "(and (or (Eq $ \"a\") (Eq $ \"b\")) (Gt $ 3))", "and/or: one level, from the left");
        assert_eq!(condition("($msg contains 'a') and not ($msg startswith 'b') then").unwrap(), "(and (Contains $ \"a\") (not (StartsWith $ \"b\")))");
        assert_eq!(condition("$pri <> 0x1f then").unwrap(), "(Ne $ 31)");
        assert_eq!(condition("$pri <= 010 then").unwrap(), "(Le $ 8)", "a leading 0 is octal");
        assert_eq!(condition("$!user == $.x then").unwrap(), "(Eq var var)");
    }

    #[test]
    fn what_the_subset_lacks_is_named() {
        let errors = condition("$msg + 1 == 2 then").unwrap_err();
        assert!(errors[0].starts_with("arithmetic and string concatenation ('+') is not supported"), "{errors:?}");
        assert_eq!(condition("$msg == \"x\"").unwrap_err(), ["'if' condition must end with 'then', found the end of the file"]);
        assert_eq!(condition("$msg == \"a$b\" then").unwrap_err(), ["$-sign in double quotes must be escaped: \"a$b\""]);
        assert_eq!(condition("$/g == 1 then").unwrap_err(), ["global variables ($/g) are not supported by this collector"]);
        assert_eq!(condition("$nosuchprop == 1 then").unwrap_err(), ["unknown property '$nosuchprop'"]);
        assert!(condition("exists($!x) then").unwrap_err()[0].starts_with("the function exists() is not supported"));
    }

    #[test]
    fn a_bad_condition_is_read_through_its_then() {
        let mut src = Source::new("$msg =~ 'x' then stop", Arc::from("t.conf"));
        assert!(read_condition(&mut src).is_err());
        assert_eq!(src.rest(), " stop", "the block after 'then' is still read");
    }
}

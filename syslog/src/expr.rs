//! RainerScript expressions (`if EXPR then ...`) and how rsyslog 8.2302
//! evaluates them (`grammar/rainerscript.c`, `cnfexprEval`).
//!
//! A value is a number or a string; message properties are strings, and a
//! `$!`/`$.` variable, which nothing in the supported subset can set, is
//! empty. rsyslog's typing rules are kept exactly:
//! - `==` and `!=` compare as strings unless one side is a number and the
//!   other converts to one (all of it: `"12"` does, `"12a"` does not);
//! - `<`, `>`, `<=`, `>=` compare as numbers when both sides convert, else
//!   as byte strings;
//! - `contains` and `startswith` compare strings (an empty right side
//!   always matches);
//! - a value is true when it is a non-zero number, or a string whose
//!   leading `-` and digits make a non-zero number (`"12abc"` is true).

use std::cmp::Ordering;

use crate::filter::Filter;
use crate::message::Message;
use crate::template::Property;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=` (also `<>`)
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `startswith`
    StartsWith,
}

/// An expression of an `if`, or the condition of a flattened rule.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number literal.
    Number(i64),
    /// A string literal (escapes resolved).
    String(Vec<u8>),
    /// A message property (`$msg`, `$syslogseverity`, `$$now`, …).
    Property(Property),
    /// A `$!name` or `$.name` variable: always empty here.
    Variable,
    /// `not`.
    Not(Box<Expr>),
    /// `and` (evaluated left to right, short-circuit).
    And(Box<Expr>, Box<Expr>),
    /// `or` (evaluated left to right, short-circuit).
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// A legacy filter (a selector or a property filter) that a RainerScript
    /// block hangs under.
    Legacy(Filter),
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Number(i64),
    String(Vec<u8>),
}

impl Value {
    /// rsyslog's `var2Number`: the number and whether the conversion used
    /// the whole value.
    fn to_number(&self) -> (i64, bool) {
        match self {
            Value::Number(n) => (*n, true),
            Value::String(s) => str_to_number(s),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        match self {
            Value::Number(n) => n.to_string().into_bytes(),
            Value::String(s) => s.clone(),
        }
    }

    fn is_true(&self) -> bool {
        self.to_number().0 != 0
    }
}

/// rsyslog's `str2num`: an optional `-`, then digits; the whole string must
/// be used for the conversion to count (the empty string is 0, and counts).
fn str_to_number(s: &[u8]) -> (i64, bool) {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let used = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits[..used].iter().fold(0i64, |n, d| n.wrapping_mul(10).wrapping_add(i64::from(d - b'0')));
    (if negative { n.wrapping_neg() } else { n }, used == digits.len())
}

impl Expr {
    /// The always-true condition (a RainerScript action at the top level).
    pub fn always() -> Expr {
        Expr::Number(1)
    }

    /// Whether `m` passes this condition.
    pub fn matches(&self, m: &Message) -> bool {
        self.eval(m).is_true()
    }

    fn eval(&self, m: &Message) -> Value {
        let truth = |b: bool| Value::Number(i64::from(b));
        match self {
            Expr::Number(n) => Value::Number(*n),
            Expr::String(s) => Value::String(s.clone()),
            Expr::Variable => Value::String(Vec::new()),
            Expr::Property(p) => {
                let mut out = Vec::new();
                match p {
                    Property::TimeReported | Property::TimeGenerated | Property::Now(..) => crate::template::render_plain(*p, m, &mut out),
                    _ => out.extend_from_slice(p.value(m, &mut Vec::new())),
                }
                Value::String(out)
            }
            Expr::Legacy(f) => truth(f.matches(m)),
            Expr::Not(e) => truth(!e.eval(m).is_true()),
            Expr::And(l, r) => truth(l.eval(m).is_true() && r.eval(m).is_true()),
            Expr::Or(l, r) => truth(l.eval(m).is_true() || r.eval(m).is_true()),
            Expr::Compare(op, l, r) => truth(compare(*op, &l.eval(m), &r.eval(m))),
        }
    }
}

fn compare(op: CmpOp, l: &Value, r: &Value) -> bool {
    match op {
        CmpOp::Eq => equal(l, r),
        CmpOp::Ne => !equal(l, r),
        CmpOp::Lt => order(l, r) == Ordering::Less,
        CmpOp::Gt => order(l, r) == Ordering::Greater,
        CmpOp::Le => order(l, r) != Ordering::Greater,
        CmpOp::Ge => order(l, r) != Ordering::Less,
        CmpOp::Contains => {
            let (hay, needle) = (l.to_bytes(), r.to_bytes());
            needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle.as_slice())
        }
        CmpOp::StartsWith => l.to_bytes().starts_with(&r.to_bytes()),
    }
}

/// `==`: a number against a string that converts compares as numbers;
/// anything else as strings.
fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => match str_to_number(s) {
            (v, true) => v == *n,
            _ => *s == n.to_string().into_bytes(),
        },
    }
}

/// `<` and friends: numbers when both sides convert, else byte strings.
fn order(l: &Value, r: &Value) -> Ordering {
    match (l.to_number(), r.to_number()) {
        ((a, true), (b, true)) => a.cmp(&b),
        _ => l.to_bytes().cmp(&r.to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.as_bytes().to_vec())
    }

    #[test]
    fn rsyslog_typing_rules() {
        let n = Value::Number;
        assert!(compare(CmpOp::Eq, &s("3"), &n(3)));
        assert!(compare(CmpOp::Eq, &n(3), &s("3")));
        assert!(!compare(CmpOp::Eq, &s("03a"), &n(3)));
        assert!(compare(CmpOp::Eq, &s(""), &n(0)), "the empty string converts to 0");
        assert!(compare(CmpOp::Lt, &s("9"), &s("10")), "both convert: numbers");
        assert!(compare(CmpOp::Gt, &s("9a"), &s("10")), "else bytes");
        assert!(compare(CmpOp::Contains, &s("abc"), &s("")));
        assert!(compare(CmpOp::StartsWith, &s("abc"), &s("ab")));
        assert!(!compare(CmpOp::StartsWith, &s("a"), &s("ab")));
        assert!(s("12abc").is_true() && !s("abc").is_true() && s("-1").is_true() && !s("").is_true());
    }
}

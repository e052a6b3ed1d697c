//! The `name="value" ...)` of an object.

use super::source::{skip_to_close, unquote, Source};
use crate::config::{ConfigText, Location};

/// One `name="value"` of an object.
pub(super) struct Param {
    /// Lowercased, for matching.
    pub(super) name: String,
    /// As written, for messages.
    pub(super) spelled: String,
    pub(super) value: String,
    pub(super) location: Location,
}

/// The `name="value" ...)` of an object whose `(` was read.
pub(super) fn parameters(src: &mut Source, out: &mut ConfigText, object: &str) -> Option<Vec<Param>> {
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


#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Each parameter as (name, spelled, value).
    type Read = Option<Vec<(String, String, String)>>;

    /// The parameters read, the problems, and the text left.
    fn read(text: &str) -> (Read, Vec<String>, String) {
        let mut src = Source::new(text, Arc::from("t.conf"));
        let mut out = ConfigText::default();
        let params = parameters(&mut src, &mut out, "obj");
        let params = params.map(|ps| ps.into_iter().map(|p| (p.name, p.spelled, p.value)).collect());
        (params, out.problems.iter().map(|p| p.to_string()).collect(), src.rest().to_string())
    }

    #[test]
    fn names_are_lowercased_values_unescaped_and_the_reading_ends_after_the_parenthesis() {
        let (params, problems, rest) = read("Name=\"a\\\"b\"\n  dir.Mode = \"0750\" ) after");
        let expected = vec![("name".into(), "Name".into(), "a\"b".into()), ("dir.mode".into(), "dir.Mode".into(), "0750".into())];
        assert_eq!(params, Some(expected));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(rest, " after");
    }

    #[test]
    fn malformed_parameters_are_errors_at_their_line() {
        assert_eq!(read("a=\"1\"").1, ["t.conf:1: obj(: the closing ')' is missing"]);
        assert_eq!(read("a \"1\") x").1, ["t.conf:1: obj(...): parameter 'a' needs '=\"value\"'"]);
        let (params, problems, rest) = read("a=\"1\"\nb=[\"x\"] c=\"2\") x");
        assert_eq!(params, None, "a bad value spoils the object");
        assert_eq!(problems, ["t.conf:2: obj(...): the value of 'b' must be a double-quoted string, found '[\"x\"]' (arrays and backticks are not supported)"]);
        assert_eq!(rest, " x", "but the reading goes on to its end");
    }
}

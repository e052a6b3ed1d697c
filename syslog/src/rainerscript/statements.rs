//! Statements: the top level, blocks, `if`/`else`, `stop`, and legacy
//! filters and actions inside blocks, flattened into ordered rules.

use super::expression::read_condition;
use super::objects::{action, filter_of, global, include_files, input, module, push, template, unsupported_object};
use super::parameters::parameters;
use super::source::{object_name, skip_braces, IncludeContext, Source, KEYWORDS};
use crate::config::{ConfigText, Location, Statement};
use crate::expr::Expr;
use crate::filter::Filter;

/// The block or action after a legacy filter (`*.* action(...)`,
/// `:msg, contains, "x" { ... }`).
pub(crate) fn block_under(src: &mut Source, filter: Filter, out: &mut ConfigText) {
    block(src, &[Expr::Legacy(filter)], out);
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
                global(params, out);
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
    let (expr, errors) = match read_condition(src) {
        Ok(expr) => (expr, Vec::new()),
        Err(errors) => (Expr::always(), errors),
    };
    for e in &errors {
        out.error(at, e.clone());
    }
    // With a bad condition, the blocks are still read (for their own
    // errors), and their rules are dropped.
    let mut scratch = ConfigText::default();
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


#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::rainerscript::source::starts_statement;

    /// Reads `text` as the config reader does its RainerScript statements
    /// (other lines skipped); the rules and directives made, and the problems.
    fn read(text: &str) -> (Vec<String>, Vec<String>) {
        let mut src = Source::new(text, Arc::from("t.conf"));
        let mut out = ConfigText::default();
        let include = IncludeContext { path: Path::new("t.conf"), chain: &[] };
        loop {
            src.skip_blank();
            if src.at_end() {
                break;
            }
            if starts_statement(src.rest()) {
                top_statement(&mut src, &mut out, &include);
            } else {
                src.take_line();
            }
        }
        let lines = out
            .lines
            .iter()
            .map(|l| match &l.statement {
                Statement::Rule { filter: Filter::Expr(e), action } => format!("{}: {} if {}", l.location.line, action, depth(e)),
                Statement::Rule { action, .. } => format!("{}: {action}", l.location.line),
                Statement::ActionCall { filter: Filter::Expr(e), action } => format!("{}: action {} if {}", l.location.line, action.kind, depth(e)),
                Statement::ActionCall { action, .. } => format!("{}: action {}", l.location.line, action.kind),
                other => format!("{}: {other:?}", l.location.line),
            })
            .collect();
        (lines, out.problems.iter().map(|p| p.to_string()).collect())
    }

    /// How many conditions a rule's filter joins, and whether the last is negated.
    fn depth(e: &Expr) -> String {
        match e {
            Expr::And(a, b) => format!("{} & {}", depth(a), depth(b)),
            Expr::Not(_) => "not".into(),
            _ => "cond".into(),
        }
    }

    #[test]
    fn blocks_flatten_into_rules_under_the_conjunction_of_their_conditions() {
        let (lines, problems) = read(
            "if $programname == 'sshd' then {\n  /var/log/sshd.log\n  if $msg contains 'Failed' then stop\n} else {\n  action(type=\"omfile\" file=\"/x\")\n}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(lines, ["2: /var/log/sshd.log if cond", "3: stop if cond & cond", "5: action omfile if not"]);
    }

    #[test]
    fn outside_the_subset_is_an_error_at_its_line_and_reading_goes_on() {
        let (lines, problems) = read("set $.x = 1;\nruleset(name=\"r\") { stop }\nif $msg == 'a' then stop\n}\n");
        assert_eq!(lines, ["3: stop if cond"]);
        assert!(problems[0].starts_with("t.conf:1: 'set' is not supported by this collector"), "{problems:?}");
        assert!(problems[1].starts_with("t.conf:2: ruleset(...) is not supported by this collector"), "{problems:?}");
        assert_eq!(problems[2], "t.conf:4: unexpected '}': a block belongs after 'then', 'else' or a filter");
    }

    #[test]
    fn a_bad_condition_drops_its_rules_and_reports_theirs() {
        let (lines, problems) = read("if $msg + 1 then { /a\n frobnicate\n}\nif $msg == 'b' then /b\n");
        assert_eq!(lines, ["4: /b if cond"], "the rules under the bad condition are dropped");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].starts_with("t.conf:2: cannot understand 'frobnicate"), "{problems:?}");
    }
}

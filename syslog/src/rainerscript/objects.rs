//! What each object becomes: `action(...)` an [`ActionCall`], `input(...)`,
//! `module(...)` and `global(...)` directives as their legacy lines give,
//! `template(...)` the text a `$template` line would hold, `include(...)`
//! the files it names.

use std::sync::Arc;

use super::parameters::{parameters, Param};
use super::source::{object_name, skip_braces, skip_braces_from_inside, skip_to_close, IncludeContext, Source};
use crate::config::{ActionCall, ConfigText, Line, Location, Statement};
use crate::expr::Expr;
use crate::filter::Filter;

/// The filter of rules under `conditions` (all must hold).
pub(super) fn filter_of(conditions: &[Expr]) -> Filter {
    let mut all = conditions.iter().cloned();
    let first = all.next().unwrap_or_else(Expr::always);
    if let (Expr::Legacy(f), 1) = (&first, conditions.len()) {
        return f.clone();
    }
    Filter::Expr(Arc::new(all.fold(first, |acc, c| Expr::And(Box::new(acc), Box::new(c)))))
}

pub(super) fn push(out: &mut ConfigText, location: Location, statement: Statement) {
    out.lines.push(Line { location, statement });
}

pub(super) fn unsupported_object(src: &mut Source, out: &mut ConfigText, at: &Location, name: &str) {
    if !name.is_empty() {
        out.error(at, format!("{name}(...) is not supported by this collector (supported RainerScript: template(), action(type=\"omfile\"), if/then/else, stop, input(type=\"imtcp\"), include(), global(), module())"));
    }
    if let Some((_, len)) = object_name(src.rest()) {
        src.advance(len);
    }
    skip_to_close(src);
    skip_braces(src);
}

pub(super) fn action(params: Vec<Param>, conditions: &[Expr], out: &mut ConfigText, at: &Location) {
    let Some(kind) = params.iter().find(|p| p.name == "type").map(|p| p.value.to_ascii_lowercase()) else {
        out.error(at, "action(...) without type=\"...\"");
        return;
    };
    let params = params.into_iter().filter(|p| p.name != "type").map(|p| (p.name, p.value)).collect();
    let call = ActionCall { kind, params };
    push(out, at.clone(), Statement::ActionCall { filter: filter_of(conditions), action: call });
}

pub(super) fn input(src: &mut Source, out: &mut ConfigText, at: &Location) {
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

pub(super) fn module(src: &mut Source, out: &mut ConfigText, at: &Location) {
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

pub(super) fn include_files(params: &[Param], out: &mut ConfigText, at: &Location, include: &IncludeContext) {
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

pub(super) fn template(src: &mut Source, out: &mut ConfigText, at: &Location) {
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

/// `global(...)`: each parameter a directive of its name.
pub(super) fn global(params: Vec<Param>, out: &mut ConfigText) {
    for p in params {
        let statement = Statement::Directive { name: p.name.clone(), spelled: p.spelled, value: p.value };
        push(out, p.location, statement);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn params_of(text: &str) -> Vec<Param> {
        let mut src = Source::new(text, Arc::from("t.conf"));
        let mut out = ConfigText::default();
        let params = parameters(&mut src, &mut out, "property").expect("good parameters");
        assert!(out.problems.is_empty());
        params
    }

    fn lines(out: &ConfigText) -> Vec<String> {
        out.lines
            .iter()
            .map(|l| match &l.statement {
                Statement::Directive { name, value, .. } => format!("{}:{name}={value}", l.location.line),
                Statement::Template { name, text, .. } => format!("{}:template {name}={text}", l.location.line),
                other => format!("{}:{other:?}", l.location.line),
            })
            .collect()
    }

    #[test]
    fn properties_become_legacy_template_entries() {
        let entry = |text: &str| property_entry(&params_of(text));
        assert_eq!(entry("name=\"msg\")").unwrap(), "%msg%");
        assert_eq!(entry("name=\"msg\" position.from=\"1\" position.to=\"10\" droplastlf=\"on\")").unwrap(), "%msg:1:10:drop-last-lf%");
        assert_eq!(entry("name=\"msg\" field.number=\"3\" field.delimiter=\"44\")").unwrap(), "%msg:F,44:3:%");
        assert_eq!(entry("name=\"msg\" regex.expression=\"a+\" regex.type=\"ERE\" regex.submatch=\"1\")").unwrap(), "%msg:R,ERE,1,DFLT,0:a+--end:%");
        assert_eq!(entry("name=\"hostname\" caseconversion=\"lower\" securepath=\"replace\")").unwrap(), "%hostname:::lowercase,secpath-replace%");
        assert_eq!(entry("name=\"msg\" field.number=\"1\" regex.expression=\"x\")").unwrap_err(), "both field extraction and regex extraction specified");
        assert_eq!(entry("name=\"msg\" position.from=\"x\")").unwrap_err(), "property(...): position.from must be a number, found 'x'");
        assert_eq!(entry("name=\"msg\" bogus=\"1\")").unwrap_err(), "property(...): parameter 'bogus' is not supported");
    }

    #[test]
    fn input_module_and_global_are_the_directives_their_legacy_lines_give() {
        let mut out = ConfigText::default();
        let at = Location { file: Arc::from("t.conf"), line: 1 };
        input(&mut Source::new("type=\"imtcp\"\nport=\"5514\")", Arc::from("t.conf")), &mut out, &at);
        module(&mut Source::new("load=\"impstats\" interval=\"60\")", Arc::from("t.conf")), &mut out, &at);
        global(params_of("net.enableDNS=\"off\")"), &mut out);
        assert_eq!(lines(&out), ["1:modload=imtcp", "2:inputtcpserverrun=5514", "1:modload=impstats", "1:net.enabledns=off"]);
        let problems: Vec<String> = out.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems, ["t.conf:1: warning: module(...): parameter 'interval' ignored"]);
        input(&mut Source::new("type=\"imudp\" port=\"514\")", Arc::from("t.conf")), &mut out, &at);
        assert!(out.problems.last().is_some_and(|p| p.message.starts_with("input(type=\"imudp\") is not supported")));
    }

    #[test]
    fn a_list_template_is_the_text_of_a_legacy_one() {
        let mut out = ConfigText::default();
        let at = Location { file: Arc::from("t.conf"), line: 1 };
        let text = "name=\"t\" type=\"list\") {\n constant(value=\"at \")\n property(name=\"timestamp\" dateFormat=\"rfc3339\")\n constant(value=\" 100%\\n\")\n}";
        template(&mut Source::new(text, Arc::from("t.conf")), &mut out, &at);
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(lines(&out), ["1:template t=at %timestamp:::date-rfc3339% 100\\%\n"]);
    }

    #[test]
    fn an_action_keeps_its_type_apart_under_the_conditions_around_it() {
        let mut out = ConfigText::default();
        let at = Location { file: Arc::from("t.conf"), line: 4 };
        action(params_of("type=\"OMFile\" file=\"/x\")"), &[], &mut out, &at);
        let Statement::ActionCall { action: call, .. } = &out.lines[0].statement else { panic!("an action call") };
        assert_eq!(call, &ActionCall { kind: "omfile".into(), params: vec![("file".into(), "/x".into())] });
        action(params_of("file=\"/x\")"), &[], &mut out, &at);
        assert_eq!(out.problems[0].to_string(), "t.conf:4: action(...) without type=\"...\"");
    }
}

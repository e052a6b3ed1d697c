//! The directive sections of the man pages and `docs/directives.md`, both
//! rendered from the daemons' directive tables (`imgssapi::directives`,
//! `omgssapi::directives`, `daemon::shared_directives`): the one definition
//! of each directive.

use daemon::directive_table::{DefaultValue, Entry, Modules, Origin, Table};

use crate::markdown::{escape, guard_line};

/// The command that writes `docs/directives.md`.
pub const REGENERATE: &str = "cargo run -p gsslog-man -- --directives docs/directives.md";

/// One directive as the documents show it.
struct Row {
    /// As written in a configuration: `$Name`, `net.enableDNS`, or a parameter `file`.
    shown: String,
    syntax: &'static str,
    default: String,
    scope: &'static str,
    doc: &'static str,
    origin: String,
}

fn rows<S, C>(table: &Table<S, C>) -> Vec<Row> {
    table
        .entries
        .iter()
        .map(|e| row(e, written(e.name)))
        .collect()
}

/// The rows of an object's parameters, shown as written (`file`).
fn parameter_rows<S, C>(table: &Table<S, C>) -> Vec<Row> {
    table
        .entries
        .iter()
        .map(|e| row(e, e.name.to_string()))
        .collect()
}

fn row<S, C>(e: &Entry<S, C>, shown: String) -> Row {
    Row {
        shown,
        syntax: e.syntax(),
        default: match e.default {
            DefaultValue::Is(v) => format!("`{v}`"),
            DefaultValue::Unset(words) => words.to_string(),
        },
        scope: e.scope.as_str(),
        doc: e.doc,
        origin: e.origin.describe(),
    }
}

/// The name as written in a configuration: `$Name`, or a `global()` parameter as is.
fn written(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("${name}")
    }
}

/// Which daemon's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// `imgssapi`.
    Collector,
    /// `omgssapi`.
    Shipper,
}

fn own_rows(daemon: Daemon) -> (Vec<Row>, &'static Modules) {
    match daemon {
        Daemon::Collector => (
            rows(&imgssapi::directives::TABLE),
            &imgssapi::directives::MODULES,
        ),
        Daemon::Shipper => (
            rows(&omgssapi::directives::TABLE),
            &omgssapi::directives::MODULES,
        ),
    }
}

/// The RainerScript objects a daemon reads the parameters of, with their tables.
fn objects(daemon: Daemon) -> Vec<(&'static str, Vec<Row>)> {
    match daemon {
        Daemon::Collector => vec![(
            "action(type=\"omfile\")",
            parameter_rows(&imgssapi::directives::OMFILE),
        )],
        Daemon::Shipper => vec![],
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn markdown_table(what: &str, rows: &[Row]) -> String {
    let mut out = format!(
        "| {what} | value | default | scope | meaning | rsyslog |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            r.shown,
            cell(r.syntax),
            cell(&r.default),
            r.scope,
            cell(r.doc),
            cell(&r.origin)
        ));
    }
    out
}

fn markdown_modules(modules: &Modules) -> String {
    let mut out = String::from("| `$ModLoad` | what it does here | rsyslog |\n|---|---|---|\n");
    for m in modules.known {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            m.name,
            cell(m.doc),
            cell(&m.origin.describe())
        ));
    }
    let other = match modules.other {
        Some(why) => format!("a warning: {why}"),
        None => "accepted in silence".to_string(),
    };
    out.push_str(&format!("| any other | {} | |\n", cell(&other)));
    out
}

/// `docs/directives.md`, whole.
pub fn markdown() -> String {
    let mut out = format!(
        "<!-- Generated from the directive tables (imgssapi/src/directives.rs, omgssapi/src/directives.rs,\n\
         daemon/src/shared_directives.rs): do not edit; run `{REGENERATE}`. -->\n\n\
         # Directives\n\n\
         Every directive each daemon reads, from the one table its config reader looks directives up in.\n\
         Names are case-insensitive. A directive in no table is an error (`--check-config` names its line);\n\
         one marked *accepted and ignored* loads with a warning saying why. Scope: `global` applies to the\n\
         whole daemon, `input` to its listeners, `action` to the actions below the line. `$template` and\n\
         `$IncludeConfig` (and RainerScript's `template()` and `include()`) are read by the config reader\n\
         itself, for both daemons (`syslog/src/config.rs`, `syslog/src/rainerscript/`).\n"
    );
    for (title, daemon) in [
        ("The collector (`imgssapi`)", Daemon::Collector),
        ("The shipper (`omgssapi`)", Daemon::Shipper),
    ] {
        let (rows, modules) = own_rows(daemon);
        out.push_str(&format!(
            "\n## {title}\n\n{}\n### Modules\n\n{}",
            markdown_table("directive", &rows),
            markdown_modules(modules)
        ));
        for (object, params) in objects(daemon) {
            out.push_str(&format!(
                "\n### `{object}` parameters\n\n{}",
                markdown_table("parameter", &params)
            ));
        }
    }
    out.push_str(&format!(
        "\n## Both daemons\n\n{}",
        markdown_table("directive", &rows(&daemon::shared_directives::TABLE))
    ));
    out
}

fn roff_text(text: &str) -> String {
    escape(text).replace('-', "\\-")
}

fn roff_rows(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let origin = match r.origin.as_str() {
            "rsyslog's" => String::new(),
            other => format!(" ({other})"),
        };
        let body = format!(
            "{}. Default: {}; scope: {}{origin}.",
            r.doc,
            r.default.replace('`', ""),
            r.scope
        );
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR \\fI{}\\fR\n{}\n",
            roff_text(&r.shown),
            roff_text(r.syntax),
            guard_line(&roff_text(&body))
        ));
    }
    out
}

/// The page's `DIRECTIVES` section: the daemon's own, its modules, and the shared ones.
pub fn roff(daemon: Daemon) -> String {
    let (rows, modules) = own_rows(daemon);
    let mut out = String::from(".SH DIRECTIVES\nrsyslog's legacy syntax, $Name value; names are case\\-insensitive. A directive not listed here is an error, except $template and $IncludeConfig, which the config reader itself reads.\n");
    out.push_str(&roff_rows(&rows));
    out.push_str(".SS \"Modules ($ModLoad, module(load=...))\"\n");
    for m in modules.known {
        let origin = match m.origin {
            Origin::Ignored(why) => format!(" (a warning: {why})"),
            _ => String::new(),
        };
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_text(m.name),
            guard_line(&roff_text(&format!("{}{origin}.", m.doc)))
        ));
    }
    if let Some(why) = modules.other {
        out.push_str(&format!(
            ".TP\nany other\n{}\n",
            guard_line(&roff_text(&format!("A warning: {why}.")))
        ));
    }
    for (object, params) in objects(daemon) {
        out.push_str(&format!(
            ".SS \"{} parameters\"\n",
            roff_text(object).replace('"', "\\(dq")
        ));
        out.push_str(&roff_rows(&params));
    }
    out.push_str(".SS \"Both daemons\"\n");
    out.push_str(&roff_rows(&rows_shared()));
    out
}

fn rows_shared() -> Vec<Row> {
    rows(&daemon::shared_directives::TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_directives_md_is_generated_from_the_tables() {
        let committed = include_str!("../../../docs/directives.md");
        assert!(
            committed == markdown(),
            "docs/directives.md is out of date with the directive tables: run `{REGENERATE}`"
        );
    }

    #[test]
    fn every_entry_of_every_table_is_on_its_page_and_in_the_doc() {
        let doc = markdown();
        for daemon in [Daemon::Collector, Daemon::Shipper] {
            let page = roff(daemon).replace("\\-", "-");
            let (own, modules) = own_rows(daemon);
            let params: Vec<Row> = objects(daemon)
                .into_iter()
                .flat_map(|(_, rows)| rows)
                .collect();
            for r in own.iter().chain(&rows_shared()).chain(&params) {
                assert!(
                    page.contains(&format!("\\fB{}\\fR", r.shown)),
                    "{daemon:?} page lacks {}",
                    r.shown
                );
                assert!(
                    doc.contains(&format!("| `{}` |", r.shown)),
                    "the doc lacks {}",
                    r.shown
                );
            }
            for m in modules.known {
                assert!(
                    page.contains(&format!("\\fB{}\\fR", m.name)),
                    "{daemon:?} page lacks module {}",
                    m.name
                );
            }
        }
    }
}

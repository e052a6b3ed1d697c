//! Reading a daemon's configuration: one walk over the statements, in file
//! order, that keeps the template registry and hands everything else to the
//! daemon (step one: each directive checked and kept); the daemon then
//! assembles its settings from what it kept (step two).

use std::path::Path;

use syslog::config::{ActionCall, ConfigText, Filter, Location, Statement};

use crate::directive_table::{Modules, Table};
use crate::directives::Directive;
use crate::shared_directives::{self, SharedSettings};
use crate::templates::TemplateRegistry;

/// What a daemon does with each statement of its configuration.
pub trait Statements {
    /// A `$Directive value` line (also `global(...)` and `module(load=...)`).
    fn directive(&mut self, d: &mut Directive, templates: &TemplateRegistry);
    /// A selector or property-filter line and its first action.
    fn rule(&mut self, text: &mut ConfigText, at: &Location, filter: &Filter, action: &str, templates: &TemplateRegistry);
    /// An `& action` line: another action for the rule above.
    fn also_action(&mut self, text: &mut ConfigText, at: &Location, action: &str, templates: &TemplateRegistry);
    /// A RainerScript `action(type=... ...)` under its filter. A daemon
    /// without RainerScript actions reports it as unsupported.
    fn action_call(&mut self, text: &mut ConfigText, at: &Location, _filter: &Filter, call: &ActionCall, _templates: &TemplateRegistry) {
        text.error(at, format!("action(type=\"{}\") is not supported by this program", call.kind));
    }
    /// A `$template` line was added to the registry; `options` as written.
    fn template_defined(&mut self, _text: &mut ConfigText, _at: &Location, _name: &str, _options: &str) {}
}

/// Reads one directive line: from the daemon's own `table` into
/// `settings`, else from the directives both daemons share (into the part of
/// `settings` that `shared` gives, `modules` being the daemon's); a directive
/// in neither table is an error naming it.
pub fn read_directive<S, C>(
    d: &mut Directive,
    table: &Table<S, C>,
    settings: &mut S,
    context: &C,
    shared: fn(&mut S) -> &mut SharedSettings,
    modules: &Modules,
) {
    if !table.apply(settings, d, context) && !shared_directives::TABLE.apply(shared(settings), d, modules) {
        d.unknown();
    }
}

/// Walks every statement of `text` in order; returns the templates defined.
pub fn walk(text: &mut ConfigText, daemon: &mut impl Statements) -> TemplateRegistry {
    let mut templates = TemplateRegistry::default();
    let lines = std::mem::take(&mut text.lines);
    for line in &lines {
        let at = &line.location;
        match &line.statement {
            Statement::Directive { name, spelled, value } => {
                daemon.directive(&mut Directive::new(name, spelled, value, at, text), &templates)
            }
            Statement::Template { name, text: body, options } => {
                templates.define(text, at, name, body);
                daemon.template_defined(text, at, name, options);
            }
            Statement::Rule { filter, action } => daemon.rule(text, at, filter, action, &templates),
            Statement::AlsoAction { action } => daemon.also_action(text, at, action, &templates),
            Statement::ActionCall { filter, action } => daemon.action_call(text, at, filter, action, &templates),
        }
    }
    text.lines = lines;
    templates
}

/// The start of both daemons' `main`: read the configuration at `path` with
/// `load`, then either report on it (`--check-config`) or, when it has no
/// errors, `run` the daemon. Errors from `run` are logged with their causes.
pub fn start<C>(
    program: &str,
    path: &Path,
    check_only: bool,
    load: impl FnOnce(&Path) -> (C, ConfigText),
    run: impl FnOnce(C) -> anyhow::Result<()>,
) -> std::process::ExitCode {
    let (config, text) = load(path);
    if let Some(exit) = text.gate(program, check_only) {
        return exit;
    }
    match run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Reading a daemon's configuration: one walk over the statements, in file
//! order, that keeps the template registry and hands everything else to the
//! daemon (step one: each directive checked and kept); the daemon then
//! assembles its settings from what it kept (step two).

use std::path::Path;

use syslog::config::{ActionCall, ConfigText, Filter, Location, Statement};

use crate::directives::Directive;
use crate::metrics::MetricsSettings;
use crate::privileges::PrivDrop;
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

/// The end of both daemons' directive match: the directives they share
/// (privilege drop, impstats, the metrics endpoint), then rsyslog's that
/// change nothing in `program` (listed in `ignored`: a warning), then an
/// unknown directive (an error naming it).
pub fn shared_or_unknown(
    d: &mut Directive,
    privileges: &mut PrivDrop,
    metrics: &mut MetricsSettings,
    ignored: &[&str],
    program: &str,
) {
    if privileges.apply(d) || metrics.apply(d) {
        return;
    }
    if ignored.contains(&d.name) {
        let message = format!("${} is accepted and has no effect on this {program}", d.name);
        d.warn(message);
    } else {
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

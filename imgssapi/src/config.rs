//! The collector's configuration: rsyslog's legacy directives, templates and
//! rules, interpreted from the shared config reader's statements.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daemon::config::Statements;
use daemon::directives::Directive;
use daemon::shared_directives::SharedSettings;
use daemon::templates::TemplateRegistry;
use syslog::config::{parse_action, Action, ActionCall, ConfigText, FileTarget, Filter, Location};

use crate::front_door::FrontDoorLimits;
use crate::admission::SessionCaps;
use crate::identity::{HostBindingMode, IdentitySettings};
pub use crate::settings::{AllowedSenders, GssSettings, ListenerConfig, DEFAULT_MEMORY_LIMIT};
use crate::settings::{FrontDoorLines, OmfileParams, Settings};
use crate::render::{FileAction, Rule, RuleAction};
use crate::session_rate::RateLimitSettings;



/// One `action(type="omclickhouse" ...)`: what its queue and worker are
/// started with.
#[derive(Debug, Clone)]
pub struct ClickHouseAction {
    pub settings: omclickhouse::ActionSettings,
    pub format: Arc<omclickhouse::RowFormat>,
    /// `name=`, else `omclickhouse-N` (N from 1, in file order).
    pub name: String,
    /// `$WorkDirectory` above the action.
    pub work_dir: PathBuf,
    /// `queue.filename`, else `omclickhouse-actionN`.
    pub queue_name: String,
    /// The user privileges are dropped to, who may own the queue's files.
    pub also_owned_by: Option<u32>,
}

#[derive(Debug)]
pub struct CollectorConfig {
    pub listeners: Vec<ListenerConfig>,
    /// `$InputGSSServerMaxSessions` (established sessions: authenticated
    /// GSS, or plain TCP that has sent data, over every listener),
    /// `$InputGSSServerMaxSessionsPerPrincipal` and
    /// `$InputGSSServerMaxSessionsPerHost`.
    pub sessions: SessionCaps,
    pub front_door: FrontDoorLimits,
    pub port_file: Option<PathBuf>,
    pub token_timeout: Option<Duration>,
    pub drain_timeout: Duration,
    /// `$InputGSSServerMemoryLimit`: the byte budget of everything in flight.
    pub memory_limit: u64,
    /// `$InputGSSServerRateLimitInterval` / `$InputGSSServerRateLimitBurst`.
    pub rate_limit: RateLimitSettings,
    /// Extension `$InputGSSServerAckAfterFsync` (default off): sync the
    /// files written before acknowledging them.
    pub ack_after_fsync: bool,
    pub max_message_size: usize,
    pub umask: Option<u32>,
    pub allowed: AllowedSenders,
    pub rules: Vec<Rule>,
    pub file_actions: usize,
    /// The `omclickhouse` actions, by id.
    pub clickhouse: Vec<ClickHouseAction>,
    /// `global(net.enableDNS="off")` turns reverse DNS for `fromhost` off.
    pub dns: bool,
    /// `$PrivDropToUser` and its kin: dropped to once the listeners are bound.
    pub privileges: daemon::privileges::PrivDrop,
    /// `$ModLoad impstats`, `$PStatInterval`, `$GssMetricsListen`.
    pub metrics: daemon::metrics::MetricsSettings,
    pub identity: IdentitySettings,
    /// Where `$InputGSSServerRun` stands, for advice about the GSS listener.
    pub gss_run_line: Option<Location>,
    /// `$WorkDirectory`, `$InputGSSServerExpectedSenders`, `$InputGSSServerSilentAfter`,
    /// `$InputGSSServerForgetSendersAfter`, `$MarkMessagePeriod`.
    pub senders: crate::senders::SenderSettings,
}


impl Settings {
    /// Step two: the listeners the settings ask for.
    fn listeners(&mut self, text: &mut ConfigText) -> Vec<ListenerConfig> {
        let mut listeners = Vec::new();
        if let Some((port, loc)) = self.gss_port.clone() {
            if !self.shared.loaded("imgssapi") {
                text.warn(&loc, "$InputGSSServerRun without $ModLoad imgssapi (accepted)");
            }
            listeners.push(ListenerConfig { port, bind: self.bind, gss: Some(self.gss.clone()), keepalive: self.keepalive });
        }
        if let Some(port) = self.tcp_port {
            listeners.push(ListenerConfig { port, bind: self.bind, gss: None, keepalive: self.keepalive });
        }
        if listeners.is_empty() {
            text.error(&Location { file: Arc::from("config"), line: 0 }, "no listener: add $InputGSSServerRun <port>");
        }
        listeners
    }
}

/// The collector's side of the walk: directives into [`Settings`], rules
/// and their file actions assembled from the settings above them.
struct Reading {
    settings: Settings,
    rules: Vec<Rule>,
    file_actions: usize,
    clickhouse: Vec<ClickHouseAction>,
}

impl Statements for Reading {
    fn directive(&mut self, d: &mut Directive, templates: &TemplateRegistry) {
        let (table, modules) = (&crate::directives::TABLE, &crate::directives::MODULES);
        daemon::config::read_directive(d, table, &mut self.settings, templates, |s| &mut s.shared, modules);
    }

    fn template_defined(&mut self, text: &mut ConfigText, at: &Location, name: &str, options: &str) {
        if !options.is_empty() && !matches!(options.to_ascii_lowercase().as_str(), "sql" | "stdsql" | "json") {
            text.warn(at, format!("template '{name}': option '{options}' ignored"));
        }
    }

    fn rule(&mut self, text: &mut ConfigText, at: &Location, filter: &Filter, action: &str, templates: &TemplateRegistry) {
        if let Filter::Property(p) = filter {
            if let Some(why) = p.never_matches() {
                text.warn(at, why);
            }
        }
        let mut rule = Rule { filter: filter.clone(), actions: Vec::new() };
        if let Some(a) = build_action(text, at, action, templates, &self.settings, &mut self.file_actions) {
            rule.actions.push(a);
        }
        self.rules.push(rule);
    }

    fn action_call(&mut self, text: &mut ConfigText, at: &Location, filter: &Filter, call: &ActionCall, templates: &TemplateRegistry) {
        let mut rule = Rule { filter: filter.clone(), actions: Vec::new() };
        let built = if call.kind == "omclickhouse" {
            build_clickhouse_action(text, at, call, templates, &self.settings, &mut self.clickhouse)
        } else {
            build_action_call(text, at, call, templates, &self.settings, &mut self.file_actions)
        };
        if let Some(a) = built {
            rule.actions.push(a);
        }
        self.rules.push(rule);
    }

    fn also_action(&mut self, text: &mut ConfigText, at: &Location, action: &str, templates: &TemplateRegistry) {
        let built = build_action(text, at, action, templates, &self.settings, &mut self.file_actions);
        match (self.rules.last_mut(), built) {
            (Some(rule), Some(a)) => rule.actions.push(a),
            (None, _) => text.error(at, "'&' action without a rule above it"),
            _ => {}
        }
    }
}

pub fn build(text: &mut ConfigText) -> CollectorConfig {
    let mut reading = Reading { settings: Settings::new(), rules: Vec::new(), file_actions: 0, clickhouse: Vec::new() };
    daemon::config::walk(text, &mut reading);
    let Reading { mut settings, rules, file_actions, mut clickhouse } = reading;
    // The queues are opened before privileges are dropped; their directory
    // and files may belong to the user they are dropped to.
    let drop_to = settings.shared.privileges.user.as_ref().map(|u| u.uid);
    for action in &mut clickhouse {
        action.also_owned_by = drop_to;
    }
    let listeners = settings.listeners(text);
    let gss_run_line = settings.gss_port.as_ref().map(|(_, loc)| loc.clone());
    check_front_door(text, &settings.front_door_lines, &settings.front_door);
    if let (Some(loc), HostBindingMode::Off) = (&settings.host_map_line, settings.identity.host_binding) {
        text.warn(loc, "$InputGSSServerHostMapFile has no effect while $InputGSSServerHostPrincipalBinding is off");
    }
    let Settings {
        sessions,
        front_door,
        port_file,
        token_timeout,
        drain_timeout,
        memory_limit,
        rate_limit,
        ack_after_fsync,
        umask,
        allowed,
        dns,
        shared: SharedSettings { privileges, metrics, max_message_size, .. },
        identity,
        senders,
        ..
    } = settings;
    CollectorConfig {
        listeners,
        sessions,
        front_door,
        port_file,
        token_timeout,
        drain_timeout,
        memory_limit,
        rate_limit,
        ack_after_fsync,
        max_message_size,
        umask,
        allowed,
        rules,
        file_actions,
        clickhouse,
        dns,
        privileges,
        metrics,
        identity,
        gss_run_line,
        senders,
    }
}

fn build_action(
    text: &mut ConfigText,
    loc: &Location,
    action: &str,
    templates: &TemplateRegistry,
    settings: &Settings,
    file_actions: &mut usize,
) -> Option<RuleAction> {
    match parse_action(action) {
        Action::Stop => Some(RuleAction::Stop),
        Action::File { target, template } => {
            let content_name = template.as_deref().unwrap_or(&settings.default_template);
            let content = templates.for_action(text, loc, content_name)?;
            let target = match target {
                FileTarget::Static(p) => FileAction::Static(p),
                FileTarget::Dynamic(name) => match templates.defined(&name) {
                    Some(t) => FileAction::Dynamic(t),
                    None => {
                        text.error(loc, format!("dynamic file template '{name}' is not defined above this line"));
                        return None;
                    }
                },
            };
            *file_actions += 1;
            Some(RuleAction::File { target, template: content, settings: settings.files.clone(), id: *file_actions - 1, at: loc.clone() })
        }
        Action::Omgssapi(_) => {
            text.error(loc, "omgssapi forwarding is the shipper's job (omgssapi), not the collector's");
            None
        }
        Action::Other(a) => {
            text.error(loc, format!("unsupported action '{a}' (the collector writes files: /path, -/path, ?Template, ~, stop)"));
            None
        }
    }
}


/// RainerScript's `action(type="omfile" ...)`: `file` or `dynaFile`,
/// `template`, and the file settings, which default to the legacy
/// directives above the line (as in rsyslog).
fn build_action_call(
    text: &mut ConfigText,
    loc: &Location,
    call: &ActionCall,
    templates: &TemplateRegistry,
    settings: &Settings,
    file_actions: &mut usize,
) -> Option<RuleAction> {
    if call.kind != "omfile" {
        text.error(loc, format!("action(type=\"{}\") is not supported: the collector writes files (type=\"omfile\") and sends rows to ClickHouse (type=\"omclickhouse\")", call.kind));
        return None;
    }
    let mut params = OmfileParams { files: settings.files.clone(), ..OmfileParams::default() };
    if !crate::directives::OMFILE.apply_parameters("action(type=\"omfile\")", &call.params, &mut params, text, loc, templates) {
        return None;
    }
    let OmfileParams { file, dyna, template, files } = params;
    let target = match (file, dyna) {
        (Some(f), None) if f.starts_with('/') => FileAction::Static(PathBuf::from(f)),
        (Some(f), None) => {
            text.error(loc, format!("action(type=\"omfile\"): file=\"{f}\" must be an absolute path"));
            return None;
        }
        (None, Some(name)) => match templates.defined(&name) {
            Some(t) => FileAction::Dynamic(t),
            None => {
                text.error(loc, format!("dynamic file template '{name}' is not defined above this line"));
                return None;
            }
        },
        (Some(_), Some(_)) => {
            text.error(loc, "action(type=\"omfile\"): file and dynaFile cannot both be set");
            return None;
        }
        (None, None) => {
            text.error(loc, "action(type=\"omfile\") needs file=\"...\" or dynaFile=\"...\"");
            return None;
        }
    };
    let content = templates.for_action(text, loc, template.as_deref().unwrap_or(&settings.default_template))?;
    *file_actions += 1;
    Some(RuleAction::File { target, template: content, settings: files, id: *file_actions - 1, at: loc.clone() })
}


/// `action(type="omclickhouse" ...)`: its parameters by the table in
/// `omclickhouse::params`, the template (rsyslog's `StdClickHouseFmt`, or a
/// template defined above that renders the INSERT), and its queue in
/// `$WorkDirectory`.
fn build_clickhouse_action(
    text: &mut ConfigText,
    loc: &Location,
    call: &ActionCall,
    templates: &TemplateRegistry,
    settings: &Settings,
    actions: &mut Vec<ClickHouseAction>,
) -> Option<RuleAction> {
    if !settings.shared.loaded("omclickhouse") {
        text.error(loc, "action(type=\"omclickhouse\") without module(load=\"omclickhouse\") above it (rsyslog refuses it too)");
        return None;
    }
    let mut given = crate::directives::ClickHouseParams::default();
    if !crate::directives::omclickhouse().apply_parameters("action(type=\"omclickhouse\")", &call.params, &mut given, text, loc, &()) {
        return None;
    }
    let (action_settings, warnings) = match omclickhouse::ActionSettings::read(&given.given) {
        Ok(read) => read,
        Err(e) => {
            text.error(loc, format!("action(type=\"omclickhouse\"): {e}"));
            return None;
        }
    };
    for w in warnings {
        text.warn(loc, format!("action(type=\"omclickhouse\"): {w}"));
    }
    let format = match &action_settings.template {
        None => omclickhouse::RowFormat::standard(),
        Some(name) => omclickhouse::RowFormat::Statement(templates.for_action(text, loc, name)?),
    };
    let Some(work_dir) = settings.senders.work_directory.clone() else {
        text.error(loc, "action(type=\"omclickhouse\") needs $WorkDirectory (or global(workDirectory=...)) above it: its queue lives there");
        return None;
    };
    let n = actions.len() + 1;
    let name = action_settings.name.clone().unwrap_or_else(|| format!("omclickhouse-{n}"));
    let queue_name = action_settings.queue.file_name.clone().unwrap_or_else(|| format!("omclickhouse-action{n}"));
    if actions.iter().any(|a| a.queue_name == queue_name && a.work_dir == work_dir) {
        text.error(loc, format!("action(type=\"omclickhouse\"): queue.filename=\"{queue_name}\" is already another action's queue"));
        return None;
    }
    let format = Arc::new(format);
    actions.push(ClickHouseAction { settings: action_settings, format: format.clone(), name, work_dir, queue_name, also_owned_by: None });
    Some(RuleAction::ClickHouse { format, id: n - 1 })
}

/// Relations between the front-door limits that make one of them pointless.
fn check_front_door(text: &mut ConfigText, at: &FrontDoorLines, limits: &FrontDoorLimits) {
    if let (true, Some(loc)) = (limits.max_handshakes_per_host > limits.max_handshakes, &at.counts) {
        text.warn(
            loc,
            format!(
                "$InputGSSServerMaxHandshakesPerHost {} is above $InputGSSServerMaxHandshakes {}: one address can take the whole front door",
                limits.max_handshakes_per_host, limits.max_handshakes
            ),
        );
    }
    if let (true, Some(loc)) = (limits.max_handshakes_per_host > limits.max_handshakes_per_subnet, &at.counts) {
        text.warn(
            loc,
            format!(
                "$InputGSSServerMaxHandshakesPerHost {} is above $InputGSSServerMaxHandshakesPerSubnet {}: the subnet's cap applies first",
                limits.max_handshakes_per_host, limits.max_handshakes_per_subnet
            ),
        );
    }
    if let (true, Some(loc)) = (limits.first_byte_timeout > limits.handshake_timeout, &at.timeouts) {
        text.warn(
            loc,
            format!(
                "$InputGSSServerFirstByteTimeout {}s is above $InputGSSServerHandshakeTimeout {}s: a GSS client meets the handshake timeout first",
                limits.first_byte_timeout.as_secs(),
                limits.handshake_timeout.as_secs()
            ),
        );
    }
}

/// Reads, checks and builds the configuration in `path`.
pub fn load(path: &Path) -> (CollectorConfig, ConfigText) {
    let mut text = syslog::config::read_file(path);
    let config = build(&mut text);
    (config, text)
}

/// [`load`], and for `--check-config` also the advice a working setup may
/// still need: a GSS listener that lets in any principal.
pub fn load_checked(path: &Path, check_only: bool) -> (CollectorConfig, ConfigText) {
    let (config, mut text) = load(path);
    if check_only && config.identity.allowed_principals.is_empty() {
        if let Some(loc) = &config.gss_run_line {
            text.warn(
                loc,
                "no $InputGSSServerAllowedPrincipal: any principal of the realm (users included) that gets a ticket \
                 for this service may write any host's logs",
            );
        }
    }
    (config, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Prefixes;

    #[test]
    fn seed_server_config_loads_with_its_two_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, include_str!("../../syslog/testdata/server.conf")).unwrap();
        let (config, text) = load(&path);
        let problems: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(!text.has_errors(), "{problems:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(":20: warning: template 'PbsService' is malformed"), "{problems:?}");
        assert!(problems[1].contains(":21: warning: this filter can never match"), "{problems:?}");
        assert_eq!(config.listeners[0].port, 515);
        assert_eq!(config.sessions.total, 2000);
        assert_eq!(config.rules.len(), 5);
        assert_eq!(config.file_actions, 5);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.conf");
        std::fs::write(&path, "$InputGSSServerRun 5x\n$Bogus 1\nauth.* -?Missing\nkern.* /x;NoSuch\n").unwrap();
        let (_, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        let f = path.display().to_string();
        assert!(p.contains(&format!("{f}:1: $InputGSSServerRun: '5x' is not a port number")), "{p:?}");
        assert!(p.contains(&format!("{f}:2: unknown directive $bogus")), "{p:?}");
        assert!(p.contains(&format!("{f}:3: dynamic file template 'Missing' is not defined above this line")), "{p:?}");
        assert!(p.contains(&format!("{f}:4: no template named 'NoSuch' is defined above this line")), "{p:?}");
    }

    #[test]
    fn clickhouse_actions_are_read_and_their_mistakes_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        let work = dir.path().display();
        std::fs::write(
            &path,
            format!(
                "$ModLoad imgssapi\n$InputGSSServerRun 5140\naction(type=\"omclickhouse\")\nmodule(load=\"omclickhouse\")\n\
                 action(type=\"omclickhouse\" server=\"db\")\n$WorkDirectory {work}\n\
                 action(type=\"omclickhouse\" server=\"db\" maxbyte=\"1k\")\n\
                 action(type=\"omclickhouse\" server=\"db\" queue.type=\"Direct\")\n\
                 action(type=\"omclickhouse\" template=\"NoSuch\")\n\
                 template(name=\"t\" type=\"string\" string=\"INSERT INTO x (m) VALUES ('%msg%')\")\n\
                 action(type=\"omclickhouse\" server=\"http://db:18123\" name=\"db\" template=\"t\" queue.filename=\"dbq\")\n\
                 action(type=\"omclickhouse\" useHttps=\"off\" queue.dequeueBatchSize=\"5000\")\n"
            ),
        )
        .unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        let f = path.display().to_string();
        let has = |line: usize, part: &str| p.iter().any(|m| m.starts_with(&format!("{f}:{line}: ")) && m.contains(part));
        assert!(has(3, "without module(load=\"omclickhouse\")"), "{p:?}");
        assert!(has(5, "needs $WorkDirectory"), "{p:?}");
        assert!(has(7, "maxbyte"), "{p:?}");
        assert_eq!(crate::directives::omclickhouse().defects(), Vec::<String>::new());
        assert!(has(8, "queue.type=\"Direct\""), "{p:?}");
        assert!(has(9, "'NoSuch'"), "{p:?}");
        assert_eq!(config.clickhouse.len(), 2, "{p:?}");
        let (custom, plain) = (&config.clickhouse[0], &config.clickhouse[1]);
        assert_eq!((custom.name.as_str(), custom.queue_name.as_str(), custom.settings.base_url.as_str()), ("db", "dbq", "http://db:18123/"));
        assert!(matches!(*custom.format, omclickhouse::RowFormat::Statement(_)));
        assert_eq!((plain.name.as_str(), plain.queue_name.as_str(), plain.settings.base_url.as_str()), ("omclickhouse-2", "omclickhouse-action2", "http://localhost:8123/"));
        assert_eq!(plain.settings.queue.batch_size, 5000);
        assert!(matches!(*plain.format, omclickhouse::RowFormat::Standard(_)));
        assert_eq!(plain.work_dir, dir.path());
    }

    #[test]
    fn front_door_limits_have_safe_defaults_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, include_str!("../../syslog/testdata/server.conf")).unwrap();
        let (config, _) = load(&path);
        assert_eq!(config.front_door, FrontDoorLimits::default());

        let path = dir.path().join("front.conf");
        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMaxHandshakes 40\n$InputGSSServerMaxHandshakesPerHost 4\n\
             $InputGSSServerFirstByteTimeout 2\n$InputGSSServerHandshakeTimeout 3\n$InputGSSServerMaxHandshakesPerSubnet 8\n\
             $InputGSSServerSubnetPrefixIPv4 16\n$InputGSSServerHostPrefixIPv6 56\n$InputGSSServerSubnetPrefixIPv6 40\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        assert!(text.problems.is_empty(), "{:?}", text.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        let expected = FrontDoorLimits {
            max_handshakes: 40,
            max_handshakes_per_host: 4,
            max_handshakes_per_subnet: 8,
            prefixes: Prefixes { ipv4_subnet: 16, ipv6_host: 56, ipv6_subnet: 40 },
            first_byte_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(3),
        };
        assert_eq!(config.front_door, expected);

        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMaxHandshakes 0\n$InputGSSServerMaxHandshakesPerHost -1\n\
             $InputGSSServerFirstByteTimeout 0\n$InputGSSServerHandshakeTimeout soon\n",
        )
        .unwrap();
        let (_, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        let f = path.display().to_string();
        assert!(p.contains(&format!("{f}:3: $InputGSSServerMaxHandshakes: '0' is not a positive number")), "{p:?}");
        assert!(p.contains(&format!("{f}:4: $InputGSSServerMaxHandshakesPerHost: '-1' is not a positive number")), "{p:?}");
        assert!(p.contains(&format!("{f}:5: $InputGSSServerFirstByteTimeout: '0' is not a positive number of seconds")), "{p:?}");
        assert!(p.contains(&format!("{f}:6: $InputGSSServerHandshakeTimeout: 'soon' is not a positive number of seconds")), "{p:?}");

        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMaxHandshakesPerHost 300\n$InputGSSServerFirstByteTimeout 30\n").unwrap();
        let (_, text) = load(&path);
        assert!(!text.has_errors());
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains(":3: warning: $InputGSSServerMaxHandshakesPerHost 300 is above $InputGSSServerMaxHandshakes 256"), "{p:?}");
        assert!(p[1].contains(":3: warning: $InputGSSServerMaxHandshakesPerHost 300 is above $InputGSSServerMaxHandshakesPerSubnet 128"), "{p:?}");
        assert!(p[2].contains(":4: warning: $InputGSSServerFirstByteTimeout 30s is above $InputGSSServerHandshakeTimeout 10s"), "{p:?}");

        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerSubnetPrefixIPv4 33\n$InputGSSServerHostPrefixIPv6 0\n").unwrap();
        let (_, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.contains(&format!("{f}:3: $InputGSSServerSubnetPrefixIPv4: '33' is not a prefix length of 1 to 32 bits")), "{p:?}");
        assert!(p.contains(&format!("{f}:4: $InputGSSServerHostPrefixIPv6: '0' is not a prefix length of 1 to 128 bits")), "{p:?}");
    }

    #[test]
    fn the_packaged_realm_placeholder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("packaged.conf");
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerAllowedPrincipal host/*@<REALM>\n$InputGSSServerRun 515\n").unwrap();
        let (_, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            p.contains(&format!(
                "{}:2: $InputGSSServerAllowedPrincipal: 'host/*@<REALM>': replace the placeholder after '@' with your Kerberos realm",
                path.display()
            )),
            "{p:?}"
        );
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerAllowedPrincipal host/*@GRID.EXAMPLE\n$InputGSSServerRun 515\n").unwrap();
        assert!(!load(&path).1.has_errors());
    }

    #[test]
    fn the_memory_limit_and_rate_limit_have_their_defaults_and_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.conf");
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerRun 515\n").unwrap();
        let (config, _) = load(&path);
        assert_eq!(config.memory_limit, 512 << 20);
        assert_eq!(config.rate_limit, RateLimitSettings { interval: None, burst: 10_000 });
        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMemoryLimit 1g\n$InputGSSServerRateLimitInterval 5\n\
             $InputGSSServerRateLimitBurst 200\n$InputGSSServerMemoryLimit 1m\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.contains(&format!("{}:6: $InputGSSServerMemoryLimit: '1m' is not a size of at least 4194304 bytes", path.display())), "{p:?}");
        assert_eq!(config.memory_limit, 1 << 30);
        assert_eq!(config.rate_limit, RateLimitSettings { interval: Some(Duration::from_secs(5)), burst: 200 });
    }

    #[test]
    fn session_caps_have_safe_defaults_and_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.conf");
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerRun 515\n").unwrap();
        let (config, _) = load(&path);
        assert_eq!(config.sessions, SessionCaps { total: 200, per_sender: 8, per_host: 64, replace_idle: 30_000 });
        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMaxSessions 50\n$InputGSSServerMaxSessionsPerPrincipal 2\n\
             $InputGSSServerMaxSessionsPerHost 0\n$InputGSSServerReplaceIdleSessionAfter 5\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.contains(&format!("{}:5: $InputGSSServerMaxSessionsPerHost: '0' is not a positive number", path.display())), "{p:?}");
        assert_eq!(config.sessions, SessionCaps { total: 50, per_sender: 2, per_host: 64, replace_idle: 5_000 });
    }

    #[test]
    fn owners_and_privileges_take_effect_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owners.conf");
        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$PrivDropToUser root\n$PrivDropToGroupID 0\n\
             $FileOwner root\n$FileGroupNum 4\n$DirOwnerNum 0\n$DirGroup root\n*.* /var/log/a.log\n$FileOwner nosuchuser-here\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(p, [format!("{}:10: $FileOwner: no user named 'nosuchuser-here'", path.display())]);
        assert_eq!(config.privileges.user.as_ref().map(|u| u.uid), Some(0));
        assert_eq!(config.privileges.group, Some(0));
        let RuleAction::File { settings, .. } = &config.rules[0].actions[0] else { panic!("a file action") };
        assert_eq!((settings.file_owner, settings.file_group, settings.dir_owner, settings.dir_group), (Some(0), Some(4), Some(0), Some(0)));
    }

    #[test]
    fn identity_directives() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("hosts.map");
        std::fs::write(&map, "n1.test 127.0.0.2\n").unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(
            &path,
            format!(
                "$ModLoad imgssapi\n$InputGSSServerAllowedPrincipal host/*@GRID.TEST, alice@GRID.TEST\n\
                 $InputGSSServerAllowedPrincipal host/*@PARTNER.TEST\n$InputGSSServerAllowAnonymous on\n\
                 $InputGSSServerHostPrincipalBinding mark\n$InputGSSServerHostMapFile {}\n\
                 $InputGSSServerExpireSessions on\n$InputGSSServerRun 515\n",
                map.display()
            ),
        )
        .unwrap();
        let (config, text) = load(&path);
        assert!(text.problems.is_empty(), "{:?}", text.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        let id = &config.identity;
        assert_eq!(id.allowed_principals.len(), 3);
        assert!(id.permits("host/n1.test@GRID.TEST") && id.permits("alice@GRID.TEST") && id.permits("host/p1@PARTNER.TEST"));
        assert!(!id.permits("bob@GRID.TEST") && !id.permits("alice@PARTNER.TEST"));
        assert!(id.allow_anonymous && id.expire_sessions && id.host_map.is_some());
        assert_eq!(id.host_binding, HostBindingMode::Mark);

        let (config, _) = load_checked(&path, true);
        assert!(config.identity.permits("host/x@GRID.TEST"));

        std::fs::write(&path, "$InputGSSServerHostPrincipalBinding sometimes\n$InputGSSServerHostMapFile /no/such/map\n$InputGSSServerRun 515\n").unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        let f = path.display().to_string();
        assert!(p.contains(&format!("{f}:1: $InputGSSServerHostPrincipalBinding: 'sometimes' is not off, refuse or mark")), "{p:?}");
        assert!(p.iter().any(|m| m.starts_with(&format!("{f}:2: $InputGSSServerHostMapFile: cannot read /no/such/map"))), "{p:?}");
        let defaults = &config.identity;
        assert!(defaults.allowed_principals.is_empty() && defaults.permits("anyone@ANY.REALM"), "default: as before");
        assert!(!defaults.allow_anonymous && !defaults.expire_sessions);
        assert_eq!(defaults.host_binding, HostBindingMode::Off);

        std::fs::write(&path, format!("$InputGSSServerHostMapFile {}\n$InputGSSServerRun 515\n", map.display())).unwrap();
        let (_, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.iter().any(|m| m.contains(":1: warning: $InputGSSServerHostMapFile has no effect")), "{p:?}");
    }

    #[test]
    fn allowed_senders() {
        let list = vec![("10.0.0.0".parse().unwrap(), 8), ("127.0.0.1".parse().unwrap(), 32)];
        assert!(AllowedSenders::permits(&list, "10.1.2.3".parse().unwrap()));
        assert!(AllowedSenders::permits(&list, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!AllowedSenders::permits(&list, "127.0.0.2".parse().unwrap()));
        assert!(AllowedSenders::permits(&[], "1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn acknowledgements_are_answered_and_not_synced_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerRun 515\n").unwrap();
        let (c, text) = load(&path);
        assert!(!text.has_errors(), "{:?}", text.problems);
        assert!(c.listeners[0].gss.as_ref().unwrap().acknowledge);
        assert!(!c.ack_after_fsync);
        std::fs::write(&path, "$ModLoad imgssapi\n$InputGSSServerAcknowledge off\n$InputGSSServerAckAfterFsync on\n$InputGSSServerRun 515\n").unwrap();
        let (c, text) = load(&path);
        assert!(!text.has_errors(), "{:?}", text.problems);
        assert!(!c.listeners[0].gss.as_ref().unwrap().acknowledge);
        assert!(c.ack_after_fsync);
    }
}

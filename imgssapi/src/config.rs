//! The collector's configuration: rsyslog's legacy directives, templates and
//! rules, interpreted from the shared config reader's statements.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daemon::config::Statements;
use daemon::directives::Directive;
use daemon::shared_directives::SharedSettings;
use daemon::templates::TemplateRegistry;
use gsswire::FrameOrder;
use syslog::config::{parse_action, Action, ActionCall, ConfigText, FileTarget, Filter, Location};
use syslog::template::Template;

use crate::admission::SessionCaps;
use crate::identity::{HostBindingMode, HostMap, PrincipalPattern};
use crate::source::Prefixes;

/// One listener's settings (`$InputGSSServer*`, or `$InputTCPServerRun`).
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub port: u16,
    /// Extension `$InputGSSServerBindAddress` (rsyslog always binds all interfaces).
    pub bind: IpAddr,
    /// `None`: a plain TCP listener (imtcp).
    pub gss: Option<GssSettings>,
    pub keepalive: bool,
}

#[derive(Debug, Clone)]
pub struct GssSettings {
    pub service_name: String,
    pub permit_plain_tcp: bool,
    pub byte_order: FrameOrder,
    pub require_encryption: bool,
    /// Extension `$InputGSSServerAcknowledge` (default on): answer a
    /// shipper's request for acknowledgements ([`gsswire::ack`]). A stock
    /// client never asks, so it is never sent anything.
    pub acknowledge: bool,
}

/// Who may send and as which host (see [`crate::identity`]); shared by every
/// GSS listener.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// `$InputGSSServerAllowedPrincipal` (repeatable): empty lets in every
    /// principal the keytab's service accepts, as rsyslog does.
    pub allowed_principals: Vec<PrincipalPattern>,
    /// `$InputGSSServerAllowAnonymous` (default off).
    pub allow_anonymous: bool,
    /// `$InputGSSServerHostPrincipalBinding` (default off).
    pub host_binding: HostBindingMode,
    /// `$InputGSSServerHostMapFile`.
    pub host_map: Option<HostMap>,
    /// `$InputGSSServerExpireSessions` (default off): end a session when its
    /// context expires.
    pub expire_sessions: bool,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            allowed_principals: Vec::new(),
            allow_anonymous: false,
            host_binding: HostBindingMode::Off,
            host_map: None,
            expire_sessions: false,
        }
    }
}

impl IdentitySettings {
    /// Whether `principal` may open a session.
    pub fn permits(&self, principal: &str) -> bool {
        self.allowed_principals.is_empty() || self.allowed_principals.iter().any(|p| p.matches(principal))
    }
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub create_dirs: bool,
    pub dir_mode: u32,
    pub file_mode: u32,
    pub cache_size: usize,
    /// `$FileOwner` / `$FileGroup` (and `...Num`): set on files this collector creates.
    pub file_owner: Option<u32>,
    pub file_group: Option<u32>,
    /// `$DirOwner` / `$DirGroup` (and `...Num`): set on directories it creates.
    pub dir_owner: Option<u32>,
    pub dir_group: Option<u32>,
}

impl Default for FileSettings {
    /// rsyslog's defaults.
    fn default() -> Self {
        FileSettings {
            create_dirs: true,
            dir_mode: 0o700,
            file_mode: 0o644,
            cache_size: 2500,
            file_owner: None,
            file_group: None,
            dir_owner: None,
            dir_group: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum FileAction {
    Static(PathBuf),
    Dynamic(Arc<Template>),
}

#[derive(Debug, Clone)]
pub enum RuleAction {
    /// `at`: the rule's line, for `--check-config`'s findings.
    File { target: FileAction, template: Arc<Template>, settings: FileSettings, id: usize, at: Location },
    Stop,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub filter: Filter,
    pub actions: Vec<RuleAction>,
}

/// `$AllowedSender KIND, net[/bits], ...`
#[derive(Debug, Clone, Default)]
pub struct AllowedSenders {
    pub gss: Vec<(IpAddr, u8)>,
    pub tcp: Vec<(IpAddr, u8)>,
}

impl AllowedSenders {
    pub fn permits(list: &[(IpAddr, u8)], ip: IpAddr) -> bool {
        list.is_empty() || list.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }
}

pub(crate) fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits.min(32))) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits.min(128))) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_net(IpAddr::V4(v4), net, bits)),
        _ => false,
    }
}

/// The budget of connections that are not sessions yet: GSS connections
/// before their handshake completes, plain TCP connections before their first
/// byte. Shared by every listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontDoorLimits {
    /// `$InputGSSServerMaxHandshakes`: such connections at once, overall.
    pub max_handshakes: usize,
    /// `$InputGSSServerMaxHandshakesPerHost`: such connections at once from
    /// one IPv4 address (or one IPv6 /64).
    pub max_handshakes_per_host: usize,
    /// `$InputGSSServerMaxHandshakesPerSubnet`: such connections at once from
    /// one IPv4 /24 (or one IPv6 /48).
    pub max_handshakes_per_subnet: usize,
    /// How addresses group into hosts and subnets, for these caps and the
    /// session caps.
    pub prefixes: Prefixes,
    /// `$InputGSSServerFirstByteTimeout`: from accept to the first byte.
    pub first_byte_timeout: Duration,
    /// `$InputGSSServerHandshakeTimeout`: from accept to an authenticated session.
    pub handshake_timeout: Duration,
}

impl Default for FrontDoorLimits {
    fn default() -> Self {
        FrontDoorLimits {
            max_handshakes: 256,
            max_handshakes_per_host: 16,
            max_handshakes_per_subnet: 128,
            prefixes: Prefixes::default(),
            first_byte_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The default of `$InputGSSServerMemoryLimit`: 512 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 512 * 1024 * 1024;
/// The smallest `$InputGSSServerMemoryLimit`: room for a few sessions' tokens.
pub(crate) const MIN_MEMORY_LIMIT: u64 = 4 * 1024 * 1024;

/// A session's rate limit, rsyslog's `ratelimit.interval` and
/// `ratelimit.burst`: at most `burst` messages in each `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `None`: no limit (rsyslog's 0, its default).
    pub interval: Option<Duration>,
    pub burst: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings { interval: None, burst: 10_000 }
    }
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
    /// `global(net.enableDNS="off")` turns reverse DNS for `fromhost` off.
    pub dns: bool,
    /// `$PrivDropToUser` and its kin: dropped to once the listeners are bound.
    pub privileges: daemon::privileges::PrivDrop,
    /// `$ModLoad impstats`, `$PStatInterval`, `$GssMetricsListen`.
    pub metrics: daemon::metrics::MetricsSettings,
    pub identity: IdentitySettings,
    /// Where `$InputGSSServerRun` stands, for advice about the GSS listener.
    pub gss_run_line: Option<Location>,
    /// `$WorkDirectory`, `$InputGSSServerExpectedSenders`, `$InputGSSServerSilentAfter`, `$MarkMessagePeriod`.
    pub senders: crate::senders::SenderSettings,
}

/// Step one: every directive read and checked, in file order; a value holds
/// from its line on (file settings for the actions below it).
/// Its fields are set by the entries of [`crate::directives::TABLE`].
#[derive(Debug)]
pub struct Settings {
    pub(crate) gss_port: Option<(u16, Location)>,
    pub(crate) tcp_port: Option<u16>,
    pub(crate) gss: GssSettings,
    pub(crate) bind: IpAddr,
    pub(crate) keepalive: bool,
    pub(crate) sessions: SessionCaps,
    pub(crate) front_door: FrontDoorLimits,
    pub(crate) front_door_lines: FrontDoorLines,
    pub(crate) port_file: Option<PathBuf>,
    pub(crate) token_timeout: Option<Duration>,
    pub(crate) drain_timeout: Duration,
    pub(crate) memory_limit: u64,
    pub(crate) rate_limit: RateLimitSettings,
    pub(crate) ack_after_fsync: bool,
    pub(crate) umask: Option<u32>,
    pub(crate) allowed: AllowedSenders,
    pub(crate) default_template: String,
    pub(crate) files: FileSettings,
    pub(crate) dns: bool,
    /// The directives both daemons read (`$ModLoad`, privileges, metrics, `$MaxMessageSize`).
    pub(crate) shared: SharedSettings,
    pub(crate) identity: IdentitySettings,
    /// Where `$InputGSSServerHostMapFile` stands, to point warnings at it.
    pub(crate) host_map_line: Option<Location>,
    pub(crate) senders: crate::senders::SenderSettings,
}

impl Settings {
    pub(crate) fn new() -> Settings {
        Settings {
            gss_port: None,
            tcp_port: None,
            gss: GssSettings {
                service_name: "host".into(),
                permit_plain_tcp: false,
                byte_order: FrameOrder::Auto,
                require_encryption: false,
                acknowledge: true,
            },
            bind: IpAddr::from([0u16; 8]),
            keepalive: false,
            sessions: SessionCaps { total: 200, per_sender: 8, per_host: 64 },
            front_door: FrontDoorLimits::default(),
            front_door_lines: FrontDoorLines::default(),
            port_file: None,
            token_timeout: Some(Duration::from_secs(10)),
            drain_timeout: Duration::from_secs(10),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            rate_limit: RateLimitSettings::default(),
            ack_after_fsync: false,
            umask: None,
            allowed: AllowedSenders::default(),
            default_template: "RSYSLOG_FileFormat".into(),
            files: FileSettings::default(),
            dns: true,
            shared: SharedSettings::default(),
            identity: IdentitySettings::default(),
            host_map_line: None,
            senders: crate::senders::SenderSettings::default(),
        }
    }

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
        if let Some(a) = build_action_call(text, at, call, templates, &self.settings, &mut self.file_actions) {
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
    let mut reading = Reading { settings: Settings::new(), rules: Vec::new(), file_actions: 0 };
    daemon::config::walk(text, &mut reading);
    let Reading { mut settings, rules, file_actions } = reading;
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

/// The parameters of one `action(type="omfile" ...)`, as read through
/// [`crate::directives::OMFILE`].
#[derive(Debug, Default)]
pub struct OmfileParams {
    pub(crate) file: Option<String>,
    pub(crate) dyna: Option<String>,
    pub(crate) template: Option<String>,
    /// The legacy directives' file settings above the line, changed by the parameters.
    pub(crate) files: FileSettings,
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
        text.error(loc, format!("action(type=\"{}\") is not supported: the collector writes files (type=\"omfile\")", call.kind));
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

// Where the front-door directives were set, to point warnings at them.
#[derive(Debug, Default)]
pub(crate) struct FrontDoorLines {
    pub(crate) counts: Option<Location>,
    pub(crate) timeouts: Option<Location>,
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
/// still need: a GSS listener that lets in any principal; and whether this
/// process, as it runs (the unit's user in its sandbox, for the unit's
/// `ExecStartPre`), can write where the rules write ([`crate::write_check`]).
pub fn load_checked(path: &Path, check_only: bool) -> (CollectorConfig, ConfigText) {
    let (config, mut text) = load(path);
    if check_only && !text.has_errors() {
        crate::write_check::check(&config, &mut text);
    }
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
        assert_eq!(config.sessions, SessionCaps { total: 200, per_sender: 8, per_host: 64 });
        std::fs::write(
            &path,
            "$ModLoad imgssapi\n$InputGSSServerRun 515\n$InputGSSServerMaxSessions 50\n$InputGSSServerMaxSessionsPerPrincipal 2\n\
             $InputGSSServerMaxSessionsPerHost 0\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.contains(&format!("{}:5: $InputGSSServerMaxSessionsPerHost: '0' is not a positive number", path.display())), "{p:?}");
        assert_eq!(config.sessions, SessionCaps { total: 50, per_sender: 2, per_host: 64 });
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

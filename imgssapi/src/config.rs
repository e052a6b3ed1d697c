//! The collector's configuration: rsyslog's legacy directives, templates and
//! rules, interpreted from the shared config reader's statements.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gsswire::FrameOrder;
use syslog::config::{parse_action, Action, ConfigText, FileTarget, Filter, Location, Statement};
use syslog::template::{builtin, Template};

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
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub create_dirs: bool,
    pub dir_mode: u32,
    pub file_mode: u32,
    pub cache_size: usize,
}

#[derive(Debug, Clone)]
pub enum FileAction {
    Static(PathBuf),
    Dynamic(Arc<Template>),
}

#[derive(Debug, Clone)]
pub enum RuleAction {
    File { target: FileAction, template: Arc<Template>, settings: FileSettings, id: usize },
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

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
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
            first_byte_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub struct CollectorConfig {
    pub listeners: Vec<ListenerConfig>,
    /// `$InputGSSServerMaxSessions`: established sessions (authenticated GSS,
    /// or plain TCP that has sent data), over every listener.
    pub max_sessions: usize,
    pub front_door: FrontDoorLimits,
    pub port_file: Option<PathBuf>,
    pub token_timeout: Option<Duration>,
    pub drain_timeout: Duration,
    pub max_message_size: usize,
    pub umask: Option<u32>,
    pub allowed: AllowedSenders,
    pub rules: Vec<Rule>,
    pub file_actions: usize,
    /// `global(net.enableDNS="off")` turns reverse DNS for `fromhost` off.
    pub dns: bool,
}

/// Directives rsyslog has that do not change what this collector does; they
/// are accepted so that a site's existing file loads, with a warning.
const IGNORED: &[&str] = &[
    "workdirectory", "repeatedmsgreduction", "fileowner", "filegroup", "dirowner", "dirgroup", "privdroptouser",
    "privdroptogroup", "privdroptouserid", "privdroptogroupid", "actionfileenablesync", "omfileflushontxend",
    "omfileiobuffersize", "preservefqdn", "failonchownfailure", "mainmsgqueuesize", "mainmsgqueuetype",
    "systemlogratelimitinterval", "systemlogratelimitburst", "escapecontrolcharactersonreceive",
    "droptrailinglfonreception", "maxopenfiles", "resetconfigvariables",
];

pub fn build(text: &mut ConfigText) -> CollectorConfig {
    let mut gss_port: Option<(u16, Location)> = None;
    let mut tcp_port: Option<u16> = None;
    let mut gss = GssSettings {
        service_name: "host".into(),
        permit_plain_tcp: false,
        byte_order: FrameOrder::Auto,
        require_encryption: false,
    };
    let mut bind: IpAddr = "::".parse().unwrap_or(IpAddr::from([0u8; 16]));
    let mut keepalive = false;
    let mut max_sessions = 200usize;
    let mut front_door = FrontDoorLimits::default();
    let mut front_door_lines = FrontDoorLines::default();
    let mut port_file = None;
    let mut token_timeout = Some(Duration::from_secs(10));
    let mut drain_timeout = Duration::from_secs(10);
    let mut max_message_size = 8096usize;
    let mut umask = None;
    let mut allowed = AllowedSenders::default();
    let mut templates: HashMap<String, Arc<Template>> = HashMap::new();
    let mut default_template = "RSYSLOG_FileFormat".to_string();
    let mut settings = FileSettings { create_dirs: true, dir_mode: 0o700, file_mode: 0o644, cache_size: 2500 };
    let mut rules: Vec<Rule> = Vec::new();
    let mut file_actions = 0;
    let mut gss_loaded = false;
    let mut dns = true;

    let lines = std::mem::take(&mut text.lines);
    for line in &lines {
        let loc = &line.location;
        match &line.statement {
            Statement::Directive { name, value } => {
                let v = value.as_str();
                match name.as_str() {
                    "modload" => match v {
                        "imgssapi" => gss_loaded = true,
                        "imtcp" => {}
                        other => text.warn(loc, format!("$ModLoad {other} ignored: this collector provides imgssapi (and plain imtcp) only")),
                    },
                    "inputgssserverrun" => match v.parse::<u16>() {
                        Ok(p) => gss_port = Some((p, loc.clone())),
                        Err(_) => text.error(loc, format!("$InputGSSServerRun: '{v}' is not a port number")),
                    },
                    "inputtcpserverrun" => match v.parse::<u16>() {
                        Ok(p) => tcp_port = Some(p),
                        Err(_) => text.error(loc, format!("$InputTCPServerRun: '{v}' is not a port number")),
                    },
                    "inputgssserverservicename" if !v.is_empty() => gss.service_name = v.to_string(),
                    "inputgssserverpermitplaintcp" => set_bool(text, loc, name, v, &mut gss.permit_plain_tcp),
                    "inputgssserverkeepalive" => set_bool(text, loc, name, v, &mut keepalive),
                    "inputgssserverrequireencryption" => set_bool(text, loc, name, v, &mut gss.require_encryption),
                    "inputgssservermaxsessions" => match v.parse::<usize>() {
                        Ok(n) if n > 0 => max_sessions = n,
                        _ => text.error(loc, format!("$InputGSSServerMaxSessions: '{v}' is not a positive number")),
                    },
                    "inputgssservermaxhandshakes" => {
                        set_count(text, loc, "InputGSSServerMaxHandshakes", v, &mut front_door.max_handshakes);
                        front_door_lines.counts = Some(loc.clone());
                    }
                    "inputgssservermaxhandshakesperhost" => {
                        set_count(text, loc, "InputGSSServerMaxHandshakesPerHost", v, &mut front_door.max_handshakes_per_host);
                        front_door_lines.counts = Some(loc.clone());
                    }
                    "inputgssserverfirstbytetimeout" => {
                        set_seconds(text, loc, "InputGSSServerFirstByteTimeout", v, &mut front_door.first_byte_timeout);
                        front_door_lines.timeouts = Some(loc.clone());
                    }
                    "inputgssserverhandshaketimeout" => {
                        set_seconds(text, loc, "InputGSSServerHandshakeTimeout", v, &mut front_door.handshake_timeout);
                        front_door_lines.timeouts = Some(loc.clone());
                    }
                    "inputgsslistenportfilename" => port_file = Some(PathBuf::from(v)),
                    "inputgssservertokeniotimeout" => match v.parse::<i64>() {
                        Ok(0) => token_timeout = None,
                        Ok(n) if n > 0 => token_timeout = Some(Duration::from_secs(n as u64)),
                        _ => text.error(loc, format!("$InputGSSServerTokenIOTimeout: '{v}' must be 0 (none) or a number of seconds")),
                    },
                    "inputgssserverdraintimeout" => match v.parse::<u64>() {
                        Ok(n) => drain_timeout = Duration::from_secs(n),
                        Err(_) => text.error(loc, format!("$InputGSSServerDrainTimeout: '{v}' is not a number of seconds")),
                    },
                    "inputgssserverbindaddress" => match v.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
                        Ok(a) => bind = a,
                        Err(_) => text.error(loc, format!("$InputGSSServerBindAddress: '{v}' is not an IP address")),
                    },
                    "inputgssserverframebyteorder" => match v.parse::<FrameOrder>() {
                        Ok(o) => gss.byte_order = o,
                        Err(e) => text.error(loc, format!("$InputGSSServerFrameByteOrder: {e}")),
                    },
                    "actionfiledefaulttemplate" => {
                        if templates.contains_key(v) || builtin(v).is_some() {
                            default_template = v.to_string();
                        } else {
                            text.error(loc, format!("$ActionFileDefaultTemplate: no template named '{v}' is defined above"));
                        }
                    }
                    "dynafilecachesize" => match v.parse::<usize>() {
                        Ok(n) => {
                            if n > 25000 {
                                text.warn(loc, format!("$DynaFileCacheSize {n} is very large"));
                            }
                            settings.cache_size = n.max(1);
                        }
                        Err(_) => text.error(loc, format!("$DynaFileCacheSize: '{v}' is not a number")),
                    },
                    "createdirs" => set_bool(text, loc, name, v, &mut settings.create_dirs),
                    "dircreatemode" => set_mode(text, loc, name, v, &mut settings.dir_mode),
                    "filecreatemode" => set_mode(text, loc, name, v, &mut settings.file_mode),
                    "umask" => {
                        let mut m = 0;
                        set_mode(text, loc, name, v, &mut m);
                        umask = Some(m);
                    }
                    "maxmessagesize" => match syslog::config::parse_size(v) {
                        Ok(n) if n >= 128 => max_message_size = n as usize,
                        _ => text.error(loc, format!("$MaxMessageSize: '{v}' is not a size of at least 128 bytes")),
                    },
                    "allowedsender" => parse_allowed(text, loc, v, &mut allowed),
                    "net.enabledns" => set_bool(text, loc, name, v, &mut dns),
                    ignored if IGNORED.contains(&ignored) => {
                        text.warn(loc, format!("${ignored} is accepted and has no effect on this collector"))
                    }
                    other => text.error(loc, format!("unknown directive ${other}")),
                }
            }
            Statement::Template { name, text: body, options } => {
                let (template, problem) = Template::parse(name, body);
                if let Some(p) = problem {
                    text.warn(loc, format!("template '{name}' is malformed: {}", p.0));
                }
                if !options.is_empty() && !matches!(options.to_ascii_lowercase().as_str(), "sql" | "stdsql" | "json") {
                    text.warn(loc, format!("template '{name}': option '{options}' ignored"));
                }
                templates.insert(name.clone(), Arc::new(template));
            }
            Statement::Rule { filter, action } => {
                if let Filter::Property(p) = filter {
                    if let Some(why) = p.never_matches() {
                        text.warn(loc, why);
                    }
                }
                let mut rule = Rule { filter: filter.clone(), actions: Vec::new() };
                if let Some(a) = build_action(text, loc, action, &templates, &default_template, &settings, &mut file_actions) {
                    rule.actions.push(a);
                }
                rules.push(rule);
            }
            Statement::AlsoAction { action } => {
                let built = build_action(text, loc, action, &templates, &default_template, &settings, &mut file_actions);
                match (rules.last_mut(), built) {
                    (Some(rule), Some(a)) => rule.actions.push(a),
                    (None, _) => text.error(loc, "'&' action without a rule above it"),
                    _ => {}
                }
            }
        }
    }
    text.lines = lines;

    let mut listeners = Vec::new();
    if let Some((port, loc)) = gss_port {
        if !gss_loaded {
            text.warn(&loc, "$InputGSSServerRun without $ModLoad imgssapi (accepted)");
        }
        listeners.push(ListenerConfig { port, bind, gss: Some(gss), keepalive });
    }
    if let Some(port) = tcp_port {
        listeners.push(ListenerConfig { port, bind, gss: None, keepalive });
    }
    if listeners.is_empty() {
        text.error(&Location { file: Arc::from("config"), line: 0 }, "no listener: add $InputGSSServerRun <port>");
    }
    check_front_door(text, &front_door_lines, &front_door);
    CollectorConfig {
        listeners,
        max_sessions,
        front_door,
        port_file,
        token_timeout,
        drain_timeout,
        max_message_size,
        umask,
        allowed,
        rules,
        file_actions,
        dns,
    }
}

fn build_action(
    text: &mut ConfigText,
    loc: &Location,
    action: &str,
    templates: &HashMap<String, Arc<Template>>,
    default_template: &str,
    settings: &FileSettings,
    file_actions: &mut usize,
) -> Option<RuleAction> {
    let lookup = |name: &str| templates.get(name).cloned().or_else(|| builtin(name).map(Arc::new));
    match parse_action(action) {
        Action::Stop => Some(RuleAction::Stop),
        Action::File { target, template } => {
            let content_name = template.as_deref().unwrap_or(default_template);
            let Some(content) = lookup(content_name) else {
                text.error(loc, format!("no template named '{content_name}' is defined above this line"));
                return None;
            };
            let target = match target {
                FileTarget::Static(p) => FileAction::Static(p),
                FileTarget::Dynamic(name) => match templates.get(&name) {
                    Some(t) => FileAction::Dynamic(t.clone()),
                    None => {
                        text.error(loc, format!("dynamic file template '{name}' is not defined above this line"));
                        return None;
                    }
                },
            };
            *file_actions += 1;
            Some(RuleAction::File { target, template: content, settings: settings.clone(), id: *file_actions - 1 })
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

/// Where the front-door directives were set, to point warnings at them.
#[derive(Default)]
struct FrontDoorLines {
    counts: Option<Location>,
    timeouts: Option<Location>,
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

/// A positive count (a limit of 0 would refuse every connection).
fn set_count(text: &mut ConfigText, loc: &Location, directive: &str, v: &str, slot: &mut usize) {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => *slot = n,
        _ => text.error(loc, format!("${directive}: '{v}' is not a positive number")),
    }
}

/// A positive number of seconds. There is no "no limit" here: an unbounded
/// wait before authentication is what these limits exist to prevent.
fn set_seconds(text: &mut ConfigText, loc: &Location, directive: &str, v: &str, slot: &mut Duration) {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => *slot = Duration::from_secs(n),
        _ => text.error(loc, format!("${directive}: '{v}' is not a positive number of seconds")),
    }
}

fn set_bool(text: &mut ConfigText, loc: &Location, name: &str, v: &str, slot: &mut bool) {
    match syslog::config::parse_bool(v) {
        Ok(b) => *slot = b,
        Err(e) => text.error(loc, format!("${name}: {e}")),
    }
}

fn set_mode(text: &mut ConfigText, loc: &Location, name: &str, v: &str, slot: &mut u32) {
    match u32::from_str_radix(v.trim_start_matches("0o"), 8) {
        Ok(m) if m <= 0o7777 => *slot = m,
        _ => text.error(loc, format!("${name}: '{v}' is not an octal mode such as 0644")),
    }
}

fn parse_allowed(text: &mut ConfigText, loc: &Location, v: &str, allowed: &mut AllowedSenders) {
    let mut parts = v.split(',').map(str::trim);
    let kind = parts.next().unwrap_or("").to_ascii_uppercase();
    let list = match kind.as_str() {
        "GSS" => &mut allowed.gss,
        "TCP" => &mut allowed.tcp,
        "UDP" => {
            text.warn(loc, "$AllowedSender UDP ignored: the collector has no UDP input");
            return;
        }
        other => {
            text.error(loc, format!("$AllowedSender: unknown kind '{other}' (expected GSS or TCP)"));
            return;
        }
    };
    for entry in parts.filter(|e| !e.is_empty()) {
        let (addr, bits) = entry.split_once('/').unwrap_or((entry, ""));
        let Ok(ip) = addr.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() else {
            text.error(loc, format!("$AllowedSender: '{entry}' is not an address (host names are not supported; use address/bits)"));
            continue;
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = if bits.is_empty() { max } else { bits.parse().unwrap_or(255) };
        if bits > max {
            text.error(loc, format!("$AllowedSender: bad prefix length in '{entry}'"));
            continue;
        }
        list.push((ip, bits));
    }
}

/// Reads, checks and builds the configuration in `path`.
pub fn load(path: &Path) -> (CollectorConfig, ConfigText) {
    let mut text = syslog::config::read_file(path);
    let config = build(&mut text);
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
        assert_eq!(config.max_sessions, 2000);
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
             $InputGSSServerFirstByteTimeout 2\n$InputGSSServerHandshakeTimeout 3\n",
        )
        .unwrap();
        let (config, text) = load(&path);
        assert!(text.problems.is_empty(), "{:?}", text.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        let expected = FrontDoorLimits {
            max_handshakes: 40,
            max_handshakes_per_host: 4,
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
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains(":3: warning: $InputGSSServerMaxHandshakesPerHost 300 is above $InputGSSServerMaxHandshakes 256"), "{p:?}");
        assert!(p[1].contains(":4: warning: $InputGSSServerFirstByteTimeout 30s is above $InputGSSServerHandshakeTimeout 10s"), "{p:?}");
    }

    #[test]
    fn allowed_senders() {
        let list = vec![("10.0.0.0".parse().unwrap(), 8), ("127.0.0.1".parse().unwrap(), 32)];
        assert!(AllowedSenders::permits(&list, "10.1.2.3".parse().unwrap()));
        assert!(AllowedSenders::permits(&list, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!AllowedSenders::permits(&list, "127.0.0.2".parse().unwrap()));
        assert!(AllowedSenders::permits(&[], "1.2.3.4".parse().unwrap()));
    }
}

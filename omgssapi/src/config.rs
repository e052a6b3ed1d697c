//! The shipper's configuration: the forwarding stanza sites already have
//! (`$GssForwardServiceName`, `$GssMode`, the `$ActionQueue*` block, selector
//! lines ending in `:omgssapi:`), the inputs (imuxsock, imudp, imtcp legacy
//! directives), and our documented extensions.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gsswire::{ByteOrder, Protection};
use queue::{FullPolicy, QueueConfig};
use syslog::config::{parse_action, parse_size, Action, ConfigText, Filter, Location, Statement};
use syslog::template::{builtin, Template};

/// Where an `:omgssapi:` action sends, and how it frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `(zN)`: per-message zlib at level N.
    pub zlib_level: Option<u32>,
    /// `(o)`: octet-counted framing instead of LF.
    pub octet_counted: bool,
}

#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub filter: Filter,
    pub target: Target,
    pub template: Arc<Template>,
    pub service: String,
    pub protection: Protection,
    pub byte_order: ByteOrder,
    pub queue: QueueConfig,
    /// Most plaintext bytes packed into one wrapped token (1 = one message per token).
    pub batch_bytes: usize,
    pub one_message_per_token: bool,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub handshake_timeout: Duration,
    /// Extension `$ActionGSSForwardBindAddress`: the source address to connect from.
    pub bind: Option<IpAddr>,
    pub location: Location,
}

#[derive(Debug, Clone, Default)]
pub struct InputsConfig {
    pub unix_sockets: Vec<PathBuf>,
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

#[derive(Debug)]
pub struct ShipperConfig {
    pub forwards: Vec<ForwardConfig>,
    pub inputs: InputsConfig,
    pub max_message_size: usize,
}

/// Directives accepted so that a node's existing file loads, with a warning.
const IGNORED: &[&str] = &[
    "actionqueuetype", "actionqueueworkerthreads", "actionqueuetimeoutshutdown", "actionqueuetimeoutactioncompletion",
    "actionqueuecheckpointinterval", "actionqueuesyncqueuefiles", "actionqueuediscardseverity", "actionqueuediscardmark",
    "actionqueuedequeuebatchsize", "actionqueueworkertimeoutthreadshutdown", "repeatedmsgreduction", "fileowner",
    "filegroup", "dirowner", "dirgroup", "privdroptouser", "privdroptogroup", "omfileflushontxend", "preservefqdn",
    "actionfiledefaulttemplate", "resetconfigvariables", "gsstokeniotimeout",
];

/// Per-action settings that rsyslog resets after each action.
#[derive(Clone)]
struct QueueSettings {
    file_name: Option<String>,
    max_disk: Option<u64>,
    max_file: Option<u64>,
    size: Option<usize>,
    high: Option<usize>,
    low: Option<usize>,
    timeout_enqueue: Duration,
    save_on_shutdown: bool,
    drop_oldest: bool,
    fsync: Option<Duration>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        // rsyslog's legacy action-queue defaults.
        QueueSettings {
            file_name: None,
            max_disk: None,
            max_file: None,
            size: None,
            high: None,
            low: None,
            timeout_enqueue: Duration::from_millis(50),
            save_on_shutdown: true,
            drop_oldest: false,
            fsync: Some(Duration::from_secs(1)),
        }
    }
}

pub fn build(text: &mut ConfigText, default_work_dir: &Path) -> ShipperConfig {
    let mut service = "host".to_string();
    // Our default is encryption; rsyslog up to 8.2602 silently used integrity.
    let mut protection = Protection::Encryption;
    let mut default_template = "RSYSLOG_TraditionalForwardFormat".to_string();
    let mut byte_order = ByteOrder::Little;
    let mut batch_bytes = 64 * 1024;
    let mut one_per_token = false;
    let mut backoff_base = Duration::from_secs(1);
    let mut backoff_max = Duration::from_secs(60);
    let mut handshake_timeout = Duration::from_secs(10);
    let mut bind: Option<IpAddr> = None;
    let mut work_dir = default_work_dir.to_path_buf();
    let mut q = QueueSettings::default();
    let mut templates: HashMap<String, Arc<Template>> = HashMap::new();
    let mut max_message_size = 8096usize;
    let mut modules: Vec<String> = Vec::new();
    let mut inputs = InputsConfig::default();
    let mut udp_addr: IpAddr = IpAddr::from([0, 0, 0, 0]);
    let mut tcp_addr: IpAddr = IpAddr::from([0, 0, 0, 0]);
    let mut unix_default = Some(PathBuf::from("/dev/log"));
    let mut forwards = Vec::new();

    let lines = std::mem::take(&mut text.lines);
    for line in &lines {
        let loc = &line.location;
        match &line.statement {
            Statement::Directive { name, value } => {
                let v = value.as_str();
                match name.as_str() {
                    "modload" => modules.push(v.to_string()),
                    "gssforwardservicename" => service = v.to_string(),
                    "gssmode" => match v.parse() {
                        Ok(p) => protection = p,
                        Err(e) => text.error(loc, format!("$GssMode: {e}")),
                    },
                    "actiongssforwarddefaulttemplate" => {
                        if templates.contains_key(v) || builtin(v).is_some() {
                            default_template = v.to_string();
                        } else {
                            text.error(loc, format!("$ActionGSSForwardDefaultTemplate: no template named '{v}' is defined above"));
                        }
                    }
                    "gssforwardframebyteorder" => match v.parse() {
                        Ok(o) => byte_order = o,
                        Err(e) => text.error(loc, format!("$GssForwardFrameByteOrder: {e}")),
                    },
                    "actiongssforwardbatchsize" => match parse_size(v) {
                        Ok(n) if (1..=120 * 1024).contains(&n) => batch_bytes = n as usize,
                        _ => text.error(loc, format!("$ActionGSSForwardBatchSize: '{v}' must be a size from 1 to 120k (rsyslog's receive buffer is 128k)")),
                    },
                    "actiongssforwardonemessagepertoken" => set_bool(text, loc, name, v, &mut one_per_token),
                    "actiongssforwardbackoffbase" => set_millis(text, loc, name, v, &mut backoff_base),
                    "actiongssforwardbackoffmax" => set_millis(text, loc, name, v, &mut backoff_max),
                    "actiongssforwardhandshaketimeout" => set_millis(text, loc, name, v, &mut handshake_timeout),
                    "actiongssforwardbindaddress" => match v.trim_matches(|c| c == '[' || c == ']').parse() {
                        Ok(a) => bind = Some(a),
                        Err(_) => text.error(loc, format!("$ActionGSSForwardBindAddress: '{v}' is not an IP address")),
                    },
                    "workdirectory" => work_dir = PathBuf::from(v),
                    "maxmessagesize" => match parse_size(v) {
                        Ok(n) if n >= 128 => max_message_size = n as usize,
                        _ => text.error(loc, format!("$MaxMessageSize: '{v}' is not a size of at least 128 bytes")),
                    },
                    "actionqueuefilename" => q.file_name = Some(v.to_string()),
                    "actionqueuemaxdiskspace" => match parse_size(v) {
                        Ok(0) => q.max_disk = None,
                        Ok(n) => q.max_disk = Some(n),
                        Err(e) => text.error(loc, format!("$ActionQueueMaxDiskSpace: {e}")),
                    },
                    "actionqueuemaxfilesize" => match parse_size(v) {
                        Ok(n) => q.max_file = Some(n),
                        Err(e) => text.error(loc, format!("$ActionQueueMaxFileSize: {e}")),
                    },
                    "actionqueuesize" => set_usize(text, loc, name, v, &mut q.size),
                    "actionqueuehighwatermark" => set_usize(text, loc, name, v, &mut q.high),
                    "actionqueuelowwatermark" => set_usize(text, loc, name, v, &mut q.low),
                    "actionqueuetimeoutenqueue" => match v.parse::<u64>() {
                        Ok(ms) => q.timeout_enqueue = Duration::from_millis(ms),
                        Err(_) => text.error(loc, format!("$ActionQueueTimeoutEnqueue: '{v}' is not a number of milliseconds")),
                    },
                    "actionqueuesaveonshutdown" => set_bool(text, loc, name, v, &mut q.save_on_shutdown),
                    "actionqueuedropoldest" => set_bool(text, loc, name, v, &mut q.drop_oldest),
                    "actionqueuefsyncinterval" => match v.parse::<u64>() {
                        Ok(0) => q.fsync = None,
                        Ok(ms) => q.fsync = Some(Duration::from_millis(ms)),
                        Err(_) => text.error(loc, format!("$ActionQueueFsyncInterval: '{v}' is not a number of milliseconds")),
                    },
                    "actionresumeretrycount" => match v.parse::<i64>() {
                        Ok(-1) => {}
                        Ok(_) => text.warn(loc, "$ActionResumeRetryCount: this shipper always retries forever (-1); the value is ignored"),
                        Err(_) => text.error(loc, format!("$ActionResumeRetryCount: '{v}' is not a number")),
                    },
                    "actionresumeinterval" => {
                        let mut d = backoff_max;
                        set_millis(text, loc, name, &format!("{}000", v.trim()), &mut d);
                        text.warn(loc, "$ActionResumeInterval: reconnects use exponential backoff with jitter instead (see $ActionGSSForwardBackoffBase/Max)");
                    }
                    "systemlogsocketname" => unix_default = Some(PathBuf::from(v)),
                    "omitlocallogging" => {
                        let mut off = false;
                        set_bool(text, loc, name, v, &mut off);
                        if off {
                            unix_default = None;
                        }
                    }
                    "addunixlistensocket" => inputs.unix_sockets.push(PathBuf::from(v)),
                    "udpserveraddress" => match v.parse() {
                        Ok(a) => udp_addr = a,
                        Err(_) => text.error(loc, format!("$UDPServerAddress: '{v}' is not an IP address")),
                    },
                    "udpserverrun" => match v.parse::<u16>() {
                        Ok(p) => inputs.udp.push(SocketAddr::new(udp_addr, p)),
                        Err(_) => text.error(loc, format!("$UDPServerRun: '{v}' is not a port")),
                    },
                    "inputtcpserverbindaddress" => match v.parse() {
                        Ok(a) => tcp_addr = a,
                        Err(_) => text.error(loc, format!("$InputTCPServerBindAddress: '{v}' is not an IP address")),
                    },
                    "inputtcpserverrun" => match v.parse::<u16>() {
                        Ok(p) => inputs.tcp.push(SocketAddr::new(tcp_addr, p)),
                        Err(_) => text.error(loc, format!("$InputTCPServerRun: '{v}' is not a port")),
                    },
                    ignored if IGNORED.contains(&ignored) => text.warn(loc, format!("${ignored} is accepted and has no effect on this shipper")),
                    other => text.error(loc, format!("unknown directive ${other}")),
                }
            }
            Statement::Template { name, text: body, .. } => {
                let (t, problem) = Template::parse(name, body);
                if let Some(p) = problem {
                    text.warn(loc, format!("template '{name}' is malformed: {}", p.0));
                }
                templates.insert(name.clone(), Arc::new(t));
            }
            Statement::Rule { filter, action } => match parse_action(action) {
                Action::Omgssapi(spec) => match parse_target(&spec) {
                    Ok((target, template_name)) => {
                        let name = template_name.unwrap_or_else(|| default_template.clone());
                        let Some(template) = templates.get(&name).cloned().or_else(|| builtin(&name).map(Arc::new)) else {
                            text.error(loc, format!("no template named '{name}' is defined above this line"));
                            continue;
                        };
                        let n = forwards.len();
                        let queue = queue_config(&q, &work_dir, n);
                        forwards.push(ForwardConfig {
                            filter: filter.clone(),
                            target,
                            template,
                            service: service.clone(),
                            protection,
                            byte_order,
                            queue,
                            batch_bytes,
                            one_message_per_token: one_per_token,
                            backoff_base,
                            backoff_max,
                            handshake_timeout,
                            bind,
                            location: loc.clone(),
                        });
                        // Legacy $ActionQueue* settings apply to one action only.
                        q = QueueSettings::default();
                    }
                    Err(e) => text.error(loc, e),
                },
                Action::Stop => {}
                Action::File { .. } | Action::Other(_) => {
                    text.warn(loc, format!("action '{action}' ignored: this shipper only forwards (:omgssapi:)"));
                }
            },
            Statement::AlsoAction { action } => text.warn(loc, format!("'& {action}' ignored: give each :omgssapi: action its own selector line")),
        }
    }
    text.lines = lines;
    if modules.iter().any(|m| m == "imuxsock") {
        if let Some(p) = unix_default {
            inputs.unix_sockets.insert(0, p);
        }
    }
    if forwards.is_empty() {
        text.error(&Location { file: Arc::from("config"), line: 0 }, "no :omgssapi: action: nothing would be forwarded");
    }
    for f in &forwards {
        if backoff_base > backoff_max {
            text.error(&f.location, "backoff base is larger than the backoff maximum");
        }
    }
    ShipperConfig { forwards, inputs, max_message_size }
}

fn queue_config(q: &QueueSettings, work_dir: &Path, n: usize) -> QueueConfig {
    let name = q.file_name.clone().unwrap_or_else(|| format!("omgssapi-action{n}"));
    let mut c = QueueConfig::new(work_dir, name);
    c.max_disk_bytes = q.max_disk;
    if let Some(f) = q.max_file {
        c.segment_bytes = f.max(64 * 1024);
    }
    if let Some(s) = q.size {
        c.memory_records = s;
    }
    c.high_watermark = q.high;
    c.low_watermark = q.low;
    c.enqueue_timeout = q.timeout_enqueue;
    c.save_on_shutdown = q.save_on_shutdown;
    c.when_full = if q.drop_oldest { FullPolicy::DropOldest } else { FullPolicy::DropNewest };
    c.fsync_interval = q.fsync;
    c
}

/// `[(z9,o)]host[:port][;Template]`, host possibly `[IPv6]`.
pub fn parse_target(spec: &str) -> Result<(Target, Option<String>), String> {
    let mut rest = spec.trim();
    let (mut zlib_level, mut octet_counted) = (None, false);
    if let Some(opts) = rest.strip_prefix('(') {
        let (inner, after) = opts.split_once(')').ok_or("unterminated '(' in the :omgssapi: options")?;
        for o in inner.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match o.as_bytes() {
                [b'z', d @ b'0'..=b'9'] => zlib_level = Some(u32::from(d - b'0')),
                [b'o'] => octet_counted = true,
                _ => return Err(format!(":omgssapi: unknown option '{o}' (expected zN with N 0-9, or o)")),
            }
        }
        rest = after;
    }
    let (hostport, template) = match rest.split_once(';') {
        Some((h, t)) => (h.trim(), Some(t.trim().to_string()).filter(|t| !t.is_empty())),
        None => (rest.trim(), None),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unterminated '[' in the :omgssapi: host")?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(":omgssapi: action without a host".into());
    }
    let port = match port {
        None => 514,
        Some(p) => p.parse::<u16>().map_err(|_| format!(":omgssapi: invalid port '{p}'"))?,
    };
    Ok((Target { host, port, zlib_level, octet_counted }, template))
}

fn set_bool(text: &mut ConfigText, loc: &Location, name: &str, v: &str, slot: &mut bool) {
    match syslog::config::parse_bool(v) {
        Ok(b) => *slot = b,
        Err(e) => text.error(loc, format!("${name}: {e}")),
    }
}

fn set_usize(text: &mut ConfigText, loc: &Location, name: &str, v: &str, slot: &mut Option<usize>) {
    match v.parse() {
        Ok(n) => *slot = Some(n),
        Err(_) => text.error(loc, format!("${name}: '{v}' is not a number")),
    }
}

fn set_millis(text: &mut ConfigText, loc: &Location, name: &str, v: &str, slot: &mut Duration) {
    match v.trim().parse::<u64>() {
        Ok(ms) => *slot = Duration::from_millis(ms),
        Err(_) => text.error(loc, format!("${name}: '{v}' is not a number of milliseconds")),
    }
}

pub fn load(path: &Path, default_work_dir: &Path) -> (ShipperConfig, ConfigText) {
    let mut text = syslog::config::read_file(path);
    let config = build(&mut text, default_work_dir);
    (config, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_syntax() {
        let t = |s: &str| parse_target(s).unwrap();
        assert_eq!(t("collector:515").0, Target { host: "collector".into(), port: 515, zlib_level: None, octet_counted: false });
        assert_eq!(t("(z9,o)collector").0, Target { host: "collector".into(), port: 514, zlib_level: Some(9), octet_counted: true });
        assert_eq!(t("[2001:db8::1]:515;RSYSLOG_ForwardFormat"), (Target { host: "2001:db8::1".into(), port: 515, zlib_level: None, octet_counted: false }, Some("RSYSLOG_ForwardFormat".into())));
        assert!(parse_target("(z)host").is_err());
        assert!(parse_target("host:51x").is_err());
    }

    #[test]
    fn legacy_input_directives_and_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(
            &path,
            "$ModLoad imuxsock\n$SystemLogSocketName /run/test-log\n$AddUnixListenSocket /run/extra-log\n\
             $ModLoad imudp\n$UDPServerAddress 127.0.0.1\n$UDPServerRun 5514\n\
             $ModLoad imtcp\n$InputTCPServerBindAddress 127.0.0.1\n$InputTCPServerRun 5515\n\
             $GssForwardFrameByteOrder be\n$ActionGSSForwardOneMessagePerToken on\n$ActionGSSForwardBatchSize 16k\n\
             $GssMode integrity\nauth.* :omgssapi:(o)[::1]:6514\n",
        )
        .unwrap();
        let (c, text) = load(&path, dir.path());
        assert!(!text.has_errors(), "{:?}", text.problems);
        assert_eq!(c.inputs.unix_sockets, [PathBuf::from("/run/test-log"), PathBuf::from("/run/extra-log")]);
        assert_eq!(c.inputs.udp, ["127.0.0.1:5514".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.inputs.tcp, ["127.0.0.1:5515".parse::<SocketAddr>().unwrap()]);
        let f = &c.forwards[0];
        assert_eq!((f.byte_order, f.one_message_per_token, f.batch_bytes), (ByteOrder::Big, true, 16 * 1024));
        assert_eq!((f.protection, f.target.host.as_str(), f.target.port, f.target.octet_counted), (Protection::Integrity, "::1", 6514, true));
    }

    #[test]
    fn seed_client_stanza_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.conf");
        let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", "collector.example:515");
        std::fs::write(&path, seed).unwrap();
        let (config, text) = load(&path, dir.path());
        assert!(!text.has_errors(), "{:?}", text.problems);
        let f = &config.forwards[0];
        assert_eq!(f.target.host, "collector.example");
        assert_eq!(f.protection, Protection::Encryption);
        assert_eq!(f.queue.name, "srvrfwd1");
        assert_eq!(f.queue.max_disk_bytes, Some(100 * 1024 * 1024));
        assert_eq!(f.queue.enqueue_timeout, Duration::from_millis(100));
    }
}

//! The shipper's configuration: the forwarding stanza sites already have
//! (`$GssForwardServiceName`, `$GssMode`, the `$ActionQueue*` block, selector
//! lines ending in `:omgssapi:`), the inputs (imuxsock, imudp, imtcp legacy
//! directives), and our documented extensions.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gsswire::{ByteOrder, ClientIdentity, Protection};
use queue::{FullPolicy, QueueConfig};
use daemon::config::Statements;
use daemon::directives::Directive;
use daemon::shared_directives::SharedSettings;
use daemon::templates::TemplateRegistry;
use syslog::config::{parse_action, Action, ConfigText, Filter, Location};
use syslog::template::Template;

use crate::backoff::Schedule;

/// `$ActionGSSForwardAcknowledged`: whether the action asks the collector
/// for acknowledgements ([`gsswire::ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledged {
    /// Never ask; records are released on TCP-level delivery (as today).
    Off,
    /// Ask; a collector that does not answer in time gets TCP-level accounting.
    Auto,
    /// Ask and wait for the answer before sending; a collector that does not
    /// answer is not sent to.
    On,
}

impl std::str::FromStr for Acknowledged {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Acknowledged::Off),
            "auto" => Ok(Acknowledged::Auto),
            "on" => Ok(Acknowledged::On),
            other => Err(format!("'{other}' must be off, auto or on")),
        }
    }
}

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
    /// When a suspended action tries again ([`Schedule`]).
    pub retry: Schedule,
    pub handshake_timeout: Duration,
    /// Extension `$ActionGSSForwardAcknowledged` (default off).
    pub acknowledged: Acknowledged,
    /// Extension `$ActionGSSForwardHeartbeat SECONDS` (default none): on an
    /// acknowledged session idle that long, a heartbeat token (`gsswire::ack`).
    pub heartbeat: Option<Duration>,
    /// Extension `$ActionGSSForwardBindAddress`: the source address to connect from.
    pub bind: Option<IpAddr>,
    /// Extensions `$GssForwardPrincipal` and `$GssForwardKeytab`: who the
    /// shipper authenticates as (unset: MIT's defaults, from the environment).
    pub identity: ClientIdentity,
    pub location: Location,
    /// The actions below this one with `$ActionExecOnlyWhenPreviousIsSuspended
    /// on`, in order: while this collector is unreachable the first backup
    /// that connects takes over, and this one is retried on its schedule
    /// until it takes its records back. A backup sends this action's records,
    /// from this action's queue; only its connection settings (target,
    /// service, protection, byte order, retry, acknowledged mode, bind,
    /// identity, timeouts) are its own.
    pub backups: Vec<ForwardConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct InputsConfig {
    pub unix_sockets: Vec<PathBuf>,
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    /// `$ModLoad imklog`: read `/dev/kmsg` when systemd does not pass it.
    pub kernel_log: bool,
    /// `$KLogPermitNonKernelFacility` (off): also forward records of other
    /// facilities than kern (userspace writes to `/dev/kmsg`).
    pub permit_non_kernel_facility: bool,
}

#[derive(Debug)]
pub struct ShipperConfig {
    pub forwards: Vec<ForwardConfig>,
    pub inputs: InputsConfig,
    pub max_message_size: usize,
    /// `$PrivDropToUser` and its kin: dropped to once the inputs are bound.
    pub privileges: daemon::privileges::PrivDrop,
    /// `$ModLoad impstats`, `$PStatInterval`, `$GssMetricsListen`.
    pub metrics: daemon::metrics::MetricsSettings,
    /// `$ModLoad immark`: a `-- MARK --` message every `$MarkMessagePeriod`.
    pub mark_period: Option<Duration>,
}

/// Per-action settings that rsyslog resets after each action.
#[derive(Debug, Clone)]
pub(crate) struct QueueSettings {
    pub(crate) file_name: Option<String>,
    pub(crate) max_disk: Option<u64>,
    pub(crate) max_file: Option<u64>,
    pub(crate) size: Option<usize>,
    pub(crate) high: Option<usize>,
    pub(crate) low: Option<usize>,
    pub(crate) timeout_enqueue: Duration,
    pub(crate) drop_oldest: bool,
    pub(crate) fsync: Option<Duration>,
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
            drop_oldest: false,
            fsync: Some(Duration::from_secs(1)),
        }
    }
}

/// Step one: every directive read and checked, in file order. A value holds
/// from its line on, for every action below it, except the `$ActionQueue*`
/// block, which applies to the next action only.
/// Its fields are set by the entries of [`crate::directives::TABLE`].
#[derive(Debug)]
pub struct Settings {
    pub(crate) service: String,
    pub(crate) protection: Protection,
    pub(crate) default_template: String,
    pub(crate) byte_order: ByteOrder,
    pub(crate) batch_bytes: usize,
    pub(crate) one_per_token: bool,
    pub(crate) retry: Schedule,
    /// `$ActionExecOnlyWhenPreviousIsSuspended`: holds until turned off, as in rsyslog.
    pub(crate) backup: bool,
    pub(crate) handshake_timeout: Duration,
    pub(crate) acknowledged: Acknowledged,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) bind: Option<IpAddr>,
    pub(crate) identity: ClientIdentity,
    pub(crate) work_dir: PathBuf,
    pub(crate) queue: QueueSettings,
    pub(crate) inputs: InputsConfig,
    pub(crate) udp_addr: IpAddr,
    pub(crate) tcp_addr: IpAddr,
    pub(crate) unix_default: Option<PathBuf>,
    /// The directives both daemons read (`$ModLoad`, privileges, metrics, `$MaxMessageSize`).
    pub(crate) shared: SharedSettings,
    pub(crate) mark_period: Duration,
}

impl Settings {
    pub(crate) fn new(default_work_dir: &Path) -> Settings {
        Settings {
            service: "host".into(),
            // Our default is encryption; rsyslog up to 8.2602 silently used integrity.
            protection: Protection::Encryption,
            default_template: "RSYSLOG_TraditionalForwardFormat".into(),
            byte_order: ByteOrder::Little,
            batch_bytes: 64 * 1024,
            one_per_token: false,
            retry: Schedule::DEFAULT,
            backup: false,
            handshake_timeout: Duration::from_secs(10),
            heartbeat: None,
            acknowledged: Acknowledged::Off,
            bind: None,
            identity: ClientIdentity::default(),
            work_dir: default_work_dir.to_path_buf(),
            queue: QueueSettings::default(),
            inputs: InputsConfig::default(),
            udp_addr: IpAddr::from([0, 0, 0, 0]),
            tcp_addr: IpAddr::from([0, 0, 0, 0]),
            unix_default: Some(PathBuf::from("/dev/log")),
            shared: SharedSettings::default(),
            mark_period: crate::mark::DEFAULT_PERIOD,
        }
    }

    /// The doubling schedule's base; the default's after a resume interval.
    pub(crate) fn doubling_base(&self) -> Duration {
        match self.retry {
            Schedule::Doubling { base, .. } => base,
            Schedule::ResumeInterval(_) => Duration::from_secs(1),
        }
    }

    /// The doubling schedule's maximum; the default's after a resume interval.
    pub(crate) fn doubling_max(&self) -> Duration {
        match self.retry {
            Schedule::Doubling { max, .. } => max,
            Schedule::ResumeInterval(_) => Duration::from_secs(3),
        }
    }

    /// Step two for one action: what the settings above it make of it. The
    /// `$ActionQueue*` block is used up.
    fn forward(&mut self, filter: &Filter, target: Target, template: Arc<Template>, index: usize, location: &Location) -> ForwardConfig {
        let queue = queue_config(&std::mem::take(&mut self.queue), &self.work_dir, index);
        ForwardConfig {
            filter: filter.clone(),
            target,
            template,
            service: self.service.clone(),
            protection: self.protection,
            byte_order: self.byte_order,
            queue,
            batch_bytes: self.batch_bytes,
            one_message_per_token: self.one_per_token,
            retry: self.retry,
            handshake_timeout: self.handshake_timeout,
            acknowledged: self.acknowledged,
            heartbeat: self.heartbeat,
            bind: self.bind,
            identity: self.identity.clone(),
            location: location.clone(),
            backups: Vec::new(),
        }
    }
}

/// The shipper's side of the walk: directives into [`Settings`], each
/// `:omgssapi:` action assembled from the settings above it.
struct Reading {
    settings: Settings,
    /// `--collector` (GSSLOG_COLLECTOR): what the placeholder target stands for.
    collector: Option<String>,
    forwards: Vec<ForwardConfig>,
    /// The template name of each of `forwards`, for checking its backups.
    template_names: Vec<String>,
    /// The filter of the last rule, for its `& :omgssapi:` lines.
    last_filter: Option<Filter>,
}

impl Reading {
    /// One `:omgssapi:` action: a primary with a queue of its own, or, under
    /// `$ActionExecOnlyWhenPreviousIsSuspended on`, a backup of the action
    /// above it that shares that action's queue.
    fn omgssapi(&mut self, text: &mut ConfigText, at: &Location, filter: &Filter, spec: &str, templates: &TemplateRegistry) {
        let filled;
        let spec = match (spec.find(PLACEHOLDER), &self.collector) {
            (Some(_), Some(collector)) => {
                filled = spec.replacen(PLACEHOLDER, collector, 1);
                filled.as_str()
            }
            (Some(_), None) => {
                return text.error(
                    at,
                    format!(
                        "the collector is the packaged placeholder {PLACEHOLDER}: replace it with the collector's canonical \
                         name and port here, or set GSSLOG_COLLECTOR=HOST:PORT in /etc/default/gsslog-shipper (the unit and \
                         the omprog wrapper read it; from a shell, --collector HOST:PORT)"
                    ),
                )
            }
            (None, _) => spec,
        };
        let (target, template_name) = match parse_target(spec) {
            Ok(t) => t,
            Err(e) => return text.error(at, e),
        };
        let name = template_name.unwrap_or_else(|| self.settings.default_template.clone());
        let Some(template) = templates.for_action(text, at, &name) else { return };
        if !self.settings.backup {
            let index = self.forwards.len();
            self.forwards.push(self.settings.forward(filter, target, template, index, at));
            self.template_names.push(name);
            return;
        }
        let (Some(primary), Some(primary_template)) = (self.forwards.last_mut(), self.template_names.last()) else {
            return text.error(at, "$ActionExecOnlyWhenPreviousIsSuspended is on, but no :omgssapi: action stands above this one to back up");
        };
        // The backup sends the primary's records as they were queued: rendered
        // with its template and framed its way.
        if name != *primary_template
            || target.zlib_level != primary.target.zlib_level
            || target.octet_counted != primary.target.octet_counted
        {
            return text.error(
                at,
                format!(
                    "a backup action sends the records of the action it backs up ({}), so it needs the same template and (zN,o) options",
                    primary.location
                ),
            );
        }
        if self.settings.queue.file_name.is_some() {
            text.warn(at, "a backup action uses the queue of the action it backs up; its $ActionQueue settings have no effect");
        }
        let backup = self.settings.forward(filter, target, template, usize::MAX, at);
        primary.backups.push(backup);
    }
}

impl Statements for Reading {
    fn directive(&mut self, d: &mut Directive, templates: &TemplateRegistry) {
        let (table, modules) = (&crate::directives::TABLE, &crate::directives::MODULES);
        daemon::config::read_directive(d, table, &mut self.settings, templates, |s| &mut s.shared, modules);
    }

    fn rule(&mut self, text: &mut ConfigText, at: &Location, filter: &Filter, action: &str, templates: &TemplateRegistry) {
        self.last_filter = Some(filter.clone());
        match parse_action(action) {
            Action::Omgssapi(spec) => self.omgssapi(text, at, filter, &spec, templates),
            Action::Stop => {}
            Action::File { .. } | Action::Other(_) => {
                text.warn(at, format!("action '{action}' ignored: this shipper only forwards (:omgssapi:)"));
            }
        }
    }

    fn also_action(&mut self, text: &mut ConfigText, at: &Location, action: &str, templates: &TemplateRegistry) {
        match (parse_action(action), self.last_filter.clone()) {
            (Action::Omgssapi(spec), Some(filter)) => self.omgssapi(text, at, &filter, &spec, templates),
            _ => text.warn(at, format!("'& {action}' ignored: this shipper only forwards (:omgssapi:)")),
        }
    }
}

/// The packaged config's collector, to be replaced or given by `--collector`.
pub const PLACEHOLDER: &str = "<server_name>:<port>";

pub fn build(text: &mut ConfigText, default_work_dir: &Path) -> ShipperConfig {
    build_for(text, default_work_dir, None)
}

/// [`build`], with `collector` (HOST:PORT) standing for the placeholder target.
pub fn build_for(text: &mut ConfigText, default_work_dir: &Path, collector: Option<&str>) -> ShipperConfig {
    let mut reading = Reading {
        settings: Settings::new(default_work_dir),
        collector: collector.map(str::to_string),
        forwards: Vec::new(),
        template_names: Vec::new(),
        last_filter: None,
    };
    daemon::config::walk(text, &mut reading);
    let Reading { settings: Settings { mut inputs, unix_default, shared, mark_period, .. }, mut forwards, .. } = reading;
    let imuxsock = shared.loaded("imuxsock");
    let immark = shared.loaded("immark");
    inputs.kernel_log = shared.loaded("imklog");
    let SharedSettings { privileges, metrics, max_message_size, .. } = shared;
    if imuxsock {
        if let Some(p) = unix_default {
            inputs.unix_sockets.insert(0, p);
        }
    }
    // (Not said again when an action line was refused: that line says why.)
    if forwards.is_empty() && !text.has_errors() {
        text.error(&Location { file: Arc::from("config"), line: 0 }, "no :omgssapi: action: nothing would be forwarded");
    }
    for f in forwards.iter().flat_map(|f| std::iter::once(f).chain(&f.backups)) {
        if let Schedule::Doubling { base, max } = f.retry {
            if base > max {
                text.error(&f.location, "backoff base is larger than the backoff maximum");
            }
        }
        if f.identity.keytab.is_some() && f.identity.principal.is_none() {
            text.warn(
                &f.location,
                "$GssForwardKeytab without $GssForwardPrincipal: MIT takes the keytab's first entry as the client principal",
            );
        }
    }
    // The queue is opened before privileges are dropped; its directory and
    // files may belong to the user they are dropped to.
    let drop_to = privileges.user.as_ref().map(|u| u.uid);
    for f in &mut forwards {
        f.queue.also_owned_by = drop_to;
    }
    let mark_period = immark.then_some(mark_period);
    ShipperConfig { forwards, inputs, max_message_size, privileges, metrics, mark_period }
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

pub fn load(path: &Path, default_work_dir: &Path) -> (ShipperConfig, ConfigText) {
    load_for(path, default_work_dir, None)
}

/// [`load`], with `collector` (HOST:PORT) standing for the placeholder target.
pub fn load_for(path: &Path, default_work_dir: &Path, collector: Option<&str>) -> (ShipperConfig, ConfigText) {
    let mut text = syslog::config::read_file(path);
    let config = build_for(&mut text, default_work_dir, collector);
    (config, text)
}

/// [`load`], and for `--check-config` also whether each action's Kerberos
/// credentials can be obtained: a ticket for the collector's service from
/// the KDC, as the action's first handshake would get it (no connection to
/// the collector is made). A failure is an error at the action's line.
pub fn load_checked(path: &Path, default_work_dir: &Path, collector: Option<&str>, check_credentials: bool) -> (ShipperConfig, ConfigText) {
    let (config, mut text) = load_for(path, default_work_dir, collector);
    if check_credentials && !text.has_errors() {
        for f in config.forwards.iter().flat_map(|f| std::iter::once(f).chain(&f.backups)) {
            // MIT only says "no credentials" for a keytab it cannot open.
            let keytab = f.identity.keytab.as_deref().and_then(|k| k.strip_prefix("FILE:")).map(std::path::PathBuf::from);
            if let Some(path) = keytab.or_else(|| daemon::privileges::keytab_file("KRB5_CLIENT_KTNAME", None)) {
                if let Err(e) = std::fs::File::open(&path) {
                    let ids = daemon::os::ids();
                    text.error(
                        &f.location,
                        format!(
                            "the client keytab {} cannot be read as uid {} gid {} ({e}): make it readable by that group \
                             (chgrp GROUP FILE; chmod 0640 FILE)",
                            path.display(),
                            ids.uids[1],
                            ids.gids[1]
                        ),
                    );
                    continue;
                }
            }
            let target = format!("{}@{}", f.service, f.target.host);
            if let Err(e) = gsswire::session::obtain_ticket(&f.identity, &target) {
                let who = f.identity.principal.as_deref().unwrap_or("the default principal");
                text.error(&f.location, format!("cannot obtain Kerberos credentials as {who} for {target}: {e}"));
            }
        }
    }
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
    fn the_kernel_log_is_read_and_the_journal_input_says_where_its_messages_come_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(&path, "$ModLoad imklog\n$ModLoad imjournal\n*.* :omgssapi:collector:515\n").unwrap();
        let (_, text) = load(&path, dir.path());
        let said = format!("{:?}", text.problems);
        assert!(!text.has_errors(), "{said}");
        assert!(!said.contains("$ModLoad imklog:"), "the shipper reads the kernel log as imklog does: {said}");
        assert!(said.contains("$ModLoad imjournal: the shipper does not read the journal"), "{said}");
        assert!(said.contains("ForwardToSyslog=yes") && said.contains("gsslog-shipper-kmsg.socket"), "{said}");
        let (c, _) = load(&path, dir.path());
        assert!(c.inputs.kernel_log && !c.inputs.permit_non_kernel_facility);
        std::fs::write(&path, "$KLogPermitNonKernelFacility on\n*.* :omgssapi:collector:515\n").unwrap();
        let (c, text) = load(&path, dir.path());
        assert!(text.problems.is_empty(), "{:?}", text.problems);
        assert!(!c.inputs.kernel_log && c.inputs.permit_non_kernel_facility);
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
    fn client_principal_and_keytab() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write("$GssForwardPrincipal host/n1.test@GSSLOG.TEST\n$GssForwardKeytab /etc/gsslog/n1.keytab\n*.* :omgssapi:c:515\n");
        let (c, text) = load(&path, dir.path());
        assert!(text.problems.is_empty(), "{:?}", text.problems);
        let expected = ClientIdentity {
            principal: Some("host/n1.test@GSSLOG.TEST".into()),
            keytab: Some("FILE:/etc/gsslog/n1.keytab".into()),
        };
        assert_eq!(c.forwards[0].identity, expected);

        write("*.* :omgssapi:c:515\n");
        let (c, _) = load(&path, dir.path());
        assert_eq!(c.forwards[0].identity, ClientIdentity::default(), "unset: the environment decides, as before");

        write("$GssForwardKeytab relative.keytab\n$GssForwardPrincipal\n*.* :omgssapi:c:515\n");
        let (_, text) = load(&path, dir.path());
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        let f = path.display().to_string();
        assert!(p.contains(&format!("{f}:1: $GssForwardKeytab: 'relative.keytab' is not an absolute path")), "{p:?}");
        assert!(p.iter().any(|m| m.starts_with(&format!("{f}:2: $GssForwardPrincipal: an empty principal"))), "{p:?}");

        write("$GssForwardKeytab FILE:/k.keytab\n*.* :omgssapi:c:515\n");
        let (_, text) = load(&path, dir.path());
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert!(p.iter().any(|m| m.contains(":2: warning: $GssForwardKeytab without $GssForwardPrincipal")), "{p:?}");
    }

    #[test]
    fn the_placeholder_collector_is_given_by_collector_or_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("omgssapi.conf");
        std::fs::write(&path, "*.*:omgssapi:<server_name>:<port>\n*.*:omgssapi:(z9)<server_name>:<port>;RSYSLOG_ForwardFormat\n").unwrap();
        let (_, text) = load(&path, dir.path());
        let p: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains(":1: the collector is the packaged placeholder <server_name>:<port>") && p[0].contains("/etc/default/gsslog-shipper"), "{p:?}");
        let (c, text) = load_for(&path, dir.path(), Some("collector.grid.example:1515"));
        assert!(text.problems.is_empty(), "{:?}", text.problems);
        assert_eq!((c.forwards[0].target.host.as_str(), c.forwards[0].target.port), ("collector.grid.example", 1515));
        assert_eq!(c.forwards[1].target.zlib_level, Some(9), "the options around the placeholder stay");
        // A target of its own is never replaced.
        std::fs::write(&path, "*.*:omgssapi:mine.example:515\n").unwrap();
        let (c, _) = load_for(&path, dir.path(), Some("collector.grid.example:1515"));
        assert_eq!(c.forwards[0].target.host, "mine.example");
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

    fn load_text(conf: &str) -> (ShipperConfig, ConfigText) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(&path, conf).unwrap();
        load(&path, dir.path())
    }

    #[test]
    fn exec_only_when_previous_is_suspended_makes_backups_of_the_action_above() {
        let (c, text) = load_text(
            "$ActionQueueFileName fwd\n*.* :omgssapi:primary:515\n\
             $ActionExecOnlyWhenPreviousIsSuspended on\n& :omgssapi:backup1:516\n*.* :omgssapi:backup2:517\n\
             $ActionExecOnlyWhenPreviousIsSuspended off\nauth.* :omgssapi:audit:518\n",
        );
        assert!(!text.has_errors(), "{:?}", text.problems);
        let hosts = |f: &ForwardConfig| f.backups.iter().map(|b| b.target.host.clone()).collect::<Vec<_>>();
        assert_eq!(c.forwards.len(), 2, "two actions with a queue each: primary and audit");
        assert_eq!(c.forwards[0].target.host, "primary");
        assert_eq!(c.forwards[0].queue.name, "fwd");
        assert_eq!(hosts(&c.forwards[0]), ["backup1", "backup2"], "backups in order, sharing the primary's queue");
        assert_eq!(c.forwards[1].target.host, "audit");
        assert!(c.forwards[1].backups.is_empty(), "off again: audit is an action of its own");
    }

    #[test]
    fn a_backup_without_an_action_above_or_with_other_framing_is_an_error() {
        let (_, text) = load_text("$ActionExecOnlyWhenPreviousIsSuspended on\n*.* :omgssapi:backup:516\n");
        assert!(text.problems.iter().any(|p| p.message.contains("no :omgssapi: action stands above")), "{:?}", text.problems);
        let (_, text) = load_text("*.* :omgssapi:primary\n$ActionExecOnlyWhenPreviousIsSuspended on\n& :omgssapi:(z9)backup\n");
        assert!(text.problems.iter().any(|p| p.message.contains("same template and (zN,o) options")), "{:?}", text.problems);
    }

    #[test]
    fn resume_interval_has_rsyslogs_meaning_and_the_last_retry_setting_wins() {
        let (c, text) = load_text(
            "*.* :omgssapi:a\n$ActionResumeInterval 10\n*.* :omgssapi:b\n\
             $ActionGSSForwardBackoffMax 8000\n*.* :omgssapi:c\n",
        );
        assert!(!text.has_errors(), "{:?}", text.problems);
        assert!(text.problems.is_empty(), "no warning any more: {:?}", text.problems);
        let retries: Vec<Schedule> = c.forwards.iter().map(|f| f.retry).collect();
        assert_eq!(
            retries,
            [
                Schedule::DEFAULT,
                Schedule::ResumeInterval(Duration::from_secs(10)),
                Schedule::Doubling { base: Duration::from_secs(1), max: Duration::from_secs(8) },
            ]
        );
        let (_, text) = load_text("$ActionResumeInterval 0\n*.* :omgssapi:a\n");
        assert!(text.has_errors(), "a zero interval would retry in a tight loop");
    }

    #[test]
    fn acknowledged_mode_is_off_unless_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(
            &path,
            "*.* :omgssapi:a:515\n$ActionGSSForwardAcknowledged auto\n*.* :omgssapi:b:515\n\
             $ActionGSSForwardAcknowledged ON\n*.* :omgssapi:c:515\n$ActionGSSForwardAcknowledged maybe\n",
        )
        .unwrap();
        let (c, text) = load(&path, dir.path());
        let modes: Vec<Acknowledged> = c.forwards.iter().map(|f| f.acknowledged).collect();
        assert_eq!(modes, [Acknowledged::Off, Acknowledged::Auto, Acknowledged::On]);
        assert!(text.has_errors());
        let problems = format!("{:?}", text.problems);
        assert!(problems.contains("'maybe' must be off, auto or on"), "{problems}");
    }
}

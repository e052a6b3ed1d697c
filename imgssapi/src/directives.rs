//! The collector's directives: one table ([`TABLE`], with the modules it
//! knows, [`MODULES`]), from which its config reader, `--check-config`, its
//! man page and `docs/directives.md` all come. The directives both daemons
//! read are in [`daemon::shared_directives`].

use std::path::PathBuf;

use daemon::directive_table::{
    kind, DefaultValue, Entry, Ignore, Kind, Module, Modules, Origin, Scope, Set, Side, Table,
};
use daemon::directives::Directive;
use daemon::privileges;
use daemon::templates::TemplateRegistry;

use crate::config::{OmfileParams, Settings, MIN_MEMORY_LIMIT};
use crate::identity::{HostMap, PrincipalPattern};
use crate::senders::expected::ExpectedSenders;

/// The modules `$ModLoad` may name on the collector; any other is a warning.
pub static MODULES: Modules = Modules {
    known: &[
        Module {
            name: "imgssapi",
            doc: "the GSS listener ($InputGSSServerRun)",
            origin: Origin::Rsyslog(""),
        },
        Module {
            name: "imtcp",
            doc: "plain TCP listeners ($InputTCPServerRun)",
            origin: Origin::Rsyslog(""),
        },
        Module {
            name: "impstats",
            doc: "statistics lines in the collector's own log ($PStatInterval)",
            origin: Origin::Rsyslog(""),
        },
    ],
    other: Some("ignored: this collector provides imgssapi (and plain imtcp) only"),
};

/// A prefix length of 1 to `max` bits.
fn prefix_bits(d: &mut Directive, max: u8) -> Option<u8> {
    match d.value.trim().parse::<u8>() {
        Ok(bits) if (1..=max).contains(&bits) => Some(bits),
        _ => {
            d.error(format!(
                "'{}' is not a prefix length of 1 to {max} bits",
                d.value
            ));
            None
        }
    }
}

const IPV4_BITS: Kind<u8> = Kind {
    syntax: "BITS",
    parse: |d| prefix_bits(d, 32),
};
const IPV6_BITS: Kind<u8> = Kind {
    syntax: "BITS",
    parse: |d| prefix_bits(d, 128),
};
const MEMORY: Kind<u64> = Kind {
    syntax: "SIZE",
    parse: |d| d.size(MIN_MEMORY_LIMIT),
};

fn service_name(s: &mut Settings, name: String, d: &mut Directive, _: &TemplateRegistry) {
    match name.trim() {
        "" => d.error("an empty service name"),
        name => s.gss.service_name = name.to_string(),
    }
}

fn allowed_principals(s: &mut Settings, list: String, d: &mut Directive, _: &TemplateRegistry) {
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // The packaged config ships `host/*@<REALM>`: the service must not
        // start until the site has named its realm.
        if entry
            .rsplit_once('@')
            .is_some_and(|(_, realm)| realm.starts_with('<') && realm.ends_with('>'))
        {
            d.error(format!(
                "'{entry}': replace the placeholder after '@' with your Kerberos realm"
            ));
            continue;
        }
        match PrincipalPattern::parse(entry) {
            Ok(p) => s.identity.allowed_principals.push(p),
            Err(why) => d.error(why),
        }
    }
}

fn host_map(s: &mut Settings, path: PathBuf, d: &mut Directive, _: &TemplateRegistry) {
    match HostMap::load(&path) {
        Ok(map) => {
            s.identity.host_map = Some(map);
            s.host_map_line = Some(d.location.clone());
        }
        Err(why) => d.error(why),
    }
}

fn default_template(
    s: &mut Settings,
    name: String,
    d: &mut Directive,
    templates: &TemplateRegistry,
) {
    if templates.knows(&name) {
        s.default_template = name;
    } else {
        d.error(format!("no template named '{name}' is defined above"));
    }
}

fn cache_size(s: &mut Settings, n: usize, d: &mut Directive, _: &TemplateRegistry) {
    if n > 25000 {
        d.warn(format!("$DynaFileCacheSize {n} is very large"));
    }
    s.files.cache_size = n.max(1);
}

fn expected_senders(s: &mut Settings, path: PathBuf, d: &mut Directive, _: &TemplateRegistry) {
    match ExpectedSenders::load(&path) {
        Ok(list) => s.senders.expected = Some(list),
        Err(e) => d.error(e),
    }
}

/// `$AllowedSender KIND, net[/bits], ...`
fn allowed_sender(s: &mut Settings, value: String, d: &mut Directive, _: &TemplateRegistry) {
    let mut parts = value.split(',').map(str::trim);
    let kind = parts.next().unwrap_or("").to_ascii_uppercase();
    let list = match kind.as_str() {
        "GSS" => &mut s.allowed.gss,
        "TCP" => &mut s.allowed.tcp,
        "UDP" => {
            d.warn("$AllowedSender UDP ignored: the collector has no UDP input");
            return;
        }
        other => {
            d.error(format!("unknown kind '{other}' (expected GSS or TCP)"));
            return;
        }
    };
    for entry in parts.filter(|e| !e.is_empty()) {
        let (addr, bits) = entry.split_once('/').unwrap_or((entry, ""));
        let Some(ip) = daemon::directives::parse_ip(addr) else {
            d.error(format!(
                "'{entry}' is not an address (host names are not supported; use address/bits)"
            ));
            continue;
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = if bits.is_empty() {
            max
        } else {
            bits.parse().unwrap_or(255)
        };
        if bits > max {
            d.error(format!("bad prefix length in '{entry}'"));
            continue;
        }
        list.push((ip, bits));
    }
}

type E = Entry<Settings, TemplateRegistry>;

const fn rsyslog(
    name: &'static str,
    value: &'static dyn daemon::directive_table::Setter<Settings, TemplateRegistry>,
    default: DefaultValue,
    scope: Scope,
    doc: &'static str,
) -> E {
    Entry {
        name,
        value,
        default,
        side: Side::Collector,
        scope,
        doc,
        origin: Origin::Rsyslog(""),
    }
}

const fn extension(
    name: &'static str,
    value: &'static dyn daemon::directive_table::Setter<Settings, TemplateRegistry>,
    default: DefaultValue,
    scope: Scope,
    doc: &'static str,
) -> E {
    Entry {
        name,
        value,
        default,
        side: Side::Collector,
        scope,
        doc,
        origin: Origin::Extension,
    }
}

const fn ignored(name: &'static str, doc: &'static str, why: &'static str) -> E {
    Entry {
        name,
        value: &Ignore,
        default: DefaultValue::Unset("-"),
        side: Side::Collector,
        scope: Scope::Global,
        doc,
        origin: Origin::Ignored(why),
    }
}

/// Every directive the collector reads besides the shared ones, in the
/// order `docs/directives.md` lists them.
pub static TABLE: Table<Settings, TemplateRegistry> = Table {
    entries: &[
        // Listeners.
        rsyslog(
            "InputGSSServerRun",
            &Set { kind: kind::PORT, to: |s: &mut Settings, port, d, _| s.gss_port = Some((port, d.location.clone())) },
            DefaultValue::Unset("no GSS listener"),
            Scope::Input,
            "starts the GSS listener on PORT (0: any free port, see $InputGSSListenPortFileName)",
        ),
        rsyslog(
            "InputTCPServerRun",
            &Set { kind: kind::PORT, to: |s: &mut Settings, port, _, _| s.tcp_port = Some(port) },
            DefaultValue::Unset("no plain TCP listener"),
            Scope::Input,
            "starts a plain (imtcp) TCP listener on PORT",
        ),
        rsyslog(
            "InputGSSServerServiceName",
            &Set { kind: kind::TEXT, to: service_name },
            DefaultValue::Is("host"),
            Scope::Input,
            "the service of the acceptor's principal (SERVICE/fqdn@REALM in the keytab)",
        ),
        rsyslog(
            "InputGSSServerPermitPlainTCP",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.gss.permit_plain_tcp = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "also accept unauthenticated plain syslog on the GSS port",
        ),
        rsyslog(
            "InputGSSServerKeepAlive",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.keepalive = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "TCP keepalive on accepted connections",
        ),
        rsyslog(
            "InputGSSListenPortFileName",
            &Set { kind: kind::PATH, to: |s: &mut Settings, path, _, _| s.port_file = Some(path) },
            DefaultValue::Unset("none"),
            Scope::Input,
            "writes the bound port to PATH (also with port 0)",
        ),
        rsyslog(
            "InputGSSServerTokenIOTimeout",
            &Set { kind: kind::SECONDS_OR_NONE, to: |s: &mut Settings, t, _, _| s.token_timeout = t },
            DefaultValue::Is("10"),
            Scope::Input,
            "a started token must arrive whole within this time (0: no limit)",
        ),
        Entry {
            name: "InputGSSServerMaxSessions",
            value: &Set { kind: kind::POSITIVE, to: |s: &mut Settings, n, _, _| s.sessions.total = n },
            default: DefaultValue::Is("200"),
            side: Side::Collector,
            scope: Scope::Input,
            doc: "established sessions (authenticated GSS, or plain TCP that has sent data) over every listener",
            origin: Origin::Rsyslog("honoured here; rsyslog before 8.2604 ignored it"),
        },
        extension(
            "InputGSSServerBindAddress",
            &Set { kind: kind::IP, to: |s: &mut Settings, ip, _, _| s.bind = ip },
            DefaultValue::Unset("all addresses (IPv4 and IPv6)"),
            Scope::Input,
            "listen on one address only",
        ),
        extension(
            "InputGSSServerFrameByteOrder",
            &Set { kind: kind::parsed("auto|le|be"), to: |s: &mut Settings, order, _, _| s.gss.byte_order = order },
            DefaultValue::Is("auto"),
            Scope::Input,
            "the byte order of the 4-byte token length (auto: detected per session)",
        ),
        extension(
            "InputGSSServerRequireEncryption",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.gss.require_encryption = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "refuse integrity-only tokens (the session is closed, with a log line)",
        ),
        extension(
            "InputGSSServerAcknowledge",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.gss.acknowledge = on },
            DefaultValue::Is("on"),
            Scope::Input,
            "answer a shipper that asks for acknowledgements (a stock client never asks)",
        ),
        extension(
            "InputGSSServerAckAfterFsync",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.ack_after_fsync = on },
            DefaultValue::Is("off"),
            Scope::Global,
            "fdatasync every file written in an output burst before acknowledging the burst's batches",
        ),
        extension(
            "InputGSSServerDrainTimeout",
            &Set { kind: kind::SECONDS, to: |s: &mut Settings, t, _, _| s.drain_timeout = t },
            DefaultValue::Is("10"),
            Scope::Global,
            "how long an orderly stop waits for each session to end",
        ),
        // The front door: limits that protect the collector from unauthenticated peers.
        extension(
            "InputGSSServerMaxHandshakes",
            &Set {
                kind: kind::POSITIVE,
                to: |s: &mut Settings, n, d, _| {
                    s.front_door.max_handshakes = n;
                    s.front_door_lines.counts = Some(d.location.clone());
                },
            },
            DefaultValue::Is("256"),
            Scope::Input,
            "connections not yet authenticated (or plain ones not yet speaking), overall",
        ),
        extension(
            "InputGSSServerMaxHandshakesPerHost",
            &Set {
                kind: kind::POSITIVE,
                to: |s: &mut Settings, n, d, _| {
                    s.front_door.max_handshakes_per_host = n;
                    s.front_door_lines.counts = Some(d.location.clone());
                },
            },
            DefaultValue::Is("16"),
            Scope::Input,
            "the same, per source IPv4 address or IPv6 /64",
        ),
        extension(
            "InputGSSServerMaxHandshakesPerSubnet",
            &Set {
                kind: kind::POSITIVE,
                to: |s: &mut Settings, n, d, _| {
                    s.front_door.max_handshakes_per_subnet = n;
                    s.front_door_lines.counts = Some(d.location.clone());
                },
            },
            DefaultValue::Is("128"),
            Scope::Input,
            "the same, per IPv4 /24 or IPv6 /48",
        ),
        extension(
            "InputGSSServerSubnetPrefixIPv4",
            &Set { kind: IPV4_BITS, to: |s: &mut Settings, bits, _, _| s.front_door.prefixes.ipv4_subnet = bits },
            DefaultValue::Is("24"),
            Scope::Input,
            "the IPv4 subnet of the caps",
        ),
        extension(
            "InputGSSServerHostPrefixIPv6",
            &Set { kind: IPV6_BITS, to: |s: &mut Settings, bits, _, _| s.front_door.prefixes.ipv6_host = bits },
            DefaultValue::Is("64"),
            Scope::Input,
            "the IPv6 host of the caps (front door and sessions)",
        ),
        extension(
            "InputGSSServerSubnetPrefixIPv6",
            &Set { kind: IPV6_BITS, to: |s: &mut Settings, bits, _, _| s.front_door.prefixes.ipv6_subnet = bits },
            DefaultValue::Is("48"),
            Scope::Input,
            "the IPv6 subnet of the caps",
        ),
        extension(
            "InputGSSServerFirstByteTimeout",
            &Set {
                kind: kind::POSITIVE_SECONDS,
                to: |s: &mut Settings, t, d, _| {
                    s.front_door.first_byte_timeout = t;
                    s.front_door_lines.timeouts = Some(d.location.clone());
                },
            },
            DefaultValue::Is("5"),
            Scope::Input,
            "from accept to the first byte",
        ),
        extension(
            "InputGSSServerHandshakeTimeout",
            &Set {
                kind: kind::POSITIVE_SECONDS,
                to: |s: &mut Settings, t, d, _| {
                    s.front_door.handshake_timeout = t;
                    s.front_door_lines.timeouts = Some(d.location.clone());
                },
            },
            DefaultValue::Is("10"),
            Scope::Input,
            "from accept to an authenticated GSS session",
        ),
        extension(
            "InputGSSServerMaxSessionsPerPrincipal",
            &Set { kind: kind::POSITIVE, to: |s: &mut Settings, n, _, _| s.sessions.per_sender = n },
            DefaultValue::Is("8"),
            Scope::Input,
            "established sessions of one principal (plain TCP: of one host); one more replaces its longest-idle session",
        ),
        extension(
            "InputGSSServerMaxSessionsPerHost",
            &Set { kind: kind::POSITIVE, to: |s: &mut Settings, n, _, _| s.sessions.per_host = n },
            DefaultValue::Is("64"),
            Scope::Input,
            "established sessions from one IPv4 address or IPv6 /64",
        ),
        extension(
            "InputGSSServerMemoryLimit",
            &Set { kind: MEMORY, to: |s: &mut Settings, n, _, _| s.memory_limit = n },
            DefaultValue::Is("512m"),
            Scope::Global,
            "the byte budget of everything in flight (tokens being read, render jobs, batches not yet written); at least 4m",
        ),
        extension(
            "InputGSSServerRateLimitInterval",
            &Set { kind: kind::SECONDS_OR_NONE, to: |s: &mut Settings, t, _, _| s.rate_limit.interval = t },
            DefaultValue::Is("0"),
            Scope::Input,
            "a session's rate limit: over ...Burst messages in an interval, it is not read until the next (0: off)",
        ),
        extension(
            "InputGSSServerRateLimitBurst",
            &Set { kind: kind::POSITIVE, to: |s: &mut Settings, n, _, _| s.rate_limit.burst = n as u64 },
            DefaultValue::Is("10000"),
            Scope::Input,
            "messages per rate-limit interval",
        ),
        // Identity.
        extension(
            "InputGSSServerAllowedPrincipal",
            &Set { kind: Kind { syntax: "PATTERN[, PATTERN...]", parse: |d| Some(d.value.to_string()) }, to: allowed_principals },
            DefaultValue::Unset("every principal the keytab's service accepts, as rsyslog (--check-config warns)"),
            Scope::Input,
            "repeatable; NAME@REALM patterns, * in NAME matching any run of characters; a session whose principal matches none is refused",
        ),
        extension(
            "InputGSSServerAllowAnonymous",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.identity.allow_anonymous = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "accept anonymous principals",
        ),
        extension(
            "InputGSSServerHostPrincipalBinding",
            &Set { kind: kind::parsed("off|refuse|mark"), to: |s: &mut Settings, mode, _, _| s.identity.host_binding = mode },
            DefaultValue::Is("off"),
            Scope::Input,
            "a host/NAME@REALM principal may only send from NAME's addresses: refuse a mismatch, or mark it (gss-host-binding)",
        ),
        extension(
            "InputGSSServerHostMapFile",
            &Set { kind: kind::PATH, to: host_map },
            DefaultValue::Unset("none (DNS only)"),
            Scope::Input,
            "NAME ADDRESS [ADDRESS...] per line: a name in the map is checked against its addresses only, never DNS",
        ),
        extension(
            "InputGSSServerExpireSessions",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.identity.expire_sessions = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "end a session when its GSS context expires",
        ),
        rsyslog(
            "AllowedSender",
            &Set { kind: Kind { syntax: "GSS|TCP, ADDR[/BITS], ...", parse: |d| Some(d.value.to_string()) }, to: allowed_sender },
            DefaultValue::Unset("every address"),
            Scope::Input,
            "the addresses a GSS or plain TCP listener accepts (UDP: a warning, there is no UDP input)",
        ),
        Entry {
            name: "net.enableDNS",
            value: &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.dns = on },
            default: DefaultValue::Is("on"),
            side: Side::Collector,
            scope: Scope::Global,
            doc: "reverse DNS for fromhost (global(net.enableDNS=\"off\"), or -x)",
            origin: Origin::Rsyslog("a global() parameter"),
        },
        // Files.
        rsyslog(
            "ActionFileDefaultTemplate",
            &Set { kind: Kind { syntax: "TEMPLATE", parse: |d| Some(d.value.to_string()) }, to: default_template },
            DefaultValue::Is("RSYSLOG_FileFormat"),
            Scope::Action,
            "the template of file actions without ;Template (defined above the line)",
        ),
        Entry {
            name: "DynaFileCacheSize",
            value: &Set { kind: kind::COUNT, to: cache_size },
            default: DefaultValue::Is("2500"),
            side: Side::Collector,
            scope: Scope::Action,
            doc: "open files each dynamic-file action keeps",
            origin: Origin::Rsyslog("rsyslog's default is 10; 2500 here, so that 700 hosts × 3 files never thrash"),
        },
        rsyslog(
            "CreateDirs",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.files.create_dirs = on },
            DefaultValue::Is("on"),
            Scope::Action,
            "create missing directories of a file's path",
        ),
        rsyslog(
            "DirCreateMode",
            &Set { kind: kind::MODE, to: |s: &mut Settings, mode, _, _| s.files.dir_mode = mode },
            DefaultValue::Is("0700"),
            Scope::Action,
            "the mode of directories created",
        ),
        rsyslog(
            "FileCreateMode",
            &Set { kind: kind::MODE, to: |s: &mut Settings, mode, _, _| s.files.file_mode = mode },
            DefaultValue::Is("0644"),
            Scope::Action,
            "the mode of files created",
        ),
        rsyslog(
            "Umask",
            &Set { kind: kind::MODE, to: |s: &mut Settings, mode, _, _| s.umask = Some(mode) },
            DefaultValue::Unset("the process's"),
            Scope::Global,
            "the process's umask, set at start",
        ),
        rsyslog(
            "FileOwner",
            &Set { kind: privileges::USER_ID, to: |s: &mut Settings, id, _, _| s.files.file_owner = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the owner of files the collector creates (not of existing ones)",
        ),
        rsyslog(
            "FileOwnerNum",
            &Set { kind: privileges::NUMERIC_ID, to: |s: &mut Settings, id, _, _| s.files.file_owner = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the same, by number",
        ),
        rsyslog(
            "FileGroup",
            &Set { kind: privileges::GROUP_ID, to: |s: &mut Settings, id, _, _| s.files.file_group = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the group of files the collector creates",
        ),
        rsyslog(
            "FileGroupNum",
            &Set { kind: privileges::NUMERIC_ID, to: |s: &mut Settings, id, _, _| s.files.file_group = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the same, by number",
        ),
        rsyslog(
            "DirOwner",
            &Set { kind: privileges::USER_ID, to: |s: &mut Settings, id, _, _| s.files.dir_owner = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the owner of directories the collector creates",
        ),
        rsyslog(
            "DirOwnerNum",
            &Set { kind: privileges::NUMERIC_ID, to: |s: &mut Settings, id, _, _| s.files.dir_owner = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the same, by number",
        ),
        rsyslog(
            "DirGroup",
            &Set { kind: privileges::GROUP_ID, to: |s: &mut Settings, id, _, _| s.files.dir_group = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the group of directories the collector creates",
        ),
        rsyslog(
            "DirGroupNum",
            &Set { kind: privileges::NUMERIC_ID, to: |s: &mut Settings, id, _, _| s.files.dir_group = Some(id) },
            DefaultValue::Unset("the process's"),
            Scope::Action,
            "the same, by number",
        ),
        // Silent nodes.
        Entry {
            name: "WorkDirectory",
            value: &Set { kind: kind::PATH, to: |s: &mut Settings, dir, _, _| s.senders.work_directory = Some(dir) },
            default: DefaultValue::Unset("none: the senders' table is kept in memory only"),
            side: Side::Collector,
            scope: Scope::Global,
            doc: "where the senders' last-seen table is kept across restarts (DIR/imgssapi-senders.state)",
            origin: Origin::Rsyslog("here only for the senders' table"),
        },
        extension(
            "InputGSSServerExpectedSenders",
            &Set { kind: kind::PATH, to: expected_senders },
            DefaultValue::Unset("none: no sender is judged"),
            Scope::Global,
            "the senders expected to send: an address, ADDRESS/BITS or principal per line; read again on SIGHUP",
        ),
        extension(
            "InputGSSServerSilentAfter",
            &Set { kind: kind::POSITIVE_SECONDS, to: |s: &mut Settings, t, _, _| s.senders.silent_after = Some(t) },
            DefaultValue::Unset("3 × $MarkMessagePeriod if set, else 600"),
            Scope::Global,
            "an expected sender not heard from (message or heartbeat) for longer is silent",
        ),
        Entry {
            name: "MarkMessagePeriod",
            value: &Set { kind: kind::POSITIVE_SECONDS, to: |s: &mut Settings, t, _, _| s.senders.mark_period = Some(t) },
            default: DefaultValue::Unset("none"),
            side: Side::Collector,
            scope: Scope::Global,
            doc: "the nodes' mark period (immark), stated once for the grid",
            origin: Origin::Rsyslog("on the collector it only sets the default of $InputGSSServerSilentAfter"),
        },
        // rsyslog's, changing nothing here.
        ignored("RepeatedMsgReduction", "fold repeated messages into one line", "every message is written as it came"),
        ignored("ActionFileEnableSync", "sync files after writing", "see $InputGSSServerAckAfterFsync for synced files"),
        ignored("OMFileFlushOnTXEnd", "flush files at the end of a transaction", "files are flushed at the end of each output burst"),
        ignored("OMFileIOBufferSize", "the file writer's buffer size", "the collector sizes its own buffers"),
        ignored("PreserveFQDN", "keep the domain in local host names", "the collector names senders by their messages and DNS"),
        ignored("FailOnChownFailure", "fail an action whose chown fails", "a failed chown always fails the write, rsyslog's default"),
        ignored("MainMsgQueueSize", "the main queue's size", "the collector has no main queue: $InputGSSServerMemoryLimit bounds what is in flight"),
        ignored("MainMsgQueueType", "the main queue's type", "the collector has no main queue"),
        ignored("SystemLogRateLimitInterval", "imuxsock's rate limit", "the collector has no local socket"),
        ignored("SystemLogRateLimitBurst", "imuxsock's rate limit", "the collector has no local socket"),
        ignored("EscapeControlCharactersOnReceive", "escape control characters", "always on here, rsyslog's default"),
        ignored("DropTrailingLFOnReception", "drop a message's trailing LF", "always on here, rsyslog's default"),
        ignored("MaxOpenFiles", "the open-file limit", "the daemon raises its open-file limit to the hard limit at start"),
        ignored("ResetConfigVariables", "reset the directives above to their defaults", "not supported: set each directive again"),
    ],
};

const fn omfile(
    name: &'static str,
    value: &'static dyn daemon::directive_table::Setter<OmfileParams, TemplateRegistry>,
    default: &'static str,
    doc: &'static str,
) -> Entry<OmfileParams, TemplateRegistry> {
    Entry {
        name,
        value,
        default: DefaultValue::Unset(default),
        side: Side::Collector,
        scope: Scope::Action,
        doc,
        origin: Origin::Rsyslog(""),
    }
}

/// The parameters of RainerScript's `action(type="omfile" ...)`; the file
/// settings default to the legacy directives above the line, as in rsyslog.
pub static OMFILE: Table<OmfileParams, TemplateRegistry> = Table {
    entries: &[
        omfile(
            "file",
            &Set {
                kind: kind::TEXT,
                to: |p: &mut OmfileParams, v, _, _| p.file = Some(v),
            },
            "one of file and dynaFile",
            "the file to write, an absolute path",
        ),
        omfile(
            "dynaFile",
            &Set {
                kind: kind::TEXT,
                to: |p: &mut OmfileParams, v, _, _| p.dyna = Some(v),
            },
            "one of file and dynaFile",
            "the template (defined above) that names each message's file",
        ),
        omfile(
            "template",
            &Set {
                kind: kind::TEXT,
                to: |p: &mut OmfileParams, v, _, _| p.template = Some(v),
            },
            "$ActionFileDefaultTemplate",
            "the template of each line",
        ),
        omfile(
            "dirCreateMode",
            &Set {
                kind: kind::MODE,
                to: |p: &mut OmfileParams, m, _, _| p.files.dir_mode = m,
            },
            "$DirCreateMode",
            "the mode of directories created",
        ),
        omfile(
            "fileCreateMode",
            &Set {
                kind: kind::MODE,
                to: |p: &mut OmfileParams, m, _, _| p.files.file_mode = m,
            },
            "$FileCreateMode",
            "the mode of files created",
        ),
        omfile(
            "createDirs",
            &Set {
                kind: kind::BOOL,
                to: |p: &mut OmfileParams, on, _, _| p.files.create_dirs = on,
            },
            "$CreateDirs",
            "create missing directories of a file's path",
        ),
        omfile(
            "dynaFileCacheSize",
            &Set {
                kind: kind::COUNT,
                to: |p: &mut OmfileParams, n, _, _| p.files.cache_size = n.max(1),
            },
            "$DynaFileCacheSize",
            "open files this dynamic-file action keeps",
        ),
        Entry {
            name: "name",
            value: &Set {
                kind: kind::TEXT,
                to: |_: &mut OmfileParams, _, _, _| {},
            },
            default: DefaultValue::Unset("none"),
            side: Side::Collector,
            scope: Scope::Action,
            doc: "the action's name",
            origin: Origin::Rsyslog("accepted; no message or statistic names actions here"),
        },
    ],
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use syslog::config::{ConfigText, Location};

    use super::*;

    fn read(settings: &mut Settings, name: &str, value: &str) -> Vec<String> {
        let mut text = ConfigText::default();
        let loc = Location {
            file: Arc::from("c.conf"),
            line: 7,
        };
        let lower = name.to_ascii_lowercase();
        let d = &mut Directive::new(&lower, name, value, &loc, &mut text);
        daemon::config::read_directive(
            d,
            &TABLE,
            settings,
            &TemplateRegistry::default(),
            |s| &mut s.shared,
            &MODULES,
        );
        text.problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_table_has_no_defects_and_no_name_of_the_shared_table() {
        assert_eq!(TABLE.defects(), Vec::<String>::new());
        for e in TABLE.entries {
            assert!(
                daemon::shared_directives::TABLE.find(e.name).is_none(),
                "{} is shared",
                e.name
            );
            assert_eq!(e.side, Side::Collector, "{}", e.name);
        }
    }

    #[test]
    fn each_default_in_the_table_is_what_the_settings_start_with() {
        let fresh = format!("{:?}", Settings::new());
        for e in TABLE.entries {
            if let DefaultValue::Is(value) = e.default {
                let mut s = Settings::new();
                assert_eq!(
                    read(&mut s, e.name, value),
                    Vec::<String>::new(),
                    "{}",
                    e.name
                );
                // The location a few settings keep aside, the settings are unchanged.
                s.front_door_lines = Default::default();
                assert_eq!(
                    format!("{s:?}"),
                    fresh,
                    "${} {value} is not the default",
                    e.name
                );
            }
        }
    }

    #[test]
    fn omfile_parameters_are_read_through_their_table() {
        let mut text = ConfigText::default();
        let at = Location {
            file: Arc::from("c.conf"),
            line: 9,
        };
        let params: Vec<(String, String)> = [
            ("file", "/var/log/a"),
            ("FileCreateMode", "0600"),
            ("dynafilecachesize", "0"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .into();
        let mut p = OmfileParams::default();
        assert!(OMFILE.apply_parameters(
            "action(type=\"omfile\")",
            &params,
            &mut p,
            &mut text,
            &at,
            &TemplateRegistry::default()
        ));
        assert_eq!(
            (p.file.as_deref(), p.files.file_mode, p.files.cache_size),
            (Some("/var/log/a"), 0o600, 1)
        );
        let params = vec![
            ("createdirs".to_string(), "maybe".to_string()),
            ("flush".to_string(), "on".to_string()),
        ];
        assert!(!OMFILE.apply_parameters(
            "action(type=\"omfile\")",
            &params,
            &mut p,
            &mut text,
            &at,
            &TemplateRegistry::default()
        ));
        let problems: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            [
                "c.conf:9: action(type=\"omfile\"): createdirs: 'maybe' is not on or off",
                "c.conf:9: action(type=\"omfile\"): parameter 'flush' is not supported (file, dynaFile, template, dirCreateMode, \
                 fileCreateMode, createDirs, dynaFileCacheSize, name)",
            ]
        );
        assert_eq!(OMFILE.defects(), Vec::<String>::new());
    }

    #[test]
    fn ignored_directives_warn_why_and_unknown_ones_are_errors() {
        let mut s = Settings::new();
        assert_eq!(
            read(&mut s, "RepeatedMsgReduction", "on"),
            ["c.conf:7: warning: $RepeatedMsgReduction is accepted and ignored: every message is written as it came"]
        );
        assert_eq!(read(&mut s, "ModLoad", "imfile"), ["c.conf:7: warning: $ModLoad imfile: ignored: this collector provides imgssapi (and plain imtcp) only"]);
        assert_eq!(read(&mut s, "ModLoad", "impstats"), Vec::<String>::new());
        assert!(s.shared.metrics.impstats);
        assert_eq!(
            read(&mut s, "NoSuchDirective", "1"),
            ["c.conf:7: unknown directive $nosuchdirective"]
        );
    }
}

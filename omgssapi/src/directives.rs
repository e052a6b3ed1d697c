//! The shipper's directives: one table ([`TABLE`], with the modules it
//! knows, [`MODULES`]), from which its config reader, `--check-config`, its
//! man page and `docs/directives.md` all come. The directives both daemons
//! read are in [`daemon::shared_directives`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use daemon::directive_table::{
    kind, DefaultValue, Entry, Ignore, Kind, Module, Modules, Origin, Scope, Set, Setter, Side,
    Table,
};
use daemon::directives::Directive;
use daemon::templates::TemplateRegistry;
use syslog::config::parse_size;

use crate::backoff::Schedule;
use crate::config::Settings;

/// The modules `$ModLoad` may name on the shipper; any other is accepted in silence.
pub static MODULES: Modules = Modules {
    known: &[
        Module { name: "imuxsock", doc: "the local socket ($SystemLogSocketName, /dev/log)", origin: Origin::Rsyslog("") },
        Module { name: "imudp", doc: "UDP inputs ($UDPServerRun)", origin: Origin::Rsyslog("") },
        Module { name: "imtcp", doc: "plain TCP inputs ($InputTCPServerRun)", origin: Origin::Rsyslog("") },
        Module { name: "immark", doc: "a -- MARK -- message every $MarkMessagePeriod", origin: Origin::Rsyslog("") },
        Module { name: "impstats", doc: "statistics lines in the shipper's own log ($PStatInterval)", origin: Origin::Rsyslog("") },
        Module {
            name: "imklog",
            doc: "the kernel log: /dev/kmsg, as passed by systemd (gsslog-shipper-kmsg.socket) or opened here; never under omprog",
            origin: Origin::Rsyslog(""),
        },
        Module {
            name: "imjournal",
            doc: "the journal",
            origin: Origin::Ignored(
                "the shipper does not read the journal: as the node's syslog daemon (socket activation) it gets what journald \
                 forwards to syslog.socket (ForwardToSyslog=yes), which is all but the kernel's messages: those come from \
                 /dev/kmsg (gsslog-shipper-kmsg.socket, or $ModLoad imklog); under omprog, rsyslog reads the journal",
            ),
        },
    ],
    other: None,
};

type C = TemplateRegistry;

const BATCH: Kind<usize> = Kind {
    syntax: "SIZE",
    parse: |d| match parse_size(d.value) {
        Ok(n) if (1..=120 * 1024).contains(&n) => Some(n as usize),
        _ => {
            d.error(format!(
                "'{}' must be a size from 1 to 120k (rsyslog's receive buffer is 128k)",
                d.value
            ));
            None
        }
    },
};

fn default_template(s: &mut Settings, name: String, d: &mut Directive, templates: &C) {
    if templates.knows(&name) {
        s.default_template = name;
    } else {
        d.error(format!("no template named '{name}' is defined above"));
    }
}

fn principal(s: &mut Settings, value: String, d: &mut Directive, _: &C) {
    match value.trim() {
        "" => d.error("an empty principal (leave the directive out for MIT's default)"),
        p if p.contains(char::is_whitespace) => d.error(format!("'{p}' is not a principal name")),
        p => s.identity.principal = Some(p.to_string()),
    }
}

fn keytab(s: &mut Settings, value: String, d: &mut Directive, _: &C) {
    match value.trim() {
        "" => d.error("an empty keytab path (leave the directive out for the environment's KRB5_CLIENT_KTNAME)"),
        k => {
            let path = k.strip_prefix("FILE:").unwrap_or(k);
            if !Path::new(path).is_absolute() {
                d.error(format!("'{k}' is not an absolute path"));
            } else {
                s.identity.keytab = Some(format!("FILE:{path}"));
            }
        }
    }
}

/// `$ActionQueueType`: rsyslog's disk-assisted queue (LinkedList or
/// FixedArray with a file name) and its disk queue are what this queue always
/// is, so they pass in silence; Direct (no queue) cannot be had.
fn queue_type(_: &mut Settings, value: String, d: &mut Directive, _: &C) {
    const KINDS: [&str; 3] = ["linkedlist", "fixedarray", "disk"];
    let kind = value.trim().to_ascii_lowercase();
    if kind == "direct" {
        d.warn(
            "$ActionQueueType Direct: this shipper always queues on disk (as rsyslog's Disk type)",
        );
    } else if !KINDS.contains(&kind.as_str()) {
        d.error(format!(
            "'{value}' is not a queue type (LinkedList, FixedArray, Disk or Direct)"
        ));
    }
}

fn resume_retry_count(_: &mut Settings, value: String, d: &mut Directive, _: &C) {
    match value.trim().parse::<i64>() {
        Ok(-1) => {}
        Ok(_) => d.warn("$ActionResumeRetryCount: this shipper always retries forever (-1); the value is ignored"),
        Err(_) => d.error(format!("'{value}' is not a number")),
    }
}

/// rsyslog's `off` drops what a disk-assisted queue holds in memory at an
/// orderly stop; here everything accepted is on disk already and stays.
fn save_on_shutdown(_: &mut Settings, on: bool, d: &mut Directive, _: &C) {
    if !on {
        d.warn(format!(
            "$ActionQueueSaveOnShutdown off is accepted and ignored: {SAVED_ANYWAY}"
        ));
    }
}

const SAVED_ANYWAY: &str =
    "every accepted message is on disk, so the queue is kept across an orderly stop either way";

const fn rsyslog(
    name: &'static str,
    value: &'static dyn Setter<Settings, C>,
    default: DefaultValue,
    scope: Scope,
    doc: &'static str,
) -> Entry<Settings, C> {
    Entry {
        name,
        value,
        default,
        side: Side::Shipper,
        scope,
        doc,
        origin: Origin::Rsyslog(""),
    }
}

const fn extension(
    name: &'static str,
    value: &'static dyn Setter<Settings, C>,
    default: DefaultValue,
    scope: Scope,
    doc: &'static str,
) -> Entry<Settings, C> {
    Entry {
        name,
        value,
        default,
        side: Side::Shipper,
        scope,
        doc,
        origin: Origin::Extension,
    }
}

const fn ignored(name: &'static str, doc: &'static str, why: &'static str) -> Entry<Settings, C> {
    Entry {
        name,
        value: &Ignore,
        default: DefaultValue::Unset("-"),
        side: Side::Shipper,
        scope: Scope::Global,
        doc,
        origin: Origin::Ignored(why),
    }
}

const TEXT_OF_TEMPLATE: Kind<String> = Kind {
    syntax: "TEMPLATE",
    parse: |d| Some(d.value.to_string()),
};

/// Every directive the shipper reads besides the shared ones, in the order
/// `docs/directives.md` lists them.
pub static TABLE: Table<Settings, C> = Table {
    entries: &[
        // The forwarding stanza.
        rsyslog(
            "GssForwardServiceName",
            &Set { kind: kind::TEXT, to: |s: &mut Settings, name, _, _| s.service = name },
            DefaultValue::Is("host"),
            Scope::Action,
            "the service of the collector's principal (SERVICE@collector-host)",
        ),
        Entry {
            name: "GssMode",
            value: &Set { kind: kind::parsed("integrity|encryption"), to: |s: &mut Settings, p, _, _| s.protection = p },
            default: DefaultValue::Is("encryption"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "the protection of every token (case-sensitive, as rsyslog)",
            origin: Origin::Rsyslog("rsyslog up to 8.2602 silently used integrity, i.e. plaintext on the wire"),
        },
        rsyslog(
            "ActionGSSForwardDefaultTemplate",
            &Set { kind: TEXT_OF_TEMPLATE, to: default_template },
            DefaultValue::Is("RSYSLOG_TraditionalForwardFormat"),
            Scope::Action,
            "the template of :omgssapi: actions without ;Template (defined above the line)",
        ),
        extension(
            "GssForwardFrameByteOrder",
            &Set { kind: kind::parsed("le|be"), to: |s: &mut Settings, order, _, _| s.byte_order = order },
            DefaultValue::Is("le"),
            Scope::Action,
            "the byte order of the 4-byte token length (be for rsyslog 8.2606 and later; le: the deployed fleet)",
        ),
        extension(
            "ActionGSSForwardBatchSize",
            &Set { kind: BATCH, to: |s: &mut Settings, n, _, _| s.batch_bytes = n },
            DefaultValue::Is("64k"),
            Scope::Action,
            "most plaintext per token (up to 120k; rsyslog reads 128k)",
        ),
        extension(
            "ActionGSSForwardOneMessagePerToken",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.one_per_token = on },
            DefaultValue::Is("off"),
            Scope::Action,
            "strict rsyslog-style one message per token",
        ),
        extension(
            "ActionGSSForwardBackoffBase",
            &Set { kind: kind::MILLIS, to: |s: &mut Settings, base, _, _| s.retry = Schedule::Doubling { base, max: s.doubling_max() } },
            DefaultValue::Is("1000"),
            Scope::Action,
            "the retry ceiling's start (the last of this, ...BackoffMax and $ActionResumeInterval applies)",
        ),
        extension(
            "ActionGSSForwardBackoffMax",
            &Set { kind: kind::MILLIS, to: |s: &mut Settings, max, _, _| s.retry = Schedule::Doubling { base: s.doubling_base(), max } },
            DefaultValue::Is("3000"),
            Scope::Action,
            "the retry ceiling's cap",
        ),
        rsyslog(
            "ActionResumeInterval",
            &Set { kind: kind::POSITIVE_SECONDS, to: |s: &mut Settings, t, _, _| s.retry = Schedule::ResumeInterval(t) },
            DefaultValue::Unset("the doubling backoff (1000 / 3000 ms)"),
            Scope::Action,
            "a suspended action retries after N s, growing by N after every ten failures, at most 1800 s",
        ),
        Entry {
            name: "ActionResumeRetryCount",
            value: &Set { kind: kind::TEXT, to: resume_retry_count },
            default: DefaultValue::Unset("-1"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "how often a suspended action is retried",
            origin: Origin::Rsyslog("this shipper always retries forever (-1); another value warns"),
        },
        rsyslog(
            "ActionExecOnlyWhenPreviousIsSuspended",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.backup = on },
            DefaultValue::Is("off"),
            Scope::Action,
            "the actions below are backups of the one above, sending its queue while it is unreachable",
        ),
        extension(
            "ActionGSSForwardHandshakeTimeout",
            &Set { kind: kind::MILLIS, to: |s: &mut Settings, t, _, _| s.handshake_timeout = t },
            DefaultValue::Is("10000"),
            Scope::Action,
            "bound on resolve + connect + handshake",
        ),
        extension(
            "ActionGSSForwardAcknowledged",
            &Set { kind: kind::parsed("off|auto|on"), to: |s: &mut Settings, mode, _, _| s.acknowledged = mode },
            DefaultValue::Is("off"),
            Scope::Action,
            "ask the collector to acknowledge what it writes (auto: fall back to TCP-level accounting; on: only send to one that answers)",
        ),
        extension(
            "ActionGSSForwardHeartbeat",
            &Set { kind: kind::SECONDS_OR_NONE, to: |s: &mut Settings, t, _, _| s.heartbeat = t },
            DefaultValue::Is("0"),
            Scope::Action,
            "on an acknowledged session idle that long, a heartbeat token (0: none)",
        ),
        extension(
            "ActionGSSForwardBindAddress",
            &Set { kind: kind::IP, to: |s: &mut Settings, ip, _, _| s.bind = Some(ip) },
            DefaultValue::Unset("the system's choice"),
            Scope::Action,
            "the source address to connect from (multi-homed nodes)",
        ),
        extension(
            "GssForwardPrincipal",
            &Set { kind: Kind { syntax: "NAME[@REALM]", parse: |d| Some(d.value.to_string()) }, to: principal },
            DefaultValue::Unset("MIT's default: the default ccache's principal, or the client keytab's first entry"),
            Scope::Action,
            "the client principal",
        ),
        extension(
            "GssForwardKeytab",
            &Set { kind: Kind { syntax: "PATH", parse: |d| Some(d.value.to_string()) }, to: keytab },
            DefaultValue::Unset("the environment: KRB5_CLIENT_KTNAME, else MIT's default client keytab"),
            Scope::Action,
            "the client keytab tickets are obtained from (also FILE:/path), into a memory ccache of each session's own",
        ),
        // The queue.
        Entry {
            name: "WorkDirectory",
            value: &Set { kind: kind::PATH, to: |s: &mut Settings, dir, _, _| s.work_dir = dir },
            default: DefaultValue::Unset("/var/spool/rsyslog, or --work-directory"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "where the queues' files are",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "ActionQueueType",
            value: &Set { kind: Kind { syntax: "LinkedList|FixedArray|Disk|Direct", parse: |d| Some(d.value.to_string()) }, to: queue_type },
            default: DefaultValue::Unset("a disk queue"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "the next action's queue type",
            origin: Origin::Rsyslog("LinkedList, FixedArray and Disk are what this queue always is (on disk); Direct warns"),
        },
        rsyslog(
            "ActionQueueFileName",
            &Set { kind: kind::TEXT, to: |s: &mut Settings, name, _, _| s.queue.file_name = Some(name) },
            DefaultValue::Unset("omgssapi-actionN"),
            Scope::Action,
            "the next action's queue files, NAME.*.seg and NAME.ckpt in $WorkDirectory",
        ),
        rsyslog(
            "ActionQueueMaxDiskSpace",
            &Set { kind: kind::SIZE, to: |s: &mut Settings, n, _, _| s.queue.max_disk = (n > 0).then_some(n) },
            DefaultValue::Is("0"),
            Scope::Action,
            "the exact cap on the queue's bytes on disk (0: none)",
        ),
        rsyslog(
            "ActionQueueMaxFileSize",
            &Set { kind: kind::SIZE, to: |s: &mut Settings, n, _, _| s.queue.max_file = Some(n) },
            DefaultValue::Unset("8m (at most a quarter of the cap)"),
            Scope::Action,
            "the segment size",
        ),
        Entry {
            name: "ActionQueueSize",
            value: &Set { kind: kind::COUNT, to: |s: &mut Settings, n, _, _| s.queue.size = Some(n) },
            default: DefaultValue::Unset("1000"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "records of the read cache (every accepted message is on disk)",
            origin: Origin::Rsyslog("here only the size of the read cache"),
        },
        rsyslog(
            "ActionQueueHighWatermark",
            &Set { kind: kind::COUNT, to: |s: &mut Settings, n, _, _| s.queue.high = Some(n) },
            DefaultValue::Unset("90% of $ActionQueueSize"),
            Scope::Action,
            "the cache stops caching above this",
        ),
        rsyslog(
            "ActionQueueLowWatermark",
            &Set { kind: kind::COUNT, to: |s: &mut Settings, n, _, _| s.queue.low = Some(n) },
            DefaultValue::Unset("70% of $ActionQueueSize"),
            Scope::Action,
            "and resumes below this",
        ),
        rsyslog(
            "ActionQueueTimeoutEnqueue",
            &Set { kind: kind::MILLIS, to: |s: &mut Settings, t, _, _| s.queue.timeout_enqueue = t },
            DefaultValue::Is("50"),
            Scope::Action,
            "how long an enqueue into a full queue waits before the new message is discarded (and counted)",
        ),
        Entry {
            name: "ActionQueueSaveOnShutdown",
            value: &Set { kind: kind::BOOL, to: save_on_shutdown },
            default: DefaultValue::Is("on"),
            side: Side::Shipper,
            scope: Scope::Action,
            doc: "keep what is queued across an orderly stop",
            origin: Origin::Ignored(SAVED_ANYWAY),
        },
        extension(
            "ActionQueueDropOldest",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.queue.drop_oldest = on },
            DefaultValue::Is("off"),
            Scope::Action,
            "when full, free the oldest segment instead of refusing new messages",
        ),
        extension(
            "ActionQueueFsyncInterval",
            &Set { kind: kind::MILLIS_OR_OFF, to: |s: &mut Settings, t, _, _| s.queue.fsync = t },
            DefaultValue::Is("1000"),
            Scope::Action,
            "the power-loss bound (0: leave it to the OS)",
        ),
        // Inputs.
        rsyslog(
            "SystemLogSocketName",
            &Set { kind: kind::PATH, to: |s: &mut Settings, path, _, _| s.unix_default = Some(path) },
            DefaultValue::Unset("/dev/log"),
            Scope::Input,
            "imuxsock's socket",
        ),
        rsyslog(
            "OmitLocalLogging",
            &Set {
                kind: kind::BOOL,
                to: |s: &mut Settings, on, _, _| {
                    if on {
                        s.unix_default = None;
                    }
                },
            },
            DefaultValue::Is("off"),
            Scope::Input,
            "no imuxsock socket (other sockets still read)",
        ),
        rsyslog(
            "KLogPermitNonKernelFacility",
            &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.inputs.permit_non_kernel_facility = on },
            DefaultValue::Is("off"),
            Scope::Input,
            "imklog: also forward kernel log records of other facilities than kern (written by user space)",
        ),
        rsyslog(
            "AddUnixListenSocket",
            &Set { kind: kind::PATH, to: |s: &mut Settings, path: PathBuf, _, _| s.inputs.unix_sockets.push(path) },
            DefaultValue::Unset("none"),
            Scope::Input,
            "another local socket to read",
        ),
        rsyslog(
            "UDPServerAddress",
            &Set { kind: kind::IP, to: |s: &mut Settings, ip, _, _| s.udp_addr = ip },
            DefaultValue::Is("0.0.0.0"),
            Scope::Input,
            "the address of the $UDPServerRun lines below",
        ),
        rsyslog(
            "UDPServerRun",
            &Set { kind: kind::PORT, to: |s: &mut Settings, port, _, _| s.inputs.udp.push(SocketAddr::new(s.udp_addr, port)) },
            DefaultValue::Unset("none"),
            Scope::Input,
            "a UDP input on PORT",
        ),
        rsyslog(
            "InputTCPServerBindAddress",
            &Set { kind: kind::IP, to: |s: &mut Settings, ip, _, _| s.tcp_addr = ip },
            DefaultValue::Is("0.0.0.0"),
            Scope::Input,
            "the address of the $InputTCPServerRun lines below",
        ),
        rsyslog(
            "InputTCPServerRun",
            &Set { kind: kind::PORT, to: |s: &mut Settings, port, _, _| s.inputs.tcp.push(SocketAddr::new(s.tcp_addr, port)) },
            DefaultValue::Unset("none"),
            Scope::Input,
            "a plain TCP input on PORT",
        ),
        Entry {
            name: "MarkMessagePeriod",
            value: &Set { kind: kind::POSITIVE_SECONDS, to: |s: &mut Settings, t, _, _| s.mark_period = t },
            default: DefaultValue::Is("1200"),
            side: Side::Shipper,
            scope: Scope::Input,
            doc: "with $ModLoad immark, a -- MARK -- message every N seconds, busy or idle",
            origin: Origin::Rsyslog(""),
        },
        // rsyslog's, changing nothing here.
        ignored("ActionQueueWorkerThreads", "the queue's worker threads", "each action has one sender task"),
        ignored("ActionQueueTimeoutShutdown", "how long a stop waits for the queue", "nothing accepted is dropped at a stop: it stays on disk"),
        ignored("ActionQueueTimeoutActionCompletion", "how long a stop waits for the action", "nothing accepted is dropped at a stop: it stays on disk"),
        ignored("ActionQueueCheckpointInterval", "records between checkpoints", "the checkpoint is written at every acknowledgement"),
        ignored("ActionQueueSyncQueueFiles", "sync the queue's files at every write", "see $ActionQueueFsyncInterval"),
        ignored("ActionQueueDiscardSeverity", "severities discarded when the queue fills", "a full queue discards by $ActionQueueDropOldest, whatever the severity"),
        ignored("ActionQueueDiscardMark", "where discarding by severity starts", "a full queue discards by $ActionQueueDropOldest, whatever the severity"),
        ignored("ActionQueueDequeueBatchSize", "records per batch", "batches are sized by $ActionGSSForwardBatchSize"),
        ignored("ActionQueueWorkerTimeoutThreadShutdown", "idle worker threads' end", "each action has one sender task"),
        ignored("RepeatedMsgReduction", "fold repeated messages into one line", "every message is forwarded as it came"),
        ignored("FileOwner", "owner of files written", "the shipper writes no log files"),
        ignored("FileGroup", "group of files written", "the shipper writes no log files"),
        ignored("DirOwner", "owner of directories made", "the shipper writes no log files"),
        ignored("DirGroup", "group of directories made", "the shipper writes no log files"),
        ignored("OMFileFlushOnTXEnd", "flush files at the end of a transaction", "the shipper writes no log files"),
        ignored("PreserveFQDN", "keep the domain in local host names", "the message's host name is forwarded as written"),
        ignored("ActionFileDefaultTemplate", "the template of file actions", "the shipper writes no log files"),
        ignored("ResetConfigVariables", "reset the directives above to their defaults", "not supported: set each directive again"),
        ignored("GssTokenIOTimeout", "rsyslog's token timeout", "see $ActionGSSForwardHandshakeTimeout"),
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
            file: Arc::from("n.conf"),
            line: 5,
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
    fn the_table_is_whole_and_its_defaults_are_what_the_settings_start_with() {
        let fresh = || Settings::new(Path::new("/var/spool/rsyslog"));
        daemon::directive_table::check_daemon_table(&TABLE, &daemon::shared_directives::TABLE, Side::Shipper, fresh, read, |_| {});
    }

    #[test]
    fn save_on_shutdown_says_the_queue_is_kept_either_way() {
        let mut s = Settings::new(Path::new("/q"));
        assert_eq!(
            read(&mut s, "ActionQueueSaveOnShutdown", "on"),
            Vec::<String>::new(),
            "what happens anyway: no warning"
        );
        assert_eq!(
            read(&mut s, "ActionQueueSaveOnShutdown", "off"),
            ["n.conf:5: warning: $ActionQueueSaveOnShutdown off is accepted and ignored: every accepted message is on disk, \
              so the queue is kept across an orderly stop either way"]
        );
        assert_eq!(
            read(&mut s, "ActionQueueSaveOnShutdown", "maybe"),
            ["n.conf:5: $ActionQueueSaveOnShutdown: 'maybe' is not on or off"]
        );
        let entry = TABLE.find("actionqueuesaveonshutdown").map(|e| e.origin);
        assert!(
            matches!(entry, Some(Origin::Ignored(why)) if why.contains("either way")),
            "the table says so"
        );
    }

    #[test]
    fn modules_and_ignored_directives() {
        let mut s = Settings::new(Path::new("/q"));
        assert_eq!(
            read(&mut s, "ModLoad", "imfile"),
            Vec::<String>::new(),
            "other modules pass in silence, as before"
        );
        assert_eq!(read(&mut s, "ModLoad", "imklog"), Vec::<String>::new(), "the shipper reads the kernel log");
        assert!(read(&mut s, "ModLoad", "imjournal")[0].contains("$ModLoad imjournal: the shipper does not read the journal"));
        assert_eq!(read(&mut s, "GssTokenIOTimeout", "5"), ["n.conf:5: warning: $GssTokenIOTimeout is accepted and ignored: see $ActionGSSForwardHandshakeTimeout"]);
        assert_eq!(
            read(&mut s, "InputGSSServerRun", "515"),
            ["n.conf:5: unknown directive $inputgssserverrun"],
            "the collector's"
        );
    }
}

//! The directives both daemons read, in one table: `$ModLoad` (each daemon
//! passes the modules it knows), privilege drop, impstats, the metrics
//! endpoint and `$MaxMessageSize`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::directive_table::{
    kind, DefaultValue, Entry, Ignore, Kind, Modules, Origin, Scope, Set, Side, Table,
};
use crate::directives::Directive;
use crate::metrics::MetricsSettings;
use crate::privileges::{self, PrivDrop, TargetUser};

/// What the shared directives set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `$PrivDropToUser` and its kin: dropped to once the daemon has bound
    /// its sockets.
    pub privileges: PrivDrop,
    /// `$ModLoad impstats`, `$PStatInterval`, `$GssMetricsListen`.
    pub metrics: MetricsSettings,
    /// `$MaxMessageSize`: longer messages are cut (also the inflate bound).
    pub max_message_size: usize,
    /// Every `$ModLoad` (and `module(load=...)`), in order, as written.
    pub modules: Vec<String>,
}

impl Default for SharedSettings {
    fn default() -> Self {
        SharedSettings {
            privileges: PrivDrop::default(),
            metrics: MetricsSettings::default(),
            max_message_size: syslog::DEFAULT_MAX_MESSAGE_SIZE,
            modules: Vec::new(),
        }
    }
}

impl SharedSettings {
    /// Whether `$ModLoad name` (or `module(load="name")`) was read.
    pub fn loaded(&self, name: &str) -> bool {
        self.modules.iter().any(|m| m.eq_ignore_ascii_case(name))
    }
}

/// For tests and tools that read the shared directives alone.
pub const NO_MODULES: Modules = Modules {
    known: &[],
    other: None,
};

/// `$MaxMessageSize`: at least 128 bytes.
const MESSAGE_SIZE: Kind<usize> = Kind {
    syntax: "SIZE",
    parse: |d| d.size(128).map(|n| n as usize),
};

/// `$GssMetricsListen`: an address and a port.
const LISTEN: Kind<SocketAddr> = Kind {
    syntax: "ADDR:PORT",
    parse: |d| match d.value.trim().parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            d.error(format!(
                "'{}' is not ADDRESS:PORT (e.g. 127.0.0.1:9515)",
                d.value
            ));
            None
        }
    },
};

fn load_module(s: &mut SharedSettings, name: String, d: &mut Directive, modules: &Modules) {
    if let Some(why) = modules.warning(&name) {
        d.warn(format!("$ModLoad {name}: {why}"));
    }
    if name.eq_ignore_ascii_case("impstats") {
        s.metrics.impstats = true;
    }
    s.modules.push(name);
}

/// The directives both daemons read; the context is the daemon's modules.
pub static TABLE: Table<SharedSettings, Modules> = Table {
    entries: &[
        Entry {
            name: "ModLoad",
            value: &Set { kind: kind::MODULE, to: load_module },
            default: DefaultValue::Unset("none"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "loads a module (also module(load=\"...\")); the modules each daemon knows are listed below its table",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "MaxMessageSize",
            value: &Set { kind: MESSAGE_SIZE, to: |s: &mut SharedSettings, n, _, _| s.max_message_size = n },
            default: DefaultValue::Is("8096"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "longest message kept; longer ones are cut (also the bound on an inflated (zN) message); at least 128",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "PrivDropToUser",
            value: &Set {
                kind: privileges::USER,
                to: |s: &mut SharedSettings, account, _, _| s.privileges.user = Some(TargetUser { uid: account.uid, account: Some(account) }),
            },
            default: DefaultValue::Unset("none (runs as started)"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the user to run as once the sockets are bound",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "PrivDropToUserID",
            value: &Set {
                kind: privileges::NUMERIC_ID,
                to: |s: &mut SharedSettings, uid, _, _| s.privileges.user = Some(privileges::target_user(uid)),
            },
            default: DefaultValue::Unset("none (runs as started)"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the same, by number",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "PrivDropToGroup",
            value: &Set { kind: privileges::GROUP_ID, to: |s: &mut SharedSettings, gid, _, _| s.privileges.group = Some(gid) },
            default: DefaultValue::Unset("the user's primary group, else the group it was started as"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the group to run as",
            origin: Origin::Rsyslog("with only a user given, rsyslog keeps group 0; here the user's primary group"),
        },
        Entry {
            name: "PrivDropToGroupID",
            value: &Set { kind: privileges::NUMERIC_ID, to: |s: &mut SharedSettings, gid, _, _| s.privileges.group = Some(gid) },
            default: DefaultValue::Unset("the user's primary group, else the group it was started as"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the same, by number",
            origin: Origin::Rsyslog("with only a user given, rsyslog keeps group 0; here the user's primary group"),
        },
        Entry {
            name: "PStatInterval",
            value: &Set { kind: kind::POSITIVE, to: |s: &mut SharedSettings, n, _, _| s.metrics.interval = Duration::from_secs(n as u64) },
            default: DefaultValue::Is("300"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "seconds between impstats lines ($ModLoad impstats) in the daemon's own log",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "PStatsInterval",
            value: &Set { kind: kind::POSITIVE, to: |s: &mut SharedSettings, n, _, _| s.metrics.interval = Duration::from_secs(n as u64) },
            default: DefaultValue::Is("300"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the same as $PStatInterval",
            origin: Origin::Rsyslog(""),
        },
        Entry {
            name: "PStatFacility",
            value: &Ignore,
            default: DefaultValue::Unset("-"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "impstats' syslog facility",
            origin: Origin::Ignored("impstats lines go to the daemon's own log, in the legacy format"),
        },
        Entry {
            name: "PStatSeverity",
            value: &Ignore,
            default: DefaultValue::Unset("-"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "impstats' syslog severity",
            origin: Origin::Ignored("impstats lines go to the daemon's own log, in the legacy format"),
        },
        Entry {
            name: "PStatJSON",
            value: &Ignore,
            default: DefaultValue::Unset("-"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "impstats lines as JSON",
            origin: Origin::Ignored("impstats lines go to the daemon's own log, in the legacy format"),
        },
        Entry {
            name: "PStatCEE",
            value: &Ignore,
            default: DefaultValue::Unset("-"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "impstats lines with a CEE cookie",
            origin: Origin::Ignored("impstats lines go to the daemon's own log, in the legacy format"),
        },
        Entry {
            name: "GssMetricsListen",
            value: &Set { kind: LISTEN, to: |s: &mut SharedSettings, addr, _, _| s.metrics.listen = Some(addr) },
            default: DefaultValue::Unset("off"),
            side: Side::Both,
            scope: Scope::Global,
            doc: "the Prometheus text endpoint (GET /metrics, GET /health), e.g. 127.0.0.1:9515; no authentication: bind it to loopback or a management network",
            origin: Origin::Extension,
        },
    ],
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use syslog::config::{ConfigText, Location};

    use super::*;

    fn read(
        settings: &mut SharedSettings,
        lines: &[(&str, &str)],
        modules: &Modules,
    ) -> (Vec<bool>, Vec<String>) {
        let mut text = ConfigText::default();
        let loc = Location {
            file: Arc::from("a.conf"),
            line: 2,
        };
        let mut taken = Vec::new();
        for (name, value) in lines {
            let lower = name.to_ascii_lowercase();
            taken.push(TABLE.apply(
                settings,
                &mut Directive::new(&lower, name, value, &loc, &mut text),
                modules,
            ));
        }
        (taken, text.problems.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_table_has_no_defects() {
        assert_eq!(TABLE.defects(), Vec::<String>::new());
    }

    #[test]
    fn metrics_directives() {
        let mut s = SharedSettings::default();
        let lines = [
            ("ModLoad", "impstats"),
            ("PStatInterval", "1"),
            ("GssMetricsListen", "127.0.0.1:9515"),
            ("PStatJSON", "on"),
        ];
        let (taken, problems) = read(&mut s, &lines, &NO_MODULES);
        assert_eq!(taken, [true; 4]);
        assert_eq!(problems, ["a.conf:2: warning: $PStatJSON is accepted and ignored: impstats lines go to the daemon's own log, in the legacy format"]);
        let expected = MetricsSettings {
            impstats: true,
            interval: Duration::from_secs(1),
            listen: Some("127.0.0.1:9515".parse().unwrap()),
        };
        assert_eq!(s.metrics, expected);
        let (taken, problems) = read(
            &mut s,
            &[("GssMetricsListen", "localhost"), ("Bogus", "1")],
            &NO_MODULES,
        );
        assert_eq!(
            taken,
            [true, false],
            "a directive not in the table is not taken"
        );
        assert_eq!(problems, ["a.conf:2: $GssMetricsListen: 'localhost' is not ADDRESS:PORT (e.g. 127.0.0.1:9515)"]);
    }

    #[test]
    fn modules_are_kept_and_warned_about_as_the_daemon_says() {
        static KNOWN: Modules = Modules {
            known: &[crate::directive_table::Module {
                name: "imold",
                doc: "-",
                origin: Origin::Ignored("gone"),
            }],
            other: Some("not here"),
        };
        let mut s = SharedSettings::default();
        let (_, problems) = read(
            &mut s,
            &[
                ("ModLoad", "imold"),
                ("ModLoad", "imnew"),
                ("ModLoad", "impstats"),
            ],
            &KNOWN,
        );
        assert_eq!(
            problems,
            [
                "a.conf:2: warning: $ModLoad imold: gone",
                "a.conf:2: warning: $ModLoad imnew: not here",
                "a.conf:2: warning: $ModLoad impstats: not here"
            ]
        );
        assert!(s.loaded("imold") && s.loaded("IMNEW") && !s.loaded("imudp"));
        assert!(
            s.metrics.impstats,
            "impstats is read in one place, whatever the daemon"
        );
    }

    #[test]
    fn defaults_are_what_the_settings_start_with() {
        let fresh = SharedSettings::default();
        for entry in TABLE.entries {
            if let DefaultValue::Is(value) = entry.default {
                let mut s = SharedSettings::default();
                let (_, problems) = read(&mut s, &[(entry.name, value)], &NO_MODULES);
                assert!(problems.is_empty(), "{}: {problems:?}", entry.name);
                assert_eq!(s, fresh, "${} {value} is not the default", entry.name);
            }
        }
    }
}

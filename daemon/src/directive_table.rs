//! One table of directives per daemon: the single definition of each
//! directive (or RainerScript object parameter) a program reads.
//!
//! An [`Entry`] holds everything said about one directive: its name, the
//! kind of value it takes, its default, which daemon reads it and what it
//! applies to, a one-line description, and how it relates to rsyslog (same
//! meaning, our extension, or accepted and ignored, and why). Its
//! [`Setter`] checks the value with the entry's [`Kind`] (typed parsing, in
//! one place: [`crate::directives::Directive`]'s getters) and keeps it in the
//! daemon's settings.
//!
//! From a [`Table`] come the parser's dispatch ([`Table::apply`]: a name not
//! in a table cannot be read, by construction), `--check-config`'s knowledge
//! of known and ignored directives (the same dispatch), and the directive
//! sections of the man pages and of `docs/directives.md` (rendered by
//! `packaging/man` from the same entries).
//!
//! The same kind of table describes the parameters of a RainerScript object
//! (`module(...)`, `input(...)`, `action(type="..." ...)`): the entries' names
//! are the parameter names, and each parameter is handed to
//! [`Table::apply`] as a [`Directive::parameter`].
//!
//! ```
//! use daemon::directive_table::{kind, DefaultValue, Entry, Origin, Scope, Set, Side, Table};
//!
//! #[derive(Default)]
//! struct Settings { keepalive: bool }
//!
//! static TABLE: Table<Settings> = Table {
//!     entries: &[Entry {
//!         name: "InputExampleKeepAlive",
//!         value: &Set { kind: kind::BOOL, to: |s: &mut Settings, on, _, _| s.keepalive = on },
//!         default: DefaultValue::Is("off"),
//!         side: Side::Collector,
//!         scope: Scope::Input,
//!         doc: "TCP keepalive on accepted connections",
//!         origin: Origin::Extension,
//!     }],
//! };
//! # let _ = &TABLE;
//! ```

use std::net::IpAddr;
use std::time::Duration;

use syslog::config::{ConfigText, Location, Severity};

use crate::directives::Directive;

/// Which daemon reads a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The collector (`imgssapi`).
    Collector,
    /// The shipper (`omgssapi`).
    Shipper,
    /// Both daemons.
    Both,
}

impl Side {
    /// As the documentation writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Collector => "collector",
            Side::Shipper => "shipper",
            Side::Both => "both",
        }
    }
}

/// What a directive's value applies to, in rsyslog's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole daemon, wherever the line stands (the last one wins).
    Global,
    /// The daemon's inputs (listeners, sockets).
    Input,
    /// The actions below the line (until it is set again).
    Action,
}

impl Scope {
    /// As the documentation writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Input => "input",
            Scope::Action => "action",
        }
    }
}

/// How a directive relates to rsyslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// rsyslog's directive; the text says where this program differs from
    /// rsyslog (empty: it does not).
    Rsyslog(&'static str),
    /// Our extension: rsyslog has no such directive.
    Extension,
    /// rsyslog's directive, accepted so that a site's existing file loads,
    /// with a warning: the text says why it changes nothing here.
    Ignored(&'static str),
}

impl Origin {
    /// As the documentation writes it.
    pub fn describe(self) -> String {
        match self {
            Origin::Rsyslog("") => "rsyslog's".to_string(),
            Origin::Rsyslog(note) => format!("rsyslog's; {note}"),
            Origin::Extension => "our extension".to_string(),
            Origin::Ignored(why) => format!("accepted and ignored: {why}"),
        }
    }
}

/// A directive's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// A value as it would be written after the directive; each daemon's
    /// tests check that its settings start with exactly this value.
    Is(&'static str),
    /// What happens without the directive, in words.
    Unset(&'static str),
}

impl DefaultValue {
    /// As the documentation writes it.
    pub fn describe(self) -> &'static str {
        match self {
            DefaultValue::Is(v) | DefaultValue::Unset(v) => v,
        }
    }
}

/// A kind of value: how it is written (for the documentation) and how it is
/// read and checked (one of [`Directive`]'s typed getters, which report a bad
/// value against its `FILE:LINE`).
pub struct Kind<T> {
    /// How the value is written: `on|off`, `SECONDS`, `SIZE`, ...
    pub syntax: &'static str,
    /// Reads and checks the value; `None` once a problem is reported.
    pub parse: fn(&mut Directive) -> Option<T>,
}

/// The kinds of value most directives take.
pub mod kind {
    use super::*;

    /// `on|off` (also `yes|no`, `1|0`).
    pub const BOOL: Kind<bool> = Kind {
        syntax: "on|off",
        parse: |d| d.bool(),
    };
    /// A TCP or UDP port.
    pub const PORT: Kind<u16> = Kind {
        syntax: "PORT",
        parse: |d| d.port(),
    };
    /// A whole number, 0 allowed.
    pub const COUNT: Kind<usize> = Kind {
        syntax: "N",
        parse: |d| d.count(0),
    };
    /// A whole number of at least 1.
    pub const POSITIVE: Kind<usize> = Kind {
        syntax: "N",
        parse: |d| d.count(1),
    };
    /// Seconds, 0 for none.
    pub const SECONDS_OR_NONE: Kind<Option<Duration>> = Kind {
        syntax: "SECONDS",
        parse: |d| d.seconds(true),
    };
    /// Seconds, 0 allowed.
    pub const SECONDS: Kind<Duration> = Kind {
        syntax: "SECONDS",
        parse: |d| d.seconds(false).flatten(),
    };
    /// Seconds, at least 1.
    pub const POSITIVE_SECONDS: Kind<Duration> = Kind {
        syntax: "SECONDS",
        parse: |d| d.positive_seconds(),
    };
    /// Milliseconds, 0 allowed.
    pub const MILLIS: Kind<Duration> = Kind {
        syntax: "MS",
        parse: |d| d.millis(false).flatten(),
    };
    /// Milliseconds, 0 for off.
    pub const MILLIS_OR_OFF: Kind<Option<Duration>> = Kind {
        syntax: "MS",
        parse: |d| d.millis(true),
    };
    /// A size with rsyslog's suffixes (`64k`, `1g`), 0 allowed.
    pub const SIZE: Kind<u64> = Kind {
        syntax: "SIZE",
        parse: |d| d.size(0),
    };
    /// An octal file mode such as `0644`.
    pub const MODE: Kind<u32> = Kind {
        syntax: "MODE",
        parse: |d| d.mode(),
    };
    /// An IP address, IPv6 possibly in brackets.
    pub const IP: Kind<IpAddr> = Kind {
        syntax: "ADDR",
        parse: |d| d.ip(),
    };
    /// Any text, as written.
    pub const TEXT: Kind<String> = Kind {
        syntax: "TEXT",
        parse: |d| Some(d.value.to_string()),
    };
    /// A path, as written.
    pub const PATH: Kind<std::path::PathBuf> = Kind {
        syntax: "PATH",
        parse: |d| Some(d.value.trim().into()),
    };
    /// A value whose `FromStr` explains a bad one (`off|auto|on`).
    pub const fn parsed<T: std::str::FromStr<Err = String>>(syntax: &'static str) -> Kind<T> {
        Kind {
            syntax,
            parse: |d| d.parse::<T>(),
        }
    }
    /// A module name (`$ModLoad`, `module(load=...)`).
    pub const MODULE: Kind<String> = Kind {
        syntax: "MODULE",
        parse: |d| Some(d.value.trim().to_string()),
    };
}

/// What an entry does with a value: checks it and keeps it in the settings
/// `S`, with the context `C` the daemon's reader has (e.g. the templates
/// defined above the line).
pub trait Setter<S, C>: Sync {
    /// How the value is written.
    fn syntax(&self) -> &'static str;
    /// Checks the value of `d` and keeps it in `settings`.
    fn apply(&self, settings: &mut S, d: &mut Directive, context: &C);
    /// Whether the directive is only accepted (a warning, nothing kept).
    fn ignores(&self) -> bool {
        false
    }
}

/// The usual setter: the value read with `kind`, then given to `to` (which
/// may still refuse it with [`Directive::error`]).
pub struct Set<T: 'static, S: 'static, C: 'static = ()> {
    /// How the value is read.
    pub kind: Kind<T>,
    /// Where a good value goes.
    pub to: fn(&mut S, T, &mut Directive, &C),
}

impl<T, S, C> Setter<S, C> for Set<T, S, C> {
    fn syntax(&self) -> &'static str {
        self.kind.syntax
    }

    fn apply(&self, settings: &mut S, d: &mut Directive, context: &C) {
        if let Some(value) = (self.kind.parse)(d) {
            (self.to)(settings, value, d, context);
        }
    }
}

/// The setter of an [`Origin::Ignored`] directive: any value, a warning.
pub struct Ignore;

impl<S, C> Setter<S, C> for Ignore {
    fn syntax(&self) -> &'static str {
        "ANY"
    }

    fn apply(&self, _: &mut S, _: &mut Directive, _: &C) {}

    fn ignores(&self) -> bool {
        true
    }
}

/// One directive (or object parameter): its single definition.
pub struct Entry<S: 'static, C: 'static = ()> {
    /// As documented (`InputGSSServerRun`); matched without regard to case.
    pub name: &'static str,
    /// The kind of value, and where it goes.
    pub value: &'static dyn Setter<S, C>,
    /// Its default.
    pub default: DefaultValue,
    /// Which daemon reads it.
    pub side: Side,
    /// What it applies to.
    pub scope: Scope,
    /// What it does, in one line.
    pub doc: &'static str,
    /// rsyslog's meaning, our extension, or why it is ignored.
    pub origin: Origin,
}

impl<S, C> Entry<S, C> {
    /// How the value is written (`on|off`, `SECONDS`, ...).
    pub fn syntax(&self) -> &'static str {
        self.value.syntax()
    }
}

/// The directives of one program (or the parameters of one RainerScript object).
pub struct Table<S: 'static, C: 'static = ()> {
    /// In the order the documentation lists them.
    pub entries: &'static [Entry<S, C>],
}

impl<S, C> Table<S, C> {
    /// The entry named `name` (any case).
    pub fn find(&self, name: &str) -> Option<&Entry<S, C>> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// Reads `d` if this table has it (`false` otherwise, nothing said): its
    /// value checked and kept, or, for an ignored directive, a warning.
    pub fn apply(&self, settings: &mut S, d: &mut Directive, context: &C) -> bool {
        let Some(entry) = self.find(d.name) else {
            return false;
        };
        if entry.value.ignores() {
            let why = match entry.origin {
                Origin::Ignored(why) => why,
                _ => "",
            };
            d.warn(format!("{} is accepted and ignored: {why}", d.shown()));
        } else {
            entry.value.apply(settings, d, context);
        }
        true
    }

    /// Reads the parameters of one RainerScript object (`action(type="omfile" ...)`:
    /// `object` as messages name it), each through its entry, in the order
    /// written; a parameter not in the table is an error listing those that
    /// are. Returns whether every parameter was good (no error was reported).
    pub fn apply_parameters(
        &self,
        object: &str,
        params: &[(String, String)],
        settings: &mut S,
        text: &mut ConfigText,
        at: &Location,
        context: &C,
    ) -> bool {
        let errors_before = text
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        for (name, value) in params {
            let lower = name.to_ascii_lowercase();
            let mut d = Directive::parameter(object, &lower, name, value, at, text);
            if !self.apply(settings, &mut d, context) {
                let known: Vec<&str> = self.entries.iter().map(|e| e.name).collect();
                d.unknown_among(&known);
            }
        }
        text.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
            == errors_before
    }

    /// Problems with the table itself: a name twice, an ignored entry that
    /// keeps a value, or one that keeps nothing without saying why. Each
    /// daemon's tests assert this is empty.
    pub fn defects(&self) -> Vec<String> {
        let mut defects = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if self.entries[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(e.name))
            {
                defects.push(format!("{} is in the table twice", e.name));
            }
            if e.value.ignores() && !matches!(e.origin, Origin::Ignored(_)) {
                defects.push(format!(
                    "{} keeps nothing but is not marked Origin::Ignored",
                    e.name
                ));
            }
            if e.doc.is_empty() || e.doc.contains('\n') {
                defects.push(format!("{} needs a one-line doc", e.name));
            }
        }
        defects
    }
}

/// A module `$ModLoad` (or `module(load=...)`) names, as one daemon knows it.
pub struct Module {
    /// Its name (`imgssapi`).
    pub name: &'static str,
    /// What loading it does here, in one line.
    pub doc: &'static str,
    /// rsyslog's module, or accepted and ignored (a warning saying why).
    pub origin: Origin,
}

/// The modules one daemon knows, and what it says about any other.
pub struct Modules {
    /// In the order the documentation lists them.
    pub known: &'static [Module],
    /// Any other module: `Some(why)` warns, `None` accepts it in silence.
    pub other: Option<&'static str>,
}

impl Modules {
    /// The module named `name` (any case).
    pub fn find(&self, name: &str) -> Option<&Module> {
        self.known
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The warning a `$ModLoad name` line gets, if any.
    pub fn warning(&self, name: &str) -> Option<&'static str> {
        match self.find(name) {
            Some(Module {
                origin: Origin::Ignored(why),
                ..
            }) => Some(why),
            Some(_) => None,
            None => self.other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use syslog::config::{ConfigText, Location};

    use super::*;

    #[derive(Default)]
    struct Settings {
        port: u16,
    }

    static TABLE: Table<Settings> = Table {
        entries: &[
            Entry {
                name: "ExamplePort",
                value: &Set {
                    kind: kind::PORT,
                    to: |s: &mut Settings, p, _, _| s.port = p,
                },
                default: DefaultValue::Is("514"),
                side: Side::Both,
                scope: Scope::Input,
                doc: "a port",
                origin: Origin::Extension,
            },
            Entry {
                name: "exampleport",
                value: &Ignore,
                default: DefaultValue::Unset("-"),
                side: Side::Both,
                scope: Scope::Global,
                doc: "",
                origin: Origin::Rsyslog(""),
            },
        ],
    };

    #[test]
    fn defects_are_found() {
        assert_eq!(
            TABLE.defects(),
            [
                "exampleport is in the table twice",
                "exampleport keeps nothing but is not marked Origin::Ignored",
                "exampleport needs a one-line doc",
            ]
        );
    }

    #[test]
    fn parameters_are_read_like_directives_and_named_as_parameters() {
        let mut text = ConfigText::default();
        let loc = Location {
            file: Arc::from("a.conf"),
            line: 4,
        };
        let mut s = Settings::default();
        let object = "action(type=\"omexample\")";
        assert!(TABLE.apply(
            &mut s,
            &mut Directive::parameter(
                object,
                "exampleport",
                "examplePort",
                "6514",
                &loc,
                &mut text
            ),
            &()
        ));
        assert_eq!(s.port, 6514);
        assert!(TABLE.apply(
            &mut s,
            &mut Directive::parameter(object, "exampleport", "examplePort", "x", &loc, &mut text),
            &()
        ));
        let mut d = Directive::parameter(object, "other", "other", "1", &loc, &mut text);
        assert!(!TABLE.apply(&mut s, &mut d, &()));
        d.unknown();
        let problems: Vec<String> = text.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            [
                "a.conf:4: action(type=\"omexample\"): examplePort: 'x' is not a port number",
                "a.conf:4: action(type=\"omexample\"): parameter 'other' is not supported",
            ]
        );
    }
}

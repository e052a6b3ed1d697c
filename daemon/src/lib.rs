//! What the collector (`imgssapi`) and the shipper (`omgssapi`) share as
//! daemons, written once:
//!
//! - [`config::walk`] and [`config::start`]: the configuration read in two
//!   steps (each statement checked and kept, then assembled by the daemon),
//!   and the start-up gate that `--check-config` uses;
//! - [`cli::CommonArgs`]: `-f`, `--check-config`, `--pid-file`, flattened into
//!   each daemon's own clap arguments;
//! - [`keytab_mode::warn_if_exposed`]: a keytab others may read is a warning;
//! - [`logging::init`]: the daemons' own log lines on stderr;
//! - [`metrics`] and [`metrics_http`]: counters as rsyslog's impstats lines
//!   and as a Prometheus endpoint with a health check;
//! - [`rate_limited::RateLimitedCount`]: repeated events counted exactly,
//!   reported at a bounded rate;
//! - [`pid_file::PidFile`]: the pid file, removed when its guard drops;
//! - [`replace_file::write_replacing`]: a small file written by a rename,
//!   never through a link planted at its name;
//! - [`signals`]: SIGTERM/SIGINT as a [`signals::Shutdown`] that every task
//!   can wait on, SIGHUP as a separate event that never stops a daemon;
//! - [`os`]: the host name, the open-file limit, the umask, a TCP socket's
//!   unacknowledged bytes, users, groups and ids, with their `unsafe` in one place;
//! - [`privileges::PrivDrop`]: `$PrivDropToUser` and its kin, dropping
//!   root after the ports are bound;
//! - [`systemd`]: readiness (`READY=1`), the watchdog and socket activation,
//!   spoken to systemd directly;
//! - [`directives::Directive`]: typed, checked values of legacy `$Directive`
//!   lines, each error reported against its `FILE:LINE`;
//! - [`directive_table`]: the table type each daemon defines its directives
//!   with (parser dispatch, `--check-config`, man pages and docs from one
//!   definition), and [`shared_directives`], the directives both daemons read;
//! - [`templates::TemplateRegistry`]: `$template` statements and the
//!   built-in templates, looked up by name.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod directive_table;
pub mod directives;
pub mod keytab_mode;
pub mod logging;
pub mod metrics;
pub mod metrics_http;
pub mod os;
pub mod pid_file;
pub mod privileges;
pub mod rate_limited;
pub mod replace_file;
pub mod shared_directives;
pub mod signals;
pub mod systemd;
pub mod templates;

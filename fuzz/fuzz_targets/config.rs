//! The config reader (`syslog::config::read_file`: continuation lines,
//! directives, `$template`, RainerScript's `template()`, `action()`,
//! `if ... then`, `include()`, `global(...)`, `module(...)`, rules, includes)
//! on fuzzed text, then the two daemons' config builders on what it read
//! (which walk it with the shared `daemon::config::walk` and check every
//! directive's value with `daemon::directives`). Every filter read is also
//! evaluated on a message.
//!
//! The builders live in the daemons' binaries, which have no library. Their
//! `config.rs` are modules over daemon, gsswire, syslog and queue; the
//! collector's also uses `crate::identity` (principal patterns, host maps),
//! itself only over `crate::config`. So both are compiled in here under the
//! same names at this crate's root, and `crate::` paths resolve as they do in
//! imgssapi; the shipper's uses `crate::backoff`, compiled in the same way. Should either start to use more
//! of its daemon, this build fails (it is part of tests/run.sh), and the fix
//! is to move what it needs into `daemon` or add it here.
//!
//! The text is written to a file in a private directory. The files that
//! reading a config opens (includes, the collector's
//! `$InputGSSServerHostMapFile`) are exercised with relative names only:
//! inputs that could name a path elsewhere (`/`, `..`, `~`) are skipped, so a
//! run never reads the machine's files (some of which, such as /proc/kmsg or
//! /dev/zero, block or never end).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use syslog::config::{parse_action, read_file, ConfigText, Filter, Statement};
use syslog::template::Template;

/// imgssapi/src/config.rs, named as in imgssapi so its `crate::` paths resolve.
#[allow(dead_code)]
#[path = "../../imgssapi/src/config.rs"]
mod config;

/// imgssapi/src/identity.rs, which `config` uses as `crate::identity`.
#[allow(dead_code)]
#[path = "../../imgssapi/src/identity.rs"]
mod identity;

/// imgssapi/src/dns.rs, which `identity` uses as `crate::dns` (forward lookups).
#[allow(dead_code)]
#[path = "../../imgssapi/src/dns.rs"]
mod dns;

#[allow(dead_code)]
#[path = "../../omgssapi/src/config.rs"]
mod shipper_config;

/// omgssapi/src/backoff.rs, which the shipper's config uses as `crate::backoff`
/// (the retry schedule of `$ActionResumeInterval` and the backoff directives).
#[allow(dead_code)]
#[path = "../../omgssapi/src/backoff.rs"]
mod backoff;

fn work_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))).path()
}

/// Whether `text` may make the reader or a builder open a file outside the
/// work directory: `$IncludeConfig` and `include(file=...)` both contain
/// "include"; the host map file directive contains "hostmapfile".
fn may_leave_the_directory(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let opens_files = lower.contains("include") || lower.contains("hostmapfile");
    opens_files && (text.contains('/') || text.contains("..") || text.contains('~'))
}

/// The message every filter read is evaluated on.
fn message() -> &'static syslog::Message {
    static MESSAGE: OnceLock<syslog::Message> = OnceLock::new();
    MESSAGE.get_or_init(|| {
        gsslog_fuzz::parse_message(b"<38>Nov 23 12:00:00 node1 sshd[42]: Accepted publickey for root", 1_700_000_000)
            .unwrap_or_else(|| panic!("the fixed message does not parse"))
    })
}

fn evaluate(filter: &Filter) {
    std::hint::black_box(filter.matches(message()));
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if may_leave_the_directory(&text) {
        return;
    }
    let path: PathBuf = work_dir().join("fuzz.conf");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let read = read_file(&path);
    let _ = read.has_errors();
    for problem in &read.problems {
        std::hint::black_box(problem.to_string());
    }
    for line in &read.lines {
        match &line.statement {
            Statement::Template { name, text, .. } => {
                std::hint::black_box(Template::parse(name, text));
            }
            Statement::Rule { filter, action } => {
                evaluate(filter);
                std::hint::black_box(parse_action(action));
            }
            Statement::AlsoAction { action } => {
                std::hint::black_box(parse_action(action));
            }
            Statement::ActionCall { filter, action } => {
                evaluate(filter);
                std::hint::black_box(action);
            }
            Statement::Directive { .. } => {}
        }
    }
    let statements = || ConfigText { lines: read.lines.clone(), problems: Vec::new() };
    std::hint::black_box(config::build(&mut statements()).max_message_size);
    std::hint::black_box(shipper_config::build(&mut statements(), work_dir()).max_message_size);
});

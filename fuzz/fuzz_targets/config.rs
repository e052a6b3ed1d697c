//! The legacy config reader (`syslog::config::read_file`: continuation lines,
//! directives, `$template`, `global(...)`, `module(...)`, rules, includes) on
//! fuzzed text, then the two daemons' config builders on what it read.
//!
//! The builders live in the daemons' binaries, which have no library; their
//! `config.rs` are self-contained modules over gsswire, syslog and queue, so
//! they are compiled in here as they are.
//!
//! The text is written to a file in a private directory. `$IncludeConfig` is
//! exercised within that directory only: inputs that could name a path
//! outside it (`/`, `..`, `~`) are skipped, so a run never reads the machine's
//! files (some of which, such as /proc/kmsg, block).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use syslog::config::{parse_action, read_file, ConfigText, Statement};
use syslog::template::Template;

#[allow(dead_code)]
#[path = "../../imgssapi/src/config.rs"]
mod collector_config;

#[allow(dead_code)]
#[path = "../../omgssapi/src/config.rs"]
mod shipper_config;

fn work_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))).path()
}

fn may_leave_the_directory(text: &str) -> bool {
    text.to_ascii_lowercase().contains("includeconfig") && (text.contains('/') || text.contains("..") || text.contains('~'))
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
    let config = read_file(&path);
    let _ = config.has_errors();
    for problem in &config.problems {
        std::hint::black_box(problem.to_string());
    }
    for line in &config.lines {
        match &line.statement {
            Statement::Template { name, text, .. } => {
                std::hint::black_box(Template::parse(name, text));
            }
            Statement::Rule { action, .. } | Statement::AlsoAction { action } => {
                std::hint::black_box(parse_action(action));
            }
            Statement::Directive { .. } => {}
        }
    }
    let statements = || ConfigText { lines: config.lines.clone(), problems: Vec::new() };
    std::hint::black_box(collector_config::build(&mut statements()).max_message_size);
    std::hint::black_box(shipper_config::build(&mut statements(), work_dir()).max_message_size);
});

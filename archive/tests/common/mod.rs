//! Helpers of the archive's end-to-end tests: generated trees, the
//! `gsslog` binary, and GNU grep as the reference.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const USERS: &[&str] = &["root", "alice", "bob", "pbsuser", "RealUser", "realuser", "foo_bar", "foo-bar", "xrealuserx"];
const WORDS: &[&str] = &["session", "opened", "closed", "Failed", "password", "kernel:", "nfs:", "server", "OK", "foo", "FOO", "a.b", "[x", "\u{e9}t\u{e9}"];

/// The current month, `YYYY/MM`, from `date`.
pub fn this_month() -> (String, String) {
    let out = Command::new("date").args(["-u", "+%Y %m %d"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let text = out.unwrap_or_default();
    let mut parts = text.split_whitespace();
    (parts.next().unwrap_or("2026").to_string(), parts.next().unwrap_or("12").to_string())
}

/// One line in either timestamp form, of month `month` (1-12) of 2026.
pub fn line(rng: &mut Rng, month: u32, day: u32, host: &str) -> String {
    const NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
    let stamp = if rng.below(2) == 0 {
        format!("{} {:>2} {h:02}:{m:02}:{s:02}", NAMES[(month - 1) as usize], day)
    } else {
        format!("2026-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.123456+01:00")
    };
    let pid = rng.below(40000);
    match rng.below(6) {
        0 => format!("{stamp} {host} sshd[{pid}]: Failed password for {} from 198.51.100.{} port {} ssh2", rng.pick(USERS), rng.below(256), rng.below(65536)),
        1 => format!("{stamp} {host} sshd[{pid}]: Accepted gssapi-with-mic for {} from 192.0.2.{} port {} ssh2", rng.pick(USERS), rng.below(256), rng.below(65536)),
        2 => format!("{stamp} {host} kernel: [{}.{}] nfs: server {} not responding", rng.below(99999), rng.below(999999), rng.pick(WORDS)),
        3 => format!("{stamp} {host} CRON[{pid}]: pam_unix(cron:session): session {} for user {}", rng.pick(WORDS), rng.pick(USERS)),
        4 => format!("{} continuation {} {}", rng.pick(WORDS), rng.pick(WORDS), rng.pick(USERS)),
        _ => format!("{stamp} {host} pbs_mom: Job {}.pbs {} {}", rng.below(1_000_000), rng.pick(WORDS), rng.pick(WORDS)),
    }
}

/// Writes a collector-like tree under `root`: two closed months and the
/// current one, per-host files and per-service daily files, plus the odd
/// cases (binary file, invalid UTF-8, a long token, a partial last line, an
/// empty file, a top-level dot file that `*` leaves out).
pub fn make_tree(root: &Path, seed: u64, lines_per_file: usize) {
    let mut rng = Rng::new(seed);
    let (year, month) = this_month();
    let mut folders = vec![("2026".to_string(), "09".to_string()), ("2026".to_string(), "10".to_string())];
    if (year.as_str(), month.as_str()) > ("2026", "10") {
        folders.push((year.clone(), month.clone()));
    }
    for (y, m) in &folders {
        let mnum: u32 = m.parse().unwrap_or(12);
        for host in ["10.0.0.1", "10.0.0.2", "10.0.0.10"] {
            for name in ["syslog", "auth.log"] {
                let mut text = String::new();
                for _ in 0..lines_per_file {
                    let day = 1 + rng.below(28) as u32;
                    text.push_str(&line(&mut rng, mnum, day, host));
                    text.push('\n');
                }
                write(&root.join(format!("{y}/{m}/{host}/{name}")), text.as_bytes());
            }
        }
        for day in 1..=3 {
            let mut text = String::new();
            for _ in 0..lines_per_file / 2 {
                text.push_str(&line(&mut rng, mnum, day, "10.0.0.1"));
                text.push('\n');
            }
            write(&root.join(format!("auth/{y}/{m}/auth.log.{y}{m}{day:02}")), text.as_bytes());
        }
    }
    write(&root.join("2026/10/10.0.0.1/binary.log"), b"Oct  1 00:00:00 h realuser \0 here\nrealuser again\n");
    write(&root.join("2026/10/10.0.0.2/latin1.log"), b"Oct  2 00:00:00 h caf\xe9 realuser\n\xff\xfe root\n");
    let long = "x".repeat(100) + "realuser" + &"y".repeat(100);
    write(&root.join("2026/10/10.0.0.2/long.log"), format!("Oct  3 00:00:00 h {long}\n").as_bytes());
    write(&root.join(format!("{year}/{month}/10.0.0.1/partial.log")), b"Dec  1 00:00:00 h realuser done\nrealuser partial");
    write(&root.join("2026/10/10.0.0.2/empty.log"), b"");
    // Only inside longer tokens: found by a substring search, not by a whole-token one.
    write(&root.join("2026/10/10.0.0.2/substring.log"), b"Oct  4 00:00:00 h xrealuserx and FOO_realuser pid 40221 id 0077\n");
    write(&root.join(".hidden"), b"realuser hidden\n");
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

pub fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Copies a tree (`cp -a`).
pub fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "cp -a {} {}", from.display(), to.display());
}

pub fn gsslog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gsslog"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("gsslog {args:?}: {e}"))
}

/// `gsslog grep --archive ARCHIVE OPTS PATTERN ROOT`: (stdout, status).
pub fn our_grep(archive: &Path, root: &Path, opts: &[&str], pattern: &str) -> (Vec<u8>, i32) {
    let mut args = vec!["grep", "--archive", path_str(archive)];
    args.extend_from_slice(opts);
    args.push(pattern);
    args.push(path_str(root));
    let out = gsslog(&args);
    (out.stdout, out.status.code().unwrap_or(-1))
}

/// `(cd ROOT && LC_ALL=C grep -r OPTS -e PATTERN -- *) | LC_ALL=C sort -t: -k1,1 -s`,
/// without `-c`'s zero counts, with `-E` unless `-F`: (stdout, grep's status).
pub fn gnu_grep(root: &Path, opts: &[&str], pattern: &str) -> (Vec<u8>, i32) {
    let mut opts = opts.to_vec();
    if !opts.contains(&"-F") {
        opts.push("-E");
    }
    let script = r#"cd "$1" && shift && LC_ALL=C grep -r "$@" -- * | LC_ALL=C sort -t: -k1,1 -s; exit ${PIPESTATUS[0]}"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .arg(root)
        .args(&opts)
        .arg("-e")
        .arg(pattern)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("grep: {e}"));
    let mut stdout = out.stdout;
    if opts.contains(&"-c") {
        let text: Vec<&[u8]> = stdout.split_inclusive(|&b| b == b'\n').filter(|l| !l.ends_with(b":0\n")).collect();
        stdout = text.concat();
    }
    (stdout, out.status.code().unwrap_or(-1))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("{} is not UTF-8", p.display()))
}

/// The grep invocations every comparison runs.
pub fn modes() -> Vec<(Vec<&'static str>, &'static str)> {
    vec![
        (vec![], "realuser"),
        (vec!["-F"], "realuser"),
        (vec!["-w"], "realuser"),
        (vec!["-i"], "REALUSER"),
        (vec!["-i", "-w"], "realuser"),
        (vec!["-F"], "a.b"),
        (vec!["-F"], "[x"),
        (vec![], "a.b"),
        (vec!["-w"], "foo"),
        (vec!["-w", "-i"], "foo"),
        (vec!["-c"], "sshd"),
        (vec!["-l"], "Failed"),
        (vec!["-c", "-i"], "realuser"),
        (vec!["-l", "-w"], "realuser"),
        (vec![], "Failed password for (invalid user )?[a-z]+ from"),
        (vec![], "^Oct"),
        (vec![], "ssh2$"),
        (vec!["-w"], "a.*"),
        (vec![], "\\bfoo_bar\\b"),
        (vec![], "\u{e9}t\u{e9}"),
        (vec!["-i"], "caf."),
        (vec![], "port [0-9]{5}"),
        (vec!["-F"], "xrealuserx"),
        (vec![], "nothing-matches-this"),
        (vec!["-w"], "Job [0-9]+\\.pbs"),
        (vec![], "root|alice"),
        (vec!["-c"], "^"),
        (vec!["-c"], "q*$"),
        (vec!["-w"], "40221"),
        (vec![], "022"),
        (vec!["-F"], "0077"),
        (vec!["-w"], "0077"),
        (vec!["-w"], "198\\.51\\.100\\.7"),
    ]
}

/// Asserts that every mode gives GNU grep's output and status over `reference`.
pub fn assert_grep_matches(archive: &Path, root: &Path, reference: &Path, when: &str) {
    for (opts, pattern) in modes() {
        let (ours, our_status) = our_grep(archive, root, &opts, pattern);
        let (theirs, their_status) = gnu_grep(reference, &opts, pattern);
        assert!(
            ours == theirs,
            "{when}: grep {opts:?} {pattern:?} differs:\n--- ours\n{}\n--- GNU grep\n{}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        assert_eq!(our_status, their_status, "{when}: grep {opts:?} {pattern:?}: exit status");
    }
}

/// Every regular file below `root`, relative, sorted (dot files at the top left out).
pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let child = rel.join(e.file_name());
            if rel.as_os_str().is_empty() && e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(child),
                Ok(t) if t.is_file() => out.push(child),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Asserts that `gsslog cat` gives every file of `reference` byte for byte.
pub fn assert_cat_matches(archive: &Path, root: &Path, reference: &Path, when: &str) {
    for rel in files(reference) {
        let out = gsslog(&["cat", "--archive", path_str(archive), path_str(root), path_str(&rel)]);
        assert!(out.status.success(), "{when}: cat {}: {}", rel.display(), String::from_utf8_lossy(&out.stderr));
        let want = fs::read(reference.join(&rel)).unwrap_or_default();
        assert!(out.stdout == want, "{when}: cat {} differs from the file", rel.display());
    }
}

pub fn seal(archive: &Path, root: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["seal", "--archive", path_str(archive)];
    args.extend_from_slice(extra);
    args.push(path_str(root));
    let out = gsslog(&args);
    assert!(out.status.success(), "seal {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

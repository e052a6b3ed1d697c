//! `strace` attached to a running daemon: the order of what it wrote, synced
//! and sent, seen from outside the product (a test oracle that does not take
//! the daemon's word for it).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A `strace -f -yy` of every thread of one process, written to a file.
pub struct Strace {
    child: Child,
    out: PathBuf,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Strace {
    /// Attaches to every thread of `pid` (and those it starts), tracing
    /// `syscalls` (strace's `-e trace=` list); returns once strace says it is
    /// attached. The trace goes to `out`.
    pub fn attach(pid: u32, syscalls: &str, out: &Path) -> Result<Strace> {
        let mut child = Command::new("strace")
            .args(["-f", "-yy", "-s", "0", "-e", &format!("trace={syscalls}"), "-o"])
            .arg(out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting strace (apt-get install strace)")?;
        let mut stderr = BufReader::new(child.stderr.take().context("strace's stderr")?);
        let mut first = String::new();
        stderr.read_line(&mut first)?;
        if !first.contains("attached") {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            let _ = child.kill();
            let _ = child.wait();
            bail!("strace did not attach to {pid}: {first}{rest}");
        }
        // Keep draining: strace reports every thread it attaches to.
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            rest
        });
        Ok(Strace { child, out: out.to_path_buf(), stderr: Some(stderr) })
    }

    /// Waits for strace to end (it ends with the traced process) and parses
    /// the trace.
    pub fn finish(mut self, timeout: Duration) -> Result<Vec<Call>> {
        let start = Instant::now();
        while self.child.try_wait()?.is_none() {
            if start.elapsed() > timeout {
                bail!("strace did not end within {timeout:?} of the traced process");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(t) = self.stderr.take() {
            let _ = t.join();
        }
        let text = std::fs::read_to_string(&self.out).with_context(|| format!("reading {}", self.out.display()))?;
        Ok(parse(&text))
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One point of a traced system call, in the order strace saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tid: u32,
    pub name: String,
    /// What `-yy` printed for the first argument, a file descriptor: a path,
    /// or `TCP:[local->peer]` (`TCPv6:[[addr]:port->...]`) for a socket.
    /// Empty if it was not one.
    pub fd: String,
    pub point: Point,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A call that began and has not returned yet.
    Entry,
    /// A call that returned this value (a call printed on one line is an
    /// `Entry` directly followed by its `Exit`).
    Exit(i64),
}

/// Parses `strace -f -yy` output: `TID name(FD<what>, ...) = RESULT`, split
/// into `... <unfinished ...>` and `TID <... name resumed>...) = RESULT` when
/// threads interleave. Lines of another shape (signals, exits) are skipped.
pub fn parse(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut open: std::collections::HashMap<u32, (String, String)> = std::collections::HashMap::new();
    for line in text.lines() {
        let Some((tid, rest)) = line.trim_start().split_once(char::is_whitespace) else { continue };
        let Ok(tid) = tid.parse::<u32>() else { continue };
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else { continue };
            let fd = open.remove(&tid).map(|(_, fd)| fd).unwrap_or_default();
            if let Some(result) = result_of(tail) {
                calls.push(Call { tid, name: name.to_string(), fd, point: Point::Exit(result) });
            }
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else { continue };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let fd = fd_of(args);
        calls.push(Call { tid, name: name.to_string(), fd: fd.clone(), point: Point::Entry });
        if args.ends_with("<unfinished ...>") {
            open.insert(tid, (name.to_string(), fd));
        } else if let Some(result) = result_of(args) {
            calls.push(Call { tid, name: name.to_string(), fd, point: Point::Exit(result) });
        }
    }
    calls
}

/// `7</tmp/x/all.log>, ...` → `/tmp/x/all.log`.
fn fd_of(args: &str) -> String {
    let digits = args.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !args[digits..].starts_with('<') {
        return String::new();
    }
    let what = &args[digits + 1..];
    // A socket's description holds no '>' but its "->"; a path ends at the first '>' after it.
    let mut end = 0;
    let bytes = what.as_bytes();
    while end < bytes.len() {
        if bytes[end] == b'>' && (end == 0 || bytes[end - 1] != b'-') {
            break;
        }
        end += 1;
    }
    what[..end].to_string()
}

/// `...) = 42` → 42; `...)     = -1 EAGAIN (...)` → -1 (strace pads resumed
/// lines). Strings are not printed (`-s 0`), so " = " is the result's.
fn result_of(tail: &str) -> Option<i64> {
    let (call, result) = tail.rsplit_once(" = ")?;
    if !call.trim_end().ends_with(')') {
        return None;
    }
    result.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_split_and_socket_lines() {
        let text = "\
101   write(7</tmp/a b/all.log>, \"\"..., 50) = 50
102   fdatasync(7</tmp/a b/all.log> <unfinished ...>
101   write(9<TCP:[127.0.0.1:2000->127.0.0.1:40000]>, \"\"..., 64) = 64
102   <... fdatasync resumed>)          = 0
103   write(2<pipe:[55]>, \"\"..., 10) = -1 EPIPE (Broken pipe)
103   +++ exited with 0 +++
";
        let calls = parse(text);
        let short: Vec<(u32, &str, &str, Point)> = calls.iter().map(|c| (c.tid, c.name.as_str(), c.fd.as_str(), c.point)).collect();
        assert_eq!(
            short,
            vec![
                (101, "write", "/tmp/a b/all.log", Point::Entry),
                (101, "write", "/tmp/a b/all.log", Point::Exit(50)),
                (102, "fdatasync", "/tmp/a b/all.log", Point::Entry),
                (101, "write", "TCP:[127.0.0.1:2000->127.0.0.1:40000]", Point::Entry),
                (101, "write", "TCP:[127.0.0.1:2000->127.0.0.1:40000]", Point::Exit(64)),
                (102, "fdatasync", "/tmp/a b/all.log", Point::Exit(0)),
                (103, "write", "pipe:[55]", Point::Entry),
                (103, "write", "pipe:[55]", Point::Exit(-1)),
            ]
        );
    }
}

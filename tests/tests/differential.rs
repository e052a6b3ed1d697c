//! Differential test: one corpus, sent over plain TCP to Debian's rsyslog and
//! to our collector, both running the same rules; the file trees they write
//! must be identical to the byte, timestamps included.
//!
//! Inputs where this project deliberately differs from rsyslog are left out
//! of the corpus, by name:
//! - `z`-prefixed text that is not zlib: rsyslog drops the message
//!   ("Uncompression of a message failed"); we keep it as text.
//! - An LF-framed message starting with digits not followed by a space:
//!   rsyslog reads the digits as an octet count and eats the next character;
//!   we take the frame as text.
//! - Messages without a timestamp or with an invalid PRI: their time is the
//!   reception time, which two receivers cannot share.
//! - A message over `$MaxMessageSize`: both split it into pieces of that size,
//!   but rsyslog 8.2302 drops the byte at each split point; we keep every byte
//!   (`oversize_messages_are_split_without_losing_a_byte` below).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_listener};
use gsslog_tests::rsyslog::Rsyslogd;

fn rules(root: &Path) -> String {
    let seed = include_str!("../../syslog/testdata/server.conf");
    // Only the rules and templates of the seed: the listener lines are each
    // receiver's own.
    let seed_rules: String = seed
        .lines()
        .filter(|l| !l.starts_with("$ModLoad") && !l.starts_with("$InputGSS"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = root.display();
    let seed_rules = seed_rules.replace("/var/log/hosts", &format!("{r}/hosts"));
    format!(
        "global(net.enableDNS=\"off\")\n{seed_rules}\n\
         $template Props,\"%pri%|%pri-text%|%syslogfacility%|%syslogfacility-text%|%syslogseverity%|%syslogseverity-text%|%hostname%|%fromhost%|%fromhost-ip%|%syslogtag%|%programname%|%timereported:::date-rfc3339%|%timestamp%|%inputname%|%app-name%|%procid%|%msgid%|%structured-data%|%syslogtag:1:32%|[%msg:::sp-if-no-1st-sp%]|%timereported:::date-year%%timereported:::date-month%%timereported:::date-day%|%msg%|%rawmsg%\\n\"\n\
         $template PerProgram,\"{r}/by-program/%programname%/%syslogseverity-text%.log\"\n\
         *.* {r}/all.props;Props\n\
         *.* {r}/all.trad;RSYSLOG_TraditionalFileFormat\n\
         *.* {r}/all.file;RSYSLOG_FileFormat\n\
         local3.* -?PerProgram\n\
         :msg, contains, \"DISCARD-ME\" ~\n\
         *.* {r}/after-discard.log\n\
         :programname, isequal, \"sshd\" {r}/sshd.log\n\
         :msg, !contains, \"a\" {r}/no-a.log\n\
         :hostname, startswith, \"web\" {r}/web.log\n\
         :msg, regex, \"fac [0-9]* sev 7\" {r}/regex.log\n\
         :msg, ereregex, \"sev (0|1)$\" {r}/ereregex.log\n\
         mail.warn {r}/mail-warn.log\n\
         mail.=info {r}/mail-info.log\n\
         mail.!err {r}/mail-not-err.log\n\
         mail.*;mail.!err {r}/mail-below-err.log\n\
         mail.*;mail.!=info {r}/mail-not-info.log\n\
         *.*;mail.none;local3.none {r}/not-mail.log\n"
    )
}

fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = Vec::new();
    // Every facility and severity, with and without a pid.
    for fac in 0..24u32 {
        for sev in 0..8u32 {
            let pri = fac * 8 + sev;
            let tag = if sev % 2 == 0 { format!("prog{fac}[{}]:", 100 + sev) } else { format!("prog{fac}:") };
            c.push(format!("<{pri}>Nov 23 12:{fac:02}:{sev:02} host{fac} {tag} message fac {fac} sev {sev}").into_bytes());
        }
    }
    let more: &[&[u8]] = &[
        // RFC 5424, with structured data, with nil fields, with fractions and offsets.
        b"<165>1 2026-11-23T22:14:15.003Z mymachine evntslog 123 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] An application event",
        b"<13>1 2026-11-23T10:00:00.123456+01:00 web01 app - - - nil procid",
        b"<13>1 2026-11-23T10:00:00-05:30 web02 - - - [a@1 x=\"y\\]z\"][b@2] two SD elements",
        b"<134>1 2026-11-23T10:00:00Z host app 1 - - ",
        // RFC 3164 variants.
        b"<38>Nov  3 01:02:03 vm sshd[42]: single-digit day",
        b"<38>Nov 3 01:02:03 vm sshd[42]: one-digit day without padding",
        b"<38> Nov 23 12:00:00 procurve sshd: leading space before the date",
        b"<38>Nov 23 12:00:00: cisco-style colon after the time",
        b"<38>Nov 23 2026 12:00:00 yearhost sshd: year before the time",
        b"<38>2026-11-23T12:00:00.5+02:00 isohost sshd: RFC 3339 date in a 3164 message",
        b"<38>Nov 23 12:00:00.123 frachost sshd: fractional seconds",
        b"<30>Nov 23 12:00:00 node1 pbs mom: space in the tag",
        b"<30>Nov 23 12:00:00 node1 pbs_mom: underscore tag",
        b"<30>Nov 23 12:00:00 pbs_mom: no hostname at all",
        b"<30>Nov 23 12:00:00 node1 postfix/smtpd[123]: slash in the tag",
        b"<30>Nov 23 12:00:00 node1 averyveryveryveryverylongprogramname_beyond_32[99]: long tag",
        b"<30>Nov 23 12:00:00 node1 notag message without a colon",
        b"<30>Nov 23 12:00:00 host-with-dash- tag: hostname ending in a dash",
        b"<30>Nov 23 12:00:00 host.example.org sshd: dotted hostname",
        b"<30>Nov 23 12:00:00 node1 sshd:no space after the colon",
        b"<30>Nov 23 12:00:00 node1 sshd:    lots   of   spaces   ",
        b"<30>Nov 23 12:00:00 node1 sshd: tab\there and ctrl\x01x and del\x7f and esc\x1b[31m",
        b"<30>Nov 23 12:00:00 node1 sshd: latin1 \xe9 and broken utf8 \xff\xfe",
        b"<30>Nov 23 12:00:00 node1 sshd: trailing spaces   ",
        b"<30>Nov 23 12:00:00 node1 sshd: DISCARD-ME stops here",
        b"<30>Nov 23 12:00:00 node1 sshd: ends with a backslash \\",
        b"<0>Nov 23 12:00:00 kernhost kernel: pri zero",
        b"<191>Nov 23 12:00:00 lasthost app: pri 191",
        b"<38>nov 23 12:00:00 lowerhost sshd: lowercase month",
        b"<38>Nov 23 12:00:00 web03 sshd[1]: Accepted publickey for root",
        b"<86>Nov 23 12:00:00 web03 sudo: pam_unix(sudo:session): session opened",
        b"<4>Nov 23 12:00:00 web03 kernel: [ 12.345678] oom-killer",
        b"<154>Nov 23 12:00:00 node7 localapp[7]: local3 goes per program",
        b"<155>Nov 23 12:00:00 node7 other/app: slash programname per program",
    ];
    c.extend(more.iter().map(|m| m.to_vec()));
    let mut long = b"<30>Nov 23 12:00:00 node1 longmsg: ".to_vec();
    long.extend(std::iter::repeat_n(b'L', 4000));
    c.push(long);
    c
}

/// Sends the corpus on one connection: mostly LF-framed, some octet-counted.
fn send(port: u16, corpus: &[Vec<u8>]) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut wire = Vec::new();
    for (i, m) in corpus.iter().enumerate() {
        if i % 5 == 4 {
            wire.extend_from_slice(format!("{} ", m.len()).as_bytes());
            wire.extend_from_slice(m);
        } else {
            wire.extend_from_slice(m);
            wire.push(b'\n');
        }
    }
    s.write_all(&wire).unwrap();
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

#[test]
fn same_corpus_same_files_as_rsyslog() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let n = corpus.len();

    let rs_root = dir.path().join("rsyslog");
    let rs_port = free_port().unwrap();
    let rs_conf = format!("$ModLoad imtcp\n$InputTCPServerRun {rs_port}\n{}", rules(&rs_root));
    let mut rsyslogd = Rsyslogd::start(&dir.path().join("rs"), &rs_conf, &[]).unwrap();
    wait_for_listener(SocketAddr::from(([127, 0, 0, 1], rs_port)), Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}\n{}", rsyslogd.log()));

    let our_root = dir.path().join("ours");
    let our_port = free_port().unwrap();
    let our_conf = format!("$ModLoad imtcp\n$InputTCPServerRun {our_port}\n{}", rules(&our_root));
    let mut ours = Daemon::start("imgssapi", &dir.path().join("collector"), &our_conf, &[], &[]).unwrap();
    ours.wait_for_log("collector running", Duration::from_secs(20)).unwrap();

    send(rs_port, &corpus);
    send(our_port, &corpus);
    // Oversize messages become several lines, so wait until each output has
    // every message and has stopped growing.
    for (root, name) in [(&rs_root, "rsyslog"), (&our_root, "ours")] {
        let path = root.join("all.trad");
        let start = std::time::Instant::now();
        let mut last = (0, std::time::Instant::now());
        while start.elapsed() < Duration::from_secs(20) {
            let now = line_count(&path);
            if now != last.0 {
                last = (now, std::time::Instant::now());
            } else if now >= n && last.1.elapsed() > Duration::from_millis(500) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(line_count(&path) >= n, "{name} did not write every message");
    }
    std::thread::sleep(Duration::from_millis(300));
    rsyslogd.ensure_running().unwrap();
    rsyslogd.stop().unwrap();
    ours.stop(Duration::from_secs(10)).unwrap();

    let theirs = tree(&rs_root);
    let mine = tree(&our_root);
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&mine), names(&theirs), "the same files");
    assert!(theirs.len() > 20, "the rules wrote a real tree: {:?}", names(&theirs));
    for (path, expected) in &theirs {
        let got = &mine[path];
        if got != expected {
            let e = String::from_utf8_lossy(expected);
            let g = String::from_utf8_lossy(got);
            let first = e.lines().zip(g.lines()).find(|(a, b)| a != b);
            panic!("{} differs; first differing line:\nrsyslog: {:?}\nours:    {:?}", path.display(), first.map(|f| f.0), first.map(|f| f.1));
        }
    }
}

#[test]
fn oversize_messages_are_split_without_losing_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw.log");
    let port = free_port().unwrap();
    let conf = format!("global(net.enableDNS=\"off\")\n$ModLoad imtcp\n$InputTCPServerRun {port}\n$template Raw,\"%rawmsg%\\n\"\n*.* {};Raw\n", out.display());
    let mut ours = Daemon::start("imgssapi", &dir.path().join("collector"), &conf, &[], &[]).unwrap();
    ours.wait_for_log("collector running", Duration::from_secs(20)).unwrap();
    let mut huge = b"<30>Nov 23 12:00:00 node1 hugemsg: ".to_vec();
    huge.extend((0..20000).map(|i| b'a' + (i % 26) as u8));
    send(port, &[huge.clone()]);
    let start = std::time::Instant::now();
    while line_count(&out) < 3 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    ours.stop(Duration::from_secs(10)).unwrap();
    let written = std::fs::read(&out).unwrap();
    let pieces: Vec<&[u8]> = written.split(|c| *c == b'\n').filter(|p| !p.is_empty()).collect();
    assert_eq!(pieces.iter().map(|p| p.len()).collect::<Vec<_>>(), [8096, 8096, huge.len() - 2 * 8096]);
    assert_eq!(pieces.concat(), huge, "every byte kept, in order");
}

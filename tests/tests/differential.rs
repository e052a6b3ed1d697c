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
//! - Messages without a timestamp or with an invalid PRI (marked `NOTIME`)
//!   are compared through a template without time fields only: their time
//!   is the reception time, which two receivers cannot share.
//! - An RFC 5424 APP-NAME and PROCID longer than 511 bytes together: rsyslog
//!   8.2302 emulates the TAG with the untruncated length and reads past its
//!   buffer; we stop at 511 bytes.
//! - `secpath-replace` on a value that holds `//` or ends in `/` after
//!   another option made a copy: rsyslog's in-place loop skips the byte
//!   after each `/` (and past the end); we replace every `/`.
//! - A message to a dynamic-file action right after one whose file could not
//!   be opened (a name longer than 255 bytes): rsyslog 8.2302's omfile
//!   fails the open, the action is suspended, and the next message to that
//!   action is discarded as well, whatever its file; we write it. (Found by
//!   the generated program names of 32 and more characters, which rsyslog
//!   otherwise writes under their full names, as we do.)
//! - A message over `$MaxMessageSize`: both split it into pieces of that size,
//!   but rsyslog 8.2302 drops the byte at each split point; we keep every byte
//!   (`oversize_messages_are_split_without_losing_a_byte` below).
//! - C1 control characters (raw bytes 0x80-0x9F, U+0080-U+009F in UTF-8):
//!   rsyslog lets them through; we escape them as it escapes C0 (`#200`),
//!   so that a terminal showing the file never acts on them
//!   (`syslog::c1`, and `message::tests` for the escaping).

use std::net::SocketAddr;
use std::time::Duration;

use gsslog_tests::daemon::Daemon;
use gsslog_tests::differential::{compare_trees, corpus, line_count, rules, send, timed_count, wait_for_lines};
use gsslog_tests::net::{free_port, wait_for_listener};
use gsslog_tests::rsyslog::Rsyslogd;

#[test]
fn same_corpus_same_files_as_rsyslog() {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("GSSLOG_KEEP_DIFFERENTIAL").is_some() {
        println!("keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    let corpus = corpus();
    // Messages marked NOTIME stop before all.trad.
    let n = timed_count(&corpus);

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

    send(rs_port, &corpus).unwrap();
    send(our_port, &corpus).unwrap();
    for (root, name) in [(&rs_root, "rsyslog"), (&our_root, "ours")] {
        let lines = wait_for_lines(&root.join("all.trad"), n, Duration::from_secs(20));
        println!("{name}: {lines} of {n} lines in all.trad");
        assert!(lines >= n || std::env::var_os("GSSLOG_KEEP_DIFFERENTIAL").is_some(), "{name} did not write every message:\nrsyslog:\n{}\nours:\n{}", rsyslogd.log(), ours.log().lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).collect::<Vec<_>>().join("\n"));
    }
    std::thread::sleep(Duration::from_millis(300));
    rsyslogd.ensure_running().unwrap();
    rsyslogd.stop().unwrap();
    ours.stop(Duration::from_secs(10)).unwrap();

    compare_trees(&rs_root, &our_root).unwrap_or_else(|e| panic!("{e}"));
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
    send(port, &[huge.clone()]).unwrap();
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

//! An on-path attacker between our shipper and our collector (issue #11):
//! a proxy that speaks rsyslog's GSS framing passes the handshake through
//! and then changes, cuts, extends, replays, reorders or leaves out one data
//! token. Both daemons run as they are deployed (the shipper from a legacy
//! config with `$GssMode encryption` or `integrity`), on our RFC 4121 code
//! and, with `GSSLOG_MIT_MESSAGE_TOKENS=1`, on MIT's.
//!
//! For every case the collector must end the session with
//! `session closed on error ... error=unwrap failed: <cause>`, and no damaged
//! message may reach the output file: every line is byte for byte one message
//! the test sent, and the case's lines are exactly the messages sent before
//! the tampering (all of them, in order, once). A control case (a token body
//! rotated with RRC saying so, which RFC 4121 allows) must be accepted whole.
//!
//! The same kinds, fewer of them, also come from a stock rsyslog 8.2302
//! omgssapi, which asks for no replay or sequence detection: the collector
//! must enforce the order for it too.
//!
//! One collector per matrix serves all its cases; each case has its own
//! shipper and proxy (the proxy lets one session through, so a shipper that
//! reconnects cannot deliver anything again). A few cases run at a time.
//! With `--nocapture` the test prints the collector's error for every case.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_listener};
use gsslog_tests::proxy::{ByteIndex, Earlier, Tamper, TamperProxy};
use gsslog_tests::realm::{EnvVar, TestRealm, SHARED_CLIENT};
use gsslog_tests::rsyslog::Rsyslogd;

const WAIT: Duration = Duration::from_secs(30);
/// How long the proxy waits for the collector to end a session after a
/// tampered token before it closes the session itself. Only a case whose
/// tampered token was accepted waits it out.
const REFUSAL_WAIT: Duration = Duration::from_secs(8);
/// Cases in flight at a time (each is one shipper process).
const PARALLEL_CASES: usize = 3;

/// Why the collector must refuse a token: one of these per tampering kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// TOK_ID is not `05 04`.
    TokenId,
    /// The flags say the token came from the collector's own side.
    Direction,
    /// Clear header fields that disagree with each other or with the sealed
    /// copy of the header (filler, EC, SND_SEQ of a sealed token).
    Header,
    /// Too few bytes for what the header says.
    Short,
    /// The checksum (integrity-only) or the sealed token's MAC does not match.
    Integrity,
    /// Not the next sequence number: replayed, reordered or one left out.
    Sequence,
}

/// THE table of what the collector's `error=unwrap failed: ...` must contain
/// for each cause: any one word of the list. On MIT's `gss_unwrap` path the
/// collector may check the clear header itself first (then it says what our
/// code says), or leave it to MIT, whose status codes tell only a defective
/// token from a bad MIC (which of the two depends on the order of MIT's
/// checks; texts from MIT's `gss_display_status`, classified by
/// gsswire/src/error.rs): that path takes the words of both columns. Adjust
/// the words here, and only here, when the texts change.
const CAUSE_WORDS: &[(Cause, &[&str], &[&str])] = &[
    // (cause, what our code says, what MIT's path may say instead)
    (Cause::TokenId, &["not an RFC 4121 wrap token"], MIT_BAD_TOKEN),
    (Cause::Direction, &["reflected", "claims to come from"], MIT_BAD_TOKEN),
    (Cause::Header, &["header"], MIT_BAD_TOKEN),
    (Cause::Short, &["short"], MIT_BAD_TOKEN),
    (Cause::Integrity, &["integrity"], MIT_BAD_TOKEN),
    (Cause::Sequence, &["sequence"], &["duplicate", "later token", "expected per-message token"]),
];

/// What MIT's path says about any token that is not authentic or not well formed.
const MIT_BAD_TOKEN: &[&str] = &["defective token", "integrity check failed"];

/// One way of tampering, and what the collector must say about it, in the
/// encryption and in the integrity mode (any of the causes listed: where the
/// order of two checks decides, both are right).
struct Kind {
    name: String,
    tamper: Tamper,
    encryption: &'static [Cause],
    integrity: &'static [Cause],
}

/// Every way of tampering the test tries. No causes: the token is
/// legitimate and must be accepted.
fn kinds() -> Vec<Kind> {
    use Cause::*;
    let xor = |i: usize, mask: u8| Tamper::XorByte { index: ByteIndex::FromStart(i), mask };
    let mut kinds = vec![
        // The clear 16-byte header, field by field, every byte in turn.
        Kind { name: "tok-id-byte-0".into(), tamper: xor(0, 0x01), encryption: &[TokenId], integrity: &[TokenId] },
        Kind { name: "tok-id-byte-1".into(), tamper: xor(1, 0x01), encryption: &[TokenId], integrity: &[TokenId] },
        Kind { name: "flags-sent-by-acceptor".into(), tamper: xor(2, 0x01), encryption: &[Direction], integrity: &[Direction] },
        // A sealed token read as integrity-only has EC 0, not the checksum
        // length; an integrity-only token read as sealed does not decrypt.
        Kind { name: "flags-sealed".into(), tamper: xor(2, 0x02), encryption: &[Header, Integrity], integrity: &[Integrity, Short] },
        // The other key does not verify, if the flag is not checked against the context first.
        Kind {
            name: "flags-acceptor-subkey".into(),
            tamper: xor(2, 0x04),
            encryption: &[Header, Integrity],
            integrity: &[Header, Integrity],
        },
        Kind { name: "filler-byte-3".into(), tamper: xor(3, 0x01), encryption: &[Header], integrity: &[Header] },
        Kind { name: "ec-byte-4".into(), tamper: xor(4, 0x01), encryption: &[Header, Short], integrity: &[Header] },
        Kind { name: "ec-byte-5".into(), tamper: xor(5, 0x01), encryption: &[Header], integrity: &[Header] },
        Kind { name: "rrc-byte-6".into(), tamper: xor(6, 0x01), encryption: &[Integrity, Header], integrity: &[Integrity, Header] },
        Kind { name: "rrc-byte-7".into(), tamper: xor(7, 0x01), encryption: &[Integrity, Header], integrity: &[Integrity, Header] },
    ];
    for i in 8..16 {
        let name = format!("snd-seq-byte-{i}");
        // Sealed: the clear SND_SEQ no longer matches the sealed copy.
        // Integrity-only: the checksum covers the header.
        kinds.push(Kind { name, tamper: xor(i, 0x01), encryption: &[Header], integrity: &[Integrity] });
    }
    kinds.extend([
        // CVE-2024-37370: a raised EC must not cut the end off the plaintext.
        Kind { name: "ec-raised-by-4".into(), tamper: Tamper::RaiseEc { by: 4 }, encryption: &[Header], integrity: &[Header] },
        Kind {
            name: "body-first-byte".into(),
            tamper: Tamper::XorByte { index: ByteIndex::FromStart(16), mask: 0x20 },
            encryption: &[Integrity],
            integrity: &[Integrity],
        },
        Kind {
            name: "body-middle-byte".into(),
            tamper: Tamper::XorByte { index: ByteIndex::BodyMiddle, mask: 0x20 },
            encryption: &[Integrity],
            integrity: &[Integrity],
        },
        Kind {
            name: "checksum-last-byte".into(),
            tamper: Tamper::XorByte { index: ByteIndex::FromEnd(1), mask: 0x80 },
            encryption: &[Integrity],
            integrity: &[Integrity],
        },
        Kind { name: "truncated-by-1".into(), tamper: Tamper::Truncate { keep: -1 }, encryption: &[Integrity], integrity: &[Integrity] },
        Kind { name: "truncated-to-header".into(), tamper: Tamper::Truncate { keep: 16 }, encryption: &[Short], integrity: &[Short, Header] },
        Kind { name: "truncated-to-12".into(), tamper: Tamper::Truncate { keep: 12 }, encryption: &[Short], integrity: &[Short] },
        Kind { name: "extended-by-1".into(), tamper: Tamper::Extend { bytes: 1 }, encryption: &[Integrity], integrity: &[Integrity] },
        Kind { name: "replay-first".into(), tamper: Tamper::Replay(Earlier::First), encryption: &[Sequence], integrity: &[Sequence] },
        Kind { name: "replay-previous".into(), tamper: Tamper::Replay(Earlier::Previous), encryption: &[Sequence], integrity: &[Sequence] },
        Kind { name: "reordered".into(), tamper: Tamper::Reorder, encryption: &[Sequence], integrity: &[Sequence] },
        Kind { name: "left-out".into(), tamper: Tamper::Drop, encryption: &[Sequence], integrity: &[Sequence] },
        // The control: a legitimate rotation is accepted.
        Kind { name: "rotated-rrc-control".into(), tamper: Tamper::Rotate { by: 7 }, encryption: &[], integrity: &[] },
    ]);
    kinds
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageTokens {
    /// Our RFC 4121 code with the keys exported from MIT (the default).
    Ours,
    /// MIT's `gss_wrap`/`gss_unwrap` (`GSSLOG_MIT_MESSAGE_TOKENS=1`).
    Mit,
}

impl MessageTokens {
    fn env(self, mut env: Vec<EnvVar>) -> Vec<EnvVar> {
        if self == MessageTokens::Mit {
            env.push(("GSSLOG_MIT_MESSAGE_TOKENS".into(), "1".into()));
        }
        env
    }

    /// What the collector logs as the session's `message_tokens`.
    fn logged(self) -> &'static str {
        match self {
            MessageTokens::Ours => "message_tokens=\"gsslog\"",
            MessageTokens::Mit => "message_tokens=\"mit\"",
        }
    }

    /// The words of [`CAUSE_WORDS`] that name `cause` on this path.
    fn words(self, cause: Cause) -> Vec<&'static str> {
        let (_, ours, mit) = CAUSE_WORDS.iter().find(|(c, _, _)| *c == cause).expect("every cause is in CAUSE_WORDS");
        match self {
            MessageTokens::Ours => ours.to_vec(),
            MessageTokens::Mit => [*ours, *mit].concat(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Encryption,
    Integrity,
}

impl Mode {
    /// The shipper's config lines for this mode. The two modes also use the
    /// two frame byte orders, so the proxy's detection sees both.
    fn config(self) -> &'static str {
        match self {
            Mode::Encryption => "$GssMode encryption\n$GssForwardFrameByteOrder le\n",
            Mode::Integrity => "$GssMode integrity\n$GssForwardFrameByteOrder be\n",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Encryption => "encryption",
            Mode::Integrity => "integrity",
        }
    }
}

/// One case: a tampering kind in one mode, against one collector.
struct Case<'k> {
    id: usize,
    kind: &'k Kind,
    mode: Mode,
    shipper: Shipper,
    tokens: MessageTokens,
}

impl Case<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.mode.name(), self.kind.name)
    }

    fn causes(&self) -> &'static [Cause] {
        match self.mode {
            Mode::Encryption => self.kind.encryption,
            Mode::Integrity => self.kind.integrity,
        }
    }

    /// The message part (`%msg%`) of message `n` of `group`: unique among the
    /// messages of the collector's file, of varied lengths, ending in its own
    /// id so that a cut tail shows.
    fn message(&self, group: &str, n: usize) -> String {
        let pad = "p".repeat((self.id * 7 + n * 13) % 37);
        format!("case={:03} {group}-{n} {pad} end={:03}-{group}-{n}", self.id, self.id)
    }

    fn group(&self, group: &str, count: usize) -> Vec<String> {
        (0..count).map(|n| self.message(group, n)).collect()
    }
}

/// The syslog line the test feeds the shipper for a `%msg%` of `msg`.
fn syslog_line(msg: &str) -> String {
    format!("<13>Nov 23 12:00:00 node1 tamper:{msg}")
}

/// What the collector writes for that line: the shipper forwards it in
/// rsyslog's traditional format, whose `%msg:::sp-if-no-1st-sp%` puts a space
/// after the tag, and `%msg%` keeps it.
fn written_line(msg: &str) -> String {
    format!(" {msg}")
}

struct Collector {
    daemon: Daemon,
    addr: SocketAddr,
    out: PathBuf,
}

fn start_collector(dir: &Path, tokens: MessageTokens) -> Collector {
    let realm = TestRealm::shared();
    let port = free_port().unwrap();
    let out = dir.join("received.log");
    let conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut daemon = Daemon::start("imgssapi", &dir.join("collector"), &conf, &tokens.env(realm.server_env()), &["-x"]).unwrap();
    daemon.wait_for_log("collector running", WAIT).unwrap();
    Collector { daemon, addr: SocketAddr::from(([127, 0, 0, 1], port)), out }
}

/// Who sends through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shipper {
    /// Our omgssapi, from the grid's legacy client stanza. It asks for
    /// replay and sequence detection.
    Ours,
    /// Debian's rsyslog 8.2302 with its omgssapi, which asks for neither.
    StockRsyslog,
}

/// A running shipper and the TCP port it reads LF-framed messages on.
struct RunningShipper {
    process: ShipperProcess,
    input: u16,
}

enum ShipperProcess {
    Ours(Daemon),
    Stock(Rsyslogd),
}

impl RunningShipper {
    /// The end of the shipper's log, for a failure message.
    fn log_tail(&self) -> String {
        let log = match &self.process {
            ShipperProcess::Ours(d) => d.log(),
            ShipperProcess::Stock(d) => d.log(),
        };
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Shipper {
    fn start(self, dir: &Path, proxy: SocketAddr, mode: Mode, tokens: MessageTokens) -> anyhow::Result<RunningShipper> {
        let realm = TestRealm::shared();
        let input = free_port()?;
        let env = tokens.env(realm.client_env(SHARED_CLIENT));
        let process = match self {
            Shipper::Ours => {
                let seed = include_str!("../../syslog/testdata/client.conf")
                    .replace("$GssMode encryption\n", "")
                    .replace("<server_name>:<port>", &format!("localhost:{}", proxy.port()));
                let conf = format!("{}$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n{seed}", mode.config());
                let work = dir.join("work");
                let args = ["--work-directory", work.to_str().unwrap_or_default(), "--tcp", &format!("127.0.0.1:{input}")];
                let mut d = Daemon::start("omgssapi", dir, &conf, &env, &args)?;
                d.wait_for_log("shipper running", WAIT)?;
                ShipperProcess::Ours(d)
            }
            Shipper::StockRsyslog => {
                // Only the test's messages (user.notice) go out, not rsyslogd's own.
                let conf = format!(
                    "$ModLoad imtcp\n$InputTCPServerRun {input}\n$ModLoad omgssapi\n$GssForwardServiceName host\n\
                     $GssMode {}\nuser.* :omgssapi:localhost:{}\n",
                    mode.name(),
                    proxy.port()
                );
                let d = Rsyslogd::start(dir, &conf, &env)?;
                wait_for_listener(SocketAddr::from(([127, 0, 0, 1], input)), WAIT)?;
                ShipperProcess::Stock(d)
            }
        };
        Ok(RunningShipper { process, input })
    }
}

/// Feeds the shipper's TCP input, one connection per group of messages.
fn send(shipper: &RunningShipper, messages: &[String]) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", shipper.input))?;
    let text: String = messages.iter().map(|m| syslog_line(m) + "\n").collect();
    s.write_all(text.as_bytes())?;
    Ok(())
}

fn read_lines(path: &Path) -> Vec<String> {
    // Bytes, not UTF-8: whatever reached the file is looked at.
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect()
}

fn wait_for_lines(path: &Path, expected: &[String], what: &str, shipper: &RunningShipper) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let lines = read_lines(path);
        if expected.iter().all(|e| lines.contains(&written_line(e))) {
            return Ok(());
        }
        if start.elapsed() > WAIT {
            anyhow::bail!("{what} did not all reach the file within {WAIT:?}; the shipper's log ends:\n{}", shipper.log_tail());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The collector's log line that ends the session of `peer`, if written yet.
fn session_end(collector: &Daemon, peer: SocketAddr) -> Option<String> {
    let needle = format!("peer={peer} ");
    collector.log().lines().find(|l| l.contains("session closed") && l.contains(&needle)).map(str::to_string)
}

fn wait_for_session_end(collector: &Daemon, peer: SocketAddr, timeout: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Some(line) = session_end(collector, peer) {
            return Some(line);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a case sent and what must be in the file for it.
struct Outcome {
    sent: Vec<String>,
    expected: Vec<String>,
}

/// Runs one case up to the collector's verdict on its session. Returns what
/// the case sent and must find in the file, and why it failed, if it did.
fn run_case(case: &Case, collector: &Collector, dir: &Path) -> (Outcome, Result<(), String>) {
    let before = [case.group("a1", 3), case.group("a2", 2)].concat();
    let after = [case.group("b1", 3), case.group("b2", 2)].concat();
    let verdict = drive_case(case, collector, dir, &before, &after).map_err(|e| format!("{e:#}"));
    let sent = [before.clone(), after].concat();
    let expected = if case.causes().is_empty() { sent.clone() } else { before };
    (Outcome { sent, expected }, verdict)
}

fn drive_case(case: &Case, collector: &Collector, dir: &Path, before: &[String], after: &[String]) -> anyhow::Result<()> {
    let tokens = case.tokens;
    let proxy = TamperProxy::start(collector.addr)?;
    let shipper = case.shipper.start(dir, proxy.addr(), case.mode, tokens)?;
    // Two tokens at least before the tampering: each group is delivered
    // before the next is sent.
    send(&shipper, &before[..3])?;
    wait_for_lines(&collector.out, &before[..3], "the first messages", &shipper)?;
    send(&shipper, &before[3..])?;
    wait_for_lines(&collector.out, before, "the messages before the tampering", &shipper)?;
    let peer = proxy.status().upstream_local.ok_or_else(|| anyhow::anyhow!("the proxy has no session"))?;
    let opened = collector.daemon.log().lines().find(|l| l.contains("GSS session opened") && l.contains(&format!("peer={peer} "))).map(str::to_string);
    match opened {
        Some(line) if line.contains(tokens.logged()) => {}
        other => anyhow::bail!("the session did not open on the expected code path ({}): {other:?}", tokens.logged()),
    }

    proxy.arm(case.kind.tamper.clone());
    send(&shipper, &after[..3])?;
    if case.kind.tamper.tokens_needed() > 1 {
        proxy.wait(WAIT, "the first token after arming", |s| s.since_armed >= 1)?;
        send(&shipper, &after[3..])?;
    }
    proxy.wait(WAIT, "the tampering done", |s| s.applied)?;

    if case.causes().is_empty() {
        // The control: everything arrives, and the session stays up.
        if case.kind.tamper.tokens_needed() == 1 {
            send(&shipper, &after[3..])?;
        }
        wait_for_lines(&collector.out, after, "the messages after the legitimate change", &shipper)?;
        if let Some(line) = session_end(&collector.daemon, peer) {
            anyhow::bail!("a legitimate token ended the session: {line}");
        }
        proxy.cut();
        wait_for_session_end(&collector.daemon, peer, WAIT).ok_or_else(|| anyhow::anyhow!("the session did not end after the cut"))?;
        return Ok(());
    }

    // A refused token ends the session at once. If nothing happens, the
    // proxy closes the session cleanly: a session that then ends without an
    // error took the tampered stream (and whatever the collector made of it
    // reaches the file), while a late refusal still shows as one.
    let line = match wait_for_session_end(&collector.daemon, peer, REFUSAL_WAIT) {
        Some(line) => line,
        None => {
            proxy.cut();
            wait_for_session_end(&collector.daemon, peer, WAIT).ok_or_else(|| anyhow::anyhow!("the session did not end after the cut"))?
        }
    };
    if !line.contains("session closed on error") || !line.contains("unwrap failed") {
        anyhow::bail!("the tampered stream was not refused: the session ended with {line:?}");
    }
    let error = line.split("error=").nth(1).unwrap_or_default();
    println!("{:?} shipper, {tokens:?} tokens, {}: {error}", case.shipper, case.name());
    let named = case.causes().iter().any(|c| tokens.words(*c).iter().any(|w| error.contains(w)));
    if !named {
        let wanted: Vec<_> = case.causes().iter().map(|c| (c, tokens.words(*c))).collect();
        anyhow::bail!("the error does not name the cause {wanted:?}: {error}");
    }
    Ok(())
}

/// One case's result: what it sent and must find in the file, and the
/// verdict on its session.
struct CaseResult {
    name: String,
    outcome: Outcome,
    verdict: Result<(), String>,
}

/// After the collector has stopped (its files flushed): every line is one
/// message the test sent, and each case's lines are exactly what it expects.
/// Returns the problems by case name (`file` for lines of no case).
fn check_file(out: &Path, results: &[CaseResult]) -> BTreeMap<String, Vec<String>> {
    let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let sent_by: HashMap<String, &str> =
        results.iter().flat_map(|r| r.outcome.sent.iter().map(move |m| (written_line(m), r.name.as_str()))).collect();
    let mut found: HashMap<&str, Vec<String>> = HashMap::new();
    for line in read_lines(out) {
        match sent_by.get(&line) {
            Some(case) => found.entry(case).or_default().push(line),
            None => problems.entry("file".into()).or_default().push(format!("damaged or unknown line: {line:?}")),
        }
    }
    for r in results {
        let got = found.remove(r.name.as_str()).unwrap_or_default();
        let expected: Vec<String> = r.outcome.expected.iter().map(|m| written_line(m)).collect();
        if got != expected {
            problems.entry(r.name.clone()).or_default().push(format!("the file holds {got:?}, expected exactly {expected:?}"));
        }
    }
    problems
}

fn run_matrix(shipper: Shipper, tokens: MessageTokens, kinds: &[Kind]) {
    TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut collector = start_collector(dir.path(), tokens);
    let cases: Vec<Case> = [Mode::Encryption, Mode::Integrity]
        .into_iter()
        .flat_map(|mode| kinds.iter().map(move |kind| (mode, kind)))
        .enumerate()
        .map(|(id, (mode, kind))| Case { id, kind, mode, shipper, tokens })
        .collect();
    let next_case = Mutex::new(cases.iter());
    let results: Mutex<BTreeMap<usize, CaseResult>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_CASES {
            scope.spawn(|| loop {
                let Some(case) = next_case.lock().unwrap().next() else { break };
                let case_dir = dir.path().join(format!("case-{:03}", case.id));
                let (outcome, verdict) = run_case(case, &collector, &case_dir);
                results.lock().unwrap().insert(case.id, CaseResult { name: case.name(), outcome, verdict });
            });
        }
    });
    assert!(collector.daemon.stop(WAIT).unwrap().success(), "{}", collector.daemon.log());
    let results: Vec<CaseResult> = results.into_inner().unwrap().into_values().collect();
    let mut failures = check_file(&collector.out, &results);
    for r in &results {
        if let Err(why) = &r.verdict {
            failures.entry(r.name.clone()).or_default().insert(0, why.clone());
        }
    }
    let report: Vec<String> = failures.iter().map(|(name, why)| format!("  {name}:\n    {}", why.join("\n    "))).collect();
    let what = format!("{shipper:?} shipper, {tokens:?} message tokens on both ends");
    let failed = results.iter().filter(|r| failures.contains_key(&r.name)).count();
    println!("{} cases ({what}), {failed} failed", results.len());
    assert!(failures.is_empty(), "{failed} of {} cases failed ({what}):\n{}", results.len(), report.join("\n"));
}

#[test]
fn tampered_tokens_are_refused_on_our_message_token_code() {
    run_matrix(Shipper::Ours, MessageTokens::Ours, &kinds());
}

#[test]
fn tampered_tokens_are_refused_on_mit_message_token_code() {
    run_matrix(Shipper::Ours, MessageTokens::Mit, &kinds());
}

/// The kinds that do not depend on who made the token, from a stock
/// rsyslog, which asks for no replay or sequence detection: the collector
/// must enforce the order anyway.
fn stock_kinds() -> Vec<Kind> {
    let wanted = ["snd-seq-byte-15", "ec-raised-by-4", "body-middle-byte", "replay-first", "replay-previous", "reordered", "left-out", "rotated-rrc-control"];
    kinds().into_iter().filter(|k| wanted.contains(&k.name.as_str())).collect()
}

#[test]
fn tampered_tokens_from_stock_rsyslog_are_refused_on_our_message_token_code() {
    run_matrix(Shipper::StockRsyslog, MessageTokens::Ours, &stock_kinds());
}

#[test]
fn tampered_tokens_from_stock_rsyslog_are_refused_on_mit_message_token_code() {
    run_matrix(Shipper::StockRsyslog, MessageTokens::Mit, &stock_kinds());
}

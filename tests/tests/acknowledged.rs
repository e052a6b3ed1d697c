//! The acknowledged mode (`$ActionGSSForwardAcknowledged`) between our
//! shipper and our collector, through the real KDC, under load: faults of
//! either end, graceful or `kill -9`, and the fallback against Debian's
//! rsyslog imgssapi.
//!
//! Every message names its sender and its sequence number; every check
//! compares what the collector wrote with what was really sent (or, for the
//! shipper's own input, what it confirmed), sender by sender: each message
//! present, the first occurrences in order, and duplicates counted (none
//! allowed after a graceful restart; after a `kill -9` at most what the
//! shipper logged as sent and not acknowledged).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsslog_tests::daemon::{bin_path, logged_unacknowledged, Daemon};
use gsslog_tests::net::{free_port, paced_lines, wait_for_listener};
use gsslog_tests::realm::{TestRealm, REALM, SHARED_CLIENT};
use gsslog_tests::rsyslog::Rsyslogd;

const WAIT: Duration = Duration::from_secs(90);
/// The load of the fault tests, in messages per second over all senders.
const RATE: u64 = 50_000;
const SENDERS: u32 = 2;

/// The grid's client stanza for `port`, with `extra` directives before it.
fn stanza(port: u16, extra: &str) -> String {
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"));
    format!("$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n{extra}{seed}")
}

fn shipper_conf(port: u16, mode: &str) -> String {
    stanza(port, &format!("$ActionGSSForwardAcknowledged {mode}\n"))
}

/// Our collector writing `%msg%` of everything to `out` (appending: a
/// restarted collector writes on in the same file).
fn start_collector(dir: &Path, port: u16, out: &Path, extra: &str) -> Daemon {
    start_collector_in(TestRealm::shared(), dir, port, out, extra)
}

/// [`start_collector`] with the KDC of `realm`.
fn start_collector_in(realm: &TestRealm, dir: &Path, port: u16, out: &Path, extra: &str) -> Daemon {
    let conf = format!("$ModLoad imgssapi\n{extra}$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut d = Daemon::start("imgssapi", dir, &conf, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

fn start_shipper(dir: &Path, config: &str, args: &[&str]) -> Daemon {
    gsslog_tests::daemon::start_shipper(dir, config, args, WAIT).unwrap()
}

fn message(sender: u32, seq: u64) -> String {
    format!("<13>Nov 23 12:00:00 node{sender} app: sender {sender} seq {seq:08}")
}

/// Every (sender, seq) in `path`, in file order. A line torn by a `kill -9`
/// of the collector may run into the next one; only complete identifiers
/// (8 digits) count.
fn received(path: &Path) -> Vec<(u32, u64)> {
    identifiers(&std::fs::read(path).unwrap_or_default())
}

/// Every (sender, seq) in `bytes`: a file's lines, or what went over the
/// wire in integrity-only tokens (whose plaintext is not encrypted).
fn identifiers(bytes: &[u8]) -> Vec<(u32, u64)> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut found = Vec::new();
    for part in text.split("sender ").skip(1) {
        let mut words = part.split([' ', '\n']);
        let (Some(sender), Some("seq"), Some(seq)) = (words.next(), words.next(), words.next()) else { continue };
        if seq.len() != 8 {
            continue;
        }
        if let (Ok(sender), Ok(seq)) = (sender.parse(), seq.parse()) {
            found.push((sender, seq));
        }
    }
    found
}

/// What the collector wrote, checked against what each sender sent:
/// `sent[s]` messages numbered from 0 (or, with `extra_allowed`, possibly a
/// few more: accepted, but their confirmation lost in the kill).
struct Verdict {
    duplicates: u64,
}

fn check(got: &[(u32, u64)], sent: &BTreeMap<u32, u64>, extra_allowed: u64) -> Result<Verdict, String> {
    let mut by_sender: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for &(s, q) in got {
        by_sender.entry(s).or_default().push(q);
    }
    let mut duplicates = 0;
    for (&s, &n) in sent {
        let seqs = by_sender.remove(&s).unwrap_or_default();
        let mut seen = BTreeSet::new();
        let firsts: Vec<u64> = seqs.iter().copied().filter(|q| seen.insert(*q)).collect();
        duplicates += (seqs.len() - firsts.len()) as u64;
        if firsts.len() < n as usize {
            return Err(format!("sender {s}: {} of {n} messages arrived", firsts.len()));
        }
        if firsts.len() as u64 > n + extra_allowed {
            return Err(format!("sender {s}: {} different messages arrived, {n} were sent", firsts.len()));
        }
        if let Some((i, q)) = firsts.iter().enumerate().find(|(i, q)| **q != *i as u64) {
            return Err(format!("sender {s}: message {q} arrived where {i} belongs (out of order or invented)"));
        }
    }
    if let Some((s, _)) = by_sender.iter().next() {
        return Err(format!("messages from sender {s}, who sent none"));
    }
    Ok(Verdict { duplicates })
}

/// Waits until every message sent is in `out` and nothing more arrives for
/// a moment, then checks them.
fn wait_and_check(out: &Path, sent: &BTreeMap<u32, u64>, extra_allowed: u64, daemons: &[&Daemon]) -> Verdict {
    let start = Instant::now();
    let mut last = (usize::MAX, Instant::now());
    loop {
        let got = received(out);
        let complete = check(&got, sent, extra_allowed);
        if got.len() != last.0 {
            last = (got.len(), Instant::now());
        }
        match complete {
            // Complete, and quiet for a second: late duplicates would have shown.
            Ok(verdict) if last.1.elapsed() > Duration::from_secs(1) || start.elapsed() > WAIT => return verdict,
            Ok(_) => {}
            Err(why) if start.elapsed() > WAIT => {
                let logs: Vec<String> = daemons.iter().map(|d| d.log()).collect();
                panic!("{why}\n{}", logs.join("\n-----\n"));
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Senders feeding the shipper's TCP input at `RATE` together, each on its
/// own connection, `count` messages each; they report what they wrote.
struct Feed {
    threads: Vec<(u32, std::thread::JoinHandle<u64>)>,
}

impl Feed {
    fn start(input: u16, count: u64) -> Feed {
        Feed::start_at(input, count, RATE)
    }

    /// [`Feed::start`] at `rate` messages per second over all senders.
    fn start_at(input: u16, count: u64, rate: u64) -> Feed {
        let threads =
            (1..=SENDERS).map(|sender| (sender, std::thread::spawn(move || paced_lines(input, count, rate / u64::from(SENDERS), |q| message(sender, q), None)))).collect();
        Feed { threads }
    }

    /// Every sender's count of messages written, once all are written.
    fn join(self) -> BTreeMap<u32, u64> {
        self.threads.into_iter().map(|(s, t)| (s, t.join().unwrap())).collect()
    }
}

/// One shipper with its TCP input, a collector restarted under load by
/// `restart` after a moment; returns what each sender wrote, the verdict
/// and the shipper's log.
fn restart_collector_under_load(restart: impl FnOnce(&mut Daemon), collector_extra: &str) -> (BTreeMap<u32, u64>, Verdict, String) {
    let (sent, verdict, log, _) = restart_collector_under_load_in(restart, collector_extra, "encryption");
    (sent, verdict, log)
}

/// [`restart_collector_under_load`] with `$GssMode mode`, the shipper's
/// sessions through a recording relay; also returns what the relay saw.
fn restart_collector_under_load_in(
    restart: impl FnOnce(&mut Daemon),
    collector_extra: &str,
    mode: &str,
) -> (BTreeMap<u32, u64>, Verdict, String, Vec<gsslog_tests::relay::Session>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let mut collector = start_collector(&dir.path().join("collector0"), port, &out, collector_extra);
    let relay = gsslog_tests::relay::Relay::start_recording(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let input = free_port().unwrap();
    let conf = shipper_conf(relay.addr().port(), "on").replace("$GssMode encryption", &format!("$GssMode {mode}"));
    assert!(conf.contains(&format!("$GssMode {mode}")), "{conf}");
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    shipper.wait_for_log("the collector acknowledges", WAIT).unwrap();
    let per_sender = RATE / u64::from(SENDERS) * 4; // four seconds of load
    let feed = Feed::start(input, per_sender);
    let fed_from = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    restart(&mut collector);
    let collector = start_collector(&dir.path().join("collector1"), port, &out, collector_extra);
    let sent = feed.join();
    let rate = sent.values().sum::<u64>() as f64 / fed_from.elapsed().as_secs_f64();
    eprintln!("load: {rate:.0} msg/s into the shipper");
    let verdict = wait_and_check(&out, &sent, 0, &[&collector, &shipper]);
    assert!(shipper.stop(WAIT).unwrap().success());
    let log = shipper.log();
    eprintln!("sent {sent:?}, duplicates {}, shipper logged unacknowledged {}", verdict.duplicates, logged_unacknowledged(&log));
    (sent, verdict, log, relay.sessions())
}

/// Messages the wire carried more than once, in different sessions (read
/// from integrity-only tokens): the most that can have been written twice.
fn sent_again(sessions: &[gsslog_tests::relay::Session]) -> u64 {
    let mut times: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for session in sessions {
        for id in identifiers(&session.sent).into_iter().collect::<BTreeSet<_>>() {
            *times.entry(id).or_default() += 1;
        }
    }
    times.values().filter(|n| **n > 1).count() as u64
}

#[test]
fn collector_kill_9_under_load_loses_nothing_and_duplicates_at_most_what_was_unacknowledged() {
    // Frozen first, so that records are surely in flight at the kill: the
    // shipper goes on writing into the collector's kernel buffers, which
    // the kill then throws away (a plain kill lands, often enough, between
    // a batch's acknowledgement and the next batch).
    let freeze_then_kill = |c: &mut Daemon| {
        c.signal("STOP");
        std::thread::sleep(Duration::from_millis(300));
        c.kill_9(WAIT).unwrap()
    };
    // Integrity-only tokens, so that the relay can read which messages went
    // over the wire twice: the bound on duplicates comes from the wire.
    let (_, verdict, log, sessions) = restart_collector_under_load_in(freeze_then_kill, "", "integrity");
    let unacknowledged = logged_unacknowledged(&log);
    let again = sent_again(&sessions);
    eprintln!("{} sessions on the wire, {again} messages sent again", sessions.len());
    assert!(sessions.len() >= 2 && again > 0, "under load, records were in flight at the kill and went again\n{log}");
    assert!(verdict.duplicates <= again, "{} duplicates, {again} messages sent twice on the wire", verdict.duplicates);
    assert!(again <= unacknowledged, "the shipper's count ({unacknowledged}) covers what went again on the wire ({again})");
}

/// What the collector did, in the order `strace` saw it, while our client
/// sent messages one at a time, each only once the collector's `Written(N)`
/// for the one before had arrived (so that what an acknowledgement covers is
/// exactly what had been written to the file before it).
struct AckOrder {
    /// Writes to the client's socket after the first write to the output file.
    acks: usize,
    /// Of those, the ones made while some of the file's written data had not
    /// been through a completed `fdatasync`/`fsync`.
    before_sync: usize,
    /// Completed syncs of the output file.
    syncs: usize,
}

async fn ack_order(collector_extra: &str) -> AckOrder {
    use gsslog_tests::client::GssClient;
    use gsslog_tests::strace::{Point, Strace};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, collector_extra);
    let syscalls = "write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,fsync,fdatasync";
    let trace = Strace::attach(collector.pid(), syscalls, &dir.path().join("strace.txt")).unwrap();

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut client = GssClient::connect(addr, None, gsswire::Protection::Encryption, gsswire::ByteOrder::Little).await.unwrap();
    async fn next_plaintext(client: &mut GssClient) -> Vec<u8> {
        let token = tokio::time::timeout(WAIT, client.reader.read_token(1 << 20)).await.expect("the collector answers").unwrap();
        client.session.unwrap(&token.expect("a token, not the end of the session")).unwrap().data
    }
    client.send_plaintext(b"").await.unwrap(); // the request for acknowledgements
    assert_eq!(next_plaintext(&mut client).await, b"gsslog-ack/1", "the Hello");
    const N: u64 = 20;
    for token in 1..=N {
        client.send_lines(&[message(1, token - 1)]).await.unwrap();
        let written = next_plaintext(&mut client).await;
        assert_eq!(written.len(), 9, "Written(N): {written:?}");
        assert_eq!((written[0], u64::from_be_bytes(written[1..].try_into().unwrap())), (b'W', token), "Written({token})");
    }
    drop(client);
    assert!(collector.stop(WAIT).unwrap().success());
    assert_eq!(received(&out), (0..N).map(|q| (1, q)).collect::<Vec<_>>());
    let calls = trace.finish(WAIT).unwrap();

    let is_file = |fd: &str| fd.ends_with("/received.log");
    let socket = format!(":{port}->");
    let (mut file_writes, mut synced) = (0usize, 0usize);
    let mut syncing = BTreeMap::new();
    let mut order = AckOrder { acks: 0, before_sync: 0, syncs: 0 };
    for call in &calls {
        let write = matches!(call.name.as_str(), "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" | "sendto" | "sendmsg");
        let sync = matches!(call.name.as_str(), "fsync" | "fdatasync");
        match call.point {
            Point::Entry if write && is_file(&call.fd) => file_writes += 1,
            Point::Entry if sync && is_file(&call.fd) => {
                syncing.insert(call.tid, file_writes);
            }
            Point::Exit(0) if sync => {
                if let Some(covered) = syncing.remove(&call.tid) {
                    synced = synced.max(covered);
                    order.syncs += 1;
                }
            }
            Point::Entry if write && call.fd.starts_with("TCP") && call.fd.contains(&socket) && file_writes > 0 => {
                order.acks += 1;
                if synced < file_writes {
                    order.before_sync += 1;
                }
            }
            _ => {}
        }
    }
    eprintln!("{} acknowledgement writes, {} before the data was synced, {} syncs", order.acks, order.before_sync, order.syncs);
    assert!(order.acks >= N as usize, "strace saw the {N} acknowledgements on the socket: {}\n{calls:?}", order.acks);
    order
}

/// Nothing is acknowledged before it is on disk: checked from outside, by
/// the order of the collector's system calls (a `kill -9` cannot show it:
/// the page cache survives a killed process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ack_after_fsync_no_acknowledgement_leaves_before_the_data_is_synced() {
    let order = ack_order("$InputGSSServerAckAfterFsync on\n").await;
    assert!(order.syncs > 0, "the output file was synced");
    assert_eq!(order.before_sync, 0, "acknowledgements sent while written data was not yet synced");
}

/// The control of the check above: without the directive, the same oracle
/// sees acknowledgements of data no sync has covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ack_after_fsync_acknowledgements_leave_before_any_sync() {
    let order = ack_order("").await;
    assert_eq!(order.syncs, 0, "nothing synced the output file");
    assert_eq!(order.before_sync, order.acks, "every acknowledgement left before its data was synced");
}

#[test]
fn collector_kill_9_with_fsync_before_acknowledging_loses_nothing() {
    let (_, verdict, log) = restart_collector_under_load(|c| c.kill_9(WAIT).unwrap(), "$InputGSSServerAckAfterFsync on\n");
    assert!(verdict.duplicates <= logged_unacknowledged(&log), "{} duplicates\n{log}", verdict.duplicates);
}

#[test]
fn graceful_collector_restart_under_load_neither_loses_nor_duplicates() {
    let (_, verdict, log) = restart_collector_under_load(|c| assert!(c.stop(WAIT).unwrap().success()), "");
    assert_eq!(verdict.duplicates, 0, "{log}");
    assert!(log.contains("the collector is shutting down (all sent was acknowledged)"), "the Closing was heard\n{log}");
    assert_eq!(logged_unacknowledged(&log), 0, "{log}");
}

/// A shipper fed through its omprog input: every line confirmed `OK` is
/// accepted (in its queue). A writer thread and a reader thread, so the
/// confirmations do not pace the load to one round trip per message.
struct StdinShipper {
    child: Child,
    confirmed: Arc<AtomicU64>,
    /// Tells the writer to close the shipper's stdin, as rsyslog's omprog
    /// does when it stops.
    close_stdin: Arc<AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

fn spawn_stdin_shipper(dir: &Path, conf: &Path, count: u64) -> StdinShipper {
    let realm = TestRealm::shared();
    let mut child = Command::new(bin_path("omgssapi").unwrap())
        .arg("-f")
        .arg(conf)
        .arg("--work-directory")
        .arg(dir.join("work"))
        .arg("--stdin")
        .envs(realm.client_env(SHARED_CLIENT))
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("omgssapi-stdin.log")).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut replies = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(replies.next().unwrap().unwrap(), "OK", "omprog's readiness line");
    let confirmed = Arc::new(AtomicU64::new(0));
    let close_stdin = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let close_stdin = close_stdin.clone();
        move || {
            let start = Instant::now();
            let mut seq = 0;
            let mut buf = Vec::new();
            while seq < count && !close_stdin.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * RATE as f64) as u64;
                let until = due.min(count).max(seq + 1);
                buf.clear();
                for q in seq..until {
                    buf.extend_from_slice(message(1, q).as_bytes());
                    buf.push(b'\n');
                }
                if stdin.write_all(&buf).and_then(|_| stdin.flush()).is_err() {
                    return;
                }
                seq = until;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let reader = std::thread::spawn({
        let confirmed = confirmed.clone();
        move || {
            for reply in replies.map_while(Result::ok) {
                if reply != "OK" {
                    return;
                }
                confirmed.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    StdinShipper { child, confirmed, close_stdin, writer: Some(writer), reader: Some(reader) }
}

impl StdinShipper {
    /// Ends the process with `signal`, then closes its stdin as rsyslog's
    /// omprog does when it stops (under omprog the shipper stops at the end
    /// of its input, not at SIGTERM, which systemd sends to rsyslog's whole
    /// unit), waits, and returns how many messages it had confirmed and how
    /// it ended.
    fn end(mut self, signal: &str) -> (u64, std::process::ExitStatus) {
        let _ = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status();
        self.close_stdin.store(true, Ordering::Relaxed);
        let status = self.child.wait().unwrap();
        self.writer.take().map(|w| w.join());
        self.reader.take().map(|r| r.join());
        (self.confirmed.load(Ordering::Relaxed), status)
    }
}

/// The shipper fed at load through omprog, ended by `signal` after a
/// moment, started again without input; returns the confirmed count, the
/// verdict and the restarted shipper's log.
fn end_shipper_under_load(signal: &str) -> (u64, std::process::ExitStatus, Verdict, String, Vec<gsslog_tests::relay::Session>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out, "");
    // Integrity-only tokens through a recording relay: what went over the
    // wire twice can be read there.
    let relay = gsslog_tests::relay::Relay::start_recording(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let config = shipper_conf(relay.addr().port(), "on").replace("$GssMode encryption", "$GssMode integrity");
    let shipper_dir = dir.path().join("shipper");
    std::fs::create_dir_all(&shipper_dir).unwrap();
    let conf = shipper_dir.join("omgssapi.conf");
    std::fs::write(&conf, &config).unwrap();
    // Ended in the middle of the stream, once it holds a good many: how
    // fast it took them is the benchmark's business.
    const TAKEN_BEFORE_THE_END: u64 = 5000;
    let fed = spawn_stdin_shipper(&shipper_dir, &conf, RATE * 4);
    let taking = Instant::now();
    while fed.confirmed.load(Ordering::Relaxed) < TAKEN_BEFORE_THE_END {
        assert!(taking.elapsed() < WAIT, "the shipper confirmed only {} messages", fed.confirmed.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(20));
    }
    let (confirmed, status) = fed.end(signal);
    eprintln!("{confirmed} confirmed by the shipper when it was ended");
    assert!(confirmed < RATE * 4, "ended while the load went on: {confirmed} confirmed");
    let restarted = start_shipper(&shipper_dir, &config, &[]);
    let sent = BTreeMap::from([(1, confirmed)]);
    // A message taken in but whose OK the kill cut off may arrive too.
    let verdict = wait_and_check(&out, &sent, 64, &[&collector, &restarted]);
    let log = restarted.log();
    eprintln!("confirmed {confirmed}, duplicates {}", verdict.duplicates);
    (confirmed, status, verdict, log, relay.sessions())
}

#[test]
fn shipper_kill_9_under_load_loses_nothing_it_had_accepted() {
    use std::os::unix::process::ExitStatusExt;
    let (_, status, verdict, log, sessions) = end_shipper_under_load("KILL");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the shipper died by SIGKILL");
    // What was sent and not acknowledged at the kill is still in the queue:
    // the restarted shipper finds it (its backlog) and sends it again. Only
    // what the wire carried twice can have been written twice.
    let again = sent_again(&sessions);
    let backlog: u64 = log.split("backlog=").nth(1).and_then(|t| t.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    eprintln!("{} sessions on the wire, {again} messages sent again, backlog {backlog}", sessions.len());
    assert!(verdict.duplicates <= again, "{} duplicates, {again} sent twice on the wire\n{log}", verdict.duplicates);
    assert!(again <= backlog, "the restarted shipper's backlog ({backlog}) covers what went again ({again})");
}

#[test]
fn graceful_shipper_restart_under_load_neither_loses_nor_duplicates() {
    let (_, status, verdict, log, _) = end_shipper_under_load("TERM");
    assert!(status.success(), "{status}");
    assert_eq!(verdict.duplicates, 0, "{log}");
}

/// Our shipper asking for acknowledgements from Debian's rsyslog imgssapi:
/// with `auto` it says the collector does not acknowledge and delivers as
/// today (the empty request token writes nothing there); with `on` it sends
/// nothing.
#[test]
fn into_stock_rsyslog_auto_falls_back_and_on_refuses() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let rs_conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut rsyslogd = Rsyslogd::start(&dir.path().join("rsyslog"), &rs_conf, &realm.server_env()).unwrap();
    wait_for_listener(SocketAddr::from(([127, 0, 0, 1], port)), WAIT).unwrap();

    let quick = "$ActionGSSForwardHandshakeTimeout 1500\n";
    let input = free_port().unwrap();
    let auto = stanza(port, &format!("{quick}$ActionGSSForwardAcknowledged auto\n"));
    let mut shipper = start_shipper(&dir.path().join("auto"), &auto, &["--tcp", &format!("127.0.0.1:{input}")]);
    const N: u64 = 3000;
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    for q in 0..N {
        writeln!(s, "{}", message(1, q)).unwrap();
    }
    drop(s);
    shipper.wait_for_log("the collector does not acknowledge", WAIT).unwrap();
    let verdict = wait_and_check(&out, &BTreeMap::from([(1, N)]), 0, &[&shipper]);
    assert_eq!(verdict.duplicates, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count() as u64, N, "nothing but the messages: the request token wrote nothing\n{text}");
    assert!(shipper.stop(WAIT).unwrap().success());

    let input = free_port().unwrap();
    let on = stanza(port, &format!("{quick}$ActionGSSForwardAcknowledged on\n"));
    let mut refusing = start_shipper(&dir.path().join("on"), &on, &["--tcp", &format!("127.0.0.1:{input}")]);
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    writeln!(s, "{}", message(2, 0)).unwrap();
    drop(s);
    refusing.wait_for_log("$ActionGSSForwardAcknowledged on: not sending to it", WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(received(&out).iter().all(|(sender, _)| *sender == 1), "nothing from the refusing shipper");
    assert!(refusing.stop(WAIT).unwrap().success());
    rsyslogd.ensure_running().unwrap();
}

/// Directives off: our shipper does not ask, our collector answers nothing
/// it is not asked, and a collector with `$InputGSSServerAcknowledge off`
/// answers a request as a stock one does (never).
#[test]
fn a_collector_with_acknowledgements_off_is_treated_as_stock() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out, "$InputGSSServerAcknowledge off\n");
    let input = free_port().unwrap();
    let conf = stanza(port, "$ActionGSSForwardHandshakeTimeout 1500\n$ActionGSSForwardAcknowledged auto\n");
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    for q in 0..1000 {
        writeln!(s, "{}", message(1, q)).unwrap();
    }
    drop(s);
    shipper.wait_for_log("the collector does not acknowledge", WAIT).unwrap();
    let verdict = wait_and_check(&out, &BTreeMap::from([(1, 1000)]), 0, &[&collector, &shipper]);
    assert_eq!(verdict.duplicates, 0);
    assert!(shipper.stop(WAIT).unwrap().success());
}

/// Acknowledged mode and re-keying together: tickets of half a minute, a
/// steady load across the re-key point. The shipper re-keys gracefully
/// (half-close after the last data token, the collector's last `Written`,
/// its close), so every message arrives exactly once and in order, nothing
/// is left unacknowledged, and the collector (which ends expired sessions)
/// never sees our context expire.
#[test]
fn acknowledged_sessions_rekey_under_load_with_every_message_exactly_once() {
    let lifetime = Duration::from_secs(30);
    let realm = TestRealm::with_max_ticket_life(lifetime).unwrap();
    let keytab = realm.add_client("host/acked.test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector_in(&realm, &dir.path().join("collector"), port, &out, "$InputGSSServerExpireSessions on\n");
    // The sessions' ends, seen on the wire.
    let relay = gsslog_tests::relay::Relay::start(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let input = free_port().unwrap();
    let identity = format!("$GssForwardPrincipal host/acked.test@{REALM}\n$GssForwardKeytab FILE:{}\n", keytab.display());
    let config = stanza(relay.addr().port(), &format!("{identity}$ActionGSSForwardAcknowledged on\n"));
    let work = dir.path().join("shipper/work");
    let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{input}")];
    let mut shipper =
        Daemon::start("omgssapi", &dir.path().join("shipper"), &config, &realm.client_env("host/acked.test"), &args).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    shipper.wait_for_log("the collector acknowledges", WAIT).unwrap();

    // Past the re-key point (three quarters of the lifetime) with margin.
    const RATE_ACROSS_REKEY: u64 = 5_000;
    let per_sender = RATE_ACROSS_REKEY / u64::from(SENDERS) * lifetime.as_secs();
    let fed_from = Instant::now();
    let sent = Feed::start_at(input, per_sender, RATE_ACROSS_REKEY).join();
    let rate = sent.values().sum::<u64>() as f64 / fed_from.elapsed().as_secs_f64();
    eprintln!("load: {rate:.0} msg/s into the shipper over {:?}", fed_from.elapsed());
    assert!(fed_from.elapsed() > lifetime * 3 / 4, "the load outlasts the re-key point");

    let verdict = wait_and_check(&out, &sent, 0, &[&collector, &shipper]);
    assert!(shipper.stop(WAIT).unwrap().success());
    let log = shipper.log();
    assert_eq!(verdict.duplicates, 0, "every message exactly once\n{log}");
    assert!(log.contains("re-keying: the GSS context is near the end of its lifetime"), "the shipper re-keyed\n{log}");
    assert!(
        log.contains("re-keying: half-closing after the last data token and waiting for the collector's last acknowledgements"),
        "the re-key was the acknowledged mode's graceful end\n{log}"
    );
    assert_eq!(logged_unacknowledged(&log), 0, "nothing was sent twice\n{log}");
    let collector_log = collector.log();
    assert!(!collector_log.contains("GSS context expired"), "re-keyed before the context expired\n{collector_log}");
    assert!(!collector_log.contains("session closed on error"), "every session ended cleanly\n{collector_log}");
    // On the wire: a new session for each re-key, and each session ended
    // with the shipper's half-close (a FIN), then the collector's close,
    // every byte the collector sent taken (the last one too: the shipper's
    // stop).
    let ended = Instant::now();
    while relay.sessions().iter().any(|s| !s.collector_closed && !s.shipper_refused_bytes) && ended.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sessions = relay.sessions();
    assert!(sessions.len() >= 2, "a new session after the re-key: {sessions:?}");
    assert!(sessions.iter().all(|s| s.ended_gracefully_by_the_shipper()), "{sessions:?}");
    println!("{} sessions, answered after the half-close: {:?}", sessions.len(), sessions.iter().map(|s| s.answered_after_half_close()).collect::<Vec<_>>());
}

/// Feeds the shipper's TCP input as `sender`, about 5000 messages a second,
/// until `stop`; returns how many it wrote.
fn feed_until(input: u16, sender: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        let mut seq = 0;
        let mut buf = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            buf.clear();
            for q in seq..seq + 50 {
                buf.extend_from_slice(message(sender, q).as_bytes());
                buf.push(b'\n');
            }
            s.write_all(&buf).unwrap();
            seq += 50;
            std::thread::sleep(Duration::from_millis(10));
        }
        seq
    })
}

/// The seqs of each sender in `got`, in file order.
fn by_sender(got: &[(u32, u64)]) -> BTreeMap<u32, Vec<u64>> {
    let mut map: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for &(s, q) in got {
        map.entry(s).or_default().push(q);
    }
    map
}

/// Failover with the acknowledged mode: a backup (`$ActionExecOnlyWhenPreviousIsSuspended on`)
/// takes over while the action's own collector is away, hands back when it
/// returns, takes over again when it stops gracefully and hands back again,
/// under load, both actions with `$ActionGSSForwardAcknowledged on`. Each
/// hand-back is the acknowledged mode's graceful end (half-close, the last
/// `Written(N)`), so every message arrives exactly once, and in order: each
/// stint at the action's own collector is one unbroken run of each sender's
/// messages, the backup holds exactly the rest, in order.
#[test]
fn acknowledged_failover_to_a_backup_and_back_delivers_every_message_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (own_port, backup_port) = (free_port().unwrap(), free_port().unwrap());
    let backup_out = dir.path().join("backup.log");
    let own_outs = [dir.path().join("own0.log"), dir.path().join("own1.log")];
    let backup = start_collector(&dir.path().join("backup"), backup_port, &backup_out, "");
    let input = free_port().unwrap();
    let conf = format!(
        "{}$ActionExecOnlyWhenPreviousIsSuspended on\n$ActionGSSForwardAcknowledged on\n& :omgssapi:localhost:{backup_port}\n",
        shipper_conf(own_port, "on")
    );
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    let stop_feeding = Arc::new(AtomicBool::new(false));
    let feeders: Vec<(u32, std::thread::JoinHandle<u64>)> =
        (1..=SENDERS).map(|sender| (sender, feed_until(input, sender, stop_feeding.clone()))).collect();

    let logged = |needle: &str, times: usize, others: &[&Daemon]| {
        let start = Instant::now();
        while shipper.log().matches(needle).count() < times {
            if start.elapsed() > WAIT {
                let logs: Vec<String> = std::iter::once(&shipper).chain(others.iter().copied()).map(|d| d.log()).collect();
                panic!("'{needle}' not logged {times} times\n{}", logs.join("\n-----\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // The action's own collector has not started: the backup takes over.
    logged("a backup collector takes over", 1, &[&backup]);
    std::thread::sleep(Duration::from_millis(700));
    // It starts: it gets the queue back.
    let mut own = start_collector(&dir.path().join("own0"), own_port, &own_outs[0], "");
    logged("handing the queue back", 1, &[&own, &backup]);
    std::thread::sleep(Duration::from_millis(700));
    // It stops gracefully (Closing, the drain): the backup again, then back once more.
    assert!(own.stop(WAIT).unwrap().success());
    logged("a backup collector takes over", 2, &[&backup]);
    std::thread::sleep(Duration::from_millis(700));
    let own = start_collector(&dir.path().join("own1"), own_port, &own_outs[1], "");
    logged("handing the queue back", 2, &[&own, &backup]);
    std::thread::sleep(Duration::from_millis(700));
    stop_feeding.store(true, Ordering::SeqCst);
    let sent: BTreeMap<u32, u64> = feeders.into_iter().map(|(s, t)| (s, t.join().unwrap())).collect();

    // Everything sent is in one of the three files, and nothing more comes.
    let files = [&backup_out, &own_outs[0], &own_outs[1]];
    let all = || files.iter().flat_map(|f| received(f)).collect::<Vec<_>>();
    let start = Instant::now();
    let mut last = (usize::MAX, Instant::now());
    loop {
        let count = all().len();
        if count != last.0 {
            last = (count, Instant::now());
        }
        let complete = count as u64 >= sent.values().sum::<u64>();
        if (complete && last.1.elapsed() > Duration::from_secs(1)) || start.elapsed() > WAIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(shipper.stop(WAIT).unwrap().success());
    let log = shipper.log();
    let context = || format!("sent {sent:?}\n{log}");

    let mut union = all();
    union.sort_unstable();
    let total = union.len();
    union.dedup();
    assert_eq!(total - union.len(), 0, "no message twice\n{}", context());
    let expected: Vec<(u32, u64)> = sent.iter().flat_map(|(&s, &n)| (0..n).map(move |q| (s, q))).collect();
    assert_eq!(union.len(), expected.len(), "every message sent, nothing else\n{}", context());
    assert!(union == expected, "exactly the messages sent\n{}", context());

    let at_backup = by_sender(&received(&backup_out));
    let at_own: Vec<BTreeMap<u32, Vec<u64>>> = own_outs.iter().map(|f| by_sender(&received(f))).collect();
    println!(
        "sent {sent:?}: backup {}, own collector {} then {}",
        at_backup.values().map(Vec::len).sum::<usize>(),
        at_own[0].values().map(Vec::len).sum::<usize>(),
        at_own[1].values().map(Vec::len).sum::<usize>()
    );
    for (i, own) in at_own.iter().enumerate() {
        assert!(own.values().any(|v| !v.is_empty()), "the action's own collector, stint {i}, had a share");
    }
    assert!(at_backup.values().any(|v| !v.is_empty()), "the backup had a share");
    for &s in sent.keys() {
        let stint = |i: usize| at_own[i].get(&s).cloned().unwrap_or_default();
        for i in 0..2 {
            let run = stint(i);
            if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
                assert_eq!(run, (first..=last).collect::<Vec<_>>(), "sender {s}: stint {i} at the own collector is one unbroken run");
            }
        }
        if let (Some(&end0), Some(&start1)) = (stint(0).last(), stint(1).first()) {
            assert!(end0 < start1, "sender {s}: the second stint follows the first");
        }
        let backup_run = at_backup.get(&s).cloned().unwrap_or_default();
        assert!(backup_run.windows(2).all(|w| w[0] < w[1]), "sender {s}: the backup's share is in order");
    }
    assert!(
        log.contains("handing back to the action's own collector: half-closing after the last data token"),
        "each hand-back was the acknowledged mode's graceful end\n{log}"
    );
    assert!(log.contains("the collector is shutting down (all sent was acknowledged)"), "the own collector's Closing was heard\n{log}");
    assert_eq!(logged_unacknowledged(&log), 0, "nothing was left unacknowledged at a switch\n{log}");
}

/// Failover when the action's own collector dies: frozen, then `kill -9`
/// under load (records surely in flight), the backup takes over, the own
/// collector returns and gets the queue back. Nothing is lost; a message may
/// arrive twice only if it was sent and not acknowledged when the collector
/// died, which the shipper logs (`unacknowledged_total`).
#[test]
fn acknowledged_failover_when_the_collector_is_killed_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (own_port, backup_port) = (free_port().unwrap(), free_port().unwrap());
    let files = [dir.path().join("own0.log"), dir.path().join("backup.log"), dir.path().join("own1.log")];
    let mut own = start_collector(&dir.path().join("own0"), own_port, &files[0], "");
    let backup = start_collector(&dir.path().join("backup"), backup_port, &files[1], "");
    let input = free_port().unwrap();
    let conf = format!(
        "{}$ActionExecOnlyWhenPreviousIsSuspended on\n$ActionGSSForwardAcknowledged on\n& :omgssapi:localhost:{backup_port}\n",
        shipper_conf(own_port, "on")
    );
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    shipper.wait_for_log("the collector acknowledges", WAIT).unwrap();
    let stop_feeding = Arc::new(AtomicBool::new(false));
    let feeders: Vec<(u32, std::thread::JoinHandle<u64>)> =
        (1..=SENDERS).map(|sender| (sender, feed_until(input, sender, stop_feeding.clone()))).collect();
    let wait_for = |file: &Path, n: usize, logs: &[&Daemon]| {
        let start = Instant::now();
        while received(file).len() < n {
            if start.elapsed() > WAIT {
                panic!("{} holds {} messages\n{}", file.display(), received(file).len(), logs.iter().map(|d| d.log()).collect::<Vec<_>>().join("\n-----\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    wait_for(&files[0], 2000, &[&shipper, &own]);
    own.signal("STOP");
    std::thread::sleep(Duration::from_millis(300));
    own.kill_9(WAIT).unwrap();
    shipper.wait_for_log("a backup collector takes over", WAIT).unwrap();
    wait_for(&files[1], 2000, &[&shipper, &backup]);
    let own = start_collector(&dir.path().join("own1"), own_port, &files[2], "");
    shipper.wait_for_log("handing the queue back", WAIT).unwrap();
    wait_for(&files[2], 2000, &[&shipper, &own]);
    stop_feeding.store(true, Ordering::SeqCst);
    let sent: BTreeMap<u32, u64> = feeders.into_iter().map(|(s, t)| (s, t.join().unwrap())).collect();

    let expected: Vec<(u32, u64)> = sent.iter().flat_map(|(&s, &n)| (0..n).map(move |q| (s, q))).collect();
    let unique = || {
        let mut all: Vec<(u32, u64)> = files.iter().flat_map(|f| received(f)).collect();
        all.sort_unstable();
        let total = all.len();
        all.dedup();
        (all, total)
    };
    let start = Instant::now();
    while unique().0.len() < expected.len() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(shipper.stop(WAIT).unwrap().success());
    let log = shipper.log();
    let (all, total) = unique();
    let lost: Vec<&(u32, u64)> = expected.iter().filter(|m| all.binary_search(m).is_err()).collect();
    assert!(lost.is_empty(), "{} of {} messages lost, first {:?}\n{log}", lost.len(), expected.len(), &lost[..lost.len().min(5)]);
    assert_eq!(all, expected, "nothing but the messages sent");
    let duplicates = (total - all.len()) as u64;
    let unacknowledged = logged_unacknowledged(&log);
    println!("sent {sent:?}: {duplicates} duplicates, {unacknowledged} logged unacknowledged");
    assert!(unacknowledged > 0, "records were in flight at the kill\n{log}");
    assert!(duplicates <= unacknowledged, "{duplicates} duplicates, {unacknowledged} unacknowledged\n{log}");
    for f in &files {
        let own_order = by_sender(&received(f));
        for (s, seqs) in own_order {
            let mut seen = BTreeSet::new();
            let firsts: Vec<u64> = seqs.into_iter().filter(|q| seen.insert(*q)).collect();
            assert!(firsts.windows(2).all(|w| w[0] < w[1]), "sender {s}: {} is in order", f.display());
        }
    }
}

#[test]
fn checker_catches_loss_duplicates_and_disorder() {
    let sent = BTreeMap::from([(1, 3), (2, 2)]);
    let good = [(1, 0), (2, 0), (1, 1), (2, 1), (1, 2)];
    assert_eq!(check(&good, &sent, 0).unwrap().duplicates, 0);
    let dup = [(1, 0), (1, 1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)];
    assert_eq!(check(&dup, &sent, 0).unwrap().duplicates, 2);
    assert!(check(&[(1, 0), (1, 2), (2, 0), (2, 1)], &sent, 0).is_err(), "a loss");
    assert!(check(&[(1, 1), (1, 0), (1, 2), (2, 0), (2, 1)], &sent, 0).is_err(), "out of order");
    assert!(check(&[(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (3, 0)], &sent, 0).is_err(), "an unknown sender");
    assert!(check(&[(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1)], &sent, 0).is_err(), "more than sent");
    let torn = std::env::temp_dir().join(format!("torn-{}", std::process::id()));
    std::fs::write(&torn, " sender 1 seq 00000000\n sender 1 seq 0000 sender 1 seq 00000001\n").unwrap();
    assert_eq!(received(&torn), [(1, 0), (1, 1)]);
    let _ = std::fs::remove_file(PathBuf::from(&torn));
}

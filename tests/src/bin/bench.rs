//! Benchmark: our shipper and collector side by side with Debian's rsyslog,
//! on this machine, in one run. `bash tests/bench.sh [N] [JSON-PATH]`.
//!
//! Each path gets the same load (about 150-byte RFC 3164 messages, the seed
//! rules' facility mix, numbered) on one TCP connection into the sender, and
//! both sides run the grid's seed configs (paths and ports changed; reverse
//! DNS off on both collectors so no query leaves the machine). Measured:
//! end-to-end messages per second (first send until the last line is in the
//! collector's files), CPU µs per message of each daemon (utime+stime from
//! /proc over that interval), peak RSS, and lost/duplicated messages.
//!
//! The ClickHouse row: the same GSS path with the collector also sending
//! every message to a real ClickHouse server (`action(type="omclickhouse")`),
//! timed until the last row is in the table, against our file-only row of
//! the same run.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_listener};
use gsslog_tests::realm::{TestRealm, SHARED_CLIENT};
use gsslog_tests::rsyslog::Rsyslogd;
use gsswire::{ByteOrder, Protection};

const SEED_SERVER: &str = include_str!("../../../syslog/testdata/server.conf");
const SEED_CLIENT: &str = include_str!("../../../syslog/testdata/client.conf");
const NO_DNS: &str = "global(net.enableDNS=\"off\")\n";

#[derive(Debug, Clone, Default)]
struct Row {
    path: String,
    implementation: String,
    messages: usize,
    msgs_per_s: f64,
    sender_cpu_us: f64,
    collector_cpu_us: f64,
    sender_rss_kb: u64,
    collector_rss_kb: u64,
    lost: usize,
    duplicated: usize,
    /// Sessions that completed their handshake (the 2000-session run only).
    sessions_held: usize,
    /// Why the run did not complete, when it did not: the row keeps what was
    /// measured (nothing, at worst) and the bench goes on.
    failure: Option<String>,
    /// The path of the row this one is compared with in the ratio column,
    /// same implementation (the acknowledged rows: the unacknowledged one);
    /// `None`: rsyslog's row of the same path.
    compared_with: Option<String>,
}

/// A run's row, or, when the run failed, a row that says so with its figures
/// (nothing delivered): one baseline's bad result must not end the bench.
fn row_or_failure(path: &str, ours: bool, messages: usize, result: Result<Row>) -> Row {
    result.unwrap_or_else(|e| {
        let failure = format!("{e:#}");
        println!("  {path:<18} {:<8} FAILED: {failure}", if ours { "gsslog" } else { "rsyslog" });
        Row {
            path: path.to_string(),
            implementation: if ours { "gsslog".into() } else { "rsyslog".into() },
            messages,
            lost: messages,
            failure: Some(failure),
            ..Row::default()
        }
    })
}

/// Our acknowledged mode in a GSS run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// As stock rsyslog: TCP-level accounting.
    Off,
    /// `$ActionGSSForwardAcknowledged on`: released once written.
    Written,
    /// ... and `$InputGSSServerAckAfterFsync on`: once synced.
    Synced,
}

impl Acks {
    fn suffix(self) -> &'static str {
        match self {
            Acks::Off => "",
            Acks::Written => " acked",
            Acks::Synced => " acked+fsync",
        }
    }
}

fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let json = std::env::args().nth(2).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/bench.json"));
    let realm = TestRealm::start()?;
    realm.add_client(SHARED_CLIENT)?;
    realm.install_env(SHARED_CLIENT);
    let work = tempfile::Builder::new().prefix("gsslog-bench-").tempdir()?;
    println!("benchmark: {n} messages per run, {} cores", std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0));

    // GSSLOG_BENCH_ONLY=substring runs only the matching runs (for profiling),
    // e.g. "gsslog GSS encryption".
    let only = std::env::var("GSSLOG_BENCH_ONLY").unwrap_or_default();
    let wanted = |path: &str, ours: bool| format!("{} {path}", if ours { "gsslog" } else { "rsyslog" }).contains(&only);
    let tokens = if wanted("message tokens", true) { Some(token_crypto()?) } else { None };
    let mut rows = Vec::new();
    for mode in ["encryption", "integrity"] {
        for ours in [false, true] {
            if wanted(&format!("GSS {mode}"), ours) {
                rows.push(row_or_failure(&format!("GSS {mode}"), ours, n, gss_path(&realm, work.path(), n, mode, ours, Acks::Off)));
            }
        }
    }
    // The acknowledged mode's cost, against our unacknowledged row above.
    for acks in [Acks::Written, Acks::Synced] {
        let path = format!("GSS encryption{}", acks.suffix());
        if wanted(&path, true) {
            let mut row = row_or_failure(&path, true, n, gss_path(&realm, work.path(), n, "encryption", true, acks));
            row.compared_with = Some("GSS encryption".to_string());
            rows.push(row);
        }
    }
    // Onward to ClickHouse, against our file-only row above.
    if wanted("GSS encryption + ClickHouse", true) {
        let mut row = row_or_failure("GSS enc + ClickHouse", true, n, clickhouse_path(&realm, work.path(), n));
        row.compared_with = Some("GSS encryption".to_string());
        rows.push(row);
    }
    // The collector alone takes a second or two per run, and on a shared
    // machine one run swings by a third: three rounds, each implementation
    // once per round, and the median run of each goes in the table.
    let mut alone: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
    for _round in 0..3 {
        for ours in [false, true] {
            if wanted("collector alone", ours) {
                alone[ours as usize].push(row_or_failure("collector alone (TCP)", ours, n, collector_alone(work.path(), n, ours)));
            }
        }
    }
    for mut runs in alone {
        runs.sort_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s));
        if !runs.is_empty() {
            rows.push(runs.swap_remove(runs.len() / 2));
        }
    }
    let sessions = 2000;
    let per_session = (n / 10 / sessions).max(5);
    for ours in [false, true] {
        if wanted("2000 sessions", ours) {
            let path = format!("{sessions} sessions");
            rows.push(row_or_failure(&path, ours, sessions * per_session, many_sessions(&realm, work.path(), sessions, per_session, ours)));
        }
    }

    print_table(&rows);
    if let Some((mit, ours)) = tokens {
        println!(
            "  message tokens alone (8 KiB sealed, wrap + unwrap): MIT {mit:.0} MB/s, gsslog {ours:.0} MB/s: {:.1}x",
            ours / mit
        );
    }
    fs::write(&json, to_json(&rows)).with_context(|| format!("writing {}", json.display()))?;
    println!("\nJSON: {}", json.display());
    Ok(())
}

/// Per-message crypto alone, in this process: 8 KiB tokens (about 50
/// messages each) sealed by one side of a fresh context pair and unsealed by
/// the other, with MIT's gss_wrap/gss_unwrap and with ours. MB/s of plaintext.
fn token_crypto() -> Result<(f64, f64)> {
    use gsslog_tests::client::context_pair;
    use gsswire::cfx::CfxContext;
    use gsswire::gss::flags;
    let pair = || context_pair("host@localhost", flags::MUTUAL | flags::CONF | flags::INTEG);
    let plain = vec![b'x'; 8192];
    let rounds = 20_000;
    let mb = (plain.len() * rounds) as f64 / 1e6;
    let (mut init, mut acc) = pair()?;
    let started = Instant::now();
    for _ in 0..rounds {
        let token = init.wrap(true, &plain)?;
        acc.unwrap(&token)?;
    }
    let mit = mb / started.elapsed().as_secs_f64();
    let (init, acc) = pair()?;
    let mut sender = CfxContext::new(&init.export_message_keys()?)?;
    let mut receiver = CfxContext::new(&acc.export_message_keys()?)?;
    let started = Instant::now();
    for _ in 0..rounds {
        let token = sender.wrap(&plain, true);
        receiver.unwrap(&token)?;
    }
    let ours = mb / started.elapsed().as_secs_f64();
    Ok((mit, ours))
}

/// Message `i`: ~150 bytes, facilities auth, authpriv, kern, daemon, user in turn.
fn message(i: usize) -> String {
    const PRI: [u8; 5] = [38, 86, 4, 30, 13];
    const TAG: [&str; 5] = ["sshd[2211]", "sudo", "kernel", "pbs_mom", "app[7]"];
    let k = i % 5;
    let mut m = format!("<{}>Nov 23 12:{:02}:{:02} node1 {}: bench seq {i:08} ", PRI[k], (i / 60) % 60, i % 60, TAG[k]);
    while m.len() < 150 {
        m.push_str("payload ");
    }
    m.truncate(150);
    m
}

/// Messages 0..n, LF-framed: built once, before any clock starts, so that
/// formatting the load does not take CPU from the daemons being measured.
fn load(n: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n * 151);
    for i in 0..n {
        buf.extend_from_slice(message(i).as_bytes());
        buf.push(b'\n');
    }
    buf
}

/// Sends the load on one TCP connection, in 512 KiB writes.
fn send_load(port: u16, load: &[u8]) -> Result<Instant> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).context("connecting the load generator")?;
    let start = Instant::now();
    for chunk in load.chunks(1 << 19) {
        s.write_all(chunk)?;
    }
    Ok(start)
}

/// Counts the lines of the per-host files as they grow.
struct Progress {
    files: Vec<(PathBuf, u64)>,
    lines: usize,
}

impl Progress {
    fn new(host_dir: &Path) -> Self {
        let files = ["auth.log", "kern.log", "syslog"].iter().map(|f| (host_dir.join(f), 0)).collect();
        Progress { files, lines: 0 }
    }

    /// Reads only what was appended since the last poll, so that measuring
    /// does not steal CPU from the daemons being measured.
    fn poll(&mut self) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let mut chunk = Vec::new();
        for (path, offset) in &mut self.files {
            let Ok(mut f) = fs::File::open(&*path) else { continue };
            if f.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            chunk.clear();
            if let Ok(n) = f.read_to_end(&mut chunk) {
                self.lines += chunk.iter().filter(|c| **c == b'\n').count();
                *offset += n as u64;
            }
        }
        self.lines
    }

    /// Waits until `n` lines are there, or nothing has grown for `quiet`.
    fn wait(&mut self, n: usize, quiet: Duration) -> Instant {
        let mut last = (0, Instant::now());
        loop {
            let now = self.poll();
            if now >= n {
                return Instant::now();
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > quiet {
                return last.1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Unique and duplicated sequence numbers in the per-host files.
fn tally(host_dir: &Path, n: usize) -> (usize, usize) {
    let mut seen = HashSet::with_capacity(n);
    let mut dup = 0;
    for f in ["auth.log", "kern.log", "syslog"] {
        let data = fs::read(host_dir.join(f)).unwrap_or_default();
        for line in data.split(|c| *c == b'\n') {
            let Some(at) = line.windows(10).position(|w| w == b"bench seq ") else { continue };
            let digits = &line[at + 10..(at + 18).min(line.len())];
            if let Some(seq) = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<usize>().ok()) {
                if !seen.insert(seq) {
                    dup += 1;
                }
            }
        }
    }
    (n - seen.len().min(n), dup)
}

fn cpu(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // CLK_TCK is 100 on Linux
}

fn peak_rss_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn seed_server(root: &Path, port: u16) -> String {
    format!(
        "{NO_DNS}{}",
        SEED_SERVER.replace("/var/log/hosts", &root.display().to_string()).replace("$InputGSSServerRun 515", &format!("$InputGSSServerRun {port}"))
    )
}

fn host_dir(root: &Path) -> PathBuf {
    let now = syslog::Timestamp::now();
    root.join(format!("{:04}", now.year)).join(format!("{:02}", now.month)).join("127.0.0.1")
}

enum Proc {
    Ours(Daemon),
    Rsyslog(Rsyslogd),
}

impl Proc {
    fn pid(&self) -> u32 {
        match self {
            Proc::Ours(d) => d.pid(),
            Proc::Rsyslog(r) => r.pid(),
        }
    }
}

fn start_collector(dir: &Path, config: &str, env: &[(String, String)], ours: bool, port: u16) -> Result<Proc> {
    if ours {
        let mut d = Daemon::start("imgssapi", dir, config, env, &[])?;
        d.wait_for_log("collector running", Duration::from_secs(30))?;
        Ok(Proc::Ours(d))
    } else {
        let r = Rsyslogd::start(dir, config, env)?;
        wait_for_listener(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(30))?;
        Ok(Proc::Rsyslog(r))
    }
}

fn measure(path: &str, ours: bool, n: usize, sender: Option<&Proc>, collector: &Proc, root: &Path, input_port: u16) -> Result<Row> {
    let host = host_dir(root);
    let mut progress = Progress::new(&host);
    // Write back what earlier runs left dirty in the page cache, so that no run
    // pays for the writeback of the one before it.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let (s0, c0) = (sender.map(|s| cpu(s.pid())).unwrap_or_default(), cpu(collector.pid()));
    let start = send_load(input_port, &load(n))?;
    let end = progress.wait(n, Duration::from_secs(10));
    let (s1, c1) = (sender.map(|s| cpu(s.pid())).unwrap_or_default(), cpu(collector.pid()));
    let secs = (end - start).as_secs_f64();
    let (lost, duplicated) = tally(&host, n);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    Ok(Row {
        path: path.to_string(),
        implementation: if ours { "gsslog".into() } else { "rsyslog".into() },
        messages: n,
        msgs_per_s: (n - lost) as f64 / secs,
        sender_cpu_us: per(s1.saturating_sub(s0)),
        collector_cpu_us: per(c1.saturating_sub(c0)),
        sender_rss_kb: sender.map(|s| peak_rss_kb(s.pid())).unwrap_or(0),
        collector_rss_kb: peak_rss_kb(collector.pid()),
        lost,
        duplicated,
        sessions_held: 0,
        failure: None,
        compared_with: None,
    })
}

/// Stock rsyslog client → stock rsyslog imgssapi, or our shipper → our collector.
fn gss_path(realm: &TestRealm, base: &Path, n: usize, mode: &str, ours: bool, acks: Acks) -> Result<Row> {
    let name = format!("{}-{mode}{}", if ours { "ours" } else { "rsyslog" }, acks.suffix().replace([' ', '+'], "-"));
    let dir = base.join(&name);
    let root = dir.join("hosts");
    let port = free_port()?;
    let input = free_port()?;
    let mut server = seed_server(&root, port);
    if acks == Acks::Synced {
        server = server.replace("$ModLoad imgssapi\n", "$ModLoad imgssapi\n$InputGSSServerAckAfterFsync on\n");
    }
    let collector = start_collector(&dir.join("collector"), &server, &realm.server_env(), ours, port)?;
    let queue_dir = dir.join("queue");
    fs::create_dir_all(&queue_dir)?;
    let mut stanza = SEED_CLIENT.replace("<server_name>:<port>", &format!("localhost:{port}")).replace("$GssMode encryption", &format!("$GssMode {mode}"));
    if acks != Acks::Off {
        stanza = format!("$ActionGSSForwardAcknowledged on\n{stanza}");
    }
    let sender = if ours {
        let mut d = Daemon::start(
            "omgssapi",
            &dir.join("shipper"),
            &stanza,
            &realm.client_env(SHARED_CLIENT),
            &["--work-directory", &queue_dir.display().to_string(), "--tcp", &format!("127.0.0.1:{input}")],
        )?;
        d.wait_for_log("shipper running", Duration::from_secs(30))?;
        Proc::Ours(d)
    } else {
        let conf = format!("$ModLoad imtcp\n$InputTCPServerRun {input}\n$ModLoad omgssapi\n$WorkDirectory {}\n{stanza}", queue_dir.display());
        let r = Rsyslogd::start(&dir.join("client"), &conf, &realm.client_env(SHARED_CLIENT))?;
        wait_for_listener(SocketAddr::from(([127, 0, 0, 1], input)), Duration::from_secs(30))?;
        Proc::Rsyslog(r)
    };
    let mut row = measure(&format!("GSS {mode}{}", acks.suffix()), ours, n, Some(&sender), &collector, &root, input)?;
    if acks != Acks::Off {
        row.compared_with = Some(format!("GSS {mode}"));
    }
    println!("  {:<18} {:<8} {:>10.0} msg/s", row.path, row.implementation, row.msgs_per_s);
    drop(sender);
    drop(collector);
    let _ = fs::remove_dir_all(&dir);
    Ok(row)
}

/// Our shipper → our collector, which writes the files and also sends every
/// message to a real ClickHouse (Debian's clickhouse-server on loopback):
/// timed until the last row is in the table; the collector's CPU covers both.
fn clickhouse_path(realm: &TestRealm, base: &Path, n: usize) -> Result<Row> {
    use gsslog_tests::clickhouse::{ClickHouse, PASSWORD, USER};
    let dir = base.join("ours-clickhouse");
    let root = dir.join("hosts");
    let port = free_port()?;
    let input = free_port()?;
    let server = ClickHouse::start(&dir.join("clickhouse"))?;
    let work = dir.join("collector-work");
    fs::create_dir_all(&work)?;
    let config = format!(
        "{}$WorkDirectory {}\nmodule(load=\"omclickhouse\")\naction(type=\"omclickhouse\" server=\"127.0.0.1\" port=\"{}\" useHttps=\"off\" user=\"{USER}\" pwd=\"{}\" queue.dequeueBatchSize=\"100000\")\n",
        seed_server(&root, port),
        work.display(),
        server.http_port,
        PASSWORD.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let collector = start_collector(&dir.join("collector"), &config, &realm.server_env(), true, port)?;
    let queue_dir = dir.join("queue");
    fs::create_dir_all(&queue_dir)?;
    let stanza = SEED_CLIENT.replace("<server_name>:<port>", &format!("localhost:{port}"));
    let mut shipper = Daemon::start(
        "omgssapi",
        &dir.join("shipper"),
        &stanza,
        &realm.client_env(SHARED_CLIENT),
        &["--work-directory", &queue_dir.display().to_string(), "--tcp", &format!("127.0.0.1:{input}")],
    )?;
    shipper.wait_for_log("shipper running", Duration::from_secs(30))?;
    let sender = Proc::Ours(shipper);
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let (s0, c0) = (cpu(sender.pid()), cpu(collector.pid()));
    let start = send_load(input, &load(n))?;
    let rows = || server.query("SELECT count() FROM rsyslog.SystemEvents").ok().and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(0);
    let mut last = (0, Instant::now());
    let end = loop {
        let now = rows();
        if now >= n {
            break Instant::now();
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(20) {
            break last.1;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (s1, c1) = (cpu(sender.pid()), cpu(collector.pid()));
    let stored = rows();
    let distinct: usize = server.query("SELECT uniqExact(message) FROM rsyslog.SystemEvents")?.trim().parse().unwrap_or(0);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let row = Row {
        path: "GSS enc + ClickHouse".into(),
        implementation: "gsslog".into(),
        messages: n,
        msgs_per_s: distinct.min(n) as f64 / (end - start).as_secs_f64(),
        sender_cpu_us: per(s1.saturating_sub(s0)),
        collector_cpu_us: per(c1.saturating_sub(c0)),
        sender_rss_kb: peak_rss_kb(sender.pid()),
        collector_rss_kb: peak_rss_kb(collector.pid()),
        lost: n - distinct.min(n),
        duplicated: stored.saturating_sub(distinct),
        compared_with: Some("GSS encryption".into()),
        ..Row::default()
    };
    println!("  {:<18} {:<8} {:>10.0} msg/s (rows in ClickHouse)", row.path, row.implementation, row.msgs_per_s);
    drop(sender);
    drop(collector);
    drop(server);
    let _ = fs::remove_dir_all(&dir);
    Ok(row)
}

/// The collector alone: plain TCP into the same per-host files (rsyslog imtcp).
fn collector_alone(base: &Path, n: usize, ours: bool) -> Result<Row> {
    let dir = base.join(format!("alone-{ours}"));
    let root = dir.join("hosts");
    let port = free_port()?;
    let rules: String = seed_server(&root, port).lines().filter(|l| !l.starts_with("$InputGSS") && !l.starts_with("$ModLoad")).map(|l| format!("{l}\n")).collect();
    let config = format!("$ModLoad imtcp\n$InputTCPServerRun {port}\n{rules}");
    let collector = start_collector(&dir.join("collector"), &config, &[], ours, port)?;
    let row = measure("collector alone (TCP)", ours, n, None, &collector, &root, port)?;
    println!("  {:<18} {:<8} {:>10.0} msg/s", row.path, row.implementation, row.msgs_per_s);
    drop(collector);
    let _ = fs::remove_dir_all(&dir);
    Ok(row)
}

/// Many GSS sessions at a modest rate each, one message per token as stock
/// clients send, into either collector.
fn many_sessions(realm: &TestRealm, base: &Path, sessions: usize, per_session: usize, ours: bool) -> Result<Row> {
    let dir = base.join(format!("sessions-{ours}"));
    let root = dir.join("hosts");
    let port = free_port()?;
    let mut config = seed_server(&root, port);
    if ours {
        // Every session of this run comes from 127.0.0.1, as if 2000 nodes sat
        // behind one NAT gateway; our front door would otherwise admit only
        // $InputGSSServerMaxHandshakesPerHost (16) handshakes from one address
        // at once. The client runs 64 at a time; rsyslog has no such limit.
        // One principal, one address: lift the session caps per principal
        // (8) and per host (64) too.
        config = format!(
            "$InputGSSServerMaxHandshakesPerHost 64\n$InputGSSServerMaxSessionsPerPrincipal 100000\n\
             $InputGSSServerMaxSessionsPerHost 100000\n{config}"
        );
    }
    let collector = start_collector(&dir.join("collector"), &config, &realm.server_env(), ours, port)?;
    let n = sessions * per_session;
    let c0 = cpu(collector.pid());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let start = Instant::now();
    let connected = runtime.block_on(async {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = tokio::task::JoinSet::new();
        for s in 0..sessions {
            let gate = gate.clone();
            tasks.spawn(async move {
                let permit = gate.acquire_owned().await.ok()?;
                let mut c = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.ok()?;
                drop(permit);
                for k in 0..per_session {
                    let i = s * per_session + k;
                    c.send_lines(&[message(i)]).await.ok()?;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some(c)
            });
        }
        let mut held = Vec::new();
        while let Some(r) = tasks.join_next().await {
            if let Ok(Some(c)) = r {
                held.push(c);
            }
        }
        held.len()
    });
    let host = host_dir(&root);
    let end = Progress::new(&host).wait(n, Duration::from_secs(5));
    let c1 = cpu(collector.pid());
    let (lost, duplicated) = tally(&host, n);
    let row = Row {
        path: format!("{sessions} sessions"),
        implementation: if ours { "gsslog".into() } else { "rsyslog".into() },
        messages: n,
        msgs_per_s: (n - lost) as f64 / (end - start).as_secs_f64(),
        sender_cpu_us: 0.0,
        collector_cpu_us: c1.saturating_sub(c0).as_secs_f64() * 1e6 / n as f64,
        sender_rss_kb: 0,
        collector_rss_kb: peak_rss_kb(collector.pid()),
        lost,
        duplicated,
        sessions_held: connected,
        failure: (connected == 0).then(|| "no session could be opened".to_string()),
        compared_with: None,
    };
    println!("  {:<18} {:<8} {connected} of {sessions} sessions held, {} of {n} messages lost", row.path, row.implementation, lost);
    runtime.shutdown_background();
    drop(collector);
    let _ = fs::remove_dir_all(&dir);
    Ok(row)
}

fn print_table(rows: &[Row]) {
    println!("\n{:<26} {:<8} {:>11} {:>9} {:>11} {:>11} {:>10} {:>10} {:>8} {:>5}", "path", "impl", "msg/s", "ratio", "sender µs", "collect µs", "send RSS", "coll RSS", "lost", "dup");
    for r in rows {
        let base = match &r.compared_with {
            Some(path) => rows.iter().find(|b| &b.path == path && b.implementation == r.implementation),
            None => rows.iter().find(|b| b.path == r.path && b.implementation == "rsyslog"),
        };
        let ratio = match base {
            Some(b) if b.msgs_per_s > 0.0 => format!("{:>8.2}x", r.msgs_per_s / b.msgs_per_s),
            Some(_) => format!("{:>9}", "n/a"),
            None => format!("{:>8.2}x", 1.0),
        };
        println!(
            "{:<26} {:<8} {:>11.0} {ratio} {:>11.2} {:>11.2} {:>8}kB {:>8}kB {:>8} {:>5}{}",
            r.path,
            r.implementation,
            r.msgs_per_s,
            r.sender_cpu_us,
            r.collector_cpu_us,
            r.sender_rss_kb,
            r.collector_rss_kb,
            r.lost,
            r.duplicated,
            r.failure.as_ref().map(|f| format!("   FAILED: {f}")).unwrap_or_default()
        );
    }
    println!("\nratio column: against rsyslog's row of the same path, or for the acked rows against our unacknowledged row");
    println!("\nratios against rsyslog in the same run: msg/s (higher is better); CPU per message of both daemons (lower is better):");
    for r in rows.iter().filter(|r| r.implementation == "gsslog") {
        if let Some(b) = rows.iter().find(|b| b.path == r.path && b.implementation == "rsyslog" && b.msgs_per_s > 0.0 && r.msgs_per_s > 0.0) {
            let cpu = (r.sender_cpu_us + r.collector_cpu_us) / (b.sender_cpu_us + b.collector_cpu_us).max(1e-9);
            println!("  {:<22} throughput {:>6.2}x   CPU/msg {:>5.2}x", r.path, r.msgs_per_s / b.msgs_per_s, cpu);
            if r.sessions_held > 0 && b.sessions_held > 0 {
                // Handshakes dominate this run, and the two held different numbers of sessions.
                let per_session = |x: &Row| x.collector_cpu_us * x.messages as f64 / x.sessions_held as f64 / 1000.0;
                println!(
                    "  {:<22} collector CPU per session held: {:.2} ms vs {:.2} ms = {:.2}x",
                    "",
                    per_session(r),
                    per_session(b),
                    per_session(r) / per_session(b)
                );
            }
        }
    }
    for r in rows.iter().filter(|r| r.compared_with.is_some()) {
        if let Some(b) = rows
            .iter()
            .find(|b| r.compared_with.as_ref() == Some(&b.path) && b.implementation == r.implementation && b.msgs_per_s > 0.0 && r.msgs_per_s > 0.0)
        {
            let cpu = (r.sender_cpu_us + r.collector_cpu_us) / (b.sender_cpu_us + b.collector_cpu_us).max(1e-9);
            println!("  {:<22} against unacknowledged: throughput {:>6.2}x   CPU/msg {:>5.2}x", r.path, r.msgs_per_s / b.msgs_per_s, cpu);
        }
    }
}

fn to_json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"path\":\"{}\",\"implementation\":\"{}\",\"messages\":{},\"msgs_per_s\":{:.0},\"sender_cpu_us_per_msg\":{:.3},\"collector_cpu_us_per_msg\":{:.3},\"sender_peak_rss_kb\":{},\"collector_peak_rss_kb\":{},\"lost\":{},\"duplicated\":{},\"sessions_held\":{},\"failure\":{}}}",
                r.path, r.implementation, r.messages, r.msgs_per_s, r.sender_cpu_us, r.collector_cpu_us, r.sender_rss_kb, r.collector_rss_kb, r.lost, r.duplicated, r.sessions_held,
                r.failure.as_ref().map_or_else(|| "null".to_string(), |f| format!("{f:?}"))
            )
        })
        .collect();
    format!("[\n  {}\n]\n", items.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_baseline_is_a_row_and_the_table_still_prints() {
        let failed = row_or_failure("2000 sessions", false, 10_000, Err(anyhow::anyhow!("no session could be opened")));
        assert_eq!(failed.failure.as_deref(), Some("no session could be opened"));
        assert_eq!((failed.lost, failed.msgs_per_s, failed.implementation.as_str()), (10_000, 0.0, "rsyslog"));
        let ours = Row { path: "2000 sessions".into(), implementation: "gsslog".into(), messages: 10_000, msgs_per_s: 900.0, ..Row::default() };
        let rows = [failed, ours];
        print_table(&rows);
        assert!(to_json(&rows).contains("\"failure\":\"no session could be opened\""));
    }
}

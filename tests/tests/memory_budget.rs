//! The collector's memory, end to end (issue #21 item 3): bounded by its
//! byte budget (`$InputGSSServerMemoryLimit`) whatever authenticated senders
//! do, and a well-behaved shipper keeps delivering meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::free_port;
use gsslog_tests::realm::TestRealm;
use gsswire::{ByteOrder, Protection};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(120);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn lines_of(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

/// One flooding session: maximum-size tokens (190 KiB) of tiny messages from
/// 200 program names, as fast as the collector reads them, until told to stop.
async fn flood_session(addr: SocketAddr, source: IpAddr, mut stop: watch::Receiver<bool>, tokens: Arc<AtomicUsize>) {
    let Ok(mut client) = GssClient::connect(addr, Some(source), Protection::Encryption, ByteOrder::Little).await else { return };
    let mut plain = Vec::with_capacity(190 * 1024);
    let mut k = 0usize;
    while plain.len() < 190 * 1024 - 16 {
        plain.extend_from_slice(format!("<13>p{}: m\n", k % 200).as_bytes());
        k += 1;
    }
    while !*stop.borrow() {
        tokio::select! {
            sent = client.send_plaintext(&plain) => if sent.is_err() { return },
            _ = stop.changed() => return,
        }
        tokens.fetch_add(1, Ordering::Relaxed);
    }
}

/// The attack, scaled down: 16 sessions sending maximum-size tokens
/// of tiny messages (19,000 to a token) to a rule with a file per program
/// name, while a shipper delivers. Nothing but counts bounded the bytes in
/// flight before (four chunks per session, their rendered batches, the
/// output channel's 64 batches); now they are in the budget, chunks are
/// rendered in jobs of at most 1024 messages, and the shipper's tokens wait
/// for at most four small jobs of each flooding session.
///
/// Unlike the next test this one did not fail before the fix in a debug
/// build (rendering is then slower than the output, so batches do not pile
/// up; the shipper needed 14 s instead of 3.5): it checks that the budget
/// costs no liveness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_the_budget_under_a_flood_and_a_shipper_keeps_delivering() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let progs = dir.path().join("progs");
    let out = dir.path().join("shipper.log");
    let port = free_port().unwrap();
    const LIMIT_MIB: u64 = 64;
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessionsPerPrincipal 64\n\
         $InputGSSServerMemoryLimit {LIMIT_MIB}m\n$DynaFileCacheSize 250\n\
         $template Msg,\"%msg%\\n\"\n$template PerProg,\"{}/%programname%.log\"\n\
         :programname, isequal, \"shipper\" {};Msg\n& stop\n*.* ?PerProg\n",
        progs.display(),
        out.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let pid = collector.pid();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // The baseline: the collector with one session open and used.
    let mut shipper = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    shipper.send_lines(&["<13>Nov 23 12:00:00 host shipper: warm-up"]).await.unwrap();
    let start = Instant::now();
    while lines_of(&out) < 1 {
        assert!(start.elapsed() < WAIT, "the warm-up line\n{}", collector.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let baseline_kib = status_kib(pid, "VmRSS:");

    const SESSIONS: usize = 16;
    let (stop, stop_rx) = watch::channel(false);
    let tokens = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let source = ip(&format!("127.0.1.{}", 1 + i / 4));
        flood.spawn(flood_session(addr, source, stop_rx.clone(), tokens.clone()));
    }
    // Let the flood get going: every session has sent several tokens.
    let start = Instant::now();
    while tokens.load(Ordering::Relaxed) < 4 * SESSIONS && start.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Meanwhile the shipper sends numbered messages, twenty to a token as
    // ours packs them.
    const N: usize = 200;
    let sent: Vec<String> = (0..N).map(|i| format!("<13>Nov 23 12:00:00 host shipper: seq {i}")).collect();
    for chunk in sent.chunks(20) {
        shipper.send_lines(chunk).await.unwrap();
    }
    let shipping = Instant::now();
    while lines_of(&out) < N + 1 && shipping.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = lines_of(&out) - 1;
    let flood_tokens = tokens.load(Ordering::Relaxed);
    let peak_kib = status_kib(pid, "VmHWM:");
    stop.send(true).unwrap();
    while flood.join_next().await.is_some() {}
    let log = collector.log();
    drop(collector);
    eprintln!(
        "flood: {flood_tokens} tokens; shipper: {delivered} of {N} in {:?}; peak {} MiB, baseline {} MiB",
        shipping.elapsed(),
        peak_kib / 1024,
        baseline_kib / 1024
    );

    assert!(flood_tokens >= 4 * SESSIONS, "the flood sent {flood_tokens} tokens");
    assert_eq!(delivered, N, "the shipper delivered {delivered} of {N} during the flood\n{}", &log[log.len().saturating_sub(3000)..]);
    // The ceiling: the budget, plus what does not depend on the bytes in
    // flight (the baseline, 33 sessions' state, 200 open files' buffers), for
    // which 32 MiB is generous.
    let ceiling_kib = baseline_kib + (LIMIT_MIB + 32) * 1024;
    assert!(
        peak_kib <= ceiling_kib,
        "peak memory {} MiB above the ceiling of {} MiB (baseline {} MiB, budget {LIMIT_MIB} MiB) after {flood_tokens} flood tokens",
        peak_kib / 1024,
        ceiling_kib / 1024,
        baseline_kib / 1024
    );
}

/// The second case, scaled down: sessions that send one
/// maximum-size token and then stay idle (as rsyslog clients do between
/// bursts). Before the fix each kept its token-sized read buffer and its
/// unwrapped copy for as long as it stayed connected (2000 such sessions held
/// 783 MB); now an idle session holds neither, and reading is gated by the
/// budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_after_a_maximum_size_token_hold_no_token_buffers() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.log");
    let port = free_port().unwrap();
    const LIMIT_MIB: u64 = 32;
    const SESSIONS: usize = 400;
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 500\n$InputGSSServerMaxSessionsPerPrincipal 500\n\
         $InputGSSServerMemoryLimit {LIMIT_MIB}m\n$template Msg,\"%msg:1:8%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    let mut collector = collector;
    collector.wait_for_log("collector running", WAIT).unwrap();
    let pid = collector.pid();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let baseline_kib = status_kib(pid, "VmRSS:");

    // 24 messages of 8000 bytes: a token of about 190 KiB.
    let mut plain = Vec::new();
    for i in 0..24 {
        plain.extend_from_slice(format!("<13>Nov 23 12:00:00 host app: {i:04} ").as_bytes());
        plain.extend(std::iter::repeat_n(b'x', 7960));
        plain.push(b'\n');
    }
    let plain = Arc::new(plain);
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let (gate, plain) = (gate.clone(), plain.clone());
        opening.spawn(async move {
            let _turn = gate.acquire_owned().await.ok()?;
            let source = ip(&format!("127.0.2.{}", 1 + i / 10));
            let mut c = GssClient::connect(addr, Some(source), Protection::Encryption, ByteOrder::Little).await.ok()?;
            c.send_plaintext(&plain).await.ok()?;
            Some(c)
        });
    }
    let mut idle = Vec::new();
    while let Some(opened) = opening.join_next().await {
        if let Some(c) = opened.unwrap() {
            idle.push(c);
        }
    }
    assert_eq!(idle.len(), SESSIONS, "every session opened and sent its token\n{}", collector.log());
    let start = Instant::now();
    while lines_of(&out) < SESSIONS * 24 {
        assert!(start.elapsed() < WAIT, "{} of {} lines written\n{}", lines_of(&out), SESSIONS * 24, collector.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (rss_kib, peak_kib) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    eprintln!("{SESSIONS} idle sessions: RSS {} MiB, peak {} MiB, baseline {} MiB", rss_kib / 1024, peak_kib / 1024, baseline_kib / 1024);
    drop(idle);
    // The ceiling: the budget, plus what does not depend on the bytes in
    // flight: the baseline, the allocator's slack (32 MiB is generous) and
    // the sessions' own state (GSS contexts, tasks, idle buffers: under
    // 100 KiB each; docs/security.md).
    let ceiling_kib = baseline_kib + (LIMIT_MIB + 32) * 1024 + (SESSIONS as u64 * 100);
    assert!(
        peak_kib <= ceiling_kib,
        "peak memory {} MiB above the ceiling of {} MiB (baseline {} MiB, budget {LIMIT_MIB} MiB, {SESSIONS} sessions)",
        peak_kib / 1024,
        ceiling_kib / 1024,
        baseline_kib / 1024
    );
}

/// The third case: 256 unauthenticated connections (the whole front
/// door, 16 addresses in two subnets) each announcing a 1 MiB handshake
/// token and sending all of it but the last byte. Before the fix the
/// collector buffered all of it (304-575 MB in the issue); now a handshake
/// token over 16 KiB must book its bytes in the front door's quarter of the
/// budget before it is read, and the rest wait in the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_handshake_tokens_wait_for_the_front_doors_budget() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    const LIMIT_MIB: u64 = 64;
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMemoryLimit {LIMIT_MIB}m\n*.* {}\n",
        dir.path().join("all.log").display()
    );
    let realm = TestRealm::shared();
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let pid = collector.pid();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let baseline_kib = status_kib(pid, "VmRSS:");

    // A 1 MiB initial token: little-endian length, then 0x60 and a DER
    // length that agrees (1 MiB - 6 bytes of content), then filler.
    const LEN: usize = 1 << 20;
    let mut token = Vec::with_capacity(4 + LEN);
    token.extend_from_slice(&(LEN as u32).to_le_bytes());
    token.extend_from_slice(&[0x60, 0x83]);
    token.extend_from_slice(&((LEN - 5) as u32).to_be_bytes()[1..]);
    token.resize(4 + LEN - 1, 0xAB);
    let token = Arc::new(token);
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..256 {
        let token = token.clone();
        let source = ip(&format!("127.0.{}.{}", 3 + i / 128, 1 + (i % 128) / 16));
        flood.spawn(async move {
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.bind(SocketAddr::new(source, 0)).ok()?;
            let mut s = socket.connect(addr).await.ok()?;
            // Whatever the collector takes within 15 s; it may close first.
            let _ = tokio::time::timeout(Duration::from_secs(15), s.write_all(&token)).await;
            Some(s)
        });
    }
    let mut held = Vec::new();
    while let Some(done) = flood.join_next().await {
        if let Some(s) = done.unwrap() {
            held.push(s);
        }
    }
    // The collector has had time to read what it would: before the fix all
    // of it within a second or two.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let peak_kib = status_kib(pid, "VmHWM:");
    drop(held);
    eprintln!("256 large handshakes: peak {} MiB, baseline {} MiB", peak_kib / 1024, baseline_kib / 1024);
    assert!(collector.is_running(), "{}", collector.log());
    let ceiling_kib = baseline_kib + (LIMIT_MIB + 32) * 1024;
    assert!(
        peak_kib <= ceiling_kib,
        "peak memory {} MiB above the ceiling of {} MiB (baseline {} MiB, budget {LIMIT_MIB} MiB)",
        peak_kib / 1024,
        ceiling_kib / 1024,
        baseline_kib / 1024
    );
}

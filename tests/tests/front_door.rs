//! The collector's front door, end to end: connections that have not
//! authenticated (or, plain, not said anything) have their own budget and
//! deadlines, so that they cannot keep authenticated shippers out.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;
use gsswire::{ByteOrder, Protection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn start_collector(dir: &Path, config: &str) -> Daemon {
    let realm = TestRealm::shared();
    // -x: no reverse DNS, which would send queries off this machine.
    let mut d = Daemon::start("imgssapi", dir, config, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

fn lines(path: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect()
}

async fn connect_from(source: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip(source), 0))?;
    socket.connect(addr).await
}

/// Whether the collector closes `stream` within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(within, stream.read(&mut byte)).await, Ok(Ok(0)) | Ok(Err(_)))
}

/// One flood connection: connects from `source`, says nothing, and connects
/// again each time the collector closes it, until told to stop.
async fn silent_connection(addr: SocketAddr, source: IpAddr, mut stop: watch::Receiver<bool>, opened: Arc<AtomicUsize>) {
    /// The pause before reconnecting: keeps the flood at a few thousand
    /// connections a second, which is plenty, on a machine shared with others.
    const REOPEN_PAUSE: Duration = Duration::from_millis(250);
    while !*stop.borrow() {
        let connected = async {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            socket.connect(addr).await
        };
        tokio::select! {
            connected = connected => if let Ok(mut stream) = connected {
                opened.fetch_add(1, Ordering::Relaxed);
                let mut byte = [0u8; 1];
                tokio::select! {
                    _ = stream.read(&mut byte) => {}
                    _ = stop.changed() => return,
                }
            },
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(REOPEN_PAUSE) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Issue #11 item 3: 2100 silent connections from two addresses, reopened as
/// the collector closes them, kept a shipper on a third address out of a
/// collector with the seed's `$InputGSSServerMaxSessions 2000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_flood_from_two_addresses_does_not_keep_a_shipper_out() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 2000\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    const FLOOD: usize = 2100;
    let (stop, stop_rx) = watch::channel(false);
    let opened = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let source = ip(if i % 2 == 0 { "127.0.0.2" } else { "127.0.0.3" });
        flood.spawn(silent_connection(addr, source, stop_rx.clone(), opened.clone()));
    }
    let start = Instant::now();
    while opened.load(Ordering::Relaxed) < FLOOD {
        assert!(start.elapsed() < Duration::from_secs(60), "the flood did not get going: {} connections", opened.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The shipper on 127.0.0.4 retries until it is in, then sends numbered
    // messages, each in its own token as stock omgssapi does. All of it must
    // happen while the flood goes on. Before the fix the flood held every
    // session slot for 20 s (twice the token timeout): the shipper was refused
    // and retried every 100 ms, a couple of hundred times. Now the flood holds
    // at most 16 handshake places per address and the shipper gets in at once.
    const N: usize = 2000;
    /// Only against a hang: how fast is the benchmark's business.
    const HANG: Duration = Duration::from_secs(300);
    const FEW_ATTEMPTS: usize = 5;
    let opened_before = opened.load(Ordering::Relaxed);
    let ship = async {
        let mut attempts = 0;
        let mut client = loop {
            attempts += 1;
            match GssClient::connect(addr, Some(ip("127.0.0.4")), Protection::Encryption, ByteOrder::Little).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        for i in 0..N {
            client.send_lines(&[format!("<13>Nov 23 12:00:00 shipper app: seq {i}")]).await.unwrap();
        }
        while lines(&out).len() < N {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        attempts
    };
    let shipped = tokio::time::timeout(HANG, ship).await;
    let opened_while_shipping = opened.load(Ordering::Relaxed) - opened_before;
    // The flood tasks only end when told to: one that ended has panicked.
    let flood_task_ended = flood.try_join_next().is_some();
    // The shipper may be done before the refused flood connections are back:
    // give them the time to come back once.
    let waited = Instant::now();
    while opened.load(Ordering::Relaxed) < 2 * FLOOD && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flooding_for = start.elapsed();
    stop.send(true).unwrap();
    while let Some(joined) = flood.join_next().await {
        joined.expect("a flood connection task failed");
    }

    let got = lines(&out);
    let log = collector.log();
    assert!(
        shipped.is_ok(),
        "the shipper delivered {} of {N} messages in {HANG:?} of flood\ncollector log (end):\n{}",
        got.len(),
        &log[log.len().saturating_sub(4000)..]
    );
    let attempts = shipped.unwrap_or_default();
    assert!(attempts <= FEW_ATTEMPTS, "the shipper got in at once, not after the flood's places expired: {attempts} attempts");
    assert!(!flood_task_ended, "every flood connection task was still running when the shipper was done");
    assert!(opened_while_shipping > 0, "the flood went on (connections reopened) while the shipper delivered");
    let expected: Vec<String> = (0..N).map(|i| format!(" seq {i}")).collect();
    let first_wrong = got.iter().zip(&expected).position(|(g, e)| g != e);
    assert!(got.len() == N && first_wrong.is_none(), "every message exactly once, in order: {} lines, first wrong at {first_wrong:?}", got.len());
    let opened = opened.load(Ordering::Relaxed);
    assert!(opened > 2 * FLOOD - 100, "the collector closed flood connections and they came back: {opened} connections");
    assert!(log.contains("$InputGSSServerMaxHandshakesPerHost"), "refusals name their limit");
    // Refusals are logged at a bounded rate: a burst per 10 s window (the
    // window's summary line is not among these).
    let refusal_lines = log.lines().filter(|l| l.contains("refusing connection")).count();
    let windows = flooding_for.as_secs() as usize / 10 + 2;
    assert!(refusal_lines <= 20 * windows, "{refusal_lines} refusal lines for {opened} connections");
}

/// One flood connection from its own address: connects, sends the head of
/// an initial token (so it is taken for GSS) and then a byte every 2 s, too
/// slowly to finish; connects again 250 ms after the collector closes it,
/// until told to stop.
async fn trickling_connection(addr: SocketAddr, source: IpAddr, mut stop: watch::Receiver<bool>, opened: Arc<AtomicUsize>) {
    const REOPEN_PAUSE: Duration = Duration::from_millis(250);
    while !*stop.borrow() {
        let held = async {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let mut stream = socket.connect(addr).await?;
            opened.fetch_add(1, Ordering::Relaxed);
            stream.write_all(&[200, 0, 0, 0, 0x60, 0x81, 197]).await?;
            let mut byte = [0u8; 1];
            loop {
                match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await {
                    Ok(_) => return Ok::<(), std::io::Error>(()),
                    Err(_) => stream.write_all(&[0xAB]).await?,
                }
            }
        };
        tokio::select! {
            _ = held => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(REOPEN_PAUSE) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Issue #21 item 2: a thousand addresses (four /24s), one connection each,
/// each sending a valid-looking initial token a byte at a time and coming
/// back as soon as it is closed: no per-address cap triggers, and before the
/// fix the 256 places of the front door stayed full of them, so that a
/// shipper retrying once a second (as ours backs off) was refused for as
/// long as the flood went on. Now a newcomer displaces a connection of the
/// subnet holding the most places that has not sent a complete token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_flood_from_a_thousand_addresses_does_not_keep_a_shipper_out() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    const FLOOD: usize = 1000;
    let (stop, stop_rx) = watch::channel(false);
    let opened = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let source = IpAddr::from([127, 1, (i / 250) as u8, (i % 250 + 1) as u8]);
        flood.spawn(trickling_connection(addr, source, stop_rx.clone(), opened.clone()));
    }
    let start = Instant::now();
    while opened.load(Ordering::Relaxed) < FLOOD {
        assert!(start.elapsed() < Duration::from_secs(60), "the flood did not get going: {} connections", opened.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The shipper retries once a second until it is in, then sends numbered
    // messages, one per token, all while the flood goes on.
    const N: usize = 200;
    const WINDOW: Duration = Duration::from_secs(30);
    let ship = async {
        let mut attempts = 0;
        let mut client = loop {
            attempts += 1;
            match GssClient::connect(addr, Some(ip("127.0.0.4")), Protection::Encryption, ByteOrder::Little).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        for i in 0..N {
            client.send_lines(&[format!("<13>Nov 23 12:00:00 shipper app: seq {i}")]).await.unwrap();
        }
        while lines(&out).len() < N {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        attempts
    };
    let shipped = tokio::time::timeout(WINDOW, ship).await;
    let still_flooding = flood.len() == FLOOD;
    stop.send(true).unwrap();
    while flood.join_next().await.is_some() {}

    let got = lines(&out);
    let log = collector.log();
    assert!(
        shipped.is_ok(),
        "the shipper delivered {} of {N} messages during {WINDOW:?} of flood ({} flood connections)\ncollector log (end):\n{}",
        got.len(),
        opened.load(Ordering::Relaxed),
        &log[log.len().saturating_sub(4000)..]
    );
    assert!(still_flooding, "the flood went on while the shipper delivered");
    let expected: Vec<String> = (0..N).map(|i| format!(" seq {i}")).collect();
    assert_eq!(got, expected, "every message exactly once, in order");
}

/// A silent connection ends at the first-byte timeout even where
/// PermitPlainTCP has called it plain (before the fix it held its place
/// forever), and a slow handshake ends at the handshake timeout even with no
/// token timeout at all (before the fix: twice the token timeout, here 120 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_byte_and_handshake_deadlines_end_silent_and_slow_connections() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.log");
    let port = free_port().unwrap();
    // Default front-door deadlines: 5 s to the first byte, 10 s to authentication.
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerPermitPlainTCP on\n$InputGSSServerTokenIOTimeout 0\n\
         $template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let silent = tokio::spawn(async move {
        let mut s = connect_from("127.0.0.2", addr).await.unwrap();
        let start = Instant::now();
        let closed = closed_within(&mut s, WAIT).await;
        (closed, start.elapsed())
    });
    let slow = tokio::spawn(async move {
        let mut s = connect_from("127.0.0.3", addr).await.unwrap();
        // The head of an initial token of 200 bytes (0x60, DER length 197), so
        // it is taken for GSS, then the rest a byte at a time, too slowly to
        // finish in 10 s.
        s.write_all(&[200, 0, 0, 0, 0x60, 0x81, 197]).await.unwrap();
        let start = Instant::now();
        let mut byte = [0u8; 1];
        for _ in 0..197 {
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(300), s.read(&mut byte)).await {
                return (matches!(r, Ok(0) | Err(_)), start.elapsed());
            }
            if s.write_all(&[0xAB]).await.is_err() {
                return (true, start.elapsed());
            }
        }
        (false, start.elapsed())
    });
    // A plain client that takes longer than the detection window to speak
    // still gets its say, and so does a GSS client, meanwhile.
    let mut plain = connect_from("127.0.0.4", addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    plain.write_all(b"<13>Nov 23 12:00:00 plainhost app: slow plain hello\n").await.unwrap();
    let mut gss = GssClient::connect(addr, Some(ip("127.0.0.5")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    gss.send_lines(&["<13>Nov 23 12:00:00 gsshost app: gss hello"]).await.unwrap();
    wait_for_file(&out, WAIT, |t| t.contains("slow plain hello") && t.contains("gss hello"))
        .unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));

    let (silent_closed, silent_after) = silent.await.unwrap();
    assert!(silent_closed, "a silent connection is closed\n{}", collector.log());
    assert!(silent_after >= Duration::from_secs(4), "not before its first-byte timeout: {silent_after:?}");
    let (slow_closed, slow_after) = slow.await.unwrap();
    assert!(slow_closed, "a handshake trickling in is closed after {slow_after:?}\n{}", collector.log());
    assert!(slow_after >= Duration::from_secs(9), "not before its handshake timeout: {slow_after:?}");
    // The connection is closed just before its log line is written.
    collector.wait_for_log("$InputGSSServerHandshakeTimeout", WAIT).unwrap();
    let log = collector.log();
    let line_of = |needle: &str| log.lines().find(|l| l.contains(needle)).unwrap_or_default().to_string();
    assert!(line_of("$InputGSSServerFirstByteTimeout").contains("peer=127.0.0.2:"), "{log}");
    assert!(line_of("$InputGSSServerHandshakeTimeout").contains("peer=127.0.0.3:"), "{log}");
    // The plain session that spoke is not ended by either deadline.
    assert!(!closed_within(&mut plain, Duration::from_millis(200)).await);
}

/// With the default of 16 connections per address in the front door, the
/// 17th from that address is refused at once; other addresses, and the same
/// address once it has places again, get in; shutdown does not wait for
/// connections that never authenticated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_refuses_the_excess_and_no_one_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.log");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerFirstByteTimeout 30\n$InputGSSServerHandshakeTimeout 30\n\
         $template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(connect_from("127.0.0.2", addr).await.unwrap());
    }
    let mut excess = connect_from("127.0.0.2", addr).await.unwrap();
    assert!(closed_within(&mut excess, Duration::from_secs(5)).await, "the 17th from one address is refused\n{}", collector.log());
    collector.wait_for_log("$InputGSSServerMaxHandshakesPerHost", WAIT).unwrap();
    assert!(GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.is_err());
    // Another address is not affected.
    let mut other = GssClient::connect(addr, Some(ip("127.0.0.3")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    other.send_lines(&["<13>Nov 23 12:00:00 other app: from another address"]).await.unwrap();
    for s in held.iter_mut() {
        assert!(!closed_within(s, Duration::from_millis(10)).await, "the first 16 keep their places");
    }
    // One place freed: the address gets in again.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Ok(c) = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = again.expect("a freed place is taken by the same address");
    again.send_lines(&["<13>Nov 23 12:00:00 again app: after a place freed"]).await.unwrap();
    let got = wait_for_file(&out, WAIT, |t| t.lines().count() >= 2).unwrap();
    assert!(got.contains("from another address") && got.contains("after a place freed"), "{got}");

    // Graceful shutdown with 15 unauthenticated connections still open: they
    // are dropped, the authenticated sessions drain, the exit is clean.
    drop((other, again));
    let stopped = tokio::task::spawn_blocking(move || {
        let status = collector.stop(Duration::from_secs(5));
        (status, collector.log())
    })
    .await
    .unwrap();
    assert!(stopped.0.unwrap_or_else(|e| panic!("{e}")).success(), "{}", stopped.1);
    for s in held.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(1)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_has_a_cap_over_all_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxHandshakes 4\n$InputGSSServerMaxHandshakesPerHost 2\n*.* {}\n",
        dir.path().join("all.log").display()
    );
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut held = Vec::new();
    for source in ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"] {
        held.push(connect_from(source, addr).await.unwrap());
    }
    let mut fifth = connect_from("127.0.0.5", addr).await.unwrap();
    assert!(closed_within(&mut fifth, Duration::from_secs(3)).await);
    collector.wait_for_log("($InputGSSServerMaxHandshakes)", WAIT).unwrap();
    drop(held);
    let mut c = None;
    for _ in 0..50 {
        if let Ok(client) = GssClient::connect(addr, Some(ip("127.0.0.5")), Protection::Encryption, ByteOrder::Little).await {
            c = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.is_some(), "places freed are places again");
}

/// Issue #11 item 6: with PermitPlainTCP on, a keytab that cannot be loaded
/// used to leave a listener serving plain TCP only, with a warning.
#[test]
fn a_keytab_that_does_not_load_is_a_start_up_error_even_with_plain_tcp_permitted() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerPermitPlainTCP on\n*.* {}\n",
        dir.path().join("all.log").display()
    );
    let missing = dir.path().join("no-such.keytab");
    let env: Vec<(String, String)> = realm
        .server_env()
        .into_iter()
        .map(|(k, v)| if k == "KRB5_KTNAME" { (k, format!("FILE:{}", missing.display())) } else { (k, v) })
        .collect();
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &env, &["-x"]).unwrap();
    let start = Instant::now();
    while collector.is_running() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = collector.log();
    assert!(!collector.is_running(), "the collector must not run without its keytab:\n{log}");
    assert!(log.contains("cannot acquire GSS acceptor credential for service 'host'"), "{log}");
    assert!(!log.contains("collector running"), "{log}");
}

#[test]
fn check_config_reports_bad_front_door_limits() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "$ModLoad imgssapi\n$InputGSSServerRun 514\n$InputGSSServerMaxHandshakesPerHost none\n$InputGSSServerFirstByteTimeout 0\n")
        .unwrap();
    let out = std::process::Command::new(bin_path("imgssapi").unwrap()).args(["--check-config", "-f"]).arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let b = bad.display();
    assert!(stdout.contains(&format!("{b}:3: $InputGSSServerMaxHandshakesPerHost: 'none' is not a positive number")), "{stdout}");
    assert!(stdout.contains(&format!("{b}:4: $InputGSSServerFirstByteTimeout: '0' is not a positive number")), "{stdout}");
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(65536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

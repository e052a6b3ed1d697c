//! The collector (`imgssapi`) end to end, through the real KDC: the grid's
//! seed config, stock rsyslog and our client as senders, plain TCP, many
//! sessions, bad input, SIGHUP and graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;
use gsslog_tests::rsyslog::RsyslogForwarder;
use gsswire::{ByteOrder, ClientIdentity, Protection};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(20);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The grid's server.conf with only its paths and port changed.
fn seed_config(root: &Path, port: u16) -> String {
    include_str!("../../syslog/testdata/server.conf")
        .replace("/var/log/hosts", &root.display().to_string())
        .replace("$InputGSSServerRun 515", &format!("$InputGSSServerRun {port}"))
}

fn start_collector(dir: &Path, config: &str) -> Daemon {
    let realm = TestRealm::shared();
    // -x: no reverse DNS, which would send queries off this machine.
    let mut d = Daemon::start("imgssapi", dir, config, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

/// `YYYY/MM` of today, local time, as `$YEAR/$MONTH` render it.
fn year_month() -> (String, String) {
    let now = syslog::Timestamp::now();
    (format!("{:04}", now.year), format!("{:02}", now.month))
}

fn ymd() -> String {
    let now = syslog::Timestamp::now();
    format!("{:04}{:02}{:02}", now.year, now.month, now.day)
}

fn lines(path: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect()
}

/// Per sender, the numbers that follow `marker` in its lines (`SENDER app:
/// MARKER N`), in the order they appear in the file.
fn numbers_by_sender(lines: &[String], marker: &str) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut by_sender = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for line in lines {
        let Some((before, after)) = line.split_once(&format!(" app: {marker} ")) else { continue };
        let (Some(sender), Ok(n)) = (before.split_whitespace().last(), after.trim().parse::<u64>()) else { continue };
        by_sender.entry(sender.to_string()).or_default().push(n);
    }
    by_sender
}

fn wait_lines(path: &Path, n: usize, d: &Daemon) -> Vec<String> {
    wait_for_file(path, WAIT, |t| t.lines().count() >= n).unwrap_or_else(|e| panic!("{e}\ncollector log:\n{}", d.log()));
    std::thread::sleep(Duration::from_millis(100));
    lines(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_config_writes_the_per_host_tree_from_stock_rsyslog_and_our_client() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hosts");
    let port = free_port().unwrap();
    let collector = start_collector(&dir.path().join("collector"), &seed_config(&root, port));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Host 127.0.0.2: our client, encryption, little-endian (the fleet's order).
    let mut node2 = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    node2
        .send_lines(&[
            "<38>Nov 23 12:00:01 node2 sshd[101]: Accepted publickey for alice",
            "<86>Nov 23 12:00:02 node2 sudo: alice : TTY=pts/0 ; COMMAND=/bin/true",
            "<4>Nov 23 12:00:03 node2 kernel: [  1.234] eth0: link up",
            "<30>Nov 23 12:00:04 node2 pbs_mom: job 42 started",
        ])
        .await
        .unwrap();
    // Host 127.0.0.3: integrity only, big-endian (rsyslog 8.2606 and later).
    let mut node3 = GssClient::connect(addr, Some(ip("127.0.0.3")), Protection::Integrity, ByteOrder::Big).await.unwrap();
    node3.send_lines(&["<13>Nov 23 12:00:05 node3 cron: daily run", "<34>Nov 23 12:00:06 node3 login: FAILED LOGIN"]).await.unwrap();

    // 127.0.0.1: Debian's stock rsyslog with omgssapi, in both modes.
    realm.add_client("rsyslog-enc").unwrap();
    realm.add_client("rsyslog-int").unwrap();
    let enc = RsyslogForwarder::start(&dir.path().join("rs-enc"), &realm.client_env("rsyslog-enc"), "encryption", port, "").unwrap();
    let int = RsyslogForwarder::start(&dir.path().join("rs-int"), &realm.client_env("rsyslog-int"), "integrity", port, "").unwrap();
    enc.send("<38>Nov 23 12:00:07 node1 sshd[7]: stock rsyslog encrypted").unwrap();
    int.send("<13>Nov 23 12:00:08 node1 app: stock rsyslog integrity").unwrap();

    let (y, m) = year_month();
    let host = |h: &str, f: &str| root.join(&y).join(&m).join(h).join(f);
    let offset = {
        let mut v = Vec::new();
        syslog::Timestamp::now().write_rfc3339(&mut v);
        String::from_utf8(v).unwrap()[26..].to_string()
    };
    let year = &y;
    let auth2 = wait_lines(&host("127.0.0.2", "auth.log"), 2, &collector);
    assert_eq!(
        auth2,
        [
            format!("{year}-11-23T12:00:01{offset} node2 sshd[101]: Accepted publickey for alice"),
            format!("{year}-11-23T12:00:02{offset} node2 sudo: alice : TTY=pts/0 ; COMMAND=/bin/true"),
        ]
    );
    assert_eq!(wait_lines(&host("127.0.0.2", "kern.log"), 1, &collector), [format!("{year}-11-23T12:00:03{offset} node2 kernel: [  1.234] eth0: link up")]);
    assert_eq!(wait_lines(&host("127.0.0.2", "syslog"), 1, &collector), [format!("{year}-11-23T12:00:04{offset} node2 pbs_mom: job 42 started")]);
    assert_eq!(wait_lines(&host("127.0.0.3", "syslog"), 1, &collector), [format!("{year}-11-23T12:00:05{offset} node3 cron: daily run")]);
    assert_eq!(wait_lines(&host("127.0.0.3", "auth.log"), 1, &collector), [format!("{year}-11-23T12:00:06{offset} node3 login: FAILED LOGIN")]);
    assert_eq!(wait_lines(&host("127.0.0.1", "auth.log"), 1, &collector), [format!("{year}-11-23T12:00:07{offset} node1 sshd[7]: stock rsyslog encrypted")]);
    assert_eq!(wait_lines(&host("127.0.0.1", "syslog"), 1, &collector), [format!("{year}-11-23T12:00:08{offset} node1 app: stock rsyslog integrity")]);
    // The per-service auth file gathers every host's auth and authpriv lines.
    let service = root.join("auth").join(&y).join(&m).join(format!("auth.log.{}", ymd()));
    assert_eq!(wait_lines(&service, 4, &collector).len(), 4);
    assert!(!host("127.0.0.3", "kern.log").exists());
    assert!(!root.join("pbs").exists(), "the 'pbs mom' rule can never match, as in rsyslog");
    // rsyslog's default modes: directories 0700, files 0644.
    assert_eq!(std::fs::metadata(root.join(&y)).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(host("127.0.0.2", "auth.log")).unwrap().permissions().mode() & 0o777, 0o644);
    let log = collector.log();
    assert!(log.contains("GSS session opened") && log.contains("principal=\"rsyslog-enc@GSSLOG.TEST\""), "{log}");
    assert!(log.contains("peer=127.0.0.2:"), "the peer address is logged with the principal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_and_gss_share_the_port_when_permitted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hosts");
    let port = free_port().unwrap();
    let config = seed_config(&root, port).replace("$InputGSSServerPermitPlainTCP off", "$InputGSSServerPermitPlainTCP on");
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let plain = tokio::net::TcpSocket::new_v4().unwrap();
    plain.bind(SocketAddr::new(ip("127.0.0.4"), 0)).unwrap();
    let mut plain = plain.connect(addr).await.unwrap();
    plain.write_all(b"<13>Nov 23 12:00:00 plainhost app: plain hello\n").await.unwrap();
    // A plain client that waits longer than the detection window before speaking.
    let slow = tokio::net::TcpSocket::new_v4().unwrap();
    slow.bind(SocketAddr::new(ip("127.0.0.6"), 0)).unwrap();
    let mut slow = slow.connect(addr).await.unwrap();
    let mut gss = GssClient::connect(addr, Some(ip("127.0.0.5")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    gss.send_lines(&["<13>Nov 23 12:00:00 gsshost app: gss hello"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.write_all(b"<13>Nov 23 12:00:00 slowhost app: slow hello\n").await.unwrap();

    let (y, m) = year_month();
    for (h, text) in [("127.0.0.4", "plain hello"), ("127.0.0.5", "gss hello"), ("127.0.0.6", "slow hello")] {
        let got = wait_lines(&root.join(&y).join(&m).join(h).join("syslog"), 1, &collector);
        assert!(got[0].ends_with(text), "{got:?}");
    }
    assert!(collector.log().contains("plain TCP session opened"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_sessions_are_held() {
    daemon::os::raise_open_file_limit();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.log");
    let port = free_port().unwrap();
    let config = format!(
        // One principal plays 2000 nodes here: lift its cap (default 8).
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 2100\n$InputGSSServerMaxSessionsPerPrincipal 2100\n\
         *.* {};RSYSLOG_TraditionalFileFormat\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    const N: usize = 2000;
    let handshakes = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let permit = handshakes.clone();
        tasks.spawn(async move {
            let source = ip(&format!("127.0.{}.{}", 10 + i / 250, 1 + i % 250));
            let guard = permit.acquire_owned().await.unwrap();
            let client = GssClient::connect(addr, Some(source), Protection::Encryption, ByteOrder::Little).await;
            drop(guard);
            (i, client.unwrap())
        });
    }
    let mut clients = Vec::new();
    while let Some(r) = tasks.join_next().await {
        clients.push(r.unwrap());
    }
    assert_eq!(clients.len(), N, "all sessions established and open at once");
    for (i, c) in clients.iter_mut() {
        c.send_lines(&[format!("<13>Nov 23 12:00:00 h{i} app: session {i}")]).await.unwrap();
    }
    let got = wait_lines(&out, N, &collector);
    // Each session's own message, exactly once: a lost one and a repeated one
    // must not cancel out.
    let by_sender = numbers_by_sender(&got, "session");
    let expected: std::collections::BTreeMap<String, Vec<u64>> = (0..N).map(|i| (format!("h{i}"), vec![i as u64])).collect();
    assert!(by_sender == expected, "not each session's message exactly once: {} senders, {} lines", by_sender.len(), got.len());
    assert_eq!(got.len(), N, "nothing else was written");
    assert_eq!(collector.log().matches("GSS session opened").count(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_limit_are_refused_with_a_log_line() {
    // Three senders hold one session each: none holds more than a newcomer
    // would, so a fourth sender has no one to take a slot from and is
    // refused (a sender holding the most gives one up instead: see
    // tests/tests/session_slots.rs; a sender that holds one already replaces
    // its own: imgssapi's slots tests).
    let realm = TestRealm::shared();
    let identity = |name: &str| {
        let keytab = realm.add_client(name).unwrap();
        ClientIdentity { principal: Some(format!("{name}@{}", gsslog_tests::realm::REALM)), keytab: Some(format!("FILE:{}", keytab.display())) }
    };
    let (a, b, c, d) = (identity("limit-a"), identity("limit-b"), identity("limit-c"), identity("limit-d"));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 3\n*.* {}\n", out.display());
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut held = Vec::new();
    for who in [&a, &b, &c] {
        held.push(GssClient::connect_as(addr, None, Protection::Encryption, ByteOrder::Little, who).await.unwrap());
    }
    // A client's handshake ends when it has the collector's last token; the
    // collector takes the session's slot just after sending it. Wait until it
    // has all three, or a fourth can slip in before the third is counted.
    let deadline = std::time::Instant::now() + WAIT;
    while collector.log().matches("GSS session opened").count() < 3 {
        assert!(std::time::Instant::now() < deadline, "three sessions opened:\n{}", collector.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match GssClient::connect_as(addr, None, Protection::Encryption, ByteOrder::Little, &d).await {
        Err(_) => {}
        Ok(mut fourth) => assert!(fourth.closed_by_peer(WAIT).await, "a fourth sender is refused"),
    }
    collector.wait_for_log("too many sessions", WAIT).unwrap();
    for (i, h) in held.iter_mut().enumerate() {
        assert!(!h.closed_by_peer(Duration::from_millis(50)).await, "held session {i} was kept");
    }
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = GssClient::connect_as(addr, None, Protection::Encryption, ByteOrder::Little, &d).await.unwrap();
    again.send_lines(&["<13>Nov 23 12:00:00 h app: after a slot freed"]).await.unwrap();
    wait_lines(&out, 1, &collector);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_only_its_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerTokenIOTimeout 1\n$MaxMessageSize 1k\n*.* {};RSYSLOG_TraditionalFileFormat\n",
        out.display()
    );
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut good = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    good.send_lines(&["<13>Nov 23 12:00:00 good app: before"]).await.unwrap();

    let raw = |bytes: Vec<u8>, close: bool| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        if close {
            drop(s);
            None
        } else {
            Some(s)
        }
    };
    raw(b"GET / HTTP/1.0\r\n\r\n".to_vec(), true).await;
    // Length 0x7fffffff, consistent with the DER header, so the order is detected.
    raw(vec![0xff, 0xff, 0xff, 0x7f, 0x60, 0x84, 0x7f, 0xff, 0xff, 0xf9], true).await;
    raw(vec![0x20, 0, 0, 0, 0x60, 0x1e, 1, 2, 3], true).await; // truncated initial token
    let stalled = raw(vec![0x20, 0, 0, 0, 0x60, 0x1e, 1, 2, 3], false).await; // stalls mid-token
    // A garbage token inside an established session.
    let mut broken = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    broken.writer.write_token(b"\x05\x04\x06\xffnot a real wrap token at all").await.unwrap();
    // A message far over $MaxMessageSize, and NULs and invalid UTF-8.
    let mut long = String::from("<13>Nov 23 12:00:00 good app: ");
    long.push_str(&"x".repeat(2500));
    good.send_plaintext(format!("{long}\n<13>Nov 23 12:00:00 good app: nul\0and \u{fffd}\n").as_bytes()).await.unwrap();
    good.send_plaintext(b"<13>Nov 23 12:00:00 good app: bad utf8 \xff\xfe\n").await.unwrap();

    collector.wait_for_log("token not complete within the token timeout", WAIT).unwrap();
    drop(stalled);
    good.send_lines(&["<13>Nov 23 12:00:00 good app: after"]).await.unwrap();
    let got = wait_for_file(&out, WAIT, |t| t.contains("app: after")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    let log = collector.log();
    for cause in [
        "first frame is not a GSS-API initial token",
        "token length 2147483647 exceeds the limit",
        "connection closed in the middle of a token",
        "unwrap failed",
    ] {
        assert!(log.contains(cause), "collector log should name '{cause}':\n{log}");
    }
    assert!(got.contains("app: before") && got.contains("nul#000and"), "{got}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.windows(2).any(|w| w == b"\xff\xfe"), "invalid UTF-8 passes through untouched");
    // rsyslog splits an oversize message into $MaxMessageSize pieces.
    assert!(got.lines().filter(|l| l.contains("xxxxxxxx")).count() >= 3, "{got}");
    assert!(collector.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_only_tokens_are_refused_when_encryption_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerRequireEncryption on\n*.* {};RSYSLOG_TraditionalFileFormat\n",
        out.display()
    );
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut integ = GssClient::connect(addr, None, Protection::Integrity, ByteOrder::Little).await.unwrap();
    integ.send_lines(&["<13>Nov 23 12:00:00 h app: in clear"]).await.unwrap();
    collector.wait_for_log("integrity-only token refused", WAIT).unwrap();
    let mut enc = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    enc.send_lines(&["<13>Nov 23 12:00:00 h app: sealed"]).await.unwrap();
    let got = wait_lines(&out, 1, &collector);
    assert_eq!(got.len(), 1);
    assert!(got[0].ends_with("app: sealed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_files_for_logrotate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}\n", out.display());
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    c.send_lines(&["<13>Nov 23 12:00:00 h app: first"]).await.unwrap();
    wait_lines(&out, 1, &collector);
    let rotated = dir.path().join("all.log.1");
    std::fs::rename(&out, &rotated).unwrap();
    collector.signal("HUP");
    collector.wait_for_log("SIGHUP: closed all output files", WAIT).unwrap();
    c.send_lines(&["<13>Nov 23 12:00:00 h app: second"]).await.unwrap();
    let now = wait_lines(&out, 1, &collector);
    assert!(now[0].ends_with("app: second"));
    assert_eq!(lines(&rotated).len(), 1);
}

/// logrotate under load: five rotations (rename, then SIGHUP) while two
/// sessions send; each sender's messages are all in the rotated files and
/// the live one, each once, in order across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_under_load_with_rotation_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}\n", out.display());
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for k in 0..2u32 {
        let stop = stop.clone();
        senders.spawn(async move {
            let source = ip(&format!("127.0.0.{}", 20 + k));
            let mut c = GssClient::connect(addr, Some(source), Protection::Encryption, ByteOrder::Little).await.unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<String> = (n..n + 20).map(|i| format!("<13>Nov 23 12:00:00 sender{k} app: rot {i}")).collect();
                c.send_lines(&batch).await.unwrap();
                n += 20;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (format!("sender{k}"), n)
        });
    }
    const ROTATIONS: usize = 5;
    for r in 1..=ROTATIONS {
        wait_for_file(&out, WAIT, |t| t.lines().count() >= 50).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
        std::fs::rename(&out, dir.path().join(format!("all.log.{r}"))).unwrap();
        collector.signal("HUP");
        let deadline = std::time::Instant::now() + WAIT;
        while collector.log().matches("SIGHUP: closed all output files").count() < r {
            assert!(std::time::Instant::now() < deadline, "SIGHUP {r} not logged:\n{}", collector.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    wait_for_file(&out, WAIT, |t| t.lines().count() >= 50).unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut sent = std::collections::BTreeMap::new();
    while let Some(joined) = senders.join_next().await {
        let (sender, n) = joined.unwrap();
        sent.insert(sender, n);
    }
    // Oldest rotation first, the live file last.
    let files: Vec<std::path::PathBuf> =
        (1..=ROTATIONS).map(|r| dir.path().join(format!("all.log.{r}"))).chain([out.clone()]).collect();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let all: Vec<String> = files.iter().flat_map(|f| lines(f)).collect();
        let got = numbers_by_sender(&all, "rot");
        let complete = sent.iter().all(|(s, n)| got.get(s).map_or(0, Vec::len) as u64 >= *n);
        if complete || std::time::Instant::now() > deadline {
            for (sender, n) in &sent {
                assert_eq!(got.get(sender), Some(&(0..*n).collect::<Vec<_>>()), "{sender}: every message once, in order, across the rotations");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for f in &files {
        assert!(!lines(f).is_empty(), "{} got messages", f.display());
    }
    assert!(collector.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {};RSYSLOG_TraditionalFileFormat\n", out.display());
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Three clients that send until the collector half-closes their session,
    // as our shipper does; each then stops and closes.
    let mut clients = tokio::task::JoinSet::new();
    for k in 0..3 {
        clients.spawn(async move {
            let c = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
            let GssClient { mut reader, mut writer, mut session } = c;
            let closed = Arc::new(AtomicBool::new(false));
            let flag = closed.clone();
            let watcher = tokio::spawn(async move {
                let _ = reader.read_token(1 << 20).await;
                flag.store(true, Ordering::SeqCst);
            });
            let mut n = 0u64;
            while !closed.load(Ordering::SeqCst) {
                let mut plain = Vec::new();
                for _ in 0..20 {
                    plain.extend_from_slice(format!("<13>Nov 23 12:00:00 c{k} app: msg {n}\n").as_bytes());
                    n += 1;
                }
                let token = session.wrap(&plain).unwrap();
                if writer.write_token(&token).await.is_err() {
                    n -= 20;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            drop(writer);
            let _ = watcher.await;
            (format!("c{k}"), n)
        });
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = collector.stop(WAIT);
        (s, collector)
    })
    .await
    .unwrap();
    let (status, collector) = status;
    assert!(status.unwrap().success(), "{}", collector.log());
    let mut sent = std::collections::BTreeMap::new();
    while let Some(r) = clients.join_next().await {
        let (sender, n) = r.unwrap();
        sent.insert(sender, n);
    }
    let total: u64 = sent.values().sum();
    assert!(total > 300, "the load was real: {total}");
    // Per sender, every message it sent before the half-close, each once and
    // in the order sent.
    let written = numbers_by_sender(&lines(&out), "msg");
    for (sender, n) in &sent {
        let got = written.get(sender).cloned().unwrap_or_default();
        assert!(got == (0..*n).collect::<Vec<_>>(), "{sender} sent 0..{n}; written: {} lines, not each once in order\n{}", got.len(), collector.log());
    }
    assert_eq!(lines(&out).len() as u64, total, "nothing else was written");
}

/// A session's messages are rendered by several tasks at once; the file must
/// still hold them in the order they were sent, for every sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_keeps_its_order_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!(
        "$ModLoad imtcp\n$InputTCPServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    const SENDERS: usize = 3;
    const N: usize = 30_000;
    let mut senders = tokio::task::JoinSet::new();
    for k in 0..SENDERS {
        senders.spawn(async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let mut buf = Vec::new();
            for i in 0..N {
                buf.extend_from_slice(format!("<13>Nov 23 12:00:00 node app: s{k} {i}\n").as_bytes());
                // Writes of varied sizes, so messages straddle reads and chunks.
                if buf.len() > 1000 + (i % 7) * 3000 {
                    s.write_all(&buf).await.unwrap();
                    buf.clear();
                }
            }
            s.write_all(&buf).await.unwrap();
        });
    }
    while senders.join_next().await.is_some() {}
    wait_for_file(&out, WAIT, |t| t.lines().count() >= SENDERS * N).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    let mut next = [0usize; SENDERS];
    for line in lines(&out) {
        let (k, i) = line.trim().trim_start_matches('s').split_once(' ').unwrap();
        let (k, i): (usize, usize) = (k.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[k], "sender {k} out of order");
        next[k] += 1;
    }
    assert_eq!(next, [N; SENDERS]);
}

#[test]
fn check_config_reports_file_and_line_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "$ModLoad imgssapi\n$InputGSSServerRun 514\nauth.* -?NotDefined\n$InputGSSServerMaxSessions many\n").unwrap();
    let out = std::process::Command::new(bin_path("imgssapi").unwrap()).args(["--check-config", "-f"]).arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let b = bad.display();
    assert!(stdout.contains(&format!("{b}:3: dynamic file template 'NotDefined' is not defined above this line")), "{stdout}");
    assert!(stdout.contains(&format!("{b}:4: $InputGSSServerMaxSessions: 'many' is not a positive number")), "{stdout}");

    let seed = dir.path().join("server.conf");
    std::fs::write(&seed, seed_config(&dir.path().join("hosts"), 515)).unwrap();
    let out = std::process::Command::new(bin_path("imgssapi").unwrap()).args(["--check-config", "-f"]).arg(&seed).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 3, "two warnings about the seed's dead pbs rule, one about principals: {stdout}");
    assert!(stdout.contains(":21: warning: this filter can never match"));
    assert!(stdout.contains("warning: no $InputGSSServerAllowedPrincipal: any principal of the realm"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_file_is_an_error_and_other_files_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let good = dir.path().join("good.log");
    // A path under a regular file cannot be created, even by root.
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let bad = dir.path().join("not-a-dir/sub/bad.log");
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}\n*.* {}\n", bad.display(), good.display());
    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    c.send_lines(&["<13>Nov 23 12:00:00 h app: one", "<13>Nov 23 12:00:00 h app: two"]).await.unwrap();
    assert_eq!(wait_lines(&good, 2, &collector).len(), 2);
    collector.wait_for_log("message lost: cannot write output file", WAIT).unwrap();
    assert!(collector.log().contains("not-a-dir/sub/bad.log"), "the error names the file");
    drop(c);
    let status = tokio::task::spawn_blocking(move || collector.stop(WAIT).map(|s| (s, collector.log()))).await.unwrap().unwrap();
    assert!(status.0.success());
    assert!(status.1.contains("lost=2"), "the losses are counted: {}", status.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_config_writes_pbs_moms_daily_file_and_checks_without_the_seeds_warnings() {
    // packaging/config/imgssapi.conf: the grid's server.conf as it was meant,
    // its PbsService template and pbs_mom rule fixed (issue #22 item 10).
    let packaged = include_str!("../../packaging/config/imgssapi.conf");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hosts");
    let port = free_port().unwrap();
    let include = dir.path().join("imgssapi.d");
    std::fs::create_dir(&include).unwrap();
    // A site's rule in the include directory applies.
    let site_log = dir.path().join("site.log");
    std::fs::write(include.join("site.conf"), format!("*.* {}\n", site_log.display())).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = packaged
        .replace("/var/log/hosts", &root.display().to_string())
        .replace("/etc/gsslog/imgssapi.d", &include.display().to_string())
        .replace("/var/lib/gsslog-collector", &state.display().to_string())
        .replace("$InputGSSServerRun 515", &format!("$InputGSSServerRun {port}"))
        // The test's client is not a host principal.
        .replace("host/*@<REALM>", &format!("client@{}", gsslog_tests::realm::REALM));
    let conf = dir.path().join("imgssapi.conf");
    std::fs::write(&conf, &config).unwrap();
    let out = std::process::Command::new(gsslog_tests::daemon::bin_path("imgssapi").unwrap())
        .arg("-f")
        .arg(&conf)
        .arg("--check-config")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("PbsService") && !said.contains("can never match"), "{said}");

    let mut collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut node = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    node.send_lines(&["<30>Nov 23 12:00:04 node2 pbs_mom: job 42 started", "<30>Nov 23 12:00:05 node2 pbs_server: not pbs_mom"]).await.unwrap();
    let (y, m) = year_month();
    let pbs = root.join("pbs").join(&y).join(&m).join(format!("log.{}", ymd()));
    let got = wait_lines(&pbs, 1, &collector);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].ends_with("node2 pbs_mom: job 42 started"), "{got:?}");
    let per_host = wait_lines(&root.join(&y).join(&m).join("127.0.0.2").join("syslog"), 2, &collector);
    assert_eq!(per_host.len(), 2, "pbs_mom's lines stay in the host's syslog too: {per_host:?}");
    assert_eq!(wait_lines(&site_log, 2, &collector).len(), 2, "the include directory's rule");
    // The session's log line in words an admin reads, not Rust's debug text.
    let log = collector.log();
    let opened = log.lines().find(|l| l.contains("GSS session opened")).unwrap_or_default();
    assert!(opened.contains("byte_order=\"le\"") || opened.contains("byte_order=le"), "{opened}");
    assert!(!opened.contains("Some("), "{opened}");
    // Group adm (the unit's group) reads the tree: directories 0750, files 0640.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root.join(&y).join(&m).join("127.0.0.2")), 0o750);
    assert_eq!(mode(&pbs), 0o640);
    // The senders' table is kept in the packaged $WorkDirectory.
    drop(node);
    let stopped = collector.stop(WAIT).unwrap();
    assert!(stopped.success());
    let table = std::fs::read_to_string(state.join("imgssapi-senders.state")).unwrap_or_default();
    assert!(table.contains("127.0.0.2"), "the senders' state file: {table:?}");
}

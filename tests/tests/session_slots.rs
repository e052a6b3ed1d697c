//! Established sessions, end to end through the real KDC (issue #21 item 1):
//! no principal, and no few principals, can hold the session slots against a
//! new authenticated sender. Caps per principal and per address, and when
//! every slot is taken a new sender gets one at the expense of the sender
//! holding the most.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::free_port;
use gsslog_tests::realm::{TestRealm, REALM};
use gsswire::{ByteOrder, ClientIdentity, Protection};

const WAIT: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn principal_with_keytab(realm: &TestRealm, name: &str) -> ClientIdentity {
    let keytab = realm.add_client(name).unwrap();
    ClientIdentity { principal: Some(format!("{name}@{REALM}")), keytab: Some(format!("FILE:{}", keytab.display())) }
}

fn start_collector(dir: &Path, config: &str) -> Daemon {
    let realm = TestRealm::shared();
    let mut d = Daemon::start("imgssapi", dir, config, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

fn lines(path: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect()
}

/// Opens `n` idle sessions as `identity`, one after the other, from
/// 127.0.0.`first_host`.. (four per address, well under every per-address
/// cap), and keeps those whose handshake completed.
async fn idle_sessions(addr: SocketAddr, identity: &ClientIdentity, n: usize, first_host: usize) -> Vec<GssClient> {
    let mut held = Vec::new();
    for i in 0..n {
        let source = ip(&format!("127.0.0.{}", first_host + i / 4));
        if let Ok(c) = GssClient::connect_as(addr, Some(source), Protection::Encryption, ByteOrder::Little, identity).await {
            held.push(c);
        }
    }
    held
}

/// How many of `clients` the collector still keeps open.
async fn still_open(clients: &mut [GssClient]) -> usize {
    let mut open = 0;
    for c in clients.iter_mut() {
        if !c.closed_by_peer(Duration::from_millis(20)).await {
            open += 1;
        }
    }
    open
}

/// Connects as `identity` from `source` (retrying while refused, within
/// `WAIT`), sends `n` numbered messages one per token, as stock omgssapi
/// does, and waits until `out` has them all.
async fn ship(addr: SocketAddr, source: &str, identity: &ClientIdentity, n: usize, out: &Path, collector: &Daemon) {
    let start = Instant::now();
    let mut client = loop {
        match GssClient::connect_as(addr, Some(ip(source)), Protection::Encryption, ByteOrder::Little, identity).await {
            Ok(c) => break c,
            Err(e) => {
                let log = collector.log();
                assert!(start.elapsed() < WAIT, "the shipper never got a session: {e:#}\n{}", &log[log.len().saturating_sub(3000)..]);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    for i in 0..n {
        let sent = client.send_lines(&[format!("<13>Nov 23 12:00:00 shipper app: seq {i}")]).await;
        assert!(sent.is_ok(), "sending message {i}: {sent:?}\n{}", collector.log());
    }
    while lines(out).len() < n {
        let log = collector.log();
        assert!(
            start.elapsed() < WAIT,
            "the shipper delivered {} of {n}\ncollector log (end):\n{}",
            lines(out).len(),
            &log[log.len().saturating_sub(3000)..]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected: Vec<String> = (0..n).map(|i| format!(" seq {i}")).collect();
    assert_eq!(lines(out), expected, "every message exactly once, in order");
}

/// The attack: one principal of the realm opens idle sessions until
/// every slot is taken, and a legitimate shipper is refused. Before the fix
/// it delivered nothing for as long as the attacker held them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_principal_cannot_take_every_session_slot() {
    let realm = TestRealm::shared();
    let attacker = principal_with_keytab(realm, "mallory");
    let node = principal_with_keytab(realm, "host/node1.test");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    // Only the shipper's messages are written: the attacker's sessions send nothing.
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 20\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut held = idle_sessions(addr, &attacker, 20, 10).await;
    ship(addr, "127.0.0.2", &node, 200, &out, &collector).await;

    // The default cap per principal is 8: the rest of the attacker's
    // sessions were refused (its first 8 were not idle long enough to be
    // replaced by its own), and the log says why.
    let open = still_open(&mut held).await;
    assert!(open <= 8, "the attacker still holds {open} sessions");
    let log = collector.log();
    assert!(log.contains("$InputGSSServerMaxSessionsPerPrincipal"), "refusals name their cap:\n{log}");
}

/// Two principals together hold every slot, each under its own cap: a new
/// sender gets a slot at the expense of the one holding the most, and so does
/// the next; a principal that holds its fair share gets no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sender_gets_a_slot_at_the_expense_of_the_sender_holding_the_most() {
    let realm = TestRealm::shared();
    let (a, b) = (principal_with_keytab(realm, "holder-a"), principal_with_keytab(realm, "holder-b"));
    let node = principal_with_keytab(realm, "host/node2.test");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions 10\n$InputGSSServerMaxSessionsPerPrincipal 6\n\
         $template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut held_a = idle_sessions(addr, &a, 6, 10).await;
    let mut held_b = idle_sessions(addr, &b, 4, 20).await;
    assert_eq!(still_open(&mut held_a).await + still_open(&mut held_b).await, 10, "every slot taken\n{}", collector.log());

    ship(addr, "127.0.0.2", &node, 100, &out, &collector).await;
    assert_eq!(still_open(&mut held_a).await, 5, "the sender holding the most gave one up");
    assert_eq!(still_open(&mut held_b).await, 4);
    assert!(collector.log().contains("this sender held the most ($InputGSSServerMaxSessions)"), "{}", collector.log());
}

/// More live senders of one principal than its cap (a NAT'd site; the
/// tests' one principal): established, active sessions are not churned. A
/// newcomer is refused while every session of its principal is active, and
/// backs off and retries; before the fix each newcomer displaced the
/// longest idle of the live sessions, and they took each other's place in
/// turn. Counted in the collector's metrics, not timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_senders_of_one_principal_beyond_its_cap_do_not_displace_each_other() {
    const CAP: usize = 4;
    const NEWCOMERS: usize = 6;
    const ATTEMPTS: usize = 3;
    let realm = TestRealm::shared();
    let site = principal_with_keytab(realm, "host/nat-site.test");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let (port, metrics) = (free_port().unwrap(), free_port().unwrap());
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessionsPerPrincipal {CAP}\n\
         $GssMetricsListen 127.0.0.1:{metrics}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics));

    // CAP live senders, each sending a message every 20 ms until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut live = Vec::new();
    for k in 0..CAP {
        let mut client = GssClient::connect_as(addr, Some(ip(&format!("127.0.0.{}", 10 + k))), Protection::Encryption, ByteOrder::Little, &site)
            .await
            .unwrap();
        client.send_lines(&[format!("<13>Nov 23 12:00:00 nat app: live {k} seq 0")]).await.unwrap();
        let stop = stop.clone();
        live.push(tokio::spawn(async move {
            let mut sent = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if client.send_lines(&[format!("<13>Nov 23 12:00:00 nat app: live {k} seq {sent}")]).await.is_err() {
                    break;
                }
                sent += 1;
            }
            (client, sent)
        }));
    }
    // Every live session has its slot before the newcomers come.
    let counters = |text: &str, name: &str| -> u64 {
        text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
    };
    let start = Instant::now();
    loop {
        let (_, text) = daemon::metrics_http::get(metrics, "/metrics").await.unwrap();
        if counters(&text, "gsslog_collector_sessions_opened_total ") == CAP as u64 {
            break;
        }
        assert!(start.elapsed() < WAIT, "the live senders never all got in:\n{text}\n{}", collector.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The newcomers of the same principal, each retrying: every attempt is
    // refused (the collector closes it after the handshake), none displaces.
    let mut admitted = 0;
    for n in 0..NEWCOMERS {
        for _ in 0..ATTEMPTS {
            let source = ip(&format!("127.0.0.{}", 30 + n));
            let mut c = GssClient::connect_as(addr, Some(source), Protection::Encryption, ByteOrder::Little, &site).await.unwrap();
            if !c.closed_by_peer(Duration::from_secs(5)).await {
                admitted += 1;
                break;
            }
        }
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = Vec::new();
    for (k, task) in live.into_iter().enumerate() {
        let (mut client, n) = task.await.unwrap();
        assert!(!client.closed_by_peer(Duration::from_millis(200)).await, "live sender {k}'s session was closed\n{}", collector.log());
        sent.push(n);
    }
    let total: usize = sent.iter().sum();
    let start = Instant::now();
    while lines(&out).len() < total {
        assert!(start.elapsed() < WAIT, "{} of {total} live messages arrived\n{}", lines(&out).len(), collector.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = lines(&out);
    for (k, &n) in sent.iter().enumerate() {
        let mine: Vec<&String> = got.iter().filter(|l| l.starts_with(&format!(" live {k} "))).collect();
        let expected: Vec<String> = (0..n).map(|i| format!(" live {k} seq {i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "live sender {k}: every message exactly once, in order");
    }
    let (_, text) = daemon::metrics_http::get(metrics, "/metrics").await.unwrap();
    assert_eq!(counters(&text, "gsslog_collector_sessions_displaced_total "), 0, "a live session was displaced\n{text}");
    assert_eq!(admitted, 0, "a newcomer got a slot beside {CAP} live sessions of its principal");
    assert_eq!(counters(&text, "gsslog_collector_sessions_refused_sender_busy_total "), (NEWCOMERS * ATTEMPTS) as u64, "{text}");
    assert!(collector.log().contains("$InputGSSServerReplaceIdleSessionAfter"), "the refusal names its directive\n{}", collector.log());
}

/// A node whose sessions died unseen (they receive nothing) gets back in at
/// its cap once they have been idle for `$InputGSSServerReplaceIdleSessionAfter`,
/// retrying until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_sessions_died_unseen_gets_back_in_once_they_are_idle_long_enough() {
    let realm = TestRealm::shared();
    let node = principal_with_keytab(realm, "host/rebooted.test");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessionsPerPrincipal 2\n\
         $InputGSSServerReplaceIdleSessionAfter 1\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let collector = start_collector(&dir.path().join("collector"), &config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Its two old sessions: open, silent, as if the node had crashed.
    let mut dead = idle_sessions(addr, &node, 2, 10).await;
    assert_eq!(dead.len(), 2);
    // The rebooted node retries while refused (the collector closes its
    // session after the handshake), then delivers.
    let start = Instant::now();
    let mut refused = 0;
    let mut client = loop {
        let mut c = GssClient::connect_as(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little, &node).await.unwrap();
        if !c.closed_by_peer(Duration::from_secs(2)).await {
            break c;
        }
        refused += 1;
        assert!(start.elapsed() < WAIT, "the node never got back in\n{}", collector.log());
    };
    for i in 0..20 {
        client.send_lines(&[format!("<13>Nov 23 12:00:00 node app: seq {i}")]).await.unwrap();
    }
    while lines(&out).len() < 20 {
        assert!(start.elapsed() < WAIT, "{} of 20 delivered\n{}", lines(&out).len(), collector.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines(&out), (0..20).map(|i| format!(" seq {i}")).collect::<Vec<_>>());
    assert_eq!(still_open(&mut dead).await, 1, "one old session gave way to the node's new one");
    // Refused at least while its old sessions were fresh: the first attempt
    // came right after they were opened (idle far less than 1 s) unless
    // the machine stalled; the count is reported, not asserted.
    eprintln!("the node was refused {refused} time(s) before its old sessions had been idle 1 s");
    assert!(collector.log().contains("longest idle of its sessions ($InputGSSServerMaxSessionsPerPrincipal)"), "{}", collector.log());
}

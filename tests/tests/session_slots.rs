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
    // sessions were closed as newer ones came, and the log says why.
    let open = still_open(&mut held).await;
    assert!(open <= 8, "the attacker still holds {open} sessions");
    let log = collector.log();
    assert!(log.contains("($InputGSSServerMaxSessionsPerPrincipal)"), "displacements name their cap:\n{log}");
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

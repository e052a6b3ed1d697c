//! Who may send, as which host, and who sent each message (issue 12), end to
//! end through the real KDC: principal patterns, anonymous principals, host
//! principals bound to their addresses, the provenance properties in
//! templates and filters, the shipper's named principal and keytab, and
//! sessions that do not outlive their tickets.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::{TestRealm, REALM, SHARED_CLIENT};
use gsslog_tests::rsyslog::RsyslogForwarder;
use gsswire::{ByteOrder, ClientIdentity, Protection};

const WAIT: Duration = Duration::from_secs(30);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `principal` of the shared realm with a keytab of its own.
fn principal_with_keytab(realm: &TestRealm, name: &str) -> ClientIdentity {
    let keytab = realm.add_client(name).unwrap();
    ClientIdentity { principal: Some(format!("{name}@{REALM}")), keytab: Some(format!("FILE:{}", keytab.display())) }
}

fn start_collector(realm: &TestRealm, dir: &Path, config: &str) -> Daemon {
    let mut d = Daemon::start("imgssapi", dir, config, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

/// A collector on `port` that writes `PRINCIPAL PROTECTION BINDING MSG` of
/// every message to `out`, with `extra` directives before its rules.
fn provenance_config(port: u16, extra: &str, out: &Path) -> String {
    format!(
        "$ModLoad imgssapi\n{extra}$InputGSSServerRun {port}\n\
         $template Who,\"%gss-principal% %gss-protection% %gss-host-binding% %msg%\\n\"\n\
         *.* {};Who\n",
        out.display()
    )
}

fn lines(path: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect()
}

fn wait_lines(path: &Path, n: usize, d: &Daemon) -> Vec<String> {
    wait_for_file(path, WAIT, |t| t.lines().count() >= n).unwrap_or_else(|e| panic!("{e}\ncollector log:\n{}", d.log()));
    std::thread::sleep(Duration::from_millis(100));
    lines(path)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Connects as `identity` from `source` and sends one line; the client's
/// handshake completes before the collector decides, so a refusal shows as
/// the collector closing the session without writing the line.
async fn send_as(port: u16, source: &str, identity: &ClientIdentity, line: &str) -> GssClient {
    let mut c = GssClient::connect_as(addr(port), Some(ip(source)), Protection::Encryption, ByteOrder::Little, identity)
        .await
        .unwrap();
    // A refused session may be closed before this write; that is no failure here.
    let _ = c.send_lines(&[line]).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_pattern_refuses_a_user_principal_and_accepts_host_principals() {
    let realm = TestRealm::shared();
    let alice = principal_with_keytab(realm, "alice");
    let host = principal_with_keytab(realm, "host/n1.test");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let extra = format!("$InputGSSServerAllowedPrincipal host/*@{REALM}\n");
    let mut collector = start_collector(realm, &dir.path().join("collector"), &provenance_config(port, &extra, &out));

    let mut refused = send_as(port, "127.0.0.2", &alice, "<38>Nov 23 12:00:00 node1 sshd[99]: Accepted publickey for root").await;
    assert!(refused.closed_by_peer(WAIT).await, "the collector ends alice's session");
    collector.wait_for_log("principal not allowed", WAIT).unwrap();
    let log = collector.log();
    let refusal = log.lines().find(|l| l.contains("principal not allowed")).unwrap();
    assert!(refusal.contains(&format!("alice@{REALM}")) && refusal.contains("127.0.0.2"), "names principal and peer: {refusal}");

    let _accepted = send_as(port, "127.0.0.3", &host, "<13>Nov 23 12:00:01 n1 app: from a host").await;
    let got = wait_lines(&out, 1, &collector);
    assert_eq!(got, [format!("host/n1.test@{REALM} encryption unchecked  from a host")]);
    assert!(!std::fs::read_to_string(&out).unwrap().contains("Accepted publickey"), "alice's line was not written");
}

#[test]
fn check_config_warns_that_any_principal_may_write_any_hosts_logs() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    let check = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(bin_path("imgssapi").unwrap()).args(["--check-config", "-f"]).arg(&conf).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, stdout) = check("$ModLoad imgssapi\n$InputGSSServerRun 515\n*.* /dev/null\n");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains(":2: warning: no $InputGSSServerAllowedPrincipal: any principal of the realm"), "{stdout}");
    let (code, stdout) =
        check(&format!("$ModLoad imgssapi\n$InputGSSServerAllowedPrincipal host/*@{REALM}\n$InputGSSServerRun 515\n*.* /dev/null\n"));
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
    let (code, stdout) = check("$ModLoad imgssapi\n$InputGSSServerAllowedPrincipal host/*\n$InputGSSServerRun 515\n*.* /dev/null\n");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(":2: $InputGSSServerAllowedPrincipal: 'host/*' names no realm"), "{stdout}");
}

/// The host map says n1.test is 127.0.0.2; host/n1.test sends from .2 and
/// from .3, and host/localhost (resolved through /etc/hosts) from .1.
async fn host_binding(mode: &str) -> (Daemon, Vec<String>, tempfile::TempDir) {
    let realm = TestRealm::shared();
    let n1 = principal_with_keytab(realm, &format!("host/n1-{mode}.test"));
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("hosts.map");
    std::fs::write(&map, format!("# name addresses\nn1-{mode}.test 127.0.0.2\n")).unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let extra = format!("$InputGSSServerHostPrincipalBinding {mode}\n$InputGSSServerHostMapFile {}\n", map.display());
    let mut collector = start_collector(realm, &dir.path().join("collector"), &provenance_config(port, &extra, &out));

    let _right = send_as(port, "127.0.0.2", &n1, "<13>Nov 23 12:00:00 n1 app: from its own address").await;
    wait_lines(&out, 1, &collector);
    let mut wrong = send_as(port, "127.0.0.3", &n1, "<13>Nov 23 12:00:01 n1 app: from another address").await;
    if mode == "refuse" {
        assert!(wrong.closed_by_peer(WAIT).await, "the collector ends the mismatched session");
        collector.wait_for_log("host principal sends from an address not its own", WAIT).unwrap();
    } else {
        wait_lines(&out, 2, &collector);
    }
    let got = lines(&out);
    (collector, got, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_principal_from_another_address_is_refused_in_refuse_mode() {
    let (collector, got, _dir) = host_binding("refuse").await;
    assert_eq!(got, [format!("host/n1-refuse.test@{REALM} encryption match  from its own address")]);
    let log = collector.log();
    let refusal = log.lines().find(|l| l.contains("not its own")).unwrap();
    assert!(refusal.contains("127.0.0.3") && refusal.contains("n1-refuse.test"), "{refusal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_principal_from_another_address_is_marked_in_mark_mode() {
    let (_collector, got, _dir) = host_binding("mark").await;
    assert_eq!(
        got,
        [
            format!("host/n1-mark.test@{REALM} encryption match  from its own address"),
            format!("host/n1-mark.test@{REALM} encryption mismatch  from another address"),
        ]
    );
}

/// Files by principal through a dynamic file template; mismatched and
/// unauthenticated (plain TCP on the GSS port) messages routed to their own
/// files by property filters before that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_names_the_file_and_filters_route_the_unvouched_for() {
    let realm = TestRealm::shared();
    let n2 = principal_with_keytab(realm, "host/n2.test");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("by-principal");
    let map = dir.path().join("hosts.map");
    std::fs::write(&map, "n2.test 127.0.0.2\n").unwrap();
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerPermitPlainTCP on\n$InputGSSServerHostPrincipalBinding mark\n\
         $InputGSSServerHostMapFile {map}\n$InputGSSServerRun {port}\n\
         $template ByPrincipal,\"{root}/%gss-principal%.log\"\n\
         $template Line,\"%gss-protection% %fromhost-ip% %msg%\\n\"\n\
         :gss-protection, isequal, \"none\" {root}/unauthenticated.log;Line\n\
         & stop\n\
         :gss-host-binding, isequal, \"mismatch\" {root}/mismatch.log;Line\n\
         & stop\n\
         *.* ?ByPrincipal;Line\n",
        map = map.display(),
        root = root.display()
    );
    let collector = start_collector(realm, &dir.path().join("collector"), &config);

    let _own = send_as(port, "127.0.0.2", &n2, "<13>Nov 23 12:00:00 n2 app: vouched for").await;
    let _other = send_as(port, "127.0.0.4", &n2, "<13>Nov 23 12:00:01 n2 app: wrong address").await;
    let mut plain = TcpStream::connect(addr(port)).unwrap();
    plain.write_all(b"<38>Nov 23 12:00:02 n2 sshd[99]: Accepted publickey for root\n").unwrap();

    let own = root.join(format!("host%2Fn2.test@{REALM}.log"));
    assert_eq!(wait_lines(&own, 1, &collector), ["encryption 127.0.0.2  vouched for"]);
    assert_eq!(wait_lines(&root.join("mismatch.log"), 1, &collector), ["encryption 127.0.0.4  wrong address"]);
    assert_eq!(
        wait_lines(&root.join("unauthenticated.log"), 1, &collector),
        ["none 127.0.0.1  Accepted publickey for root"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_only_tokens_are_marked_as_such() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let collector = start_collector(realm, &dir.path().join("collector"), &provenance_config(port, "", &out));
    let mut c = GssClient::connect(addr(port), None, Protection::Integrity, ByteOrder::Little).await.unwrap();
    c.send_lines(&["<13>Nov 23 12:00:00 h app: checksummed"]).await.unwrap();
    assert_eq!(wait_lines(&out, 1, &collector), [format!("{SHARED_CLIENT}@{REALM} integrity unchecked  checksummed")]);
}

/// The shipper's stanza to our collector on `port`, with `extra` before it.
fn shipper_stanza(port: u16, extra: &str) -> String {
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"));
    format!("{extra}{seed}")
}

fn named_identity(identity: &ClientIdentity) -> String {
    format!(
        "$GssForwardPrincipal {}\n$GssForwardKeytab {}\n",
        identity.principal.as_deref().unwrap(),
        identity.keytab.as_deref().unwrap()
    )
}

#[test]
fn the_shipper_uses_a_named_principal_from_a_named_keytab() {
    let realm = TestRealm::shared();
    let n3 = principal_with_keytab(realm, "host/n3.test");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    // Only the named principal may send: the environment's (`client`) would be refused.
    let extra = format!("$InputGSSServerAllowedPrincipal host/n3.test@{REALM}\n");
    let collector = start_collector(realm, &dir.path().join("collector"), &provenance_config(port, &extra, &out));
    let config = shipper_stanza(port, &named_identity(&n3));

    let conf = dir.path().join("check.conf");
    std::fs::write(&conf, &config).unwrap();
    let check = Command::new(bin_path("omgssapi").unwrap())
        .args(["--check-config", "--check-credentials", "-f"])
        .arg(&conf)
        .envs(realm.client_env(SHARED_CLIENT))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "credentials can be obtained: {}", String::from_utf8_lossy(&check.stdout));
    let wrong = config.replace("host/n3.test@", "host/nobody.test@");
    std::fs::write(&conf, wrong).unwrap();
    let check = Command::new(bin_path("omgssapi").unwrap())
        .args(["--check-config", "--check-credentials", "-f"])
        .arg(&conf)
        .envs(realm.client_env(SHARED_CLIENT))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("cannot obtain Kerberos credentials as host/nobody.test@{REALM} for host@localhost")), "{stdout}");

    let input = free_port().unwrap();
    let work = dir.path().join("work");
    let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{input}")];
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &config, &realm.client_env(SHARED_CLIENT), &args).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    s.write_all(b"<13>Nov 23 12:00:00 n3 app: named\n").unwrap();
    assert_eq!(wait_lines(&out, 1, &collector), [format!("host/n3.test@{REALM} encryption unchecked  named")]);
}

/// Tickets of a minute: our shipper re-keys under load with every message
/// once and in order, and the collector's optional expiry ends a stock
/// rsyslog client's session (which never re-handshakes by itself).
#[test]
fn short_tickets_our_shipper_rekeys_without_loss_and_expiry_ends_a_stock_session() {
    let lifetime = Duration::from_secs(60);
    let realm = TestRealm::with_max_ticket_life(lifetime).unwrap();
    let keytab = realm.add_client("host/n4.test").unwrap();
    realm.add_client("stock").unwrap();
    let n4 = ClientIdentity { principal: Some(format!("host/n4.test@{REALM}")), keytab: Some(format!("FILE:{}", keytab.display())) };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerExpireSessions on\n$InputGSSServerRun {port}\n\
         $template Who,\"%gss-principal% %msg%\\n\"\n*.* {};Who\n",
        out.display()
    );
    let collector = start_collector(&realm, &dir.path().join("collector"), &config);

    let stock = RsyslogForwarder::start(&dir.path().join("stock"), &realm.client_env("stock"), "encryption", port, "").unwrap();
    // rsyslogd opens its session with the first message it forwards; it may
    // not listen yet, so the line goes again until it arrives.
    let before = format!("stock@{REALM}  before expiry");
    let deadline = Instant::now() + WAIT;
    while !lines(&out).contains(&before) {
        assert!(Instant::now() < deadline, "the stock client's line did not arrive:\n{}\n{}", stock.daemon.log(), collector.log());
        stock.send("<13>Nov 23 12:00:00 stock app: before expiry").unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }

    let input = free_port().unwrap();
    let work = dir.path().join("work");
    let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{input}")];
    let shipper_config = shipper_stanza(port, &format!("{}$ActionGSSForwardBackoffBase 100\n", named_identity(&n4)));
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &shipper_config, &realm.client_env("stock"), &args).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();

    // A steady load, a burst of 200 every 100 ms (about 2000 a second), for
    // longer than a ticket: the re-key (at three quarters of the lifetime)
    // happens with records in flight.
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    let mut sent = 0;
    while started.elapsed() < lifetime + Duration::from_secs(2) {
        let burst: String = (sent..sent + 200).map(|i| format!("<13>Nov 23 12:00:00 n4 app: seq {i:06}\n")).collect();
        s.write_all(burst.as_bytes()).unwrap();
        sent += 200;
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(s);
    let n: usize = sent;

    let seqs = |path: &Path| -> Vec<usize> {
        lines(path)
            .iter()
            .filter(|l| l.starts_with("host/n4.test@"))
            .filter_map(|l| l.split("seq ").nth(1).and_then(|n| n.trim().parse().ok()))
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    while seqs(&out).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let got = seqs(&out);
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for s in &got {
        *counts.entry(*s).or_default() += 1;
    }
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "every message once, in order; duplicates: {duplicates:?}\n{}", shipper.log());
    assert!(shipper.log().contains("re-keying"), "the shipper re-keyed:\n{}", shipper.log());

    // The stock client's session was set up a lifetime ago: the collector has ended it.
    let mut collector = collector;
    collector.wait_for_log("GSS context expired", WAIT).unwrap();
    let log = collector.log();
    let ended = log.lines().find(|l| l.contains("GSS context expired")).unwrap();
    assert!(ended.contains(&format!("stock@{REALM}")), "the stock client's session: {ended}");
    let ours_expired = log.lines().any(|l| l.contains("GSS context expired") && l.contains("host/n4.test"));
    assert!(!ours_expired, "our shipper re-keyed before its context expired:\n{log}");
}

/// An anonymous ticket (RFC 8062 anonymous PKINIT) proves nothing about
/// the sender: refused unless `$InputGSSServerAllowAnonymous on`, and then
/// its messages say so.
#[test]
fn an_anonymous_principal_is_refused_unless_allowed() {
    let realm = TestRealm::with_anonymous().unwrap();
    let anonymous = realm.anonymous_client_env().unwrap();
    for allow in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let out = dir.path().join("all.log");
        let extra = if allow { "$InputGSSServerAllowAnonymous on\n" } else { "" };
        let mut collector = start_collector(&realm, &dir.path().join("collector"), &provenance_config(port, extra, &out));
        let input = free_port().unwrap();
        let work = dir.path().join("work");
        let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{input}")];
        let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &shipper_stanza(port, ""), &anonymous, &args).unwrap();
        shipper.wait_for_log("shipper running", WAIT).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        s.write_all(b"<38>Nov 23 12:00:00 n1 sshd[99]: Accepted publickey for root\n").unwrap();
        if allow {
            let got = wait_lines(&out, 1, &collector);
            assert_eq!(got, ["WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS encryption unchecked  Accepted publickey for root"]);
        } else {
            collector.wait_for_log("anonymous principal refused", WAIT).unwrap();
            let log = collector.log();
            let refusal = log.lines().find(|l| l.contains("anonymous principal refused")).unwrap();
            assert!(refusal.contains("WELLKNOWN/ANONYMOUS") && refusal.contains("127.0.0.1"), "names principal and peer: {refusal}");
            std::thread::sleep(Duration::from_secs(1));
            assert!(lines(&out).is_empty(), "nothing written: {:?}", lines(&out));
        }
    }
}

/// Tickets of half a minute: once its principal is deleted from the KDC, our
/// shipper cannot re-key, so it stops sending within one ticket lifetime
/// (what it could not send stays queued).
#[test]
fn a_principal_removed_from_the_kdc_stops_sending_within_one_ticket_lifetime() {
    let lifetime = Duration::from_secs(30);
    let realm = TestRealm::with_max_ticket_life(lifetime).unwrap();
    let keytab = realm.add_client("host/n5.test").unwrap();
    let n5 = ClientIdentity { principal: Some(format!("host/n5.test@{REALM}")), keytab: Some(format!("FILE:{}", keytab.display())) };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let collector = start_collector(&realm, &dir.path().join("collector"), &provenance_config(port, "", &out));
    let input = free_port().unwrap();
    let work = dir.path().join("work");
    let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{input}")];
    let config = shipper_stanza(port, &format!("{}$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 1000\n", named_identity(&n5)));
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &config, &realm.client_env("host/n5.test"), &args).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
    s.write_all(b"<13>Nov 23 12:00:00 n5 app: before removal\n").unwrap();
    wait_lines(&out, 1, &collector);

    realm.delete_principal("host/n5.test").unwrap();
    let removed = Instant::now();
    // One message a second; the re-key (three quarters into the ticket) fails.
    let mut sent = 0;
    while !shipper.log().contains("not found in Kerberos database") {
        assert!(removed.elapsed() < lifetime + WAIT, "the shipper kept its session:\n{}", shipper.log());
        s.write_all(format!("<13>Nov 23 12:00:00 n5 app: after removal {sent}\n").as_bytes()).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(removed.elapsed() <= lifetime + Duration::from_secs(10), "within one ticket lifetime: {:?}", removed.elapsed());
    let delivered = lines(&out).len();
    s.write_all(b"<13>Nov 23 12:00:00 n5 app: never delivered\n").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lines(&out).len(), delivered, "nothing more gets through: {:?}", lines(&out));
    assert!(!lines(&out).iter().any(|l| l.contains("never delivered")));
}

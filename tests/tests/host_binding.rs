//! Host binding and `fromhost` against impersonation (issue 21, item 4), end
//! to end through the real KDC and the real collector:
//! - a PTR record is believed only when the name's own A records hold the
//!   address (forward-confirmed reverse DNS): inside a private network and
//!   mount namespace, with a DNS server of the test's own on 127.0.0.1:53
//!   and `/etc/resolv.conf` bind-mounted to it (needs root);
//! - under `refuse`, principals that are not exactly `host/NAME@REALM` are
//!   refused;
//! - two principals never share a per-principal file.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::dns_server::{self, Zone};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::{which, TestRealm, REALM};
use gsswire::{ByteOrder, ClientIdentity, Protection};

const WAIT: Duration = Duration::from_secs(30);
const INNER_ENV: &str = "GSSLOG_TEST_IN_NETNS";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn principal_with_keytab(realm: &TestRealm, name: &str) -> ClientIdentity {
    let keytab = realm.add_client(name).unwrap();
    ClientIdentity { principal: Some(format!("{name}@{REALM}")), keytab: Some(format!("FILE:{}", keytab.display())) }
}

fn start_collector(realm: &TestRealm, dir: &Path, config: &str, args: &[&str]) -> Daemon {
    let mut d = Daemon::start("imgssapi", dir, config, &realm.server_env(), args).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

fn lines(path: &Path) -> Vec<String> {
    let mut l: Vec<String> = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).lines().map(str::to_string).collect();
    l.sort();
    l
}

fn wait_lines(path: &Path, n: usize, d: &Daemon) -> Vec<String> {
    wait_for_file(path, WAIT, |t| t.lines().count() >= n).unwrap_or_else(|e| panic!("{e}\ncollector log:\n{}", d.log()));
    std::thread::sleep(Duration::from_millis(200));
    lines(path)
}

async fn send_as(port: u16, source: &str, identity: &ClientIdentity, line: &str) -> GssClient {
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = GssClient::connect_as(to, Some(ip(source)), Protection::Encryption, ByteOrder::Little, identity).await.unwrap();
    // A refused session may be closed before this write; that is no failure here.
    let _ = c.send_lines(&[line]).await;
    c
}

/// Runs `inner` (a test of this file) inside a new network and mount
/// namespace, and requires that it ran and passed.
fn in_namespace(inner: &str) {
    assert!(which("unshare").is_some() && which("ip").is_some(), "unshare and ip are needed (tests/setup.sh installs them)");
    let exe = std::env::current_exe().unwrap();
    let script = format!("ip link set lo up && exec '{}' --exact {inner} --ignored --nocapture", exe.display());
    let out = Command::new("unshare").args(["--net", "--mount", "--", "sh", "-c", &script]).env(INNER_ENV, "1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "inner test failed (needs root for the namespaces):\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("test {inner} ... ok")), "the inner test did not run:\n{stdout}\n{stderr}");
}

/// Points this namespace's resolver at a DNS server of ours on 127.0.0.1.
fn private_dns(zone: Zone, dir: &Path) {
    dns_server::serve(zone).unwrap();
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n").unwrap();
    let status = Command::new("mount").args(["--bind", &resolv.display().to_string(), "/etc/resolv.conf"]).status().unwrap();
    assert!(status.success(), "bind-mounting resolv.conf in the private mount namespace");
}

#[test]
fn a_ptr_record_naming_another_host_does_not_file_its_lines_under_that_host() {
    in_namespace("ptr_lie_inside_the_namespace");
}

/// The attack: host/nodea, with only its own key, from its own
/// address, whose PTR record says nodeb. Its line must not carry nodeb's
/// name (`fromhost`, and so the per-host tree). nodeb from its own address,
/// with matching PTR and A records, shows DNS works here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside the namespaces made by a_ptr_record_naming_another_host_does_not_file_its_lines_under_that_host"]
async fn ptr_lie_inside_the_namespace() {
    if std::env::var(INNER_ENV).is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (nodea, nodeb) = ("nodea.dnstest.invalid", "nodeb.dnstest.invalid");
    let mut zone = Zone::default();
    zone.ptr.insert("127.0.0.5".parse().unwrap(), nodeb.into()); // the lie
    zone.ptr.insert("127.0.0.6".parse().unwrap(), nodeb.into());
    zone.a.insert(nodea.into(), vec!["127.0.0.5".parse().unwrap()]);
    zone.a.insert(nodeb.into(), vec!["127.0.0.6".parse().unwrap()]);
    private_dns(zone, dir.path());

    let realm = TestRealm::shared();
    let a = principal_with_keytab(realm, &format!("host/{nodea}"));
    let b = principal_with_keytab(realm, &format!("host/{nodeb}"));
    let port = free_port().unwrap();
    let root = dir.path().join("hosts");
    // The seed's per-host tree, by name, with the binding on (DNS only: no map).
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerHostPrincipalBinding refuse\n$InputGSSServerRun {port}\n\
         $template PerHost,\"{root}/%fromhost%/messages\"\n\
         $template Who,\"%fromhost% %gss-host-binding% %msg%\\n\"\n\
         *.* ?PerHost;Who\n",
        root = root.display()
    );
    let collector = start_collector(realm, &dir.path().join("collector"), &config, &[]);
    let _a = send_as(port, "127.0.0.5", &a, "<13>Nov 23 12:00:00 nodea app: from nodea").await;
    let _b = send_as(port, "127.0.0.6", &b, "<13>Nov 23 12:00:01 nodeb app: from nodeb").await;

    let own = wait_lines(&root.join(nodeb).join("messages"), 1, &collector);
    assert_eq!(own, [format!("{nodeb} match  from nodeb")], "confirmed PTR: the name");
    let lied = wait_lines(&root.join("127.0.0.5").join("messages"), 1, &collector);
    assert_eq!(lied, ["127.0.0.5 match  from nodea"], "unconfirmed PTR: the address, never nodeb's name");
    let log = collector.log();
    assert!(log.contains("PTR name not confirmed"), "the lie is logged:\n{log}");
}

/// Under `refuse`, nothing ties `HOST/NAME`, `host/NAME/x` or a bare `NAME`
/// to an address: each is refused, from the very address the map gives
/// NAME, while `host/NAME` itself gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_mode_refuses_principals_that_are_not_exactly_host_name() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("hosts.map");
    std::fs::write(&map, "n3.test 127.0.0.2\n").unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerHostPrincipalBinding refuse\n$InputGSSServerHostMapFile {map}\n\
         $InputGSSServerRun {port}\n$template Who,\"%gss-principal% %gss-host-binding% %msg%\\n\"\n*.* {out};Who\n",
        map = map.display(),
        out = out.display()
    );
    let mut collector = start_collector(realm, &dir.path().join("collector"), &config, &["-x"]);
    for odd in ["HOST/n3.test", "host/n3.test/x", "n3.test"] {
        let who = principal_with_keytab(realm, odd);
        let mut refused = send_as(port, "127.0.0.2", &who, &format!("<13>Nov 23 12:00:00 n3 app: as {odd}")).await;
        assert!(refused.closed_by_peer(WAIT).await, "{odd} is refused");
    }
    let host = principal_with_keytab(realm, "host/n3.test");
    let _ok = send_as(port, "127.0.0.2", &host, "<13>Nov 23 12:00:01 n3 app: as host/n3.test").await;
    assert_eq!(wait_lines(&out, 1, &collector), [format!("host/n3.test@{REALM} match  as host/n3.test")]);
    collector.wait_for_log("not a host/NAME@REALM principal", WAIT).unwrap();
    let log = collector.log();
    for odd in ["HOST/n3.test", "host/n3.test/x", "n3.test"] {
        assert!(log.contains(&format!("): {odd}@{REALM}")), "{odd}'s refusal is logged:\n{log}");
    }
}

/// `host_n4.test` is a principal of its own; with `/` written as `_` it
/// wrote into host/n4.test's per-principal file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_named_like_a_host_principals_file_gets_a_file_of_its_own() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("by-principal");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template ByPrincipal,\"{root}/%gss-principal%.log\"\n\
         $template Line,\"%gss-principal% %msg%\\n\"\n*.* ?ByPrincipal;Line\n",
        root = root.display()
    );
    let collector = start_collector(realm, &dir.path().join("collector"), &config, &["-x"]);
    let host = principal_with_keytab(realm, "host/n4.test");
    let lookalike = principal_with_keytab(realm, "host_n4.test");
    let _h = send_as(port, "127.0.0.2", &host, "<13>Nov 23 12:00:00 n4 app: the host").await;
    let _l = send_as(port, "127.0.0.3", &lookalike, "<13>Nov 23 12:00:01 n4 app: the lookalike").await;
    let host_file = root.join(format!("host%2Fn4.test@{REALM}.log"));
    let lookalike_file = root.join(format!("host_n4.test@{REALM}.log"));
    assert_eq!(wait_lines(&lookalike_file, 1, &collector), [format!("host_n4.test@{REALM}  the lookalike")]);
    assert_eq!(wait_lines(&host_file, 1, &collector), [format!("host/n4.test@{REALM}  the host")]);
}

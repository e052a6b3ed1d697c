//! Silent nodes: the collector's last-seen table against five nodes that
//! send nothing but their `-- MARK --` heartbeats (every 2 s): three of our
//! shippers and two stock rsyslogs (immark), each from its own loopback
//! address inside a private network namespace (as in `collector_stock_nodes`).
//! One shipper is killed with SIGKILL, one stopped cleanly, one cut off the
//! network (iptables drops its packets), one stock rsyslog stopped; the other
//! stock rsyslog stays idle but marking. Each of the four is reported silent,
//! never while it was heard from within `$InputGSSServerSilentAfter`, and back
//! when it returns; the marking node never; an address not on the list is
//! unexpected; the Nagios check's exit codes and output; the table survives
//! a collector restart with its original last-seen times.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gsslog_tests::daemon::{bin_path, start_shipper, Daemon};
use gsslog_tests::net::free_port;
use gsslog_tests::realm::{which, TestRealm};
use gsslog_tests::rsyslog::RsyslogForwarder;

const WAIT: Duration = Duration::from_secs(60);
const INNER_ENV: &str = "GSSLOG_TEST_IN_NETNS";
/// Our shippers: killed, stopped, cut off. Stock rsyslog: stopped, idle.
const KILLED: &str = "127.0.0.2";
const STOPPED: &str = "127.0.0.3";
const CUT: &str = "127.0.0.4";
const STOCK_STOPPED: &str = "127.0.0.5";
const STOCK_IDLE: &str = "127.0.0.6";
const UNLISTED: &str = "127.0.0.7";
const ADDRS: [&str; 6] = [KILLED, STOPPED, CUT, STOCK_STOPPED, STOCK_IDLE, UNLISTED];
const MARK_PERIOD: u64 = 2;
const SILENT_AFTER: u64 = 10;

#[test]
fn silent_nodes_are_reported_and_come_back() {
    assert!(
        which("unshare").is_some() && which("ip").is_some() && which("iptables").is_some(),
        "unshare, ip and iptables are needed (tests/setup.sh installs them)"
    );
    let routes: String = ADDRS.iter().map(|a| format!("ip route add local {a}/32 dev lo src {a} table local && ")).collect();
    let exe = std::env::current_exe().unwrap();
    let script = format!("ip link set lo up && {routes}exec '{}' --exact inside_the_namespace --ignored --nocapture", exe.display());
    let out = Command::new("unshare").args(["--net", "--", "sh", "-c", &script]).env(INNER_ENV, "1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "inner test failed (needs root for a network namespace):\n{stdout}\n{stderr}");
    assert!(stdout.contains("test inside_the_namespace ... ok"), "the inner test did not run:\n{stdout}\n{stderr}");
}

/// One line of `/senders.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    status: String,
    last_seen: Option<u64>,
}

/// The collector's `/senders.txt`: its clock and the rows by address.
fn senders(metrics: SocketAddr) -> (u64, HashMap<String, Row>) {
    let body = get(metrics, "/senders.txt");
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let now = header.get(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad /senders.txt: {body}"));
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "{body}");
            (f[1].to_string(), Row { status: f[0].to_string(), last_seen: f[3].parse().ok() })
        })
        .collect();
    (now, rows)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = rt.block_on(daemon::metrics_http::get(addr, path)).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Polls the table until `done`; every look also checks that no node is
/// silent while it was heard from within the limit, and that the marking
/// node is never silent.
fn watch(metrics: SocketAddr, what: &str, collector: &Daemon, done: impl Fn(&HashMap<String, Row>) -> bool) -> HashMap<String, Row> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (now, rows) = senders(metrics);
        for (addr, row) in &rows {
            if row.status == "silent" {
                let last = row.last_seen.expect("every node here has been seen");
                assert!(now - last > SILENT_AFTER, "{addr} silent {}s after its last message or mark: {rows:?}", now - last);
            }
        }
        assert_ne!(rows.get(STOCK_IDLE).map(|r| r.status.as_str()), Some("silent"), "the marking node is never silent");
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}: {rows:?}\ncollector:\n{}", collector.log());
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn status_of<'a>(rows: &'a HashMap<String, Row>, addr: &str) -> &'a str {
    rows.get(addr).map_or("", |r| r.status.as_str())
}

/// `check_gsslog_senders ARGS -H metrics`: exit code and output.
fn nagios(metrics: SocketAddr, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin_path("check_gsslog_senders").unwrap())
        .args(args)
        .args(["-H", &metrics.to_string()])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `gsslog senders ARGS` (the admin tool's one line): exit code and output.
fn gsslog_senders(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin_path("gsslog").unwrap()).arg("senders").args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// How `gsslog senders` writes a last-seen time of `row`, without the day.
fn time_of_day(row: &Row) -> String {
    let t = row.last_seen.expect("seen") % 86_400;
    format!(" {:02}:{:02}:{:02} UTC (", t / 3600, t / 60 % 60, t % 60)
}

fn iptables(action: &str, addr: &str) {
    for (chain, side) in [("INPUT", "-s"), ("INPUT", "-d")] {
        let status = Command::new("iptables").args([action, chain, side, addr, "-j", "DROP"]).status().unwrap();
        assert!(status.success(), "iptables {action} {chain} {side} {addr}");
    }
}

fn shipper_config(addr: &str, port: u16) -> String {
    format!("$ModLoad immark\n$MarkMessagePeriod {MARK_PERIOD}\n$ActionResumeInterval 1\n*.* :omgssapi:{addr}:{port}\n")
}

fn stock_node(realm: &TestRealm, dir: &Path, addr: &str, port: u16) -> RsyslogForwarder {
    // Debian's rsyslog hands its own messages, marks included, to the
    // journal unless told to process them.
    let extra = format!("global(processInternalMessages=\"on\")\n$ModLoad immark\n$MarkMessagePeriod {MARK_PERIOD}\n$ActionResumeInterval 1\n");
    let client = format!("stock-{addr}");
    realm.add_client(&client).unwrap();
    RsyslogForwarder::start_to(&dir.join(addr), &realm.client_env(&client), "encryption", addr, port, &extra).unwrap()
}

#[test]
#[ignore = "runs inside the network namespace made by silent_nodes_are_reported_and_come_back"]
fn inside_the_namespace() {
    if std::env::var(INNER_ENV).is_err() {
        return;
    }
    let realm = TestRealm::shared();
    for addr in ADDRS {
        // Each node names the collector by the address it connects to.
        realm.add_service(&format!("host/{addr}")).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, plain_port, metrics_port) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let list = dir.path().join("expected-senders");
    std::fs::write(&list, format!("# the grid\n{KILLED}\n{STOPPED}\n{CUT}\n127.0.0.5/32\n{STOCK_IDLE}\n")).unwrap();
    let work = dir.path().join("collector-work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$ModLoad imtcp\n$InputTCPServerRun {plain_port}\n\
         $WorkDirectory {}\n$InputGSSServerExpectedSenders {}\n$MarkMessagePeriod {MARK_PERIOD}\n\
         $InputGSSServerSilentAfter {SILENT_AFTER}\n$GssMetricsListen {metrics}\n*.* {}\n",
        work.display(),
        list.display(),
        dir.path().join("all.log").display()
    );
    let collector_dir = dir.path().join("collector");
    let start_collector = || {
        let mut c = Daemon::start("imgssapi", &collector_dir, &conf, &realm.server_env(), &["-x"]).unwrap();
        c.wait_for_log("collector running", WAIT).unwrap();
        c
    };
    let mut collector = start_collector();

    let shipper = |addr: &str| start_shipper(&dir.path().join(addr), &shipper_config(addr, port), &[], WAIT).unwrap();
    let mut killed = shipper(KILLED);
    let mut stopped = shipper(STOPPED);
    let cut = shipper(CUT);
    let stock_stopped = stock_node(realm, dir.path(), STOCK_STOPPED, port);
    let stock_idle = stock_node(realm, dir.path(), STOCK_IDLE, port);
    // An address not on the list sends one line over plain TCP.
    let mut plain = std::net::TcpStream::connect((UNLISTED, plain_port)).unwrap();
    std::io::Write::write_all(&mut plain, b"<13>Dec  7 12:00:00 stranger app: hello\n").unwrap();
    drop(plain);

    // Marks alone keep every node "ok"; the stranger is unexpected.
    let listed = [KILLED, STOPPED, CUT, STOCK_STOPPED, STOCK_IDLE];
    watch(metrics, "every node heard from, the stranger unexpected", &collector, |rows| {
        listed.iter().all(|a| status_of(rows, a) == "ok" && rows[*a].last_seen.is_some()) && status_of(rows, UNLISTED) == "unexpected"
    });
    // A node's first line may be its start message, its first mark a period later.
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let text = get(metrics, "/metrics");
        let unmarked: Vec<&str> = listed.iter().copied().filter(|addr| !text.contains(&format!("gsslog_sender_last_heartbeat_timestamp_seconds{{ip=\"{addr}\""))).collect();
        if unmarked.is_empty() {
            break text;
        }
        assert!(Instant::now() < deadline, "{unmarked:?}: marks are heartbeats, none seen:\n{text}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(text.contains("gsslog_collector_senders_unexpected 1\n"), "{text}");
    let json = get(metrics, "/senders");
    assert!(json.contains(&format!("\"ip\":\"{UNLISTED}\",\"principal\":null,\"status\":\"unexpected\"")), "{json}");
    assert!(collector.log().contains(&format!("unexpected sender (not in $InputGSSServerExpectedSenders) sender={UNLISTED}")), "{}", collector.log());
    // Nothing silent yet; the stranger alone is a warning.
    let (code, out) = nagios(metrics, &["-w", "1000", "-c", "2000"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("SENDERS WARNING - 0 of 5 expected senders silent, 1 unexpected: 127.0.0.7 unexpected |"), "{out}");
    // The admin tool says the same on one line, with the stranger's last-seen time.
    let url = format!("http://{metrics}");
    let (code, out) = gsslog_senders(&["--url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with(&format!("0 of 5 expected senders silent, 1 unexpected: {UNLISTED} unexpected, last seen 20")), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");

    // Four ways to go quiet.
    killed.kill_9(WAIT).unwrap();
    stopped.stop(WAIT).unwrap();
    iptables("-A", CUT);
    stock_stopped.daemon.stop().unwrap();
    let quiet = [KILLED, STOPPED, CUT, STOCK_STOPPED];
    let rows = watch(metrics, "the four quiet nodes silent", &collector, |rows| quiet.iter().all(|a| status_of(rows, a) == "silent"));
    assert_eq!(status_of(&rows, STOCK_IDLE), "ok");
    collector.wait_for_log(&format!("expected sender is silent sender={STOCK_STOPPED} "), WAIT).unwrap();
    let log_text = collector.log();
    for addr in quiet {
        assert_eq!(log_text.matches(&format!("expected sender is silent sender={addr} ")).count(), 1, "{log_text}");
    }
    let (code, out) = nagios(metrics, &["-w", "0.05", "-c", "0.1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("SENDERS CRITICAL - 4 of 5 expected senders silent, 1 unexpected: "), "{out}");
    for addr in quiet {
        // The address, the principal it authenticated as, how long.
        let principal = if addr == STOCK_STOPPED { format!("stock-{addr}") } else { "client".into() };
        assert!(out.contains(&format!("{addr} ({principal}@")), "{out}");
    }
    assert_eq!(out.matches(") silent ").count(), 4, "{out}");
    assert!(out.contains("| silent_critical=4;;;0 silent_warning=0;;;0 unexpected=1;;;0 expected=5;;;0 longest_silence="), "{out}");
    assert!(out.trim_end().ends_with("s;3;6;0"), "{out}");
    let health = get(metrics, "/health");
    assert!(health.starts_with("ok: ") && health.contains("; 4 of 5 expected senders silent, 1 unexpected"), "{health}");
    // `gsslog senders`: each silent node and the stranger, with their last-seen times.
    let (code, out) = gsslog_senders(&["--url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("4 of 5 expected senders silent, 1 unexpected: "), "{out}");
    let rows_now = senders(metrics).1;
    for addr in quiet.iter().chain([&UNLISTED]) {
        let status = if *addr == UNLISTED { "unexpected" } else { "silent" };
        let at = out.find(&format!("{addr} (")).or_else(|| out.find(&format!("{addr} {status}"))).unwrap_or_else(|| panic!("{addr} not named: {out}"));
        let named = out[at..].split("; ").next().unwrap_or("");
        assert!(named.contains(&format!(" {status}, last seen 20")) && named.contains(&time_of_day(&rows_now[*addr])), "{addr}: {named}\n{out}");
    }
    assert!(!out.contains(STOCK_IDLE), "{out}");

    // A restart keeps the table: still silent, with the same last-seen times, not logged again.
    collector.stop(WAIT).unwrap();
    // With the collector down, its state file tells the same.
    let state = work.join("imgssapi-senders.state");
    let (code, out) = gsslog_senders(&["--state", state.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(" ago): 4 of 5 expected senders silent, 1 unexpected: "), "{out}");
    for addr in quiet {
        assert!(out.contains(&format!("{addr} (")) && out.contains(&time_of_day(&rows_now[addr])), "{addr}: {out}");
    }
    let (code, out) = gsslog_senders(&["--url", &url]);
    assert_eq!(code, 2, "no collector: an error\n{out}");
    assert!(out.starts_with(&format!("gsslog: senders: cannot reach {url}/senders: ")), "{out}");
    collector = start_collector();
    let before = senders(metrics).1;
    for addr in quiet {
        assert_eq!(before[addr].status, "silent", "{before:?}");
        assert_eq!(before[addr].last_seen, rows[addr].last_seen, "{addr}: {before:?} / {rows:?}");
    }
    assert!(!collector.log().contains("expected sender is silent"), "{}", collector.log());

    // Back: each in its own way.
    let _killed = shipper(KILLED);
    let _stopped = shipper(STOPPED);
    iptables("-D", CUT);
    let _stock = stock_node(realm, dir.path(), STOCK_STOPPED, port);
    watch(metrics, "the four back", &collector, |rows| quiet.iter().all(|a| status_of(rows, a) == "ok"));
    // Shown as back at once; logged by the next judgement, a second later at most.
    for addr in quiet {
        collector.wait_for_log(&format!("silent sender is back sender={addr} "), WAIT).unwrap();
    }
    let log_text = collector.log();
    for addr in quiet {
        assert_eq!(log_text.matches(&format!("silent sender is back sender={addr} ")).count(), 1, "{log_text}");
    }

    // The stranger put on the list (SIGHUP reads it again): all is well.
    std::fs::write(&list, format!("{KILLED}\n{STOPPED}\n{CUT}\n{STOCK_STOPPED}\n{STOCK_IDLE}\n{UNLISTED}\n")).unwrap();
    collector.signal("HUP");
    collector.wait_for_log("SIGHUP: expected senders read again", WAIT).unwrap();
    let (code, out) = nagios(metrics, &["-w", "1000", "-c", "2000"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("SENDERS OK - 6 expected senders, none silent for 1000 min | silent_critical=0;;;0"), "{out}");
    // The stranger, listed now, has sent nothing since its one line: silent by the
    // collector's own limit (the Nagios check above counts minutes from -w).
    let (code, out) = gsslog_senders(&["--url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with(&format!("1 of 6 expected senders silent, 0 unexpected: {UNLISTED} silent, last seen 20")), "{out}");
    drop(cut);
    drop(stock_idle);

    // No collector there: unknown.
    let (code, out) = nagios(SocketAddr::from(([127, 0, 0, 1], free_port().unwrap())), &["-w", "1", "-c", "2"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("SENDERS UNKNOWN - cannot reach http://127.0.0.1:"), "{out}");
}

/// 2000 senders (read from a state file, so that no 2000 nodes are needed):
/// `/metrics` stays valid for `promtool check metrics`, five series a
/// sender; the packaged alert rules pass `promtool check rules`.
#[test]
fn two_thousand_senders_are_valid_prometheus_text() {
    assert!(which("promtool").is_some(), "promtool is needed (tests/setup.sh installs Debian's prometheus)");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut state = String::from("gsslog-senders 1\n");
    for n in 0..2000u32 {
        let (a, b) = (n / 250, n % 250 + 1);
        state.push_str(&format!("10.0.{a}.{b}\thost/node{n}.grid@GSSLOG.TEST\t{}\t{}\t{}\t{n}\t{}\tok\n", now - 5, now - 3, now / 86_400, n * 100));
    }
    std::fs::write(work.join("imgssapi-senders.state"), state).unwrap();
    let list = dir.path().join("expected");
    std::fs::write(&list, "10.0.0.0/21\n").unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let conf = format!(
        "$ModLoad imtcp\n$InputTCPServerRun {}\n$WorkDirectory {}\n$InputGSSServerExpectedSenders {}\n$GssMetricsListen {metrics}\n*.* {}\n",
        free_port().unwrap(),
        work.display(),
        list.display(),
        dir.path().join("all.log").display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &conf, &[], &[]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let text = get(metrics, "/metrics");
    for series in ["last_message_timestamp_seconds", "last_heartbeat_timestamp_seconds", "messages_today", "bytes_today", "silent"] {
        assert_eq!(text.matches(&format!("\ngsslog_sender_{series}{{")).count(), 2000, "{series}");
    }
    assert!(text.contains("gsslog_sender_messages_today{ip=\"10.0.7.250\",principal=\"host/node1999.grid@GSSLOG.TEST\"} 1999\n"), "{text}");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&file).unwrap()).output().unwrap();
    assert!(out.status.success(), "promtool check metrics:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/monitoring/gsslog-senders.rules.yml");
    let out = Command::new("promtool").args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(out.status.success(), "promtool check rules:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    collector.stop(WAIT).unwrap();
}

/// `$ActionGSSForwardHeartbeat`: an idle acknowledged session keeps its
/// sender's heartbeat fresh at the collector, and nothing is written.
#[test]
fn an_idle_acknowledged_session_sends_heartbeats_that_write_nothing() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let out = dir.path().join("all.log");
    let conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$GssMetricsListen {metrics}\n*.* {}\n", out.display());
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &conf, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let shipper_conf = format!("$ActionGSSForwardAcknowledged on\n$ActionGSSForwardHeartbeat 1\n*.* :omgssapi:localhost:{port}\n");
    let _shipper = start_shipper(&dir.path().join("shipper"), &shipper_conf, &[], WAIT).unwrap();
    let heartbeat = || -> Option<u64> {
        let text = get(metrics, "/metrics");
        let line = text.lines().find(|l| l.starts_with("gsslog_sender_last_heartbeat_timestamp_seconds{ip=\"127.0.0.1\""))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    let deadline = Instant::now() + WAIT;
    let first = loop {
        if let Some(t) = heartbeat() {
            break t;
        }
        assert!(Instant::now() < deadline, "no heartbeat seen:\n{}", collector.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    // Later ones move it on.
    while heartbeat().is_none_or(|t| t <= first + 1) {
        assert!(Instant::now() < deadline, "the heartbeat did not move on from {first}:\n{}", collector.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, rows) = senders(metrics);
    assert_eq!(rows["127.0.0.1"].status, "unlisted", "{rows:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "", "heartbeats write nothing");
    let text = get(metrics, "/metrics");
    assert!(text.contains("gsslog_sender_messages_today{ip=\"127.0.0.1\",principal=\"client@"), "{text}");
    assert!(text.contains("gsslog_collector_messages_received_total 0\n"), "{text}");
}

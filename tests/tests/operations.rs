//! Running the daemons as an admin does: privileges dropped after binding
//! (checked in /proc/PID/status), private queue files, priorities for the
//! journal, metrics and impstats lines, and the queue of a stopped shipper.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::{EnvVar, TestRealm, SHARED_CLIENT};
use gsswire::{ByteOrder, Protection};

const WAIT: Duration = Duration::from_secs(30);

/// Dropping privileges needs root; CI and `tests/run.sh` run as root. A test
/// that cannot run fails loudly rather than passing without checking anything.
fn require_root() {
    assert!(
        daemon::os::ids().uids[1] == 0,
        "this test drops privileges and needs root (run tests/run.sh as root, as CI does); it was NOT run"
    );
}

/// `nobody` and `nogroup`, as Debian has them.
fn nobody() -> (u32, u32) {
    let user = daemon::os::user_by_name("nobody").unwrap().expect("user nobody");
    let group = daemon::os::group_by_name("nogroup").unwrap().expect("group nogroup");
    (user.uid, group)
}

/// A free TCP port below 1024 on 127.0.0.1: only root can bind it.
fn free_privileged_port() -> u16 {
    (600..1000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port below 1024")
}

/// A free UDP port below 1024 on 127.0.0.1.
fn free_privileged_udp_port() -> u16 {
    (600..1000).find(|p| std::net::UdpSocket::bind(("127.0.0.1", *p)).is_ok()).expect("a free UDP port below 1024")
}

/// The fields of a /proc/.../status file.
fn proc_status(path: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.split_whitespace().collect::<Vec<_>>().join(" "))))
        .collect()
}

/// Asserts that every thread of the process runs as `uid`/`gid` only (real,
/// effective, saved, file system), in no other group, with no capability
/// left: the runtime's threads existed before the drop.
fn assert_unprivileged(pid: u32, uid: u32, gid: u32) {
    let tasks: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().map(|e| e.unwrap().path().join("status")).collect();
    assert!(tasks.len() > 1, "a daemon has more than one thread: {tasks:?}");
    for task in tasks {
        let status = proc_status(&task);
        assert_eq!(status["Uid"], format!("{uid} {uid} {uid} {uid}"), "{}: {status:?}", task.display());
        assert_eq!(status["Gid"], format!("{gid} {gid} {gid} {gid}"), "{}: {status:?}", task.display());
        let groups: BTreeSet<u32> = status["Groups"].split_whitespace().map(|g| g.parse().unwrap()).collect();
        assert!(groups.is_subset(&BTreeSet::from([gid])), "supplementary groups {groups:?} of {}", task.display());
        for cap in ["CapEff", "CapPrm", "CapAmb"] {
            assert_eq!(status[cap], "0000000000000000", "{cap} of {}: {status:?}", task.display());
        }
    }
}

/// Lets `uid` reach files inside the shared realm (its directory is 0700):
/// krb5.conf, and the replay cache directory, which each user writes.
fn open_realm_to_others(realm: &TestRealm) {
    std::fs::set_permissions(realm.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(realm.dir().join("rcache"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(realm.krb5_conf(), std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A copy of `keytab` in `dir`, owned by root and group `gid`, with `mode`.
fn keytab_copy(keytab: &Path, dir: &Path, gid: u32, mode: u32) -> PathBuf {
    let copy = dir.join(keytab.file_name().unwrap());
    std::fs::copy(keytab, &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(0), Some(gid)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
    copy
}

/// `env` with `key` set to `value` (replacing it if there).
fn with_env(mut env: Vec<EnvVar>, key: &str, value: impl Into<String>) -> Vec<EnvVar> {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
    env
}

/// A directory that `uid`/`gid` own, inside a world-traversable temporary one.
fn owned_dir(parent: &Path, name: &str, uid: u32, gid: u32) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    dir
}

fn traversable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_drops_privileges_after_binding_port_below_1024_and_still_accepts() {
    require_root();
    let realm = TestRealm::shared();
    open_realm_to_others(realm);
    let (uid, gid) = nobody();
    let dir = traversable_tempdir();
    let tree = owned_dir(dir.path(), "hosts", uid, gid);
    let keytab = keytab_copy(&realm.server_keytab(), dir.path(), gid, 0o640);
    let env = with_env(realm.server_env(), "KRB5_KTNAME", format!("FILE:{}", keytab.display()));
    let port = free_privileged_port();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerBindAddress 127.0.0.1\n$InputGSSServerRun {port}\n\
         $PrivDropToUser nobody\n$PrivDropToGroup nogroup\n\
         $template Msg,\"%msg%\\n\"\n*.* {}/all.log;Msg\n",
        tree.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &env, &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    assert!(collector.log().contains("dropped privileges"), "{}", collector.log());
    assert_unprivileged(collector.pid(), uid, gid);

    // The keytab is read again at accept: a handshake after the drop works.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut client = GssClient::connect(addr, None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    client.send_lines(&["<13>Nov 23 12:00:00 node1 app: after the drop"]).await.unwrap();
    let out = tree.join("all.log");
    wait_for_file(&out, WAIT, |t| t.contains("after the drop")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    assert_eq!(std::fs::metadata(&out).unwrap().uid(), uid, "the file is created as the new user");
    collector.stop(WAIT).unwrap();
}

#[test]
fn a_keytab_the_dropped_user_cannot_read_stops_the_collector_at_start() {
    require_root();
    let realm = TestRealm::shared();
    open_realm_to_others(realm);
    let dir = traversable_tempdir();
    // Root's alone: the credential is acquired (as root), but MIT would fail
    // every accept once the collector runs as nobody.
    let keytab = keytab_copy(&realm.server_keytab(), dir.path(), 0, 0o600);
    let env = with_env(realm.server_env(), "KRB5_KTNAME", format!("FILE:{}", keytab.display()));
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$PrivDropToUserID 65534\n$PrivDropToGroupID 65534\n*.* {}/all.log\n",
        dir.path().display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &env, &["-x"]).unwrap();
    let start = Instant::now();
    while collector.is_running() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!collector.is_running(), "the collector must not run unable to accept");
    let log = collector.log();
    assert!(log.contains(&format!("the keytab {} cannot be read", keytab.display())), "{log}");
    assert!(log.contains("chmod 0640"), "{log}");
}

#[test]
fn the_shipper_drops_privileges_after_binding_and_its_queue_files_are_private() {
    require_root();
    let realm = TestRealm::shared();
    open_realm_to_others(realm);
    let (uid, gid) = nobody();
    let dir = traversable_tempdir();
    let out = dir.path().join("received.log");
    let port = free_port().unwrap();
    let collector_conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &collector_conf, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();

    let client_keytab = realm.client_env(SHARED_CLIENT).into_iter().find(|(k, _)| k == "KRB5_CLIENT_KTNAME").unwrap().1;
    let client_keytab = PathBuf::from(client_keytab.trim_start_matches("FILE:"));
    let keytab = keytab_copy(&client_keytab, dir.path(), gid, 0o640);
    let ccache_dir = owned_dir(dir.path(), "ccache", uid, gid);
    let work = owned_dir(dir.path(), "work", uid, gid);
    let env = with_env(realm.client_env(SHARED_CLIENT), "KRB5_CLIENT_KTNAME", format!("FILE:{}", keytab.display()));
    let env = with_env(env, "KRB5CCNAME", format!("FILE:{}/cc", ccache_dir.display()));
    let udp = free_privileged_udp_port();
    let config = format!(
        "$PrivDropToUser nobody\n$WorkDirectory {}\n$ActionQueueFileName fwd\n*.* :omgssapi:localhost:{port}\n",
        work.display()
    );
    let mut shipper =
        Daemon::start("omgssapi", &dir.path().join("shipper"), &config, &env, &["--udp", &format!("127.0.0.1:{udp}")]).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    assert!(shipper.log().contains("dropped privileges"), "{}", shipper.log());
    // Only $PrivDropToUser: the group is nobody's primary group.
    assert_unprivileged(shipper.pid(), uid, gid);

    let udp_out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        udp_out.send_to(format!("<13>Nov 23 12:00:00 node1 app: seq {i:06}").as_bytes(), ("127.0.0.1", udp)).unwrap();
    }
    wait_for_file(&out, WAIT, |t| t.lines().count() >= 20)
        .unwrap_or_else(|e| panic!("{e}\n{}\n-----\n{}", shipper.log(), collector.log()));
    let files: Vec<PathBuf> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "seg")), "{files:?}");
    for f in &files {
        assert_eq!(std::fs::metadata(f).unwrap().mode() & 0o777, 0o600, "{}", f.display());
    }
    shipper.stop(WAIT).unwrap();
    collector.stop(WAIT).unwrap();
}

/// Starts `name` with its stderr going to a file that `$JOURNAL_STREAM` names,
/// as systemd does with the journal's stream socket.
fn start_as_journal_stream(name: &str, dir: &Path, config: &str, env: &[EnvVar], args: &[&str]) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    // Daemon::start truncates this file, which keeps its inode.
    let log = dir.join(format!("{name}.log"));
    std::fs::File::create(&log).unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let env = with_env(env.to_vec(), "JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    Daemon::start(name, dir, config, &env, args).unwrap()
}

/// Every line starts with an sd-daemon(3) priority and has no timestamp.
fn assert_journal_lines(log: &str) -> BTreeSet<String> {
    let mut priorities = BTreeSet::new();
    for line in log.lines() {
        let p = line.get(..3).unwrap_or("");
        assert!(["<3>", "<4>", "<6>", "<7>"].contains(&p), "no priority on {line:?}");
        assert!(!line[3..].starts_with("20"), "a timestamp on {line:?}");
        assert!(!line.contains('\u{1b}'), "colour on {line:?}");
        priorities.insert(p.to_string());
    }
    priorities
}

#[test]
fn both_daemons_prefix_their_lines_with_journal_priorities() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}/all.log\n", dir.path().display());
    let mut collector = start_as_journal_stream("imgssapi", &dir.path().join("collector"), &conf, &realm.server_env(), &["-x"]);
    collector.wait_for_log("<6>collector running", WAIT).unwrap();
    // A connection that is not GSS: a warning-level line.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain.write_all(b"\0\0\0\x05hello").unwrap();
    drop(plain);

    // A shipper whose collector is not there: a warning, then (stopped) info.
    let dead = free_port().unwrap();
    let work = dir.path().join("work");
    let shipper_conf = format!("$WorkDirectory {}\n*.* :omgssapi:localhost:{dead}\n", work.display());
    let mut shipper = start_as_journal_stream(
        "omgssapi",
        &dir.path().join("shipper"),
        &shipper_conf,
        &realm.client_env(SHARED_CLIENT),
        &[],
    );
    shipper.wait_for_log("<4>collector unreachable", WAIT).unwrap();
    shipper.stop(WAIT).unwrap();
    collector.stop(WAIT).unwrap();
    let shipper_priorities = assert_journal_lines(&shipper.log());
    assert!(shipper_priorities.contains("<6>") && shipper_priorities.contains("<4>"), "{shipper_priorities:?}");
    let collector_priorities = assert_journal_lines(&collector.log());
    assert!(collector_priorities.contains("<6>"), "{collector_priorities:?}");
    assert!(collector.log().contains("<6>graceful shutdown signal=\"SIGTERM\""), "{}", collector.log());
    assert!(shipper.log().contains("<6>stopping signal=\"SIGTERM\""), "{}", shipper.log());

    // A stderr that is not the one $JOURNAL_STREAM names: lines as before.
    let other = tempfile::tempdir().unwrap();
    let mut plain_log = Daemon::start(
        "imgssapi",
        other.path(),
        &conf.replace(&port.to_string(), &free_port().unwrap().to_string()),
        &with_env(realm.server_env(), "JOURNAL_STREAM", "1:1"),
        &["-x"],
    )
    .unwrap();
    plain_log.wait_for_log("collector running", WAIT).unwrap();
    assert!(plain_log.log().lines().all(|l| !l.starts_with('<')), "{}", plain_log.log());
}

/// Runs `omgssapi ARGS`; returns (success, stdout, stderr).
fn omgssapi(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(gsslog_tests::daemon::bin_path("omgssapi").unwrap()).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_stopped_shippers_backlog_is_shown_and_exported_as_syslog_lines() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port().unwrap();
    let tcp = free_port().unwrap();
    let work = dir.path().join("work");
    let conf_text = format!("$ActionQueueFileName fwd\n*.* :omgssapi:localhost:{dead}\n");
    let mut shipper = Daemon::start(
        "omgssapi",
        &dir.path().join("shipper"),
        &conf_text,
        &realm.client_env(SHARED_CLIENT),
        &["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{tcp}")],
    )
    .unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    let mut input = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let sent: Vec<String> = (0..50).map(|i| format!("<13>Nov 23 12:00:00 node1 app: seq {i:06}")).collect();
    input.write_all(sent.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes()).unwrap();
    drop(input);
    let conf = dir.path().join("shipper/omgssapi.conf");
    let args = |action: &'static str| vec!["queue", action, "-f", conf.to_str().unwrap(), "--work-directory", work.to_str().unwrap()];
    // The queue is the running shipper's: looking is refused, not racy.
    let start = Instant::now();
    loop {
        let (ok, _, stderr) = omgssapi(&args("show"));
        assert!(!ok, "show must refuse a queue in use");
        assert!(stderr.contains("is in use by another process"), "{stderr}");
        assert!(stderr.contains("systemctl stop syslog.socket gsslog-shipper"), "how to stop a socket-activated shipper: {stderr}");
        let segs: u64 = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        if segs > 50 * 40 || start.elapsed() > WAIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    shipper.stop(WAIT).unwrap();
    assert!(shipper.log().contains("queued=50"), "{}", shipper.log());

    let (ok, stdout, stderr) = omgssapi(&args("show"));
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("queue fwd in {}", work.display())), "{stdout}");
    assert!(stdout.contains("  records: 50\n"), "{stdout}");
    assert!(stdout.contains(": seq 000000"), "oldest: {stdout}");
    assert!(stdout.contains(": seq 000049"), "newest: {stdout}");

    let (ok, stdout, stderr) = omgssapi(&args("export"));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("50 records exported"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 50, "{stdout}");
    for (line, original) in lines.iter().zip(&sent) {
        // RSYSLOG_TraditionalForwardFormat: the same PRI, timestamp, host, tag and text.
        assert_eq!(*line, original.as_str());
    }
    // Nothing was acknowledged: the backlog is still there for the shipper.
    let (_, again, _) = omgssapi(&args("show"));
    assert!(again.contains("  records: 50\n"), "{again}");
}

/// The value of the sample of `name` whose labels contain `labels` (exact
/// name: `name{` or `name `).
fn sample(text: &str, name: &str, labels: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The time of day of a log line, from its RFC 3339 timestamp (`...THH:MM:SS.ffffffZ`).
fn seconds_of_day(line: &str) -> f64 {
    let time = line.split_whitespace().next().and_then(|t| t.split_once('T')).map(|(_, t)| t.trim_end_matches('Z')).unwrap_or("");
    let parts: Vec<f64> = time.split(':').map(|p| p.parse().unwrap_or(f64::NAN)).collect();
    assert_eq!(parts.len(), 3, "no timestamp on {line:?}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

async fn scrape(addr: SocketAddr, path: &str) -> (u16, String) {
    daemon::metrics_http::get(addr, path).await.unwrap()
}

/// Scrapes until `name` reaches `want` (bounded); returns the last scrape.
async fn scrape_until(addr: SocketAddr, name: &str, labels: &str, want: u64, logs: &[&Daemon]) -> String {
    let start = Instant::now();
    loop {
        let (_, text) = scrape(addr, "/metrics").await;
        if sample(&text, name, labels) == Some(want) {
            return text;
        }
        if start.elapsed() > WAIT {
            let logs: Vec<String> = logs.iter().map(|d| d.log()).collect();
            panic!("{name}{labels} never reached {want}:\n{text}\n{}", logs.join("\n-----\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_both_daemons_agree_with_what_was_sent_received_and_queued() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector_metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let collector_conf = format!(
        "$ModLoad imgssapi\n$ModLoad impstats\n$PStatInterval 1\n$GssMetricsListen {collector_metrics}\n\
         $InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &collector_conf, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();

    let shipper_metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let tcp = free_port().unwrap();
    let work = dir.path().join("work");
    let shipper_conf = format!(
        "$ModLoad impstats\n$PStatInterval 1\n$GssMetricsListen {shipper_metrics}\n$WorkDirectory {}\n\
         $ActionQueueFileName fwd\n*.* :omgssapi:localhost:{port}\n",
        work.display()
    );
    let mut shipper = Daemon::start(
        "omgssapi",
        &dir.path().join("shipper"),
        &shipper_conf,
        &realm.client_env(SHARED_CLIENT),
        &["--tcp", &format!("127.0.0.1:{tcp}")],
    )
    .unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();

    const N: u64 = 200;
    let lines: String = (0..N).map(|i| format!("<13>Nov 23 12:00:00 node1 app: seq {i:06}\n")).collect();
    let mut input = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    input.write_all(lines.as_bytes()).unwrap();
    drop(input);
    wait_for_file(&out, WAIT, |t| t.lines().count() as u64 >= N).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));

    let action = "action=\"fwd\"";
    let s = scrape_until(shipper_metrics, "gsslog_action_messages_forwarded_total", action, N, &[&shipper, &collector]).await;
    assert_eq!(sample(&s, "gsslog_shipper_messages_received_total", ""), Some(N), "{s}");
    assert_eq!(sample(&s, "gsslog_shipper_bytes_received_total", ""), Some(lines.len() as u64 - N), "{s}");
    assert_eq!(sample(&s, "gsslog_action_messages_enqueued_total", action), Some(N), "{s}");
    assert_eq!(sample(&s, "gsslog_action_messages_discarded_total", action), Some(0), "{s}");
    assert_eq!(sample(&s, "gsslog_action_messages_lost_total", action), Some(0), "{s}");
    assert_eq!(sample(&s, "gsslog_action_queue_size", action), Some(0), "{s}");
    assert_eq!(sample(&s, "gsslog_action_connected", action), Some(1), "{s}");
    assert_eq!(sample(&s, "gsslog_action_connects_total", action), Some(1), "{s}");
    assert!(sample(&s, "gsslog_action_bytes_sent_total", action).unwrap() > lines.len() as u64 / 2, "{s}");
    assert!(s.contains("# TYPE gsslog_action_queue_size gauge"), "{s}");
    assert_eq!(scrape(shipper_metrics, "/health").await, (200, "ok: 1 action(s) connected\n".into()));

    let c = scrape_until(collector_metrics, "gsslog_collector_messages_written_total", "", N, &[&collector]).await;
    assert_eq!(sample(&c, "gsslog_collector_messages_received_total", ""), Some(N), "{c}");
    assert_eq!(sample(&c, "gsslog_collector_messages_lost_total", ""), Some(0), "{c}");
    assert_eq!(sample(&c, "gsslog_collector_sessions_open", ""), Some(1), "{c}");
    assert_eq!(sample(&c, "gsslog_collector_handshakes_ok_total", ""), Some(1), "{c}");
    assert_eq!(sample(&c, "gsslog_collector_files_open", ""), Some(1), "{c}");
    let (status, body) = scrape(collector_metrics, "/health").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(&format!("ok: listening on [{port}], writing")), "{body}");

    // impstats lines, every second, in rsyslog's legacy format.
    let start = Instant::now();
    while collector.log().matches("imgssapi: origin=imgssapi ").count() < 3 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats_lines: Vec<String> =
        collector.log().lines().filter(|l| l.contains("imgssapi: origin=imgssapi ")).map(str::to_string).collect();
    assert!(stats_lines.len() >= 3, "{}", collector.log());
    assert!(stats_lines.iter().any(|l| l.contains(&format!(" messages.written={N} "))), "{stats_lines:?}");
    // One line per interval, not a burst: three lines span at least two
    // intervals (a loaded machine can only make them later, never closer).
    let spread = (seconds_of_day(&stats_lines[2]) - seconds_of_day(&stats_lines[0]) + 86400.0) % 86400.0;
    assert!(spread >= 1.5, "{spread} s between {stats_lines:?}");
    shipper.wait_for_log(&format!("fwd: origin=omgssapi.action messages.enqueued={N} messages.forwarded={N} "), WAIT).unwrap();

    // The collector goes away: the shipper says so, and queues what comes.
    collector.stop(WAIT).unwrap();
    let s = scrape_until(shipper_metrics, "gsslog_action_connected", action, 0, &[&shipper]).await;
    assert_eq!(sample(&s, "gsslog_action_sessions_broken_total", action), Some(1), "{s}");
    assert_eq!(sample(&s, "gsslog_action_sessions_closed_total", action), Some(0), "a TCP-level session cannot tell an orderly close: {s}");
    let mut input = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    input.write_all(b"<13>Nov 23 12:00:00 node1 app: queued 1\n<13>Nov 23 12:00:00 node1 app: queued 2\n").unwrap();
    drop(input);
    let s = scrape_until(shipper_metrics, "gsslog_action_queue_size", action, 2, &[&shipper]).await;
    assert_eq!(sample(&s, "gsslog_shipper_messages_received_total", ""), Some(N + 2), "{s}");
    assert!(sample(&s, "gsslog_action_queue_bytes", action).unwrap() > 0, "{s}");
    let (status, body) = scrape(shipper_metrics, "/health").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with(&format!("not serving: fwd not connected to localhost:{port} for ")), "{body}");
    shipper.stop(WAIT).unwrap();
}

/// The test helper's own contract: once a daemon has stopped, signalling it
/// again does nothing. (It used to run `kill -TERM 0` with the reaped
/// child's pid 0, which signals the whole process group: this test run.)
/// An acknowledged session that the collector ends in order (its Closing,
/// then everything sent acknowledged) is counted as closed, not broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collectors_orderly_close_of_an_acknowledged_session_is_counted_closed_not_broken() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector_conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &collector_conf, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let shipper_metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let tcp = free_port().unwrap();
    let shipper_conf = format!(
        "$GssMetricsListen {shipper_metrics}\n$WorkDirectory {}\n$ActionQueueFileName fwd\n\
         $ActionGSSForwardAcknowledged on\n*.* :omgssapi:localhost:{port}\n",
        dir.path().join("work").display()
    );
    let args = ["--tcp", &format!("127.0.0.1:{tcp}")];
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &shipper_conf, &realm.client_env(SHARED_CLIENT), &args).unwrap();
    shipper.wait_for_log("the collector acknowledges what it writes", WAIT).unwrap();
    let mut input = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    input.write_all(b"<13>Nov 23 12:00:00 node1 app: one\n<13>Nov 23 12:00:00 node1 app: two\n").unwrap();
    drop(input);
    let action = "action=\"fwd\"";
    scrape_until(shipper_metrics, "gsslog_action_messages_forwarded_total", action, 2, &[&shipper, &collector]).await;

    collector.stop(WAIT).unwrap();
    let s = scrape_until(shipper_metrics, "gsslog_action_connected", action, 0, &[&shipper, &collector]).await;
    assert!(shipper.log().contains("the collector is shutting down (all sent was acknowledged)"), "{}", shipper.log());
    assert_eq!(sample(&s, "gsslog_action_sessions_closed_total", action), Some(1), "{s}");
    assert_eq!(sample(&s, "gsslog_action_sessions_broken_total", action), Some(0), "{s}");
}

#[test]
fn stopping_a_stopped_daemon_is_an_error_not_a_signal_to_the_test_run() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = format!("$WorkDirectory {}\n*.* :omgssapi:localhost:{}\n", dir.path().join("work").display(), free_port().unwrap());
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &conf, &realm.client_env(SHARED_CLIENT), &[]).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    assert!(shipper.stop(WAIT).unwrap().success());
    shipper.signal("TERM");
    assert!(shipper.stop(WAIT).is_err(), "already stopped");
    // Still here: neither call signalled this process.
}

#[test]
fn sigint_is_logged_as_sigint() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = format!("$WorkDirectory {}\n*.* :omgssapi:localhost:{}\n", dir.path().join("work").display(), free_port().unwrap());
    let mut shipper = Daemon::start("omgssapi", &dir.path().join("shipper"), &conf, &realm.client_env(SHARED_CLIENT), &[]).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    shipper.signal("INT");
    shipper.wait_for_log("stopping signal=\"SIGINT\"", WAIT).unwrap();
    let status = shipper.wait_for_exit(WAIT).unwrap();
    assert!(status.success(), "the shipper stops cleanly on SIGINT: {status}\n{}", shipper.log());
    let port = free_port().unwrap();
    let conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}/all.log\n", dir.path().display());
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &conf, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    collector.signal("INT");
    collector.wait_for_log("graceful shutdown signal=\"SIGINT\"", WAIT).unwrap();
    let status = collector.wait_for_exit(WAIT).unwrap();
    assert!(status.success(), "the collector stops cleanly on SIGINT: {status}\n{}", collector.log());
}

#[test]
fn a_replay_cache_the_units_user_cannot_write_stops_the_collector_at_start() {
    // As under systemd's User=: no $PrivDropToUser, the process already runs
    // as its user, and MIT would fail every handshake writing its replay cache.
    let realm = TestRealm::shared();
    open_realm_to_others(realm);
    let dir = traversable_tempdir();
    let keytab = keytab_copy(&realm.server_keytab(), dir.path(), 0, 0o644);
    let rcache = dir.path().join("rcache");
    std::fs::create_dir(&rcache).unwrap();
    std::fs::set_permissions(&rcache, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let port = free_port().unwrap();
    let conf = dir.path().join("imgssapi.conf");
    std::fs::write(&conf, format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n*.* {}/all.log\n", dir.path().display())).unwrap();
    let env = with_env(with_env(realm.server_env(), "KRB5_KTNAME", format!("FILE:{}", keytab.display())), "KRB5RCACHEDIR", rcache.display().to_string());
    let log_path = dir.path().join("imgssapi.log");
    let mut collector = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(gsslog_tests::daemon::bin_path("imgssapi").unwrap())
        .arg("-f")
        .arg(&conf)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = collector.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > WAIT {
            let _ = collector.kill();
            let _ = collector.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.is_some_and(|s| !s.success()), "the collector must not run unable to accept:\n{log}");
    assert!(log.contains(&format!("the replay cache directory (KRB5RCACHEDIR) {} is not writable", rcache.display())), "{log}");
}

#[test]
fn check_credentials_names_a_keytab_the_user_cannot_read() {
    // As the guide runs it: the service's user and keytab (systemd-run -p User=).
    let realm = TestRealm::shared();
    open_realm_to_others(realm);
    let dir = traversable_tempdir();
    let keytab = keytab_copy(&realm.client_keytab(SHARED_CLIENT), dir.path(), 0, 0o600);
    let conf = dir.path().join("omgssapi.conf");
    std::fs::write(&conf, "*.* :omgssapi:localhost:9\n").unwrap();
    let env = with_env(realm.client_env(SHARED_CLIENT), "KRB5_CLIENT_KTNAME", format!("FILE:{}", keytab.display()));
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(gsslog_tests::daemon::bin_path("omgssapi").unwrap())
        .args(["--check-config", "--check-credentials", "--work-directory", "/tmp", "-f"])
        .arg(&conf)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("KRB5CCNAME", "MEMORY:")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said} {env:?}");
    assert!(said.contains(&format!("the client keytab {} cannot be read as uid 65534", keytab.display())), "{said}");
}

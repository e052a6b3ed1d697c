//! The shipper (`omgssapi`) end to end, through the real KDC, with the grid's
//! client stanza: into Debian's rsyslog imgssapi and into our collector; fed
//! by Debian's rsyslog through omprog, and by its own socket, UDP and TCP
//! inputs; across collector outages, restarts and a `kill -9` of itself.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_listener};
use gsslog_tests::proxy::TamperProxy;
use gsslog_tests::realm::{TestRealm, SHARED_CLIENT};
use gsslog_tests::rsyslog::Rsyslogd;

const WAIT: Duration = Duration::from_secs(30);

/// The grid's client stanza with host and port changed (and `extra` lines,
/// such as our extensions, before it).
fn stanza(port: u16, extra: &str) -> String {
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"));
    format!("{extra}{seed}")
}

fn start_shipper(dir: &Path, config: &str, args: &[&str]) -> Daemon {
    gsslog_tests::daemon::start_shipper(dir, config, args, WAIT).unwrap()
}

/// Our collector writing `%msg%` of everything to `out`.
fn start_collector(dir: &Path, port: u16, out: &Path) -> Daemon {
    let realm = TestRealm::shared();
    // Every shipper here is the one test principal, where a grid's nodes each
    // have their own: the fifty shippers of `fifty_shippers_…` stand for
    // fifty nodes, more than the per-principal cap (8) by design. At the cap
    // they no longer displace each other (a newcomer is refused while the
    // principal's sessions are active), but the other 42 would wait for
    // $InputGSSServerReplaceIdleSessionAfter (30 s) before getting in, which
    // is not what the test measures; so the cap is raised over fifty.
    let conf = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessionsPerPrincipal 64\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let mut d = Daemon::start("imgssapi", dir, &conf, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

fn numbered(i: usize) -> String {
    format!("<13>Nov 23 12:00:00 node1 app: seq {i:06}")
}

/// The sequence numbers found in a file, in the order they appear.
fn seqs(path: &Path) -> Vec<usize> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default())
        .lines()
        .filter_map(|l| l.split("seq ").nth(1).and_then(|n| n.trim().parse().ok()))
        .collect()
}

fn wait_for_seqs(path: &Path, n: usize, daemons: &[&Daemon]) -> Vec<usize> {
    let start = Instant::now();
    loop {
        let got = seqs(path);
        let unique: BTreeSet<usize> = got.iter().copied().collect();
        if unique.len() >= n {
            return got;
        }
        if start.elapsed() > WAIT {
            let logs: Vec<String> = daemons.iter().map(|d| d.log()).collect();
            panic!("only {} of {n} messages arrived\n{}", unique.len(), logs.join("\n-----\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// First occurrences in order: duplicates (at-least-once) allowed, reordering not.
fn assert_in_order(got: &[usize], n: usize) {
    let mut seen = BTreeSet::new();
    let firsts: Vec<usize> = got.iter().copied().filter(|s| seen.insert(*s)).collect();
    assert_eq!(firsts, (0..n).collect::<Vec<_>>(), "every message, in the order accepted");
}

fn send_tcp(port: u16, lines: impl Iterator<Item = String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut buf = Vec::new();
    for l in lines {
        buf.extend_from_slice(l.as_bytes());
        buf.push(b'\n');
    }
    s.write_all(&buf).unwrap();
}

#[test]
fn seed_stanza_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("client.conf");
    std::fs::write(&conf, stanza(515, "")).unwrap();
    let out = Command::new(bin_path("omgssapi").unwrap()).args(["--check-config", "-f"]).arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    std::fs::write(&conf, "*.* :omgssapi:(z)host:5x5\n").unwrap();
    let out = Command::new(bin_path("omgssapi").unwrap()).args(["--check-config", "-f"]).arg(&conf).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains(&format!("{}:1: :omgssapi: unknown option 'z'", conf.display())), "{stdout}");
}

fn into_stock_rsyslog(mode: &str) {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let rs_conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut rsyslogd = Rsyslogd::start(&dir.path().join("rsyslog"), &rs_conf, &realm.server_env()).unwrap();
    wait_for_listener(SocketAddr::from(([127, 0, 0, 1], port)), WAIT).unwrap();
    // The tokens are counted on the wire, by a proxy that passes them on.
    let proxy = TamperProxy::start(SocketAddr::from(([127, 0, 0, 1], port)), "127.0.0.1".parse().unwrap()).unwrap();
    let input = free_port().unwrap();
    let conf = stanza(proxy.addr().port(), "").replace("$GssMode encryption", &format!("$GssMode {mode}"));
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    const N: usize = 2000;
    send_tcp(input, (0..N).map(numbered));
    let got = wait_for_seqs(&out, N, &[&shipper]);
    assert_in_order(&got, N);
    assert_eq!(got.len(), N, "no duplicates on a healthy session");
    assert!(shipper.stop(WAIT).unwrap().success());
    let tokens = proxy.status().data_tokens;
    assert!(tokens * 5 <= N, "many messages per token, and rsyslog took them: {tokens} tokens on the wire for {N} messages");
    // (rsyslog 8.2302 logs "will be closed, error ignored" for every session
    // that ends, including the readiness probe's, so its log is not checked.)
    rsyslogd.ensure_running().unwrap();
}

#[test]
fn into_stock_rsyslog_imgssapi_batched_encryption() {
    into_stock_rsyslog("encryption");
}

#[test]
fn into_stock_rsyslog_imgssapi_batched_integrity() {
    into_stock_rsyslog("integrity");
}

#[test]
fn strict_mode_sends_one_message_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let proxy = TamperProxy::start(SocketAddr::from(([127, 0, 0, 1], port)), "127.0.0.1".parse().unwrap()).unwrap();
    let input = free_port().unwrap();
    let conf = stanza(proxy.addr().port(), "$ActionGSSForwardOneMessagePerToken on\n");
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    send_tcp(input, (0..300).map(numbered));
    let got = wait_for_seqs(&out, 300, &[&collector]);
    assert_eq!(got, (0..300).collect::<Vec<_>>(), "each message once, in order");
    assert!(shipper.stop(WAIT).unwrap().success());
    assert_eq!(proxy.status().data_tokens, 300, "one token per message on the wire");
}

#[test]
fn stock_rsyslog_feeds_the_shipper_through_omprog() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let shipper_dir = dir.path().join("shipper");
    std::fs::create_dir_all(shipper_dir.join("work")).unwrap();
    let shipper_conf = shipper_dir.join("omgssapi.conf");
    std::fs::write(&shipper_conf, stanza(port, "")).unwrap();
    let udp = free_port().unwrap();
    let binary = format!(
        "{} -f {} --stdin --work-directory {}",
        bin_path("omgssapi").unwrap().display(),
        shipper_conf.display(),
        shipper_dir.join("work").display()
    );
    // The admin's guide's template, as written there; rsyslog's own
    // messages (omprog's complaints among them) go to a file of their own.
    let guide = include_str!("../../docs/admin-guide.md");
    let template = guide.lines().map(str::trim).find(|l| l.starts_with("template(name=\"GsslogForward\"")).expect("the guide's omprog template");
    let internal = dir.path().join("rsyslogd-internal.log");
    let node_conf = format!(
        "$ModLoad imudp\n$UDPServerAddress 127.0.0.1\n$UDPServerRun {udp}\nmodule(load=\"omprog\")\n{template}\n\
         :programname, isequal, \"rsyslogd\" {}\n& stop\n\
         *.* action(type=\"omprog\" binary=\"{binary}\" confirmMessages=\"on\" template=\"GsslogForward\" output=\"{}\")\n",
        internal.display(),
        shipper_dir.join("stderr.log").display()
    );
    let node = Rsyslogd::start(&dir.path().join("node"), &node_conf, &realm.client_env(SHARED_CLIENT)).unwrap();
    // Bound means a datagram waits for rsyslogd's input: no sleep, no loss.
    gsslog_tests::net::wait_for_udp_bound(udp, WAIT).unwrap();
    let udp_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    const N: usize = 200;
    for i in 0..N {
        udp_socket.send_to(numbered(i).as_bytes(), ("127.0.0.1", udp)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    while seqs(&out).iter().collect::<BTreeSet<_>>().len() < N && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = seqs(&out);
    let shipper_log = std::fs::read_to_string(shipper_dir.join("stderr.log")).unwrap_or_default();
    let missing: Vec<usize> = (0..N).filter(|i| !got.contains(i)).collect();
    assert!(missing.is_empty(), "missing {missing:?}\nshipper:\n{shipper_log}\nnode rsyslog:\n{}\ncollector:\n{}", node.log(), collector.log());
    assert_in_order(&got, N);
    let complaints = std::fs::read_to_string(&internal).unwrap_or_default() + &node.log();
    assert!(!complaints.contains("omprog"), "the guide's stanza makes rsyslog complain:\n{complaints}");
}

#[test]
fn unix_socket_udp_and_tcp_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let sock = dir.path().join("log.sock");
    let (udp, tcp) = (free_port().unwrap(), free_port().unwrap());
    let shipper = start_shipper(
        &dir.path().join("shipper"),
        &stanza(port, ""),
        &["--unix-socket", sock.to_str().unwrap(), "--udp", &format!("127.0.0.1:{udp}"), "--tcp", &format!("127.0.0.1:{tcp}")],
    );
    let unix = std::os::unix::net::UnixDatagram::unbound().unwrap();
    unix.send_to(b"<13>Nov 23 12:00:00 app[1]: via unix socket seq 000000", &sock).unwrap();
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(numbered(1).as_bytes(), ("127.0.0.1", udp)).unwrap();
    let mut t = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let octet = numbered(3);
    t.write_all(format!("{}\n{} {}", numbered(2), octet.len(), octet).as_bytes()).unwrap();
    drop(t);
    let got = wait_for_seqs(&out, 4, &[&collector, &shipper]);
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), (0..4).collect());
    assert!(String::from_utf8_lossy(&std::fs::read(&out).unwrap()).contains("via unix socket"));
}

#[test]
fn collector_down_fills_the_disk_cap_then_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let input = free_port().unwrap();
    let conf = stanza(port, "$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n")
        .replace("$ActionQueueMaxDiskSpace 100m", "$ActionQueueMaxDiskSpace 256k\n$ActionQueueMaxFileSize 64k")
        .replace("$ActionQueueTimeoutEnqueue 100", "$ActionQueueTimeoutEnqueue 0");
    let mut shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    const N: usize = 5000;
    send_tcp(input, (0..N).map(numbered));
    shipper.wait_for_log("queue full", WAIT).unwrap();
    shipper.wait_for_log("collector unreachable", WAIT).unwrap();
    // "queue full" is logged once the part of a batch that fits is written;
    // later batches may still add a record or two: wait until the size settles.
    let work = dir.path().join("shipper/work");
    let on_disk = wait_until_settled(|| std::fs::read_dir(&work).unwrap().filter_map(Result::ok).map(|e| e.metadata().unwrap().len()).sum());
    assert!(on_disk <= 256 * 1024, "the cap holds: {on_disk} bytes");
    assert!(on_disk > 255 * 1024, "the queue filled up to within 1 KiB of the cap: {on_disk} bytes");

    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    // Wait until delivery stops growing.
    let mut last = (0, Instant::now());
    while last.1.elapsed() < Duration::from_secs(3) {
        let n = seqs(&out).len();
        if n != last.0 {
            last = (n, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = seqs(&out);
    let kept = got.len();
    assert!(kept > 500 && kept < N, "{kept} of {N} kept");
    assert_eq!(got, (0..kept).collect::<Vec<_>>(), "what was accepted arrives complete and in order");
    let status = shipper.stop(WAIT).unwrap();
    assert!(status.success());
    let log = shipper.log();
    assert!(log.contains(&format!("discarded_full={}", N - kept)), "the discards are counted:\n{log}");
    drop(collector);
}

/// Polls `measure` until it returns the same value for a second; returns it.
fn wait_until_settled(measure: impl Fn() -> u64) -> u64 {
    let start = Instant::now();
    let mut last = (measure(), Instant::now());
    while last.1.elapsed() < Duration::from_secs(1) {
        assert!(start.elapsed() < WAIT, "still changing after {WAIT:?}: {}", last.0);
        std::thread::sleep(Duration::from_millis(100));
        let now = measure();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    last.0
}

#[test]
fn kill_9_loses_nothing_that_was_confirmed() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let shipper_dir = dir.path().join("shipper");
    std::fs::create_dir_all(&shipper_dir).unwrap();
    let conf = shipper_dir.join("omgssapi.conf");
    std::fs::write(&conf, stanza(port, "$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n")).unwrap();
    let spawn = |feed: bool| {
        let mut cmd = Command::new(bin_path("omgssapi").unwrap());
        cmd.arg("-f").arg(&conf).arg("--work-directory").arg(shipper_dir.join("work"));
        if feed {
            cmd.arg("--stdin");
        }
        cmd.envs(realm.client_env(SHARED_CLIENT)).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        cmd.spawn().unwrap()
    };
    // The collector is down: everything the shipper confirms sits in its queue.
    let mut child = spawn(true);
    let mut stdin = child.stdin.take().unwrap();
    let mut replies = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(replies.next().unwrap().unwrap(), "OK", "omprog's readiness line");
    let mut confirmed = 0;
    for i in 0..3000 {
        if writeln!(stdin, "{}", numbered(i)).and_then(|_| stdin.flush()).is_err() {
            break;
        }
        match replies.next() {
            Some(Ok(reply)) if reply == "OK" => confirmed = i + 1,
            Some(Ok(reply)) => panic!("message {i} refused: {reply}"),
            _ => break, // killed
        }
        if i == 1500 {
            // Keep writing while we kill: the last confirmations race the kill.
            let pid = child.id();
            std::thread::spawn(move || {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            });
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "the shipper died of the SIGKILL: {status}");
    assert!(confirmed > 1000, "confirmed {confirmed}");

    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let mut restarted = spawn(false);
    wait_for_seqs(&out, confirmed, &[&collector]);
    // The collector was down until after the kill: nothing had been sent, so
    // the queue holds each accepted message once. Every confirmed one arrives
    // exactly once, in order (a message accepted but not yet confirmed when
    // the kill came may follow, once too).
    std::thread::sleep(Duration::from_millis(500));
    let got = seqs(&out);
    assert!(got.len() >= confirmed, "{} of {confirmed} confirmed messages arrived", got.len());
    assert_eq!(got, (0..got.len()).collect::<Vec<_>>(), "each message once, in order");
    let _ = restarted.kill();
    let _ = restarted.wait();
}

#[test]
fn graceful_collector_restart_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let mut collector = start_collector(&dir.path().join("collector0"), port, &out);
    let input = free_port().unwrap();
    let shipper = start_shipper(
        &dir.path().join("shipper"),
        &stanza(port, "$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n"),
        &["--tcp", &format!("127.0.0.1:{input}")],
    );
    const N: usize = 6000;
    let feeder = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        for i in 0..N {
            s.write_all(format!("{}\n", numbered(i)).as_bytes()).unwrap();
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert!(collector.stop(WAIT).unwrap().success());
    let collector = start_collector(&dir.path().join("collector1"), port, &out);
    feeder.join().unwrap();
    wait_for_seqs(&out, N, &[&collector, &shipper]);
    std::thread::sleep(Duration::from_millis(500));
    assert_each_exactly_once_in_order(&[&out], N);
    assert!(shipper.log().contains("the collector closed the session"), "the half-close was noticed");
}

/// A collector that is "down" in the way that shows every attempt: it takes
/// connections and drops them at once, noting when (by the kernel's clock of
/// the handshake, so a late accept on a loaded machine changes nothing) and
/// from which address.
struct AttemptCounter {
    attempts: Arc<Mutex<Vec<(Instant, std::net::IpAddr)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl AttemptCounter {
    fn listen(port: u16) -> AttemptCounter {
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (attempts, stop) = (attempts.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, from)) => {
                            // When the kernel took the connection, not when this
                            // thread got round to accepting it.
                            let ago = gsslog_tests::net::established_ago(&s).unwrap();
                            attempts.lock().unwrap().push((Instant::now() - ago, from.ip()));
                            drop(s);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        AttemptCounter { attempts, stop, thread }
    }

    /// Stops listening; returns every attempt seen.
    fn close(self) -> Vec<(Instant, std::net::IpAddr)> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap();
        let attempts = self.attempts.lock().unwrap().clone();
        attempts
    }
}

#[test]
fn fifty_shippers_that_lose_the_collector_together_spread_their_reconnects_and_each_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    const SHIPPERS: usize = 50;
    let source = |k: usize| format!("127.0.0.{}", 10 + k);
    // All connected first, to one collector: when it goes, they all lose it at
    // the same moment, so any spread of their reconnects is the jitter's, not
    // their start order's.
    let out = dir.path().join("received.log");
    let mut collector = start_collector(&dir.path().join("collector0"), port, &out);
    let mut shippers = Vec::new();
    let mut inputs = Vec::new();
    for k in 0..SHIPPERS {
        let input = free_port().unwrap();
        let conf = stanza(port, &format!("$ActionGSSForwardBindAddress {}\n", source(k)));
        shippers.push(start_shipper(&dir.path().join(format!("s{k}")), &conf, &["--udp", &format!("127.0.0.1:{input}")]));
        inputs.push(input);
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for (k, input) in inputs.iter().enumerate() {
        udp.send_to(numbered(2 * k).as_bytes(), ("127.0.0.1", *input)).unwrap();
    }
    wait_for_seqs(&out, SHIPPERS, &[&collector]);

    assert!(collector.stop(WAIT).unwrap().success());
    let lost_at = Instant::now();
    let counter = AttemptCounter::listen(port);
    for (k, input) in inputs.iter().enumerate() {
        udp.send_to(numbered(2 * k + 1).as_bytes(), ("127.0.0.1", *input)).unwrap();
    }
    std::thread::sleep(Duration::from_secs(6));
    let attempts = counter.close();

    // Attempts per 100 ms window since the moment all lost the collector.
    let mut windows = std::collections::BTreeMap::<u128, usize>::new();
    for (t, _) in &attempts {
        *windows.entry(t.saturating_duration_since(lost_at).as_millis() / 100).or_default() += 1;
    }
    let busiest = windows.values().copied().max().unwrap_or(0);
    println!("{} attempts over {} of 60 windows of 100 ms, at most {busiest} in one", attempts.len(), windows.len());
    assert!(attempts.len() >= 2 * SHIPPERS, "the shippers kept retrying: {}", attempts.len());
    assert!(busiest <= SHIPPERS / 2, "reconnects must be spread, not together: {busiest} in one 100 ms window");
    assert!(windows.len() >= 20, "attempts spread over time: {} windows", windows.len());
    // No node tries more than twice a second, even at the start.
    for k in 0..SHIPPERS {
        let ip: std::net::IpAddr = source(k).parse().unwrap();
        let mine: Vec<Instant> = attempts.iter().filter(|(_, from)| *from == ip).map(|(t, _)| *t).collect();
        assert!(mine.len() >= 2, "shipper {k} kept retrying: {} attempts", mine.len());
        let closest = mine.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(Duration::MAX);
        assert!(closest >= Duration::from_millis(450), "shipper {k} retried after only {closest:?}");
    }

    let collector = start_collector(&dir.path().join("collector1"), port, &out);
    wait_for_seqs(&out, 2 * SHIPPERS, &[&collector]);
    std::thread::sleep(Duration::from_millis(500));
    let mut got = seqs(&out);
    got.sort_unstable();
    assert_eq!(got, (0..2 * SHIPPERS).collect::<Vec<_>>(), "each shipper's two messages, each exactly once");
    drop(shippers);
}

/// Debian's logrotate hooks and many admins send SIGHUP to every syslog
/// daemon; the shipper used to die of it (exit 129, no log line).
#[test]
fn sighup_under_load_neither_stops_the_shipper_nor_loses_anything() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let input = free_port().unwrap();
    let mut shipper = start_shipper(&dir.path().join("shipper"), &stanza(port, ""), &["--tcp", &format!("127.0.0.1:{input}")]);
    const N: usize = 3000;
    let feeder = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        for i in 0..N {
            s.write_all(format!("{}\n", numbered(i)).as_bytes()).unwrap();
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        shipper.signal("HUP");
    }
    feeder.join().unwrap();
    let got = wait_for_seqs(&out, N, &[&collector, &shipper]);
    assert!(shipper.is_running(), "SIGHUP stopped the shipper:\n{}", shipper.log());
    assert!(shipper.log().contains("SIGHUP"), "the signal is logged:\n{}", shipper.log());
    // One session throughout: every message exactly once, in order.
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

/// Waits until `daemon`'s log holds `needle` at least `times` times.
fn wait_for_log_count(daemon: &Daemon, needle: &str, times: usize, also: &[&Daemon]) {
    let start = Instant::now();
    while daemon.log().matches(needle).count() < times {
        if start.elapsed() > WAIT {
            let logs: Vec<String> = std::iter::once(daemon).chain(also.iter().copied()).map(|d| d.log()).collect();
            panic!("'{needle}' not logged {times} times\n{}", logs.join("\n-----\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that each file holds its messages in increasing order, and that
/// together they hold each of `0..sent` exactly once.
fn assert_each_exactly_once_in_order(files: &[&Path], sent: usize) {
    let mut all = Vec::new();
    for f in files {
        let got = seqs(f);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{} is not in increasing order", f.display());
        all.extend(got);
    }
    let total = all.len();
    all.sort_unstable();
    let twice: Vec<usize> = all.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if !twice.is_empty() {
        let place = |s: usize| files.iter().filter(|f| seqs(f).contains(&s)).map(|f| f.display().to_string()).collect::<Vec<_>>();
        println!("sent twice: {} messages, {:?}..{:?}, in {:?}", twice.len(), twice.first(), twice.last(), place(twice[0]));
    }
    all.dedup();
    let lost: Vec<usize> = (0..sent).filter(|s| all.binary_search(s).is_err()).collect();
    assert!(lost.is_empty(), "{} of {sent} messages lost, first {:?}", lost.len(), &lost[..lost.len().min(10)]);
    assert_eq!(total, sent, "{} duplicates", total - all.len());
}

/// Sends numbered messages to `input` in small paced bursts until `stop`;
/// returns how many it sent.
fn paced_feeder(input: u16, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let burst: String = (i..i + 500).map(|k| format!("{}\n", numbered(k))).collect();
            s.write_all(burst.as_bytes()).unwrap();
            i += 500;
            std::thread::sleep(Duration::from_millis(10));
        }
        i
    })
}

#[test]
fn a_backup_takes_over_while_the_collector_is_away_and_hands_back_with_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let (own_port, backup_port) = (free_port().unwrap(), free_port().unwrap());
    let (own_out, backup_out) = (dir.path().join("own.log"), dir.path().join("backup.log"));
    let backup = start_collector(&dir.path().join("backup"), backup_port, &backup_out);
    let input = free_port().unwrap();
    let conf = format!(
        "{}$ActionExecOnlyWhenPreviousIsSuspended on\n& :omgssapi:localhost:{backup_port}\n",
        stanza(own_port, "")
    );
    let shipper = start_shipper(&dir.path().join("shipper"), &conf, &["--tcp", &format!("127.0.0.1:{input}")]);
    let stop_feeding = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = paced_feeder(input, stop_feeding.clone());

    // The action's own collector has not started: the backup takes over.
    wait_for_log_count(&shipper, "a backup collector takes over", 1, &[&backup]);
    // It starts: it gets the queue back.
    let mut own = start_collector(&dir.path().join("own0"), own_port, &own_out);
    wait_for_log_count(&shipper, "handing the queue back", 1, &[&own, &backup]);
    std::thread::sleep(Duration::from_millis(500));
    // It stops gracefully: the backup again, then back once more.
    assert!(own.stop(WAIT).unwrap().success());
    wait_for_log_count(&shipper, "a backup collector takes over", 2, &[&backup]);
    std::thread::sleep(Duration::from_millis(500));
    let own = start_collector(&dir.path().join("own1"), own_port, &own_out);
    wait_for_log_count(&shipper, "handing the queue back", 2, &[&own, &backup]);
    std::thread::sleep(Duration::from_millis(500));
    stop_feeding.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = feeder.join().unwrap();

    let start = Instant::now();
    while seqs(&own_out).len() + seqs(&backup_out).len() < sent && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (at_own, at_backup) = (seqs(&own_out).len(), seqs(&backup_out).len());
    println!("{sent} sent: {at_own} to the action's own collector, {at_backup} to the backup");
    assert!(at_own > 0 && at_backup > 0, "both collectors had a share: {at_own} / {at_backup}");
    assert_each_exactly_once_in_order(&[&own_out, &backup_out], sent);
}

/// When rsyslog (omprog) dies, the shipper's stdin, stdout and stderr all
/// lose their other end. It used to hang on forever: its log line about the
/// closed stdin went to a closed stderr, the log library reported that with
/// eprintln!, which panicked the input thread before it could stop the
/// shipper.
#[test]
fn a_shipper_whose_stderr_is_gone_still_stops_when_stdin_closes() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("omgssapi.conf");
    std::fs::write(&conf, stanza(free_port().unwrap(), "")).unwrap();
    let mut child = Command::new(bin_path("omgssapi").unwrap())
        .arg("-f")
        .arg(&conf)
        .arg("--stdin")
        .arg("--work-directory")
        .arg(dir.path().join("work"))
        .envs(realm.client_env(SHARED_CLIENT))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "OK", "omprog's readiness line");
    drop(stdout);
    drop(child.stderr.take());
    drop(child.stdin.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the shipper did not stop within {WAIT:?} after its stdin closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn the_kernel_log_reaches_the_collector_once_across_a_restart() {
    // journald does not forward the kernel's messages to syslog.socket: a
    // node whose syslog daemon is the shipper reads /dev/kmsg itself
    // ($ModLoad imklog here; the packaged unit gets it from
    // gsslog-shipper-kmsg.socket). /dev/kmsg gives every reader the whole
    // ring buffer: a restart must neither send a record again nor skip one
    // written while it was stopped. Lines written from user space have the
    // user facility, so this test permits it ($KLogPermitNonKernelFacility).
    assert_eq!(daemon::os::ids().uids[1], 0, "this test writes to and reads /dev/kmsg: it needs root");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let collector = start_collector(&dir.path().join("collector"), port, &out);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    // Info level, and no daemon's name in it: the testbed's rollout scenario
    // (which may share this kernel) looks for warnings that name the daemons.
    let token = format!("kmsg-test-{}-{nanos}", std::process::id());
    let kmsg = |what: &str| std::fs::write("/dev/kmsg", format!("<6>{token} {what}\n")).unwrap();
    let count = |what: &str| {
        let needle = format!("{token} {what}");
        String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default()).lines().filter(|l| l.ends_with(&needle)).count()
    };
    let wait_for = |what: &str, daemons: &[&Daemon]| {
        let start = Instant::now();
        while count(what) == 0 {
            assert!(start.elapsed() < WAIT, "'{what}' did not arrive; logs:\n{}", daemons.iter().map(|d| d.log()).collect::<String>());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let config = stanza(port, "$ModLoad imklog\n$KLogPermitNonKernelFacility on\n");
    kmsg("before the start");
    let mut shipper = start_shipper(&dir.path().join("shipper"), &config, &[]);
    wait_for("before the start", &[&collector, &shipper]);
    kmsg("while running");
    wait_for("while running", &[&collector, &shipper]);
    assert!(shipper.stop(WAIT).unwrap().success());
    kmsg("while stopped");
    let shipper = start_shipper(&dir.path().join("shipper"), &config, &[]);
    wait_for("while stopped", &[&collector, &shipper]);
    kmsg("after the restart");
    wait_for("after the restart", &[&collector, &shipper]);
    std::thread::sleep(Duration::from_secs(1)); // a late copy would show now
    for what in ["before the start", "while running", "while stopped", "after the restart"] {
        assert_eq!(count(what), 1, "'{what}' arrived {} times", count(what));
    }
    let line = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).lines().find(|l| l.contains(&token)).unwrap_or_default().to_string();
    assert!(line.starts_with(" ") || line.starts_with(&token), "imklog's message text: {line:?}");
}

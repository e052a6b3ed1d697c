//! Storm benchmark: a fleet of shippers, one process each with its own
//! Kerberos handshake, against one collector (ours) that stops and restarts.
//! `bash tests/storm.sh [NODES, default 700] [DOWN seconds, default 30] [ours|rsyslog]`.
//!
//! Each node has its own source address (127.77.x.y; rsyslog's omgssapi cannot
//! bind one, so its nodes all come from 127.0.0.1) and its own UDP input. Every
//! node delivers message 0; the collector stops (SIGTERM); while it is down a
//! listener on its port counts and drops every connection attempt (as a closed
//! port would refuse it, but timed and, for our nodes, attributed), and every
//! node gets messages 1, 2 and 3; the collector restarts. Measured: attempts
//! per second while down (overall, and the most by one node in any second),
//! handshakes per second on the return, when each node has delivered all it
//! queued (median and last, from the restart), and lost or duplicated
//! messages (each node's 0..=3 exactly once).

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::free_port;
use gsslog_tests::realm::{TestRealm, SHARED_CLIENT};
use gsslog_tests::rsyslog::RsyslogForwarder;

const SEED_CLIENT: &str = include_str!("../../../syslog/testdata/client.conf");
/// Messages per node: 0 before the outage, 1..=3 during it.
const MESSAGES: u64 = 4;

enum Node {
    Ours { _daemon: Daemon, udp_port: u16 },
    Stock(RsyslogForwarder),
}

impl Node {
    fn udp_port(&self) -> u16 {
        match self {
            Node::Ours { udp_port, .. } => *udp_port,
            Node::Stock(f) => f.udp_port,
        }
    }
}

fn source(k: usize) -> IpAddr {
    IpAddr::from([127, 77, (k / 200) as u8, (k % 200 + 1) as u8])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(700);
    let down = Duration::from_secs(args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(30));
    let stock = match args.get(3).map(String::as_str) {
        None | Some("ours") => false,
        Some("rsyslog") => true,
        Some(other) => bail!("fleet '{other}': ours or rsyslog"),
    };
    daemon::os::raise_open_file_limit();
    let realm = TestRealm::start()?;
    realm.add_client(SHARED_CLIENT)?;
    let work = tempfile::Builder::new().prefix("gsslog-storm-").tempdir()?;
    let port = free_port()?;
    let out = work.path().join("received.log");
    let fleet = if stock { "Debian rsyslog omgssapi" } else { "gsslog omgssapi" };
    println!("storm: {nodes} nodes ({fleet}), one process each; collector (gsslog) down {down:?}");

    let mut collector = start_collector(&realm, &work.path().join("collector0"), port, &out, nodes)?;
    let started = Instant::now();
    let mut fleet_nodes = Vec::with_capacity(nodes);
    for k in 0..nodes {
        let dir = work.path().join(format!("node{k}"));
        // Each node its own credential cache: its own AS and TGS exchanges.
        let mut env = realm.client_env(SHARED_CLIENT);
        env.push(("KRB5CCNAME".into(), format!("FILE:{}", dir.join("ccache").display())));
        fleet_nodes.push(if stock {
            // The seed stanza's action queue and retry settings, as the grid runs it.
            let queue: String = SEED_CLIENT.lines().filter(|l| l.starts_with("$Action")).map(|l| format!("{l}\n")).collect();
            Node::Stock(RsyslogForwarder::start(&dir, &env, "encryption", port, &queue)?)
        } else {
            let udp_port = free_port()?;
            let config = format!(
                "$ActionGSSForwardBindAddress {}\n{}",
                source(k),
                SEED_CLIENT.replace("<server_name>:<port>", &format!("localhost:{port}"))
            );
            let work_dir = dir.join("work");
            let daemon = Daemon::start(
                "omgssapi",
                &dir,
                &config,
                &env,
                &["--work-directory", &work_dir.display().to_string(), "--udp", &format!("127.0.0.1:{udp_port}")],
            )?;
            Node::Ours { _daemon: daemon, udp_port }
        });
    }
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    let send_all = |seq: u64| -> Result<()> {
        for (k, n) in fleet_nodes.iter().enumerate() {
            udp.send_to(format!("<13>Nov 23 12:00:00 storm{k} app: storm node{k} seq {seq}").as_bytes(), ("127.0.0.1", n.udp_port()))?;
        }
        Ok(())
    };
    // Inputs may take a moment to bind: message 0 again until each node has it.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        send_all(0)?;
        std::thread::sleep(Duration::from_secs(2));
        let got = received(&out);
        let have = (0..nodes).filter(|k| got.get(k).is_some_and(|s| s.contains(&0))).count();
        if have == nodes {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {have} of {nodes} nodes delivered message 0");
        }
    }
    println!("  all {nodes} delivering after {:.1?}", started.elapsed());
    // The duplicates of message 0 that the resends above made are not the
    // shippers': count from a clean file.
    std::fs::rename(&out, work.path().join("before.log"))?;

    assert!(collector.stop(Duration::from_secs(60))?.success(), "collector stop");
    let lost_at = Instant::now();
    let counter = AttemptCounter::listen(port)?;
    for (i, seq) in (1..MESSAGES).enumerate() {
        let at = lost_at + down.mul_f64((i as f64 + 0.5) / (MESSAGES - 1) as f64);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        send_all(seq)?;
    }
    std::thread::sleep((lost_at + down).saturating_duration_since(Instant::now()));
    let attempts = counter.close();

    let restarted = Instant::now();
    let collector = start_collector(&realm, &work.path().join("collector1"), port, &out, nodes)?;
    let cpu_before = cpu(collector.pid());
    let mut done: BTreeMap<usize, Duration> = BTreeMap::new();
    let mut sessions_per_tick: Vec<(Duration, usize)> = Vec::new();
    let deadline = restarted + Duration::from_secs(180);
    while done.len() < nodes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let got = received(&out);
        for (k, seqs) in &got {
            let mut outage: Vec<u64> = seqs.iter().copied().filter(|s| *s >= 1).collect();
            outage.sort_unstable();
            outage.dedup();
            if outage.len() as u64 == MESSAGES - 1 && !done.contains_key(k) {
                done.insert(*k, restarted.elapsed());
            }
        }
        sessions_per_tick.push((restarted.elapsed(), collector.log().matches("GSS session opened").count()));
    }
    let collector_cpu = cpu(collector.pid()).saturating_sub(cpu_before);
    std::thread::sleep(Duration::from_secs(2));

    // Figures.
    let down_s = down.as_secs_f64();
    let mut per_second = BTreeMap::<u64, usize>::new();
    let mut per_node_second = BTreeMap::<(IpAddr, u64), usize>::new();
    for (t, from) in &attempts {
        let s = (*t - lost_at).as_secs();
        *per_second.entry(s).or_default() += 1;
        *per_node_second.entry((*from, s)).or_default() += 1;
    }
    println!("\nwhile down ({down:?}):");
    println!("  connection attempts: {} in all, {:.0}/s on average, at most {}/s (in second {})", attempts.len(), attempts.len() as f64 / down_s,
        per_second.values().max().unwrap_or(&0), per_second.iter().max_by_key(|(_, c)| **c).map_or(0, |(s, _)| *s));
    if !stock {
        println!("  most attempts by one node in one second: {}", per_node_second.values().max().unwrap_or(&0));
    }
    let mut handshakes_per_second = BTreeMap::<u64, usize>::new();
    let mut last = 0;
    for (t, total) in &sessions_per_tick {
        *handshakes_per_second.entry(t.as_secs()).or_default() += total - last;
        last = *total;
    }
    println!("on return:");
    println!("  sessions opened: {last}; per second: {:?}", handshakes_per_second.values().collect::<Vec<_>>());
    println!("  collector CPU until all delivered: {:.2} s", collector_cpu.as_secs_f64());
    let refusals = collector.log().matches("refused").count();
    println!("  collector log lines about refusals: {refusals}");
    let mut times: Vec<Duration> = done.values().copied().collect();
    times.sort();
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        println!(
            "  nodes that delivered all they queued: {} of {nodes}; first {:.2?}, median {:.2?}, last {:.2?} after the restart",
            times.len(),
            first,
            times[times.len() / 2],
            last
        );
    } else {
        println!("  no node delivered what it queued");
    }
    let got = received(&out);
    let (mut lost, mut duplicated) = (0u64, 0u64);
    for k in 0..nodes {
        // Message 0 was sent more than once on purpose (until every node had it).
        let seqs: Vec<u64> = got.get(&k).map(|s| s.iter().copied().filter(|s| *s >= 1).collect()).unwrap_or_default();
        let mut unique = seqs.clone();
        unique.sort_unstable();
        unique.dedup();
        duplicated += (seqs.len() - unique.len()) as u64;
        lost += (1..MESSAGES).filter(|s| unique.binary_search(s).is_err()).count() as u64;
    }
    println!("  messages queued during the outage: {}, lost: {lost}, duplicated: {duplicated}", nodes as u64 * (MESSAGES - 1));
    if let Some((k, t)) = done.iter().max_by_key(|(_, t)| **t) {
        println!("  the last node: node{k} ({t:.2?}), its log: {}", work.path().join(format!("node{k}")).display());
    }
    drop(fleet_nodes);
    if std::env::var_os("STORM_KEEP").is_some() {
        println!("  kept: {}", work.keep().display());
    }
    if lost > 0 {
        bail!("{lost} messages lost");
    }
    Ok(())
}

/// Our collector writing `fromhost-ip msg` of everything to `out`.
fn start_collector(realm: &TestRealm, dir: &Path, port: u16, out: &Path, nodes: usize) -> Result<Daemon> {
    // Reverse DNS off, as in the bench: no query leaves the machine (and none
    // waits for a resolver that is not there).
    let config = format!(
        "global(net.enableDNS=\"off\")\n$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerMaxSessions {}\n\
         $InputGSSServerMaxSessionsPerPrincipal {}\n$template Storm,\"%fromhost-ip% %msg%\\n\"\n*.* {};Storm\n",
        nodes + 100,
        // Every node is the one test principal here (the default cap is 8).
        nodes + 100,
        out.display()
    );
    let mut d = Daemon::start("imgssapi", dir, &config, &realm.server_env(), &[])?;
    d.wait_for_log("collector running", Duration::from_secs(30)).context("collector start")?;
    Ok(d)
}

/// Per node, the sequence numbers received after message 0, in file order.
/// Our nodes' messages must come from their own source address.
fn received(out: &Path) -> BTreeMap<usize, Vec<u64>> {
    let mut by_node = BTreeMap::<usize, Vec<u64>>::new();
    let text = std::fs::read_to_string(out).unwrap_or_default();
    for line in text.lines() {
        let Some((from, rest)) = line.split_once(' ') else { continue };
        let Some((_, tail)) = rest.split_once("storm node") else { continue };
        let mut words = tail.split_whitespace();
        let (Some(k), Some("seq"), Some(seq)) = (words.next(), words.next(), words.next()) else { continue };
        let (Ok(k), Ok(seq)) = (k.parse::<usize>(), seq.parse::<u64>()) else { continue };
        let from_ok = from == "127.0.0.1" || from.parse::<IpAddr>().ok() == Some(source(k));
        if from_ok {
            by_node.entry(k).or_default().push(seq);
        }
    }
    by_node
}

fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Takes connections on the collector's port and drops them at once, noting
/// when and from where: a stopped collector, with every attempt seen.
struct AttemptCounter {
    attempts: Arc<Mutex<Vec<(Instant, IpAddr)>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl AttemptCounter {
    fn listen(port: u16) -> Result<AttemptCounter> {
        let listener = TcpListener::bind(("0.0.0.0", port)).context("binding the collector's port while it is down")?;
        listener.set_nonblocking(true)?;
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (attempts, stop) = (attempts.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, from)) => {
                            if let Ok(mut a) = attempts.lock() {
                                a.push((Instant::now(), from.ip()));
                            }
                            drop(s);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            })
        };
        Ok(AttemptCounter { attempts, stop, thread })
    }

    fn close(self) -> Vec<(Instant, IpAddr)> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        let attempts = self.attempts.lock().map(|a| a.clone()).unwrap_or_default();
        attempts
    }
}

//! The daemons under systemd's protocols, without systemd itself: readiness
//! (`READY=1` on `$NOTIFY_SOCKET` only once the daemon serves), watchdog
//! pings at half `$WATCHDOG_USEC`, `STOPPING=1`, and socket activation of the
//! shipper as the node's syslog daemon (`systemd-socket-activate` passes a
//! datagram socket as fd 3, as `syslog.socket` does).

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::{which, TestRealm, SHARED_CLIENT};

const WAIT: Duration = Duration::from_secs(30);

/// What a daemon says on its notify socket, one datagram per state.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        NotifySocket { socket, path }
    }

    /// Waits for a datagram equal to `state`; returns the others seen first.
    fn wait_for(&self, state: &str, logs: impl Fn() -> String) -> Vec<String> {
        let start = Instant::now();
        let mut before = Vec::new();
        let mut buf = [0u8; 256];
        while start.elapsed() < WAIT {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let got = String::from_utf8_lossy(&buf[..n]).into_owned();
                if got == state {
                    return before;
                }
                before.push(got);
            }
        }
        panic!("no {state} on the notify socket within {WAIT:?} (saw {before:?})\n{}", logs());
    }
}

/// Our collector writing `%msg%` of everything to `out`, told to notify.
fn start_collector(dir: &Path, port: u16, out: &Path, notify: Option<&NotifySocket>) -> Daemon {
    let realm = TestRealm::shared();
    let conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut env = realm.server_env();
    if let Some(n) = notify {
        env.push(("NOTIFY_SOCKET".into(), n.path.display().to_string()));
        env.push(("WATCHDOG_USEC".into(), "400000".into()));
    }
    Daemon::start("imgssapi", dir, &conf, &env, &["-x"]).unwrap()
}

#[test]
fn the_collector_is_ready_only_once_it_listens_and_pings_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::bind(dir.path());
    let port = free_port().unwrap();
    let mut collector = start_collector(dir.path(), port, &dir.path().join("out"), Some(&notify));
    notify.wait_for("READY=1", || collector.log());
    // Ready means serving: the port takes connections at once.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("the collector listens when it says READY=1");
    assert!(collector.log().contains("collector running"));
    // WATCHDOG_USEC=400000: a ping every 200 ms.
    notify.wait_for("WATCHDOG=1", || collector.log());
    notify.wait_for("WATCHDOG=1", || collector.log());
    collector.signal("TERM");
    notify.wait_for("STOPPING=1", || collector.log());
    collector.stop(WAIT).unwrap();
}

/// `systemd-socket-activate --datagram` binds `socket`, then execs the
/// shipper with it as fd 3 and LISTEN_FDS=1, LISTEN_PID=its own pid, as
/// systemd does for `syslog.socket`. Only the variables named with -E pass.
fn socket_activated_shipper(dir: &Path, socket: &Path, collector_port: u16, notify: &NotifySocket) -> (Child, std::path::PathBuf) {
    let realm = TestRealm::shared();
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{collector_port}"));
    let conf = dir.join("omgssapi.conf");
    std::fs::write(&conf, seed).unwrap();
    let log = dir.join("omgssapi.log");
    let mut cmd = Command::new(which("systemd-socket-activate").unwrap());
    cmd.arg("--datagram").arg("-l").arg(socket);
    let mut env = realm.client_env(SHARED_CLIENT);
    env.push(("NOTIFY_SOCKET".into(), notify.path.display().to_string()));
    env.push(("WATCHDOG_USEC".into(), "400000".into()));
    env.push(("RUST_LOG".into(), "info".into()));
    for (k, v) in &env {
        cmd.arg("-E").arg(format!("{k}={v}"));
    }
    cmd.arg(bin_path("omgssapi").unwrap()).arg("-f").arg(&conf).arg("--work-directory").arg(dir.join("work"));
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    (child, log)
}

#[test]
fn the_socket_activated_shipper_forwards_what_arrives_on_the_passed_socket() {
    if which("systemd-socket-activate").is_none() {
        panic!("systemd-socket-activate is missing: tests/setup.sh installs systemd");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("out");
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, None);
    collector.wait_for_log("collector running", WAIT).unwrap();
    let notify = NotifySocket::bind(dir.path());
    // Stands for journald's /run/systemd/journal/syslog.
    let socket = dir.path().join("syslog");
    let (mut shipper, log) = socket_activated_shipper(dir.path(), &socket, port, &notify);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    // systemd-socket-activate execs the shipper at the first datagram, which
    // waits in the socket, as on demand under systemd.
    let sender = UnixDatagram::unbound().unwrap();
    let start = Instant::now();
    while sender.send_to(b"<38>Nov 23 12:00:00 node1 sshd[42]: activated seq 000", &socket).is_err() {
        assert!(start.elapsed() < WAIT, "systemd-socket-activate did not bind {}:\n{}", socket.display(), logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    notify.wait_for("READY=1", logs);
    assert!(logs().contains("listening on a unix socket passed by systemd"), "{}", logs());

    for i in 1..50 {
        let line = format!("<38>Nov 23 12:00:00 node1 sshd[42]: activated seq {i:03}");
        sender.send_to(line.as_bytes(), &socket).unwrap();
    }
    let text = wait_for_file(&out, WAIT, |t| t.contains("activated seq 049")).unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    for i in 0..50 {
        assert!(text.contains(&format!("activated seq {i:03}")), "message {i} is missing:\n{text}");
    }
    notify.wait_for("WATCHDOG=1", logs);

    let _ = Command::new("kill").args(["-TERM", &shipper.id().to_string()]).status();
    notify.wait_for("STOPPING=1", logs);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = shipper.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < WAIT, "the shipper did not stop:\n{}", logs());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", logs());
    // systemd owns the socket file: the shipper must not remove it.
    assert!(socket.exists(), "the shipper removed the socket systemd bound");
}

#[test]
fn without_systemd_the_daemons_say_nothing_and_still_run() {
    // No NOTIFY_SOCKET, no LISTEN_FDS: the shipper starts as before.
    let dir = tempfile::tempdir().unwrap();
    let realm = TestRealm::shared();
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", "localhost:9");
    let work = dir.path().join("work");
    let mut d = Daemon::start("omgssapi", dir.path(), &seed, &realm.client_env(SHARED_CLIENT), &["--work-directory", work.to_str().unwrap()]).unwrap();
    d.wait_for_log("shipper running", WAIT).unwrap();
    assert!(!d.log().contains("passed by systemd"), "{}", d.log());
    assert!(d.stop(WAIT).unwrap().success());
}

/// One instance of the shipper on a socket that outlives it, as
/// `syslog.socket` outlives `syslog.service`: the socket goes in as stdin and
/// becomes fd 3 with LISTEN_FDS=1 and LISTEN_PID=the shipper's own pid.
fn shipper_on_held_socket(dir: &Path, conf: &Path, socket: &UnixDatagram, instance: usize) -> (Child, std::path::PathBuf) {
    let realm = TestRealm::shared();
    let log = dir.join(format!("omgssapi.{instance}.log"));
    let fd = std::os::fd::OwnedFd::from(socket.try_clone().unwrap());
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" "$@""#)
        .arg(bin_path("omgssapi").unwrap())
        .arg("-f")
        .arg(conf)
        .arg("--work-directory")
        .arg(dir.join("work"))
        .envs(realm.client_env(SHARED_CLIENT).iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::from(fd))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

#[test]
fn ten_restarts_of_the_socket_activated_shipper_under_load_lose_and_duplicate_nothing() {
    const MESSAGES: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("out");
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, None);
    collector.wait_for_log("collector running", WAIT).unwrap();
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"));
    let conf = dir.path().join("omgssapi.conf");
    std::fs::write(&conf, seed).unwrap();
    // Stands for /run/systemd/journal/syslog, held by systemd across restarts.
    let path = dir.path().join("syslog");
    let socket = UnixDatagram::bind(&path).unwrap();

    // Numbered messages at about 300/s for the whole loop; a send waits while
    // the socket's queue is full (no instance reading), as journald's does.
    let mut sender = Some(std::thread::spawn({
        let path = path.clone();
        move || {
            let sender = UnixDatagram::unbound().unwrap();
            for i in 0..MESSAGES {
                let line = format!("<38>Nov 23 12:00:00 node1 sshd[42]: restart loop seq {i:05}");
                sender.send_to(line.as_bytes(), &path).unwrap();
                std::thread::sleep(Duration::from_micros(3300));
            }
        }
    }));
    let mut logs = Vec::new();
    for instance in 0..=10 {
        let (mut shipper, log) = shipper_on_held_socket(dir.path(), &conf, &socket, instance);
        let read = |log: &Path| std::fs::read_to_string(log).unwrap_or_default();
        let start = Instant::now();
        while !read(&log).contains("shipper running") {
            assert!(start.elapsed() < WAIT, "instance {instance} did not start:\n{}", read(&log));
            assert!(shipper.try_wait().unwrap().is_none(), "instance {instance} exited:\n{}", read(&log));
            std::thread::sleep(Duration::from_millis(20));
        }
        if instance < 10 {
            // Under load: each instance reads for a moment, then is restarted.
            std::thread::sleep(Duration::from_millis(700));
        } else {
            // The last one runs until everything has arrived.
            if let Some(s) = sender.take() {
                s.join().unwrap();
            }
            let last = format!("restart loop seq {:05}", MESSAGES - 1);
            let _ = wait_for_file(&out, WAIT, |t| t.contains(&last));
        }
        let _ = Command::new("kill").args(["-TERM", &shipper.id().to_string()]).status();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = shipper.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < WAIT, "instance {instance} did not stop:\n{}", read(&log));
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "instance {instance}: {status}\n{}", read(&log));
        logs.push(read(&log));
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let mut seen = vec![0usize; MESSAGES];
    for line in text.lines() {
        if let Some(n) = line.rsplit_once("restart loop seq ").and_then(|(_, n)| n.trim().parse::<usize>().ok()) {
            seen[n] += 1;
        }
    }
    let lost: Vec<usize> = (0..MESSAGES).filter(|&i| seen[i] == 0).collect();
    let duplicated: Vec<usize> = (0..MESSAGES).filter(|&i| seen[i] > 1).collect();
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{} lost {:?}, {} duplicated {:?} over 10 restarts\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(20)],
        logs.join("\n----\n")
    );
}

#[test]
fn under_omprog_the_shipper_leaves_rsyslogs_notify_socket_alone() {
    // rsyslog.service is Type=notify: its omprog children inherit its
    // NOTIFY_SOCKET and watchdog variables, which are not theirs to use.
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::bind(dir.path());
    let realm = TestRealm::shared();
    let conf = dir.path().join("omgssapi.conf");
    std::fs::write(&conf, include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", "localhost:9")).unwrap();
    let mut shipper = Command::new(bin_path("omgssapi").unwrap())
        .arg("-f")
        .arg(&conf)
        .arg("--stdin")
        .arg("--work-directory")
        .arg(dir.path().join("work"))
        .envs(realm.client_env(SHARED_CLIENT).iter().map(|(k, v)| (k, v)))
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = shipper.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(shipper.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "OK\n", "ready");
    std::io::Write::write_all(&mut stdin, b"<13>Nov 23 12:00:00 node1 app: one\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "OK\n", "queued");
    // Long enough for several watchdog pings at WATCHDOG_USEC/2.
    std::thread::sleep(Duration::from_millis(600));
    drop(stdin);
    let status = shipper.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut buf = [0u8; 256];
    let said: Vec<String> = std::iter::from_fn(|| notify.socket.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())).collect();
    assert!(said.is_empty(), "the omprog shipper wrote to rsyslog's notify socket: {said:?}");
}

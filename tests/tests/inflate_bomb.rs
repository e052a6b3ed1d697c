//! Compression bombs against the collector: one authenticated sender streams
//! `z` frames of a few KiB that each inflate to 24 MiB, while another host
//! completes its handshake and delivers its messages. The second host's
//! messages all arrive, once each and in order; each bomb becomes one line cut
//! at `$MaxMessageSize`; and the collector's memory does not grow by the
//! inflated size. (Before the bound each bomb was inflated to 16 MiB: with
//! debug binaries the 24 bombs took longer than the liveness limit.)

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;
use gsswire::{ByteOrder, Protection};

/// Generous: this is a liveness limit, not a speed assertion.
const WAIT: Duration = Duration::from_secs(120);
const MAX_MESSAGE_SIZE: usize = 2048;
const BOMBS: usize = 24;
const MESSAGES: usize = 200;
const BOMB_HEADER: &str = "<38>Nov 23 12:00:00 bomber t: ";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(root: &Path, port: u16) -> String {
    let seed = include_str!("../../syslog/testdata/server.conf")
        .replace("/var/log/hosts", &root.display().to_string())
        .replace("$InputGSSServerRun 515", &format!("$InputGSSServerRun {port}"));
    format!("$MaxMessageSize {MAX_MESSAGE_SIZE}\n{seed}")
}

/// An octet-counted `LEN SP z<zlib>` frame, as omgssapi's `(z9)` sends it,
/// of a message that inflates to 24 MiB.
fn bomb_frame() -> Vec<u8> {
    let mut text = BOMB_HEADER.as_bytes().to_vec();
    text.resize(24 << 20, b'A');
    let mut z = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::best());
    z.write_all(&text).unwrap();
    let compressed = z.finish().unwrap();
    let mut frame = format!("{} ", compressed.len()).into_bytes();
    frame.extend_from_slice(&compressed);
    frame
}

/// The most memory the process has held (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn lines(path: &Path, n: usize, d: &Daemon) -> Vec<String> {
    let text = wait_for_file(path, WAIT, |t| t.lines().count() >= n).unwrap_or_else(|e| panic!("{e}\ncollector log:\n{}", d.log()));
    text.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_are_cut_at_the_maximum_and_other_senders_get_through() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hosts");
    let port = free_port().unwrap();
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config(&root, port), &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", Duration::from_secs(30)).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let frame = bomb_frame();
    assert!(frame.len() < 64 * 1024, "a bomb of {} bytes", frame.len());

    let mut bomber = GssClient::connect(addr, Some(ip("127.0.0.3")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    // Warm up the session and the output path, then take the baseline.
    bomber.send_lines(&["<38>Nov 23 11:59:59 bomber t: first"]).await.unwrap();
    let (y, m) = {
        let now = syslog::Timestamp::now();
        (format!("{:04}", now.year), format!("{:02}", now.month))
    };
    let auth = |host: &str| root.join(&y).join(&m).join(host).join("auth.log");
    lines(&auth("127.0.0.3"), 1, &collector);
    let baseline = peak_rss_kib(collector.pid());

    let bombing = tokio::spawn(async move {
        for _ in 0..BOMBS {
            bomber.send_plaintext(&frame).await.unwrap();
        }
        bomber
    });
    // The other host connects while the bombs are being inflated.
    let mut node = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    let sent: Vec<String> = (0..MESSAGES).map(|i| format!("<38>Nov 23 12:00:01 node2 sshd[1]: message {i:04}")).collect();
    for chunk in sent.chunks(10) {
        node.send_lines(chunk).await.unwrap();
    }
    let bomber = bombing.await.unwrap();

    let got = lines(&auth("127.0.0.2"), MESSAGES, &collector);
    let expected: Vec<String> = sent.iter().map(|s| s["<38>Nov 23 12:00:01 node2 ".len()..].to_string()).collect();
    let got_tails: Vec<String> = got.iter().map(|l| l.split_once(" node2 ").map_or(l.clone(), |(_, t)| t.to_string())).collect();
    assert_eq!(got_tails, expected, "every message once, in order");

    let bombs = lines(&auth("127.0.0.3"), 1 + BOMBS, &collector);
    std::thread::sleep(Duration::from_millis(200));
    let bombs_now = std::fs::read_to_string(auth("127.0.0.3")).unwrap();
    assert_eq!(bombs_now.lines().count(), 1 + BOMBS, "one line per bomb, not one per MaxMessageSize piece");
    let cut = MAX_MESSAGE_SIZE - BOMB_HEADER.len();
    for line in &bombs[1..] {
        let (head, body) = line.split_once(" bomber t: ").unwrap_or_else(|| panic!("not a bomb line: {line:.100}"));
        assert!(head.contains("-11-23T12:00:00"), "{head}");
        assert_eq!(body.len(), cut, "each bomb cut at $MaxMessageSize");
        assert!(body.bytes().all(|c| c == b'A'));
    }

    // Every bomb would be 24 MiB inflated; at most a few maximum-size
    // messages at a time may be held.
    let grown = peak_rss_kib(collector.pid()).saturating_sub(baseline);
    eprintln!("collector peak memory: {baseline} KiB before the bombs, {grown} KiB more after");
    assert!(grown < 12 * 1024, "the collector grew by {grown} KiB");
    let log = collector.log();
    assert!(log.contains("inflated to more than $MaxMessageSize"), "{log}");
    drop((bomber, node));
}

//! A session's rate limit, end to end (issue #21 item 3):
//! `$InputGSSServerRateLimitInterval` and `$InputGSSServerRateLimitBurst`
//! hold a session's reading back until its next interval; nothing is dropped.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;
use gsswire::{ByteOrder, Protection};

const WAIT: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 30 messages against a burst of 10 per 2 s: the session is not read again
/// for three intervals (the 30 used them up), then everything is written.
/// Only lower bounds on time are asserted: a loaded machine makes them
/// longer, never shorter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_its_rate_is_not_read_until_its_next_interval_and_loses_nothing() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.log");
    let port = free_port().unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSServerRun {port}\n$InputGSSServerRateLimitInterval 2\n$InputGSSServerRateLimitBurst 10\n\
         $template Msg,\"%msg%\\n\"\n*.* {};Msg\n",
        out.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut client = GssClient::connect(addr, Some(ip("127.0.0.2")), Protection::Encryption, ByteOrder::Little).await.unwrap();
    let burst: Vec<String> = (0..30).map(|i| format!("<13>Nov 23 12:00:00 h app: burst {i}")).collect();
    let sent = Instant::now();
    client.send_lines(&burst).await.unwrap();
    client.send_lines(&["<13>Nov 23 12:00:00 h app: after"]).await.unwrap();
    let got = wait_for_file(&out, WAIT, |t| t.contains(" after")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    let after = sent.elapsed();

    let expected: Vec<String> = (0..30).map(|i| format!(" burst {i}")).chain([" after".to_string()]).collect();
    assert_eq!(got.lines().collect::<Vec<_>>(), expected, "nothing dropped, in order");
    assert!(after >= Duration::from_secs(5), "the next token was read after {after:?}, before the three intervals were over");
}

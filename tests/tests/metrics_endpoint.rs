//! The collector's metrics endpoint against one sender's bad input (issue
//! 21, item 6): a program name that makes a file name the file system
//! refuses loses that line, is counted and shown, and never turns `/health`
//! to 503. (The endpoint's own limits, slow connections and the warning off
//! loopback: `daemon::metrics_http`'s tests.)

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_senders_bad_file_name_does_not_mark_the_collector_unhealthy() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("by-program");
    let (port, metrics) = (free_port().unwrap(), free_port().unwrap());
    let config = format!(
        "$ModLoad imtcp\n$InputTCPServerRun {port}\n$GssMetricsListen 127.0.0.1:{metrics}\n\
         $template ByProgram,\"{root}/%programname%.log\"\n*.* ?ByProgram\n",
        root = root.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics));
    assert_eq!(daemon::metrics_http::get(metrics, "/health").await.unwrap().0, 200);

    // A 300-byte program name: longer than any file name may be (255).
    let long = "p".repeat(300);
    let mut sender = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sender.write_all(format!("<13>1 2026-11-23T12:00:00Z n1 {long} 1 - - too long a name\n").as_bytes()).unwrap();
    collector.wait_for_log("File name too long", WAIT).unwrap();
    // The bad name is the last write: it alone decides what /health says.
    let (status, body) = daemon::metrics_http::get(metrics, "/health").await.unwrap();
    assert_eq!(status, 200, "one sender's file name made the collector unhealthy: {body}");
    assert!(body.contains("1 line(s) lost to file names the file system refused"), "{body}");
    sender.write_all(b"<13>Nov 23 12:00:01 n1 good: after it\n").unwrap();
    wait_for_file(&root.join("good.log"), WAIT, |t| t.contains("after it")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    let (_, text) = daemon::metrics_http::get(metrics, "/metrics").await.unwrap();
    assert!(text.contains("gsslog_collector_messages_lost_file_name_total 1\n"), "{text}");
    assert!(text.contains("gsslog_collector_messages_lost_total 1\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_cannot_be_written_marks_the_collector_unhealthy_while_others_write() {
    // Issue #22 item 6: an output outside the unit's writable tree lost every
    // line while /health said ok, because the per-host files' writes came
    // after. Here an output in a directory that is a file, beside a good one.
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port().unwrap(), free_port().unwrap());
    std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
    let (good, bad) = (dir.path().join("good.log"), dir.path().join("not-a-dir/identity.log"));
    let config = format!(
        "$ModLoad imtcp\n$InputTCPServerRun {port}\n$GssMetricsListen 127.0.0.1:{metrics}\nauth.* {bad}\n*.* {good}\n",
        bad = bad.display(),
        good = good.display()
    );
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics));
    let mut sender = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sender.write_all(b"<38>Nov 23 12:00:00 n1 sshd: an auth line\n").unwrap();
    wait_for_file(&good, WAIT, |t| t.contains("an auth line")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    // The good file was written last; the identity file still fails.
    let (status, body) = daemon::metrics_http::get(metrics, "/health").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("writing to 1 output file(s) failed"), "{body}");
    let (_, text) = daemon::metrics_http::get(metrics, "/metrics").await.unwrap();
    assert!(text.contains("gsslog_collector_files_failing 1\n"), "{text}");
    // A line the failing output does not take keeps it failing; once the
    // file can be written again, it is healthy.
    sender.write_all(b"<13>Nov 23 12:00:01 n1 app: not auth\n").unwrap();
    wait_for_file(&good, WAIT, |t| t.contains("not auth")).unwrap();
    assert_eq!(daemon::metrics_http::get(metrics, "/health").await.unwrap().0, 503);
    std::fs::remove_file(dir.path().join("not-a-dir")).unwrap();
    std::fs::create_dir(dir.path().join("not-a-dir")).unwrap();
    sender.write_all(b"<38>Nov 23 12:00:02 n1 sshd: written again\n").unwrap();
    wait_for_file(&bad, WAIT, |t| t.contains("written again")).unwrap_or_else(|e| panic!("{e}\n{}", collector.log()));
    let (status, body) = daemon::metrics_http::get(metrics, "/health").await.unwrap();
    assert_eq!(status, 200, "{body}");
}

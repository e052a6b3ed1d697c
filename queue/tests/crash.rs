//! Crash behaviour, with a real child process: `kill -9` at random points, and
//! a write that fails because the file may not grow (a full disk, as far as the
//! queue can tell).
//!
//! The child is this same test binary, started on an `#[ignore]`d entry point
//! that does nothing unless its environment variable is set.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use queue::{PushError, QueueConfig, Record};
use rand::Rng;

const KILL9_DIR: &str = "QUEUE_TEST_KILL9_DIR";
const KILL9_NEXT: &str = "QUEUE_TEST_KILL9_NEXT_ID";
const FSIZE_DIR: &str = "QUEUE_TEST_FSIZE_DIR";

fn config(dir: &Path) -> QueueConfig {
    let mut c = QueueConfig::new(dir, "crash");
    c.segment_bytes = 8 * 1024; // small, so rolls and deletions happen all the time
    c.memory_records = 50;
    c.fsync_interval = None; // kill -9 durability must not depend on fsync
    c
}

fn payload(id: u64, len: usize) -> Vec<u8> {
    let mut m = format!("id={id:010};").into_bytes();
    m.resize(len.max(14), b'.');
    m
}

fn id_of(r: &Record) -> u64 {
    std::str::from_utf8(&r.payload[3..13]).unwrap().parse().unwrap()
}

fn child(exe_test: &str, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", exe_test, "--ignored", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The child: produces and consumes at random, reporting each step on stdout
/// *after* it returned ("accepted N", "acked N") and before an ack ("acking N").
#[test]
#[ignore = "child process of sigkill_at_random_points"]
fn kill9_child() {
    let Ok(dir) = std::env::var(KILL9_DIR) else { return };
    let mut id: u64 = std::env::var(KILL9_NEXT).unwrap().parse().unwrap();
    let (producer, mut consumer) = queue::open(config(Path::new(&dir))).unwrap();
    let mut rng = rand::thread_rng();
    println!(); // the harness printed "test kill9_child ... " without a newline
    println!("ready");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let n = rng.gen_range(1..20);
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| payload(id + i, rng.gen_range(10..400))).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let accepted = producer.push_batch(&refs).unwrap() as u64;
        if accepted > 0 {
            id += accepted;
            println!("accepted {}", id - 1);
        }
        if rng.gen_bool(0.6) {
            let batch = consumer.pop_batch(rng.gen_range(1..60), usize::MAX).unwrap();
            if let Some(last) = batch.last() {
                if rng.gen_bool(0.8) {
                    println!("acking {}", id_of(last));
                    consumer.ack(last.seq).unwrap();
                    println!("acked {}", id_of(last));
                } else {
                    consumer.rewind();
                }
            }
        }
    }
}

#[test]
fn sigkill_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();
    let (mut accepted_max, mut ack_done, mut ack_tried): (Option<u64>, Option<u64>, Option<u64>) = (None, None, None);
    let mut next_id = 0u64;
    let mut kills_mid_run = 0;
    for iteration in 0..100 {
        let mut proc = child("kill9_child", &[(KILL9_DIR, dir.path().display().to_string()), (KILL9_NEXT, next_id.to_string())])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            if line.unwrap() == "ready" {
                break;
            }
        }
        let collector = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<String>>());
        std::thread::sleep(Duration::from_micros(rng.gen_range(200..30_000)));
        proc.kill().unwrap(); // SIGKILL
        let status = proc.wait().unwrap();
        if !status.success() {
            kills_mid_run += 1;
        }
        for line in collector.join().unwrap() {
            let (what, n) = match line.split_once(' ') {
                Some((w, n)) => (w.to_string(), n.parse::<u64>().ok()),
                None => continue,
            };
            let slot = match what.as_str() {
                "accepted" => &mut accepted_max,
                "acking" => &mut ack_tried,
                "acked" => &mut ack_done,
                _ => continue,
            };
            *slot = (*slot).max(n);
        }

        // What survived must be every accepted, unacknowledged record, in
        // order, with duplicates only of what was handed out and not acknowledged.
        let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
        let mut ids = Vec::new();
        loop {
            let batch = consumer.pop_batch(1000, usize::MAX).unwrap();
            if batch.is_empty() {
                break;
            }
            ids.extend(batch.iter().map(id_of));
        }
        let ctx = format!("iteration {iteration}: accepted<={accepted_max:?} acked={ack_done:?} acking={ack_tried:?}");
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ctx}: not contiguous and in order: {ids:?}");
        let lowest_allowed = ack_done.map_or(0, |a| a + 1);
        let highest_first = ack_tried.map_or(0, |a| a + 1);
        match (ids.first(), ids.last()) {
            (Some(&first), Some(&last)) => {
                assert!(first >= lowest_allowed, "{ctx}: acknowledged record {first} came back");
                assert!(first <= highest_first, "{ctx}: records {highest_first}..{first} were lost");
                assert!(accepted_max.is_none_or(|a| last >= a), "{ctx}: accepted records after {last} were lost");
                next_id = next_id.max(last + 1);
            }
            _ => assert!(
                accepted_max.is_none_or(|a| ack_tried.is_some_and(|t| t >= a)),
                "{ctx}: queue empty but accepted records were never acknowledged"
            ),
        }
        next_id = next_id.max(accepted_max.map_or(0, |a| a + 1)).max(ack_tried.map_or(0, |a| a + 1));
        consumer.rewind();
        drop((producer, consumer));
    }
    assert!(kills_mid_run >= 95, "the child must die by SIGKILL, not finish: {kills_mid_run}");
    assert!(accepted_max.unwrap_or(0) > 1000, "the loop exercised little: {accepted_max:?}");
}

/// The child for the full-disk test: files may not grow past 40 kB.
#[test]
#[ignore = "child process of a_full_disk_is_an_error_and_loses_nothing"]
fn fsize_child() {
    let Ok(dir) = std::env::var(FSIZE_DIR) else { return };
    // SAFETY: plain libc calls with valid arguments, before any other thread runs file I/O.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit { rlim_cur: 40_000, rlim_max: 40_000 };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let mut c = config(Path::new(&dir));
    c.segment_bytes = 1024 * 1024;
    let (producer, mut consumer) = queue::open(c).unwrap();
    println!();
    let mut accepted = 0u64;
    let err = loop {
        match producer.push(&payload(accepted, 150)) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    println!("accepted {accepted}");
    println!("error {err}");
    assert!(matches!(err, PushError::Io(_)), "{err}");
    assert_eq!(consumer.stats().write_errors, 1);
    // The queue still works for the consumer.
    let batch = consumer.pop_batch(usize::MAX, usize::MAX).unwrap();
    assert_eq!(batch.len() as u64, accepted);
}

#[test]
fn a_full_disk_is_an_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("fsize_child", &[(FSIZE_DIR, dir.path().display().to_string())]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let accepted: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("accepted "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("child said: {stdout}"));
    assert!(stdout.contains("appending to queue segment") && stdout.contains("File too large"), "{stdout}");
    assert!(accepted > 100, "{stdout}");

    // Reopened without the limit: every accepted record, no partial one.
    let (_producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let ids: Vec<u64> = consumer.pop_batch(usize::MAX, usize::MAX).unwrap().iter().map(id_of).collect();
    assert_eq!(ids, (0..accepted).collect::<Vec<_>>());
    assert_eq!(consumer.stats().corrupt_skipped, 0, "the failed write was rolled back");
}

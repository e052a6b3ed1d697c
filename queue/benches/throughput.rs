//! Queue throughput, printed as figures next to a baseline measured in the same
//! run on the same disk (raw sequential writes), so they read as ratios.
//!
//! `cargo bench -p queue` (env: `QUEUE_BENCH_DIR` for the disk to use, default
//! the temp dir; `QUEUE_BENCH_BACKLOG_MB`, default 1024).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use queue::{Consumer, Producer, QueueConfig};

const RECORD: usize = 150;
const BATCH: usize = 100;

fn main() {
    let base = std::env::var("QUEUE_BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir());
    let backlog_mb: u64 = std::env::var("QUEUE_BENCH_BACKLOG_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir_in(&base).expect("bench dir");
    let payload = vec![b'x'; RECORD];
    println!("queue benchmark: {RECORD}-byte records, batches of {BATCH}, dir {}", dir.path().display());

    let raw = raw_write_mb_s(dir.path(), backlog_mb);
    println!("raw sequential write (1 MiB writes + fsync): {raw:>10.0} MB/s   (baseline)");

    // 1. Memory flow: the consumer keeps up, so records come from the read cache.
    let n = 2_000_000u64;
    let (producer, mut consumer) = open(dir.path(), "mem");
    let refs: Vec<&[u8]> = vec![&payload[..]; BATCH];
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        producer.push_batch(&refs).expect("push");
        let got = consumer.pop_batch(BATCH, usize::MAX).expect("pop");
        consumer.ack(got.last().expect("records").seq).expect("ack");
        done += got.len() as u64;
    }
    let mem_rate = rate(n, start.elapsed());
    print_flow("in-memory flow (enqueue+dequeue+ack)", mem_rate, raw);
    drop((producer, consumer));

    // 1b. One record per enqueue call (one write() each).
    let n_single = 300_000u64;
    let (producer, mut consumer) = open(dir.path(), "single");
    let start = Instant::now();
    for i in 0..n_single {
        producer.push(&payload).expect("push");
        if i % BATCH as u64 == BATCH as u64 - 1 {
            let got = consumer.pop_batch(BATCH, usize::MAX).expect("pop");
            consumer.ack(got.last().expect("records").seq).expect("ack");
        }
    }
    print_flow("in-memory flow, single-record enqueue", rate(n_single, start.elapsed()), raw);
    drop((producer, consumer));

    // 2. Backlog: fill the disk queue, then drain it from disk.
    let records = backlog_mb * 1024 * 1024 / (RECORD as u64 + 16);
    let (producer, mut consumer) = open(dir.path(), "backlog");
    let start = Instant::now();
    for _ in 0..records / BATCH as u64 {
        producer.push_batch(&refs).expect("push");
    }
    let enqueue = start.elapsed();
    let on_disk = producer.stats().bytes_on_disk;
    let start = Instant::now();
    let mut drained = 0u64;
    loop {
        let got = consumer.pop_batch(1000, usize::MAX).expect("pop");
        let Some(last) = got.last() else { break };
        consumer.ack(last.seq).expect("ack");
        drained += got.len() as u64;
    }
    let dequeue = start.elapsed();
    assert_eq!(drained, records / BATCH as u64 * BATCH as u64);
    println!("backlog of {:.0} MB on disk ({drained} records):", on_disk as f64 / 1e6);
    print_flow("  enqueue into the backlog", rate(drained, enqueue), raw);
    print_flow("  dequeue+ack from disk", rate(drained, dequeue), raw);
    print_flow("  sustained (each record enqueued and dequeued)", rate(drained, enqueue + dequeue), raw);
    drop((producer, consumer));

    // 3. Reopening a 100 MB backlog.
    let (producer, consumer) = open(dir.path(), "reopen");
    for _ in 0..(100 * 1024 * 1024 / (RECORD as u64 + 16)) / BATCH as u64 {
        producer.push_batch(&refs).expect("push");
    }
    let size = producer.stats().bytes_on_disk;
    drop((producer, consumer));
    let start = Instant::now();
    let (producer, _consumer) = open(dir.path(), "reopen");
    let reopen = start.elapsed();
    println!("reopen a {:.0} MB backlog: {:.1} ms ({} records queued)", size as f64 / 1e6, reopen.as_secs_f64() * 1e3, producer.stats().queued);
    println!("peak RSS of this process: {} kB", peak_rss_kb());
}

fn open(dir: &Path, name: &str) -> (Producer, Consumer) {
    let mut c = QueueConfig::new(dir, name);
    c.max_disk_bytes = None;
    queue::open(c).expect("open queue")
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn print_flow(what: &str, records_per_s: f64, raw_mb_s: f64) {
    let mb_s = records_per_s * (RECORD + 16) as f64 / 1e6;
    println!("{what:<50} {records_per_s:>12.0} records/s  {mb_s:>7.0} MB/s  ({:.2} x raw write)", mb_s / raw_mb_s);
}

fn raw_write_mb_s(dir: &Path, mb: u64) -> f64 {
    let path = dir.join("raw.bin");
    let chunk = vec![0x5au8; 1024 * 1024];
    let start = Instant::now();
    let mut f = File::create(&path).expect("raw file");
    for _ in 0..mb {
        f.write_all(&chunk).expect("raw write");
    }
    f.sync_all().expect("raw fsync");
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    mb as f64 * 1.048576 / secs
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

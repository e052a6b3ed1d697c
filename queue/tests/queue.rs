//! Behaviour of the queue through its public API, on real files.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use queue::{Consumer, FullPolicy, PushError, QueueConfig, Record};

fn config(dir: &Path) -> QueueConfig {
    let mut c = QueueConfig::new(dir, "fwd");
    c.segment_bytes = 16 * 1024;
    c.memory_records = 100;
    c.fsync_interval = None;
    c
}

fn msg(i: u64) -> Vec<u8> {
    let mut m = format!("<13>Nov 23 12:00:00 node1 app: message {i:08} ").into_bytes();
    m.resize(150, b'x');
    m
}

fn id_of(r: &Record) -> u64 {
    let text = std::str::from_utf8(&r.payload).unwrap();
    let at = text.find("message ").unwrap() + 8;
    text[at..at + 8].parse().unwrap()
}

fn drain(consumer: &mut Consumer) -> Vec<Record> {
    let mut out = Vec::new();
    loop {
        let batch = consumer.pop_batch(64, 1 << 20).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Exact bytes of the queue's files in `dir`, from the file system.
fn files_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("fwd.") && !e.file_name().to_string_lossy().ends_with(".bad"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn order_is_preserved_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..1000 {
        producer.push(&msg(i)).unwrap();
    }
    let first = consumer.pop_batch(300, usize::MAX).unwrap();
    assert_eq!(first.iter().map(id_of).collect::<Vec<_>>(), (0..300).collect::<Vec<_>>());
    consumer.ack(first[199].seq).unwrap(); // 0..200 delivered; 200..300 handed out, not acknowledged
    drop(producer); // the files stay locked while a producer is alive
    consumer.close().unwrap();

    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    assert_eq!(consumer.stats().queued, 800);
    for i in 1000..1500 {
        producer.push(&msg(i)).unwrap();
    }
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(ids, (200..1500).collect::<Vec<_>>(), "in order, unacknowledged ones again, nothing acknowledged");
    let seqs: Vec<u64> = drain(&mut consumer).iter().map(|r| r.seq).collect();
    assert!(seqs.is_empty());
}

#[test]
fn acknowledged_segments_are_deleted_and_rewind_redelivers() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..2000 {
        producer.push(&msg(i)).unwrap();
    }
    let before = segments(dir.path()).len();
    assert!(before > 10, "{before} segments");
    let batch = consumer.pop_batch(500, usize::MAX).unwrap();
    consumer.rewind();
    let again = consumer.pop_batch(500, usize::MAX).unwrap();
    assert_eq!(batch, again, "rewind hands out the same records again");
    consumer.ack(again.last().unwrap().seq).unwrap();
    assert!(segments(dir.path()).len() < before, "fully acknowledged segments are deleted");
    assert_eq!(consumer.stats().bytes_on_disk, files_bytes(dir.path()));
    let rest: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(rest, (500..2000).collect::<Vec<_>>());
    let s = consumer.stats();
    // dequeued counts hand-outs: the 500 rewound records were handed out twice.
    assert_eq!((s.enqueued, s.dequeued, s.acknowledged, s.queued), (2000, 2500, 500, 1500));
}

#[test]
fn the_cap_is_never_exceeded_by_a_single_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let cap = 100 * 1024 + 37; // deliberately not a multiple of anything
    c.max_disk_bytes = Some(cap);
    c.enqueue_timeout = Duration::ZERO;
    let (producer, consumer) = queue::open(c).unwrap();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    for i in 0..2000 {
        // Vary sizes so the last record before the cap does not line up.
        let mut m = msg(i);
        m.resize(40 + (i as usize * 37) % 400, b'y');
        match producer.push(&m) {
            Ok(()) => accepted += 1,
            Err(PushError::Full) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        let on_disk = files_bytes(dir.path());
        assert!(on_disk <= cap, "{on_disk} bytes on disk with a cap of {cap}");
        assert_eq!(consumer.stats().bytes_on_disk, on_disk, "the count is exact");
    }
    assert!(refused > 0 && accepted > 0);
    assert!(files_bytes(dir.path()) > cap - 2 * 1024, "the run filled the cap");
    let s = consumer.stats();
    assert_eq!(s.discarded_full, refused);
    assert_eq!(s.enqueued, accepted);
}

/// One batch larger than the room left: the prefix that fits is written (across
/// segment boundaries), the cap holds, the rest is discarded and counted.
#[test]
fn a_batch_that_straddles_the_cap_keeps_the_prefix_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let cap = 64 * 1024;
    c.max_disk_bytes = Some(cap);
    c.enqueue_timeout = Duration::ZERO;
    let (producer, mut consumer) = queue::open(c).unwrap();
    for i in 0..100 {
        producer.push(&msg(i)).unwrap();
    }
    // About 170 KB in one call, 16 KiB segments: far more than the ~48 KiB left.
    let batch: Vec<Vec<u8>> = (100..1100).map(msg).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    let accepted = producer.push_batch(&refs).unwrap();
    assert!(accepted > 100 && accepted < refs.len(), "a prefix of the batch fits: {accepted}");
    let on_disk = files_bytes(dir.path());
    assert!(on_disk <= cap, "{on_disk} bytes on disk with a cap of {cap}");
    assert!(on_disk > cap - 1024, "the batch filled the cap to within 1 KiB: {on_disk} of {cap}");
    let s = consumer.stats();
    assert_eq!((s.enqueued, s.discarded_full), (100 + accepted as u64, (refs.len() - accepted) as u64));
    assert_eq!(s.bytes_on_disk, on_disk, "the count is exact");
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(ids, (0..100 + accepted as u64).collect::<Vec<_>>(), "the accepted prefix, in order");
}

#[test]
fn enqueue_waits_the_timeout_then_discards_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_disk_bytes = Some(64 * 1024);
    c.enqueue_timeout = Duration::from_millis(300);
    let (producer, mut consumer) = queue::open(c).unwrap();
    let mut i = 0;
    let fill_start = Instant::now();
    while producer.push(&msg(i)).is_ok() {
        i += 1;
    }
    let accepted = i;
    assert!(fill_start.elapsed() >= Duration::from_millis(300));
    assert_eq!(consumer.stats().discarded_full, 1);

    // Full: a push waits the timeout, then gives up.
    let start = Instant::now();
    assert!(matches!(producer.push(&msg(i)), Err(PushError::Full)));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "gave up after {waited:?}");
    assert_eq!(consumer.stats().discarded_full, 2);

    // A consumer acknowledging frees a segment during the wait: the push succeeds.
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let batch = consumer.pop_batch(200, usize::MAX).unwrap();
        consumer.ack(batch.last().unwrap().seq).unwrap();
        consumer
    });
    producer.push(&msg(i)).expect("space freed while waiting");
    let mut consumer = t.join().unwrap();
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    let mut expected: Vec<u64> = (200..accepted).collect();
    expected.push(i);
    assert_eq!(ids, expected, "discarded messages are gone, the rest in order");
}

#[test]
fn drop_oldest_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_disk_bytes = Some(64 * 1024);
    c.when_full = FullPolicy::DropOldest;
    c.enqueue_timeout = Duration::ZERO;
    let (producer, mut consumer) = queue::open(c).unwrap();
    for i in 0..2000 {
        producer.push(&msg(i)).expect("drop-oldest always makes room");
        assert!(files_bytes(dir.path()) <= 64 * 1024);
    }
    let s = consumer.stats();
    assert!(s.discarded_full > 1000, "{s:?}");
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(ids.len() as u64, 2000 - s.discarded_full, "every message is either delivered or counted");
    assert_eq!(*ids.last().unwrap(), 1999);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "the survivors are the newest, contiguous and in order");
}

#[test]
fn drop_oldest_while_records_are_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_disk_bytes = Some(64 * 1024);
    c.when_full = FullPolicy::DropOldest;
    c.enqueue_timeout = Duration::ZERO;
    let (producer, mut consumer) = queue::open(c).unwrap();
    for i in 0..300 {
        producer.push(&msg(i)).unwrap();
    }
    let handed = consumer.pop_batch(10, usize::MAX).unwrap();
    for i in 300..1000 {
        producer.push(&msg(i)).unwrap();
    }
    consumer.ack(handed.last().unwrap().seq).unwrap(); // acknowledging records already dropped is harmless
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(*ids.last().unwrap(), 999);
    assert!(ids[0] > 10 && ids.windows(2).all(|w| w[1] == w[0] + 1), "{:?}", &ids[..5]);
}

#[test]
fn torn_tail_is_cut_off_and_the_queue_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..50 {
        producer.push(&msg(i)).unwrap();
    }
    drop((producer, consumer));
    let last = segments(dir.path()).pop().unwrap();
    let good_len = fs::metadata(&last).unwrap().len();
    // Half a record: a header that promises 150 bytes, and 20 of them.
    let mut torn = fs::read(&last).unwrap();
    torn.extend_from_slice(&150u32.to_le_bytes());
    torn.extend_from_slice(&[0xAB; 4 + 8 + 20]);
    fs::write(&last, &torn).unwrap();

    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    assert_eq!(fs::metadata(&last).unwrap().len(), good_len, "the torn record is truncated");
    producer.push(&msg(50)).unwrap();
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(ids, (0..51).collect::<Vec<_>>());
    assert_eq!(consumer.stats().corrupt_skipped, 0);
}

#[test]
fn flipped_bit_skips_that_record_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..60 {
        producer.push(&msg(i)).unwrap();
    }
    drop((producer, consumer));
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    // Record 5's payload: 8-byte segment header, then 166-byte records.
    bytes[8 + 5 * 166 + 16 + 40] ^= 0x04;
    fs::write(&first, &bytes).unwrap();

    let (_producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    let expected: Vec<u64> = (0..60).filter(|i| *i != 5).collect();
    assert_eq!(ids, expected);
    assert_eq!(consumer.stats().corrupt_skipped, 1);
}

#[test]
fn garbage_length_loses_only_the_rest_of_that_segment_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..300 {
        producer.push(&msg(i)).unwrap();
    }
    drop((producer, consumer));
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let per_segment = (bytes.len() as u64 - 8) / 166;
    bytes[8 + 3 * 166..8 + 3 * 166 + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&first, &bytes).unwrap();

    let (_producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    let expected: Vec<u64> = (0..3).chain(per_segment..300).collect();
    assert_eq!(ids, expected);
    assert_eq!(consumer.stats().corrupt_skipped, per_segment - 3);
}

#[test]
fn unreadable_segment_is_moved_aside_and_the_queue_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, consumer) = queue::open(config(dir.path())).unwrap();
    for i in 0..300 {
        producer.push(&msg(i)).unwrap();
    }
    drop((producer, consumer));
    let segs = segments(dir.path());
    fs::write(&segs[1], b"this is not a segment").unwrap();

    let (_producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let bad = format!("{}.bad", segs[1].display());
    assert!(Path::new(&bad).exists(), "moved aside to {bad}");
    let ids: Vec<u64> = drain(&mut consumer).iter().map(id_of).collect();
    assert_eq!(ids[0], 0);
    assert_eq!(*ids.last().unwrap(), 299);
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "still in order");
    let lost = 300 - ids.len() as u64;
    assert!(lost > 0);
    assert_eq!(consumer.stats().corrupt_skipped, lost, "what the bad segment held is counted");
}

#[test]
fn save_on_shutdown_off_discards_on_an_orderly_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.save_on_shutdown = false;
    let (producer, consumer) = queue::open(c.clone()).unwrap();
    for i in 0..100 {
        producer.push(&msg(i)).unwrap();
    }
    drop(producer); // the files stay locked while a producer is alive
    consumer.close().unwrap();
    let (_producer, mut consumer) = queue::open(c).unwrap();
    assert!(drain(&mut consumer).is_empty());
}

#[test]
fn a_second_process_cannot_open_the_same_queue() {
    let dir = tempfile::tempdir().unwrap();
    let _queue = queue::open(config(dir.path())).unwrap();
    // The lock is per open file description, so a second open in this process
    // is refused just like another process would be.
    match queue::open(config(dir.path())) {
        Err(queue::QueueError::Locked { .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened twice"),
    }
}

#[test]
fn too_large_record_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let big = vec![b'x'; producer.max_record() + 1];
    assert!(matches!(producer.push(&big), Err(PushError::TooLarge { .. })));
    assert!(drain(&mut consumer).is_empty());
}

#[tokio::test]
async fn async_consumer_waits_for_data() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let t = std::thread::spawn(move || {
        for i in 0..500 {
            producer.push(&msg(i)).unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let mut ids = Vec::new();
    while ids.len() < 500 {
        let batch = tokio::time::timeout(Duration::from_secs(10), consumer.next_batch(64, 1 << 20)).await.unwrap().unwrap();
        consumer.ack(batch.last().unwrap().seq).unwrap();
        ids.extend(batch.iter().map(id_of));
    }
    t.join().unwrap();
    assert_eq!(ids, (0..500).collect::<Vec<_>>());
}

#[tokio::test]
async fn waiting_for_data_in_a_select_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let t = std::thread::spawn(move || {
        for i in 0..2000 {
            producer.push(&msg(i)).unwrap();
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ids.len() < 2000 && Instant::now() < deadline {
        // A timer that keeps winning the race must not cost records.
        tokio::select! {
            _ = consumer.wait_for_data() => {}
            _ = tokio::time::sleep(Duration::from_micros(200)) => continue,
        }
        let batch = consumer.next_batch(64, 1 << 20).await.unwrap();
        consumer.ack(batch.last().unwrap().seq).unwrap();
        ids.extend(batch.iter().map(id_of));
    }
    t.join().unwrap();
    assert_eq!(ids, (0..2000).collect::<Vec<_>>());
}

/// The records are the node's syslog (authpriv included): with the usual
/// umask 022, only the shipper's user may read them; files an older version left
/// readable are made private at open.
#[test]
fn queue_files_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("spool").join("q");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    {
        let (producer, _consumer) = queue::open(config(&dir)).unwrap();
        for i in 0..200 {
            producer.push(&msg(i)).unwrap();
        }
    }
    assert_eq!(mode(&dir), 0o700, "the queue directory");
    assert_eq!(mode(&root.path().join("spool")), 0o700, "a parent it created");
    let files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 4, "segments, checkpoint and lock: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // An older version's 0644 files are tightened when the queue opens.
    for f in &files {
        fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (_producer, _consumer) = queue::open(config(&dir)).unwrap();
    for f in fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

/// A stopped shipper's backlog is read as it is, in order, without the
/// acknowledged records and without changing a file; a queue that is open
/// is refused.
#[test]
fn the_backlog_of_a_closed_queue_is_read_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    {
        let (producer, mut consumer) = queue::open(config.clone()).unwrap();
        for i in 0..300 {
            producer.push(&msg(i)).unwrap();
        }
        let first = consumer.pop_batch(120, 1 << 20).unwrap();
        consumer.ack(first.last().unwrap().seq).unwrap();
        let err = queue::read_backlog(&config, |_| {}).unwrap_err();
        assert!(matches!(err, queue::QueueError::Locked { .. }), "{err}");
        consumer.close().unwrap();
    }
    let before: Vec<(std::path::PathBuf, Vec<u8>)> =
        segments(dir.path()).into_iter().map(|p| (p.clone(), fs::read(&p).unwrap())).collect();
    let mut ids = Vec::new();
    let backlog = queue::read_backlog(&config, |r| ids.push(id_of(r))).unwrap();
    assert_eq!(ids, (120..300).collect::<Vec<_>>());
    assert_eq!(backlog.records, 180);
    assert_eq!(backlog.payload_bytes, 180 * 150);
    assert_eq!(backlog.bytes_on_disk, files_bytes(dir.path()) - fs::metadata(dir.path().join("fwd.lock")).unwrap().len());
    assert_eq!(backlog.oldest.as_ref().map(id_of), Some(120));
    assert_eq!(backlog.newest.as_ref().map(id_of), Some(299));
    assert_eq!(backlog.unreadable, 0);
    let after: Vec<(std::path::PathBuf, Vec<u8>)> =
        segments(dir.path()).into_iter().map(|p| (p.clone(), fs::read(&p).unwrap())).collect();
    assert_eq!(before, after, "reading changes nothing");
    // And the queue still delivers exactly that backlog.
    let (_producer, mut consumer) = queue::open(config.clone()).unwrap();
    assert_eq!(drain(&mut consumer).iter().map(id_of).collect::<Vec<_>>(), (120..300).collect::<Vec<_>>());
    // No queue at all: an empty backlog, and no file is created.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(queue::read_backlog(&QueueConfig::new(empty.path(), "none"), |_| {}).unwrap(), queue::Backlog::default());
    assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
}

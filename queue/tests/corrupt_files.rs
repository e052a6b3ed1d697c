//! Recovery from queue files whose contents are wrong but pass their
//! checksums (found by the queue_recovery fuzz target): opening and using the
//! queue must never panic. The files are written by hand in the format that
//! queue/src/lib.rs documents.

use std::fs;
use std::path::Path;

use queue::{Consumer, Producer, QueueConfig, Record};

fn config(dir: &Path) -> QueueConfig {
    let mut c = QueueConfig::new(dir, "q");
    c.segment_bytes = 4096;
    c.fsync_interval = None;
    c
}

/// A checkpoint slot: `GQCK | crc32c(rest) | next_seq | segment | offset`, twice.
fn checkpoint(seq: u64, segment: u64, offset: u64) -> Vec<u8> {
    let mut slot = [0u8; 32];
    slot[..4].copy_from_slice(b"GQCK");
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    slot[16..24].copy_from_slice(&segment.to_le_bytes());
    slot[24..32].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&slot[8..]);
    slot[4..8].copy_from_slice(&crc.to_le_bytes());
    [slot, slot].concat()
}

/// Whether the queue still takes a message and hands it back.
fn still_works(producer: &Producer, consumer: &mut Consumer) {
    producer.push(b"after recovery").unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let batch = consumer.pop_batch(100, usize::MAX).unwrap();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.into_iter().map(|r| r.payload));
    }
    assert!(seen.iter().any(|p| &p[..] == b"after recovery"), "the new message is handed out");
}

#[test]
fn a_checkpoint_claiming_the_last_sequence_number_is_not_trusted() {
    // Input (hex) from the fuzzer: a checkpoint with valid checksums whose
    // next_seq is u64::MAX; the next push overflowed the sequence counter.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("q.ckpt"), checkpoint(u64::MAX, 0x0eff, 0)).unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    still_works(&producer, &mut consumer);
}

/// A segment: the magic, then records `len | crc32c(seq ‖ payload) | seq | payload`.
fn segment(records: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = b"GSLQSEG1".to_vec();
    for (seq, payload) in records {
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

#[test]
fn a_record_numbered_at_the_end_of_the_range_is_skipped_as_corrupt() {
    // From the fuzzer: an intact record whose seq is u64::MAX overflowed the
    // recovery scan's "next sequence number".
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("q.0000000001.seg"), segment(&[(0, b"first"), (u64::MAX, b"bogus"), (2, b"second")])).unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let first = consumer.pop_batch(10, usize::MAX).unwrap();
    let payloads: Vec<&[u8]> = first.iter().map(|r| &r.payload[..]).collect();
    assert_eq!(payloads, [&b"first"[..], b"second"], "the bogus record is skipped, the others are kept");
    assert_eq!(consumer.stats().corrupt_skipped, 1);
    still_works(&producer, &mut consumer);
}

#[test]
fn a_segment_file_with_the_last_id_is_not_taken_for_ours() {
    // A segment named with id u64::MAX made the next segment's id overflow.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(format!("q.{}.seg", u64::MAX)), segment(&[(0, b"x")])).unwrap();
    let (producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    still_works(&producer, &mut consumer);
}

#[test]
fn the_backlog_lists_what_the_consumer_would_deliver_in_order() {
    // Found by the queue_recovery fuzz target: with intact records numbered
    // out of order (5, 6, 3, 7, u64::MAX), `read_backlog` (for `omgssapi queue show` and
    // `queue export`) listed 3 after 6, a record the consumer skips; and it
    // listed a record numbered u64::MAX that the consumer counts as corrupt.
    let dir = tempfile::tempdir().unwrap();
    let records: [(u64, &[u8]); 5] = [(5, b"five"), (6, b"six"), (3, b"three"), (7, b"seven"), (u64::MAX, b"bogus")];
    fs::write(dir.path().join("q.0000000001.seg"), segment(&records)).unwrap();
    let mut listed = Vec::new();
    let backlog = queue::read_backlog(&config(dir.path()), |r: &Record| listed.push(r.seq)).unwrap();
    assert_eq!(listed, [5, 6, 7], "in order, without the skipped ones");
    assert_eq!(backlog.records, 3);
    assert_eq!(backlog.unreadable, 1, "the out-of-range record");

    let (_producer, mut consumer) = queue::open(config(dir.path())).unwrap();
    let delivered: Vec<u64> = consumer.pop_batch(10, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(delivered, listed, "the backlog is what the consumer delivers");
}

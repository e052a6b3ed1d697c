//! The disk queue's recovery (`queue::open` and the reads after it) and the
//! read-only backlog reader (`queue::read_backlog`, for `omgssapi queue show`)
//! on fuzzed segment and checkpoint files: they must always succeed or fail
//! with an error, never panic, and hand out records in strictly increasing
//! order.
//!
//! Input: one byte of settings, one byte with the number of segment files,
//! then per segment an id byte, a 2-byte length and the contents, then the
//! checkpoint's bytes. Settings can put the right magic and checksums in, so
//! that the fuzzer gets past them into the recovery logic; the on-disk format
//! is the one documented in queue/src/lib.rs.
#![no_main]

use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use gsslog_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;
use queue::{FullPolicy, QueueConfig};

const NAME: &str = "fuzzq";
const SEGMENT_MAGIC: &[u8; 8] = b"GSLQSEG1";
const RECORD_HEADER: usize = 16;
const CHECKPOINT_MAGIC: &[u8; 4] = b"GQCK";
const SLOT: usize = 32;

const ADD_SEGMENT_MAGIC: u8 = 0x01;
const FIX_RECORD_CHECKSUMS: u8 = 0x02;
const WRITE_CHECKPOINT: u8 = 0x04;
const FIX_CHECKPOINT: u8 = 0x08;
const DISK_CAP: u8 = 0x10;
const DROP_OLDEST: u8 = 0x20;

fn work_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))).path()
}

fn segment_id(selector: u8) -> u64 {
    match selector {
        0xff => u64::MAX,
        0xfe => u64::MAX - 1,
        0xfd => 9_999_999_999,
        n => u64::from(n % 8) + 1,
    }
}

/// Writes the correct checksum into every record that can be framed.
fn fix_record_checksums(segment: &mut [u8]) {
    let mut pos = SEGMENT_MAGIC.len();
    while pos + RECORD_HEADER <= segment.len() {
        let len = u32::from_le_bytes(segment[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let end = pos + RECORD_HEADER + len;
        if end > segment.len() {
            return;
        }
        let seq = &segment[pos + 8..pos + 16];
        let crc = crc32c::crc32c_append(crc32c::crc32c(seq), &segment[pos + RECORD_HEADER..end]);
        segment[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fn fix_checkpoint(checkpoint: &mut [u8; 2 * SLOT]) {
    for slot in checkpoint.chunks_mut(SLOT) {
        slot[..4].copy_from_slice(CHECKPOINT_MAGIC);
        let crc = crc32c::crc32c(&slot[8..]);
        slot[4..8].copy_from_slice(&crc.to_le_bytes());
    }
}

fn clear(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let settings = input.u8();
    let segments = input.u8() % 5;
    let dir = work_dir();
    clear(dir);

    for _ in 0..segments {
        let id = segment_id(input.u8());
        let len = usize::from(input.u16() % 8192);
        let mut contents = Vec::new();
        if settings & ADD_SEGMENT_MAGIC != 0 {
            contents.extend_from_slice(SEGMENT_MAGIC);
        }
        contents.extend_from_slice(input.bytes(len));
        if settings & FIX_RECORD_CHECKSUMS != 0 && contents.starts_with(SEGMENT_MAGIC) {
            fix_record_checksums(&mut contents);
        }
        let _ = fs::write(dir.join(format!("{NAME}.{id:010}.seg")), &contents);
    }
    if settings & WRITE_CHECKPOINT != 0 {
        let mut checkpoint = [0u8; 2 * SLOT];
        let given = input.bytes(checkpoint.len());
        checkpoint[..given.len()].copy_from_slice(given);
        if settings & FIX_CHECKPOINT != 0 {
            fix_checkpoint(&mut checkpoint);
        }
        let _ = fs::write(dir.join(format!("{NAME}.ckpt")), checkpoint);
    }

    let mut config = QueueConfig::new(dir, NAME);
    config.segment_bytes = 4096;
    config.memory_records = 4;
    config.fsync_interval = None;
    config.enqueue_timeout = Duration::ZERO;
    if settings & DISK_CAP != 0 {
        config.max_disk_bytes = Some(4 * 4096 * 2);
    }
    if settings & DROP_OLDEST != 0 {
        config.when_full = FullPolicy::DropOldest;
    }
    // First as `omgssapi queue show` looks at a stopped shipper's queue.
    let mut last_seq = None;
    let backlog = queue::read_backlog(&config, |record| {
        assert!(last_seq < Some(record.seq), "backlog record {} listed after {last_seq:?}", record.seq);
        last_seq = Some(record.seq);
    });
    std::hint::black_box(&backlog);

    let Ok((producer, mut consumer)) = queue::open(config) else { return };
    let mut last_seq = None;
    // A few rounds of what the shipper does: read, acknowledge, add, rewind.
    for round in 0..8u8 {
        let Ok(batch) = consumer.pop_batch(8, 16 * 1024) else { break };
        for record in &batch {
            assert!(last_seq < Some(record.seq), "record {} handed out after {last_seq:?}", record.seq);
            last_seq = Some(record.seq);
        }
        if let Some(last) = batch.last() {
            if round % 2 == 0 {
                let _ = consumer.ack(last.seq);
            }
        }
        let _ = producer.push(&[round; 100]);
        if round == 5 {
            consumer.rewind();
            last_seq = None;
        }
    }
    let _ = consumer.stats();
    let _ = consumer.close();
    drop(producer);
});

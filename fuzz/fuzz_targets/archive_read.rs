//! Whatever reads archive files (`gsslog_archive::store`): a damaged or
//! hostile manifest, pack index or pack is an error, never a panic, never
//! a read out of bounds, never an allocation beyond the stated limits.
//!
//! Input: one byte picks what the rest is:
//! - 0: a manifest body (the target adds magic and checksum, so that the
//!   fuzzer reaches the records); a manifest decoded re-encodes to itself;
//! - 1: a pack index's counts and raw frames (the target compresses and
//!   assembles them), asked a few probes;
//! - 2: a manifest body (2-byte little-endian length first) and a pack
//!   file; every chunk and sshd table the manifest names is read back, and
//!   `grep` searches the archive (with and without `-w`, `--since/--until`);
//! - anything else: a whole index file, as found on disk.
#![no_main]

use gsslog_archive::grep::filter::Filter;
use gsslog_archive::grep::matcher::Mode;
use gsslog_archive::grep::{grep, GrepOptions};
use gsslog_archive::linetime::Day;
use gsslog_archive::store::index::{assemble, PackIndex, Probe, POSTINGS_GROUP};
use gsslog_archive::store::manifest::{Manifest, MAGIC};
use gsslog_archive::store::Archive;
use gsslog_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;

fn manifest_file(body: &[u8]) -> Vec<u8> {
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(body);
    file.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    file
}

fn probes(index: &PackIndex) {
    for probe in [
        Probe::Exact(b"root".to_vec()),
        Probe::Contains(b"ser".to_vec()),
        Probe::Contains(b"a".to_vec()),
        Probe::Exact(Vec::new()),
        Probe::Contains(Vec::new()),
        Probe::Exact(b"4022".to_vec()),
        Probe::Contains(b"02".to_vec()),
    ] {
        let _ = index.candidates(&probe);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    match input.u8() {
        0 => {
            if let Ok(m) = Manifest::decode(&manifest_file(input.rest())) {
                assert_eq!(Manifest::decode(&m.encode()).as_ref(), Ok(&m), "a manifest re-encodes to itself");
            }
        }
        1 => {
            // Counts, then the frames' raw bytes (the target compresses them;
            // the postings cut into as many groups as the counts ask for).
            let (slots, words, numbers) = (u32::from(input.u8()), u64::from(input.u16()), u64::from(input.u16()));
            let (a, b) = (usize::from(input.u16()), usize::from(input.u16()));
            let (blob, nums, postings) = (input.bytes(a), input.bytes(b), input.rest());
            let groups = usize::try_from((words + numbers).div_ceil(POSTINGS_GROUP)).unwrap_or(0);
            let size = postings.len().div_ceil(groups.max(1)).max(1);
            let mut pieces: Vec<&[u8]> = postings.chunks(size).collect();
            pieces.resize(groups, &[]);
            if let Ok(file) = assemble(slots, words, numbers, blob, nums, &pieces) {
                if let Ok(index) = PackIndex::decode(&file) {
                    probes(&index);
                }
            }
        }
        2 => {
            let len = usize::from(input.u16());
            let body = input.bytes(len);
            let pack = input.rest();
            let Ok(dir) = tempfile::tempdir() else { return };
            let packs = dir.path().join("packs");
            if std::fs::create_dir_all(&packs).is_err()
                || std::fs::write(dir.path().join("manifest"), manifest_file(body)).is_err()
                || std::fs::write(packs.join("0000000000.pack"), pack).is_err()
            {
                return;
            }
            let Ok(archive) = Archive::open(dir.path()) else { return };
            for c in archive.manifest.files.values().flat_map(|r| &r.generations).flat_map(|g| &g.chunks) {
                if let Ok(lines) = archive.packs.chunk(c) {
                    assert_eq!(lines.len(), c.raw_len as usize, "a chunk read back has its stated length");
                }
                let _ = archive.packs.table(c);
            }
            // And a search over it (an empty tree: everything comes from the archive).
            let root = dir.path().join("root");
            if std::fs::create_dir_all(&root).is_ok() {
                let day = |s| Day::parse(s).ok();
                let filter = Filter { since: day("2026-10-02"), until: day("2026-10-30"), ..Filter::default() };
                for (pattern, mode, filter) in [
                    ("root", Mode::default(), Filter::default()),
                    ("4022", Mode { word: true, ..Mode::default() }, filter),
                    ("^$", Mode::default(), Filter::default()),
                ] {
                    let options = GrepOptions { mode, count: false, list: false, filter };
                    let _ = grep(dir.path(), &root, pattern, &options, &mut std::io::sink(), &mut std::io::sink());
                }
            }
        }
        _ => {
            if let Ok(index) = PackIndex::decode(input.rest()) {
                probes(&index);
            }
        }
    }
});

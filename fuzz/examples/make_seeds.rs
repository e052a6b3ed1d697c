//! Writes the committed seed corpora that need real structure (tokens,
//! queue files): `cargo run --example make_seeds` in fuzz/. The text seeds
//! (syslog lines, templates, configs) are plain files, written by hand.

use std::fs;
use std::path::Path;

use gsslog_fuzz::{cfx_pair, Enctype};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("cannot write seed {target}/{name}: {e}"));
}

/// `0x60`, a DER length, then `body` filler: the shape of an InitialContextToken.
fn initial_token(body: usize) -> Vec<u8> {
    let mut der = vec![0x60];
    if body < 0x80 {
        der.push(body as u8);
    } else {
        der.push(0x82);
        der.extend_from_slice(&(body as u16).to_be_bytes());
    }
    der.resize(der.len() + body, 0xab);
    der
}

fn framed(big_endian: bool, tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        let len = t.len() as u32;
        out.extend_from_slice(&if big_endian { len.to_be_bytes() } else { len.to_le_bytes() });
        out.extend_from_slice(t);
    }
    out
}

fn frame_seeds() {
    let small = initial_token(40);
    let round = initial_token(508); // 512 bytes in all: a multiple of 256
    for (name, settings, big) in [("auto-le", 0u8, false), ("auto-be", 0, true), ("le", 1, false), ("be", 2, true)] {
        let mut seed = vec![settings | 0x08, 7];
        seed.extend(framed(big, &[&small, b"second", b""]));
        write("frame", name, &seed);
    }
    let mut seed = vec![0x08, 200];
    seed.extend(framed(false, &[&round]));
    write("frame", "auto-512", &seed);
}

const AES256: u8 = 0x01;
const SUBKEY: u8 = 0x02;
const TO_ACCEPTOR: u8 = 0x04;
const SEAL: u8 = 0x10;
const TAMPER: u8 = 0x20;

fn cfx_seeds() {
    let line = b"<38>Nov 23 12:00:00 node1 sshd[42]: Accepted publickey for root\n";
    for (name, settings) in [
        // (0x08 in this seed's settings byte: a flag since removed, ignored.)
        ("raw-aes128-sealed", TO_ACCEPTOR | 0x08 | SEAL),
        ("raw-aes256-subkey-sealed", AES256 | SUBKEY | TO_ACCEPTOR | SEAL),
        ("raw-aes256-integrity", AES256 | TO_ACCEPTOR),
        ("raw-aes128-subkey-from-acceptor", SUBKEY | SEAL),
    ] {
        let (mut initiator, mut acceptor) = cfx_pair(
            if settings & AES256 != 0 { Enctype::Aes256 } else { Enctype::Aes128 },
            settings & SUBKEY != 0,
        );
        let sender = if settings & TO_ACCEPTOR != 0 { &mut initiator } else { &mut acceptor };
        let mut seed = vec![settings];
        seed.extend(sender.wrap(line, settings & SEAL != 0));
        write("cfx_unwrap", name, &seed);
    }
    // Tamper mode: settings, plaintext length, plaintext, truncation, XOR mask.
    for (name, settings, mask) in [
        ("tamper-sealed-none", TAMPER | SEAL | TO_ACCEPTOR | AES256, &[][..]),
        ("tamper-sealed-ec", TAMPER | SEAL | TO_ACCEPTOR, &[0, 0, 0, 0, 0, 0x04][..]),
        ("tamper-integrity-rrc", TAMPER | TO_ACCEPTOR | SUBKEY | AES256, &[0, 0, 0, 0, 0, 0, 0, 0x1c][..]),
    ] {
        let mut seed = vec![settings];
        seed.extend_from_slice(&(line.len() as u16).to_le_bytes());
        seed.extend_from_slice(line);
        seed.push(0);
        seed.extend_from_slice(mask);
        write("cfx_unwrap", name, &seed);
    }
}

fn queue_seeds() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    let mut config = queue::QueueConfig::new(dir.path(), "seed");
    config.segment_bytes = 4096;
    config.fsync_interval = None;
    let (producer, mut consumer) = queue::open(config).unwrap_or_else(|e| panic!("cannot open a queue: {e}"));
    for i in 0..60u32 {
        producer.push(format!("<13>Nov 23 12:00:00 node1 app: message {i:04} padding padding").as_bytes())
            .unwrap_or_else(|e| panic!("cannot push: {e}"));
    }
    let batch = consumer.pop_batch(10, usize::MAX).unwrap_or_else(|e| panic!("cannot pop: {e}"));
    if let Some(last) = batch.last() {
        consumer.ack(last.seq).unwrap_or_else(|e| panic!("cannot ack: {e}"));
    }
    consumer.close().unwrap_or_else(|e| panic!("cannot close: {e}"));
    drop(producer);

    let mut segments: Vec<_> = fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("cannot list: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    let checkpoint = fs::read(dir.path().join("seed.ckpt")).unwrap_or_else(|e| panic!("cannot read checkpoint: {e}"));
    // Settings: segment magic and checksums as written, and the checkpoint.
    const WRITE_CHECKPOINT: u8 = 0x04;
    let mut seed = vec![WRITE_CHECKPOINT, segments.len().min(4) as u8];
    for (i, path) in segments.iter().take(4).enumerate() {
        let contents = fs::read(path).unwrap_or_else(|e| panic!("cannot read segment: {e}"));
        seed.push(i as u8);
        seed.extend_from_slice(&(contents.len() as u16).to_le_bytes());
        seed.extend_from_slice(&contents);
    }
    seed.extend_from_slice(&checkpoint);
    write("queue_recovery", "recovered-backlog", &seed);
    // One torn segment, no checkpoint.
    let first = fs::read(&segments[0]).unwrap_or_else(|e| panic!("cannot read segment: {e}"));
    let torn = &first[..first.len() - 5];
    let mut seed = vec![0, 1, 0];
    seed.extend_from_slice(&(torn.len() as u16).to_le_bytes());
    seed.extend_from_slice(torn);
    write("queue_recovery", "torn-tail", &seed);
}

/// sshd tables as seal stores them: made by `sshd::extract` from the
/// classifier's own seeds.
fn sshd_decode_seeds() {
    for (seed, path) in [("traditional", "2026/12/10.0.0.7/auth.log"), ("rfc3339-new-year", "2027/01/fd00::5/auth.log")] {
        let file = Path::new("seeds/sshd_classify").join(seed);
        let lines = fs::read(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let table = gsslog_archive::sshd::extract(path, lines.get(1..).unwrap_or_default());
        assert!(!table.is_empty(), "no events in {seed}");
        write("sshd_decode", seed, &table);
    }
}

fn main() {
    frame_seeds();
    cfx_seeds();
    queue_seeds();
    sshd_decode_seeds();
}

//! The stream deframer (`syslog::framing::Deframer`): LF-terminated and
//! octet-counted frames, fed in fuzzer-chosen chunks.
//!
//! Input: a 2-byte maximum message size, a 2-byte seed for the chunk sizes,
//! then the stream. Checks: every frame is non-empty and at most the maximum,
//! frames never hold more bytes than came in, and the frames do not depend on
//! how the stream was split.
#![no_main]

use gsslog_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;
use syslog::framing::Deframer;

fn frames(stream: &[u8], max: usize, mut next_chunk: impl FnMut() -> usize) -> Vec<Vec<u8>> {
    let mut deframer = Deframer::new(max);
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(next_chunk().clamp(1, rest.len()));
        deframer.push(chunk, &mut |frame| out.push(frame.to_vec()));
        rest = tail;
    }
    deframer.finish(&mut |frame| out.push(frame.to_vec()));
    assert!(!deframer.has_partial(), "bytes held after finish");
    out
}

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    // Small sizes split often; the daemons use 128 and more.
    let max = usize::from(input.u16() % 600) + 1;
    let mut seed = u32::from(input.u16()) | 1;
    let stream = input.rest();

    let whole = frames(stream, max, || usize::MAX);
    let chunked = frames(stream, max, || {
        // xorshift: chunk sizes 1..=16, reproducible from the input
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 16) as usize + 1
    });
    for frame in &whole {
        assert!(!frame.is_empty(), "empty frame emitted");
        assert!(frame.len() <= max, "frame of {} bytes over the maximum {max}", frame.len());
    }
    let total: usize = whole.iter().map(Vec::len).sum();
    assert!(total <= stream.len(), "frames hold more bytes than the stream");
    assert_eq!(whole, chunked, "frames depend on how the stream was split");
});

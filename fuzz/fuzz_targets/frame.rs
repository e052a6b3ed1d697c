//! The 4-byte length framing of GSS tokens (`gsswire::frame`): byte-order
//! detection on a session's first bytes, and `FrameReader::read_token` in a
//! fixed order or `Auto`, with the stream arriving in chunks.
//!
//! Input: one byte of settings (order, size limit), one byte of chunk size,
//! then the stream.
#![no_main]

use gsswire::frame::{detect_order, Detection};
use gsswire::{ByteOrder, FrameOrder, FrameReader, DEFAULT_MAX_DATA_TOKEN, MAX_HANDSHAKE_TOKEN};
use gsslog_fuzz::{runtime, ChunkedReader, Cursor};
use libfuzzer_sys::fuzz_target;

const LIMITS: [usize; 4] = [0, 40, DEFAULT_MAX_DATA_TOKEN, MAX_HANDSHAKE_TOKEN];

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let settings = input.u8();
    let chunk = usize::from(input.u8()) + 1;
    let stream = input.rest();

    let order = match settings % 3 {
        0 => FrameOrder::Auto,
        1 => FrameOrder::Fixed(ByteOrder::Little),
        _ => FrameOrder::Fixed(ByteOrder::Big),
    };
    let max_len = LIMITS[usize::from(settings >> 2) % LIMITS.len()];

    let detected = detect_order(stream);
    if let Detection::Found(found) = detected {
        // The prefix must really be the DER total in the detected order.
        let prefix = [stream[0], stream[1], stream[2], stream[3]];
        let len = match found {
            ByteOrder::Little => u32::from_le_bytes(prefix),
            ByteOrder::Big => u32::from_be_bytes(prefix),
        };
        assert!(stream[4] == 0x60 && len >= 2, "detected {found:?} on a prefix that is no initial token");
    }

    runtime().block_on(async {
        let mut reader = FrameReader::new(ChunkedReader::new(stream, chunk), order);
        let mut consumed = 0usize;
        // Every token costs at least its 4-byte prefix, so this bounds the loop.
        for _ in 0..=stream.len() / 4 + 1 {
            match reader.read_token(max_len).await {
                Ok(Some(token)) => {
                    assert!(token.len() <= max_len, "token of {} bytes over the limit {max_len}", token.len());
                    if consumed == 0 && order == FrameOrder::Auto {
                        let Detection::Found(found) = detected else {
                            panic!("Auto read a token where detection says {detected:?}");
                        };
                        assert_eq!(reader.byte_order(), Some(found));
                    }
                    consumed += 4 + token.len();
                    assert_eq!(&stream[consumed - token.len()..consumed], &token[..], "token is not the bytes after its prefix");
                }
                Ok(None) => {
                    assert_eq!(consumed, stream.len(), "clean end of stream with bytes left over");
                    return;
                }
                Err(_) => return,
            }
        }
        panic!("read_token returned more tokens than the stream can hold");
    });
});

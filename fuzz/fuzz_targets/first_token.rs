//! The collector's reading of a connection's first token
//! (`imgssapi::detect`): the first code unauthenticated bytes reach. Plain or
//! GSS by the first bytes (`looks_like_gss`, PermitPlainTCP), then waiting
//! for the whole first token (`whole_first_token`) in the configured or
//! detected byte order, its length booked against the memory budget when
//! large, with the stream arriving in chunks.
//!
//! Input: one byte of settings (order), one byte of chunk size, then the
//! stream.
#![no_main]

use std::time::Duration;

use gsswire::frame::{detect_order, Detection};
use gsswire::{ByteOrder, FrameOrder, FrameReader, MAX_HANDSHAKE_TOKEN};
use gsslog_fuzz::{runtime, ChunkedReader, Cursor};
use imgssapi::budget::Budget;
use imgssapi::detect::{looks_like_gss, whole_first_token, READ_SLACK, UNBOOKED_HANDSHAKE_TOKEN};
use libfuzzer_sys::fuzz_target;

/// Enough that a booking never waits: the run never sleeps on a deadline.
const BUDGET: u64 = 4 * (MAX_HANDSHAKE_TOKEN + READ_SLACK) as u64;

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

    runtime().block_on(async {
        // PermitPlainTCP's decision: GSS exactly when the stream starts with
        // a length-prefixed initial token in either order.
        let mut reader = FrameReader::new(ChunkedReader::new(stream, chunk), order);
        let gss = looks_like_gss(&mut reader).await.unwrap_or(false);
        assert_eq!(gss, matches!(detect_order(stream), Detection::Found(_)), "PermitPlainTCP decided against detect_order");
        assert!(stream.starts_with(reader.buffered()), "detection consumed bytes");

        let budget = Budget::new(BUDGET);
        let mut reader = FrameReader::new(ChunkedReader::new(stream, chunk), order);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        let result = whole_first_token(&mut reader, deadline, Duration::from_secs(3600), None, &budget).await;
        let buffered = reader.buffered();
        assert!(stream.starts_with(buffered), "reading the first token consumed or changed bytes");
        match result {
            Ok(reservation) => {
                let Detection::Found(found) = detect_order(stream) else {
                    panic!("a whole first token where detect_order finds none");
                };
                let prefix = [stream[0], stream[1], stream[2], stream[3]];
                let len = found.decode(prefix) as usize;
                if let FrameOrder::Fixed(fixed) = order {
                    assert_eq!(fixed.decode(prefix) as usize, len, "the length read in the other order than the configured");
                }
                assert!(len <= MAX_HANDSHAKE_TOKEN, "a first token of {len} bytes over the limit");
                assert!(buffered.len() >= 4 + len, "not all of the token's {len} bytes are in ({})", buffered.len());
                match &reservation {
                    Some(r) => {
                        assert!(len > UNBOOKED_HANDSHAKE_TOKEN, "a token of {len} bytes booked");
                        assert_eq!(r.bytes(), (2 * len + READ_SLACK) as u64);
                    }
                    None => assert!(len <= UNBOOKED_HANDSHAKE_TOKEN, "a token of {len} bytes read without booking"),
                }
                assert_eq!(budget.in_use(), reservation.as_ref().map_or(0, |r| r.bytes()));
            }
            Err(_) => assert_eq!(budget.in_use(), 0, "a failed first token left bytes booked"),
        }
        // Every reservation is gone with the result: the budget is whole.
        assert_eq!(budget.in_use(), 0, "bytes stayed booked after the reservation was dropped");
    });
});

//! The acknowledged mode as the shipper hears it (`gsswire::ack`): the
//! collector's unwrapped messages, decoded and checked by `AckReceiver`
//! against the protocol, with data tokens being sent in between.
//!
//! Input: one byte (bit 0: the session asked), then steps, each one byte:
//! - `0x00..=0x3f`: that many more data tokens sent;
//! - `0x40`: the wait for the Hello ends;
//! - `0x41`: a Written of the last accepted N plus the next 2 bytes (a
//!   little-endian number) minus 256, so that both right and wrong numbers
//!   near it are common;
//! - anything else: a message whose plaintext is the next `byte - 0x42`
//!   bytes (at most 189).
#![no_main]

use gsswire::ack::{AckReceiver, AckState, CollectorMessage};
use gsslog_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let asked = input.u8() & 1 != 0;
    let mut receiver = AckReceiver::new(asked);
    let mut sent = 0u64;
    let mut hello_heard = false;
    let mut last_written = 0u64;
    while !input.is_empty() {
        let step = input.u8();
        let plain = match step {
            0x00..=0x3f => {
                sent += u64::from(step);
                continue;
            }
            0x40 => {
                let before = receiver.state();
                receiver.stop_waiting();
                let expected = if before == AckState::AwaitingHello { AckState::Off } else { before };
                assert_eq!(receiver.state(), expected);
                continue;
            }
            0x41 => CollectorMessage::Written(last_written.wrapping_add(u64::from(input.u16())).wrapping_sub(0x100)).encode(),
            n => input.bytes(usize::from(n - 0x42)).to_vec(),
        };
        let before = receiver.state();
        match receiver.receive(&plain, sent) {
            Ok(message) => {
                assert_eq!(message.encode(), plain, "{message:?} accepted from another plaintext");
                match message {
                    CollectorMessage::Hello => {
                        assert!(asked && !hello_heard, "a Hello accepted where none may come");
                        assert_eq!(before, AckState::AwaitingHello);
                        hello_heard = true;
                        last_written = 0;
                    }
                    CollectorMessage::Written(n) => {
                        assert!(hello_heard, "a Written accepted before the Hello");
                        assert!(n >= last_written, "Written({n}) went down from {last_written}");
                        assert!(n <= sent, "Written({n}) past the {sent} tokens sent");
                        last_written = n;
                    }
                    CollectorMessage::Closing => assert!(hello_heard, "a Closing accepted before the Hello"),
                }
                let expected = if hello_heard { AckState::Acknowledging(last_written) } else { before };
                assert_eq!(receiver.state(), expected);
            }
            Err(_) => assert_eq!(receiver.state(), before, "a refused message moved the receiver"),
        }
    }
});

//! Our RFC 4121 unwrap (`gsswire::cfx::CfxContext::unwrap`) with fixed AES128
//! and AES256 keys, with and without an acceptor subkey, in both directions.
//!
//! Input: one byte of settings (bit 0x08, once "detect replay", is unused:
//! contexts always enforce the order now), then
//! - raw mode: the bytes are the token (twice, to exercise the sequence check);
//! - tamper mode: a 2-byte plaintext length, the plaintext, a truncation count
//!   and an XOR mask. The other side wraps the plaintext; the mask is applied to
//!   the token (bytes past its end extend it). Whatever unwrap accepts must be
//!   exactly what was wrapped: an attacker without the keys cannot change data.
#![no_main]

use gsslog_fuzz::{cfx_pair, Cursor, Enctype};
use libfuzzer_sys::fuzz_target;

const AES256: u8 = 0x01;
const SUBKEY: u8 = 0x02;
const TO_ACCEPTOR: u8 = 0x04;
const SEAL: u8 = 0x10;
const TAMPER: u8 = 0x20;

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let settings = input.u8();
    let enctype = if settings & AES256 != 0 { Enctype::Aes256 } else { Enctype::Aes128 };
    let (initiator, acceptor) = cfx_pair(enctype, settings & SUBKEY != 0);
    let (mut sender, mut receiver) =
        if settings & TO_ACCEPTOR != 0 { (initiator, acceptor) } else { (acceptor, initiator) };

    if settings & TAMPER == 0 {
        let token = input.rest();
        let _ = receiver.unwrap(token);
        let _ = receiver.unwrap(token);
        return;
    }

    let len = usize::from(input.u16());
    let plain = input.bytes(len);
    let cut = usize::from(input.u8());
    let mask = input.rest();
    let seal = settings & SEAL != 0;
    let mut token = sender.wrap(plain, seal);
    token.truncate(token.len().saturating_sub(cut));
    for (i, m) in mask.iter().enumerate() {
        match token.get_mut(i) {
            Some(byte) => *byte ^= m,
            None => token.push(*m),
        }
    }
    if let Ok((data, sealed)) = receiver.unwrap(&token) {
        assert_eq!(sealed, seal, "protection mode changed on the way");
        assert!(data == plain, "unwrap accepted changed data: wrapped {:02x?}, got {:02x?}", plain, data);
    }
});

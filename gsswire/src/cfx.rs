//! RFC 4121 wrap tokens (the krb5 mechanism's per-message tokens) made and
//! checked in Rust, for contexts that MIT established and exported.
//!
//! A token is a 16-byte header, `05 04 | flags | FF | EC | RRC | SND_SEQ`,
//! then either, sealed, the encryption of `data | EC filler | header` or,
//! integrity-only, `data | checksum(data | header with EC = RRC = 0)`. The
//! part after the header may be rotated right by RRC bytes. We send with
//! EC = RRC = 0, as MIT does.
//!
//! A received token is refused, and the caller ends the session, unless:
//! - it is at least 16 bytes and starts with the token ID `05 04` (no ASN.1
//!   wrapper: RFC 4121 tokens have none) and the filler byte `FF`;
//! - its "sent by acceptor" flag names the peer, not us (no reflection);
//! - its "acceptor subkey" flag is set exactly when the context has an
//!   acceptor subkey (as Heimdal checks; MIT's senders always set it so);
//! - sealed: it decrypts and its HMAC verifies, the plaintext is long enough
//!   for EC filler bytes and the header copy, and the header copy equals the
//!   clear header in every byte but RRC, whose copy must be 0 (RFC 4121
//!   section 4.2.4). So a raised EC cannot cut the data short (the
//!   CVE-2024-37370 class: MIT checks the same since 1.21.3, Heimdal always);
//! - integrity-only: EC is the checksum length (12) and the checksum over
//!   the data and the header (EC and RRC zeroed) verifies;
//! - its sequence number is exactly the next one: the peer's initial number
//!   for the first token, then one more each time. Replayed, reordered and
//!   left-out tokens are all refused, whatever flags were negotiated: over
//!   one TCP connection every token a sender makes arrives, in order.
//!
//! Reserved flag bits are ignored, as MIT and Heimdal do (they are covered by
//! the header copy or the checksum, so nobody without the keys can set them).
//! RRC may be any value: the body is rotated left by RRC modulo its length,
//! as MIT and Heimdal do; a wrong RRC leaves the body unauthentic. Whether
//! the token was sealed is returned; refusing integrity-only tokens is the
//! caller's policy.
//!
//! The types: [`CfxContext`] holds one context's keys and sequence numbers
//! and wraps and unwraps; a refusal is a [`TokenError`].
//! [`wrap_token_sequence`] reads a token's sequence number for the checks
//! made on top of MIT's `gss_unwrap`.

use crate::gss::MessageKeys;
use crate::krb5_crypto::{BaseKey, ChecksumKey, CryptoError, EncryptionKeys, MAC_LEN};

const TOK_WRAP: [u8; 2] = [0x05, 0x04];
/// Length in bytes of a wrap token's header (and of its sealed copy).
pub const HEADER_LEN: usize = 16;
const FILLER: u8 = 0xff;
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
const FLAG_SEALED: u8 = 0x02;
const FLAG_ACCEPTOR_SUBKEY: u8 = 0x04;

// RFC 4121 section 2: key usages. Wrap tokens use the SEAL usages whether
// sealed or only checksummed; the SIGN usages are for MIC tokens.
const USAGE_ACCEPTOR_SEAL: u32 = 22;
const USAGE_INITIATOR_SEAL: u32 = 24;

/// Why a received token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The token does not start with `05 04` (the two bytes given, zero-padded
    /// for a shorter token): another token type, or an ASN.1-wrapped token
    /// (`60 ..`).
    #[error("not an RFC 4121 wrap token (token ID {0:02x?})")]
    NotWrapToken([u8; 2]),
    /// The token (its length given, in bytes) is shorter than its header, or
    /// an integrity-only token is shorter than header and checksum.
    #[error("token of {0} bytes is too short")]
    TooShort(usize),
    /// The header's fourth byte (given) is not the filler `FF`.
    #[error("token header: filler byte {0:#04x} instead of 0xff")]
    BadFiller(u8),
    /// The "sent by acceptor" flag (given) names this side as the sender: a
    /// token of ours sent back to us.
    #[error("token header claims the token comes from the {}, which is this side (reflected token)", if *.0 { "acceptor" } else { "initiator" })]
    WrongDirection(bool),
    /// The "acceptor subkey" flag disagrees with the context.
    #[error("token header: acceptor-subkey flag {} but the context has {} acceptor subkey", if *.flag { "set" } else { "clear" }, if *.flag { "no" } else { "an" })]
    SubkeyFlagMismatch {
        /// The flag as the token has it.
        flag: bool,
    },
    /// An integrity-only token's EC field (given) is not the checksum length.
    #[error("token header: EC {0} in an integrity-only token (must be the checksum length, {MAC_LEN})")]
    BadChecksumLength(u16),
    /// A sealed token decrypted and verified, but its plaintext is shorter
    /// than the EC filler bytes plus the header copy it must end with.
    #[error("token header: EC {ec} larger than the {plain_len} bytes of sealed data")]
    FillerTooLong {
        /// The EC field: filler bytes claimed.
        ec: u16,
        /// The bytes sealed in front of the header copy (data and filler;
        /// 0 when the plaintext is shorter than a header).
        plain_len: usize,
    },
    /// A sealed token verified, but its clear header differs from the copy
    /// sealed inside (RRC aside, whose copy must be 0).
    #[error("token header does not match the header sealed inside the token (clear {clear:02x?}, sealed {sealed:02x?})")]
    HeaderMismatch {
        /// The clear header as received.
        clear: [u8; HEADER_LEN],
        /// The header copy found inside the sealed data.
        sealed: [u8; HEADER_LEN],
    },
    /// An authentic token whose sequence number is not the next one.
    #[error("token out of sequence: sequence number {got}, expected {expected} (token replayed, reordered or left out)")]
    OutOfSequence {
        /// The token's sequence number.
        got: u64,
        /// The sequence number the next token must carry.
        expected: u64,
    },
    /// Decryption or the integrity check failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// The keys of one direction: what a side seals and checksums with, or what
/// it checks the peer's tokens with.
struct DirectionKeys {
    seal: EncryptionKeys,
    sign: ChecksumKey,
}

impl DirectionKeys {
    fn new(key: &BaseKey, sender_is_acceptor: bool) -> DirectionKeys {
        let usage = if sender_is_acceptor { USAGE_ACCEPTOR_SEAL } else { USAGE_INITIATOR_SEAL };
        DirectionKeys { seal: key.encryption_keys(usage), sign: key.checksum_key(usage) }
    }
}

/// The clear header of a received token, its fields read.
struct Header {
    bytes: [u8; HEADER_LEN],
    sealed: bool,
    ec: u16,
    rrc: u16,
    seq: u64,
}

impl Header {
    /// The checks that need no key: length, token ID, filler.
    fn parse(token: &[u8]) -> Result<Header, TokenError> {
        if token.len() < 2 || token[..2] != TOK_WRAP {
            let mut id = [0u8; 2];
            for (d, s) in id.iter_mut().zip(token) {
                *d = *s;
            }
            return Err(TokenError::NotWrapToken(id));
        }
        let Some(bytes) = token.first_chunk::<HEADER_LEN>() else {
            return Err(TokenError::TooShort(token.len()));
        };
        if bytes[3] != FILLER {
            return Err(TokenError::BadFiller(bytes[3]));
        }
        let field = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..]);
        Ok(Header {
            bytes: *bytes,
            sealed: bytes[2] & FLAG_SEALED != 0,
            ec: field(4),
            rrc: field(6),
            seq: u64::from_be_bytes(seq),
        })
    }

    fn sent_by_acceptor(&self) -> bool {
        self.bytes[2] & FLAG_SENT_BY_ACCEPTOR != 0
    }

    fn acceptor_subkey(&self) -> bool {
        self.bytes[2] & FLAG_ACCEPTOR_SUBKEY != 0
    }

    /// What the header copy inside a sealed token must be: the same bytes
    /// with RRC 0 (RRC is the only field a sender may set after sealing).
    fn sealed_copy(&self) -> [u8; HEADER_LEN] {
        let mut copy = self.bytes;
        copy[6..8].fill(0);
        copy
    }

    /// What the checksum of an integrity-only token covers: EC and RRC zeroed.
    fn checksummed(&self) -> [u8; HEADER_LEN] {
        let mut copy = self.bytes;
        copy[4..8].fill(0);
        copy
    }
}

/// The sequence number in the clear header of an RFC 4121 wrap token, after
/// the checks that need no key (length, token ID, filler). It is authentic
/// only once the token's checksum or sealed header copy has been verified.
pub fn wrap_token_sequence(token: &[u8]) -> Result<u64, TokenError> {
    Header::parse(token).map(|h| h.seq)
}

/// An exported context's per-message state: the derived keys of both
/// directions (wiped when dropped) and both sequence numbers.
pub struct CfxContext {
    acceptor: bool,
    send: DirectionKeys,
    /// The peer's keys: under the acceptor subkey if the context has one
    /// (then every token is protected with it), else under the context key.
    receive: DirectionKeys,
    uses_acceptor_subkey: bool,
    send_seq: u64,
    next_recv_seq: u64,
}

impl CfxContext {
    /// Takes over from MIT. The key that protects messages (the acceptor
    /// subkey when there is one, else the context key) must be an AES-SHA1
    /// key in RFC 4121 mode; the caller checks that before exporting.
    /// `keys.recv_seq` must be the peer's initial sequence number (the
    /// context must not have received any token yet).
    pub fn new(keys: &MessageKeys) -> Result<CfxContext, CryptoError> {
        if !keys.cfx {
            return Err(CryptoError::UnsupportedEnctype(keys.context_key.enctype));
        }
        // With an acceptor subkey both sides protect every message with it
        // (RFC 4121 section 2), and the context key may be of any enctype.
        let key = match &keys.acceptor_subkey {
            Some(k) => BaseKey::new(k.enctype, &k.bytes)?,
            None => BaseKey::new(keys.context_key.enctype, &keys.context_key.bytes)?,
        };
        let acceptor = !keys.initiator;
        Ok(CfxContext {
            acceptor,
            send: DirectionKeys::new(&key, acceptor),
            receive: DirectionKeys::new(&key, !acceptor),
            uses_acceptor_subkey: keys.acceptor_subkey.is_some(),
            send_seq: keys.send_seq,
            next_recv_seq: keys.recv_seq,
        })
    }

    fn header(&self, sealed: bool, ec: u16) -> [u8; HEADER_LEN] {
        let mut flags = 0;
        if self.acceptor {
            flags |= FLAG_SENT_BY_ACCEPTOR;
        }
        if sealed {
            flags |= FLAG_SEALED;
        }
        if self.uses_acceptor_subkey {
            flags |= FLAG_ACCEPTOR_SUBKEY;
        }
        let mut h = [0u8; HEADER_LEN];
        h[..2].copy_from_slice(&TOK_WRAP);
        h[2] = flags;
        h[3] = FILLER;
        h[4..6].copy_from_slice(&ec.to_be_bytes());
        h[6..8].copy_from_slice(&0u16.to_be_bytes());
        h[8..].copy_from_slice(&self.send_seq.to_be_bytes());
        h
    }

    /// Wraps `data` into one token: sealed (encrypted) or integrity-only.
    pub fn wrap(&mut self, data: &[u8], seal: bool) -> Vec<u8> {
        let mut token;
        if seal {
            let header = self.header(true, 0);
            token = Vec::with_capacity(HEADER_LEN * 3 + data.len() + MAC_LEN);
            token.extend_from_slice(&header);
            self.send.seal.encrypt_into(&[data, &header], &mut token);
        } else {
            let zeroed = self.header(false, 0);
            let checksum = self.send.sign.checksum(&[data, &zeroed]);
            token = Vec::with_capacity(HEADER_LEN + data.len() + MAC_LEN);
            token.extend_from_slice(&self.header(false, MAC_LEN as u16));
            token.extend_from_slice(data);
            token.extend_from_slice(&checksum);
        }
        self.send_seq = self.send_seq.wrapping_add(1);
        token
    }

    /// Checks (and decrypts) one token; returns the data and whether it was
    /// sealed. Every check of the module documentation is made; on error the
    /// expected sequence number does not move.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), TokenError> {
        let header = Header::parse(token)?;
        if header.sent_by_acceptor() == self.acceptor {
            return Err(TokenError::WrongDirection(header.sent_by_acceptor()));
        }
        if header.acceptor_subkey() != self.uses_acceptor_subkey {
            return Err(TokenError::SubkeyFlagMismatch { flag: header.acceptor_subkey() });
        }
        let mut body = token[HEADER_LEN..].to_vec();
        if !body.is_empty() {
            let shift = usize::from(header.rrc) % body.len();
            body.rotate_left(shift);
        }
        let data = if header.sealed {
            self.open_sealed(&header, body)?
        } else {
            self.open_integrity_only(&header, body)?
        };
        // Checked only after the token proved authentic (the sequence number
        // is in the sealed copy or under the checksum).
        if header.seq != self.next_recv_seq {
            return Err(TokenError::OutOfSequence { got: header.seq, expected: self.next_recv_seq });
        }
        self.next_recv_seq = self.next_recv_seq.wrapping_add(1);
        Ok((data, header.sealed))
    }

    /// `body` (unrotated) is `E(confounder | data | EC filler | header copy) | HMAC`.
    fn open_sealed(&self, header: &Header, mut body: Vec<u8>) -> Result<Vec<u8>, TokenError> {
        let range = self.receive.seal.decrypt_in_place(&mut body)?;
        let plain = &body[range.clone()];
        let ec = usize::from(header.ec);
        if plain.len() < ec + HEADER_LEN {
            return Err(TokenError::FillerTooLong { ec: header.ec, plain_len: plain.len().saturating_sub(HEADER_LEN) });
        }
        let mut sealed = [0u8; HEADER_LEN];
        sealed.copy_from_slice(&plain[plain.len() - HEADER_LEN..]);
        if sealed != header.sealed_copy() {
            return Err(TokenError::HeaderMismatch { clear: header.bytes, sealed });
        }
        let end = range.end - HEADER_LEN - ec;
        body.truncate(end);
        body.drain(..range.start);
        Ok(body)
    }

    /// `body` (unrotated) is `data | checksum`.
    fn open_integrity_only(&self, header: &Header, mut body: Vec<u8>) -> Result<Vec<u8>, TokenError> {
        if usize::from(header.ec) != MAC_LEN {
            return Err(TokenError::BadChecksumLength(header.ec));
        }
        if body.len() < MAC_LEN {
            return Err(TokenError::TooShort(HEADER_LEN + body.len()));
        }
        let (data, checksum) = body.split_at(body.len() - MAC_LEN);
        self.receive.sign.verify(&[data, &header.checksummed()], checksum)?;
        body.truncate(body.len() - MAC_LEN);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gss::LucidKey;
    use crate::krb5_crypto::ENCTYPE_AES256_CTS_HMAC_SHA1_96;

    fn pair(subkey: bool) -> (CfxContext, CfxContext) {
        let key = |b: u8| LucidKey { enctype: ENCTYPE_AES256_CTS_HMAC_SHA1_96, bytes: vec![b; 32] };
        let keys = |initiator: bool, send_seq: u64, recv_seq: u64| MessageKeys {
            initiator,
            send_seq,
            recv_seq,
            cfx: true,
            context_key: key(1),
            acceptor_subkey: subkey.then(|| key(2)),
            flags: 0,
        };
        (CfxContext::new(&keys(true, 1000, 77)).unwrap(), CfxContext::new(&keys(false, 77, 1000)).unwrap())
    }

    /// A sealed token as a sender that is free in every field would make it:
    /// `clear` in front, `data | filler | inner` encrypted.
    fn sealed_token(sender: &mut CfxContext, clear: [u8; HEADER_LEN], data: &[u8], filler: &[u8], inner: [u8; HEADER_LEN]) -> Vec<u8> {
        let mut token = clear.to_vec();
        sender.send.seal.encrypt_into(&[data, filler, &inner], &mut token);
        sender.send_seq += 1;
        token
    }

    #[test]
    fn both_modes_round_trip_in_both_directions() {
        for subkey in [false, true] {
            let (mut init, mut acc) = pair(subkey);
            for seal in [true, false] {
                for msg in [&b""[..], b"x", b"<38>Nov 23 12:00:00 node1 sshd[1]: accepted\n"] {
                    let token = init.wrap(msg, seal);
                    assert_eq!(acc.unwrap(&token).unwrap(), (msg.to_vec(), seal));
                    let back = acc.wrap(msg, seal);
                    assert_eq!(init.unwrap(&back).unwrap(), (msg.to_vec(), seal));
                }
            }
        }
    }

    #[test]
    fn rotated_tokens_are_accepted() {
        for seal in [true, false] {
            let (mut init, mut acc) = pair(true);
            let mut token = init.wrap(b"rotate me please", seal);
            let rrc = 28usize;
            token[6..8].copy_from_slice(&(rrc as u16).to_be_bytes());
            token[HEADER_LEN..].rotate_right(rrc);
            assert_eq!(acc.unwrap(&token).unwrap().0, b"rotate me please");
        }
    }

    /// CVE-2024-37370: raising the clear EC of a sealed token must not cut
    /// the end off its data.
    #[test]
    fn raised_ec_of_a_sealed_token_is_refused() {
        let (mut init, mut acc) = pair(true);
        let mut token = init.wrap(b"line one\nline two\n", true);
        token[4..6].copy_from_slice(&9u16.to_be_bytes());
        assert!(matches!(acc.unwrap(&token), Err(TokenError::HeaderMismatch { .. })), "{:?}", acc.unwrap(&token));
    }

    #[test]
    fn filler_that_the_sender_sealed_is_stripped() {
        let (mut init, mut acc) = pair(true);
        let mut header = init.header(true, 5);
        let token = sealed_token(&mut init, header, b"data", b"xxxxx", header);
        assert_eq!(acc.unwrap(&token).unwrap(), (b"data".to_vec(), true));
        // More filler claimed than there is sealed data.
        header = init.header(true, 30);
        let token = sealed_token(&mut init, header, b"data", b"", header);
        assert_eq!(acc.unwrap(&token), Err(TokenError::FillerTooLong { ec: 30, plain_len: 4 }));
    }

    #[test]
    fn sealed_header_copy_must_match_in_every_byte_but_rrc() {
        let (mut init, acc) = pair(false);
        let clear = init.header(true, 0);
        for at in 0..HEADER_LEN {
            let mut inner = clear;
            inner[at] ^= 0x10;
            let token = sealed_token(&mut init, clear, b"data", b"", inner);
            init.send_seq -= 1;
            let mut receiver = clone_receiver(&acc);
            let got = receiver.unwrap(&token);
            assert!(matches!(got, Err(TokenError::HeaderMismatch { .. })), "inner byte {at} changed: {got:?}");
        }
        // The copy's RRC is 0 even when the clear RRC is not.
        let mut clear_rotated = clear;
        clear_rotated[6..8].copy_from_slice(&3u16.to_be_bytes());
        let mut token = sealed_token(&mut init, clear_rotated, b"data", b"", clear);
        token[HEADER_LEN..].rotate_right(3);
        let mut receiver = clone_receiver(&acc);
        assert_eq!(receiver.unwrap(&token).unwrap().0, b"data");
    }

    /// A receiver in the state of `acc` as it was made (the keys are derived again).
    fn clone_receiver(acc: &CfxContext) -> CfxContext {
        let (_, mut fresh) = pair(acc.uses_acceptor_subkey);
        fresh.next_recv_seq = acc.next_recv_seq;
        fresh
    }

    #[test]
    fn header_fields_are_checked() {
        let (mut init, mut acc) = pair(true);
        let token = init.wrap(b"hello", true);
        let mut bad = token.clone();
        bad[3] = 0xfe;
        assert_eq!(acc.unwrap(&bad), Err(TokenError::BadFiller(0xfe)));
        let mut bad = token.clone();
        bad[2] &= !FLAG_ACCEPTOR_SUBKEY;
        assert_eq!(acc.unwrap(&bad), Err(TokenError::SubkeyFlagMismatch { flag: false }));
        let mut bad = token.clone();
        bad[2] ^= FLAG_SENT_BY_ACCEPTOR;
        assert_eq!(acc.unwrap(&bad), Err(TokenError::WrongDirection(true)));
        assert_eq!(acc.unwrap(b"\x60\x82junk"), Err(TokenError::NotWrapToken([0x60, 0x82])));
        assert_eq!(acc.unwrap(&token[..10]), Err(TokenError::TooShort(10)));
        // Our own token sent back to us.
        let own = init.wrap(b"mirror", false);
        assert_eq!(init.unwrap(&own), Err(TokenError::WrongDirection(false)));
        // Without a subkey, a token flagged as protected with one.
        let (mut init, mut acc) = pair(false);
        let mut bad = init.wrap(b"hello", false);
        bad[2] |= FLAG_ACCEPTOR_SUBKEY;
        assert_eq!(acc.unwrap(&bad), Err(TokenError::SubkeyFlagMismatch { flag: true }));
    }

    #[test]
    fn integrity_only_tokens_carry_exactly_the_checksum_length_in_ec() {
        let (mut init, mut acc) = pair(false);
        for ec in [0u16, 11, 13, 28] {
            let mut bad = init.wrap(b"abc", false);
            init.send_seq -= 1;
            bad[4..6].copy_from_slice(&ec.to_be_bytes());
            assert_eq!(acc.unwrap(&bad), Err(TokenError::BadChecksumLength(ec)));
        }
        // The data is in clear but guarded by the checksum.
        let mut signed = init.wrap(b"abc", false);
        signed[HEADER_LEN] = b'x';
        assert!(matches!(acc.unwrap(&signed), Err(TokenError::Crypto(CryptoError::BadIntegrity))));
        assert_eq!(acc.unwrap(&signed[..HEADER_LEN + 11]), Err(TokenError::TooShort(HEADER_LEN + 11)));
    }

    #[test]
    fn tampered_body_is_refused() {
        let (mut init, mut acc) = pair(false);
        let mut bad = init.wrap(b"hello", true);
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert!(matches!(acc.unwrap(&bad), Err(TokenError::Crypto(CryptoError::BadIntegrity))));
    }

    /// Exactly the next sequence number, with no replay or sequence flag
    /// needed: a replayed, reordered or left-out token is refused.
    #[test]
    fn only_the_next_sequence_number_is_accepted() {
        let (mut init, mut acc) = pair(true);
        let tokens: Vec<Vec<u8>> = (0..4).map(|i| init.wrap(format!("t{i}").as_bytes(), i % 2 == 0)).collect();
        acc.unwrap(&tokens[0]).unwrap();
        assert_eq!(acc.unwrap(&tokens[0]), Err(TokenError::OutOfSequence { got: 1000, expected: 1001 }));
        assert_eq!(acc.unwrap(&tokens[2]), Err(TokenError::OutOfSequence { got: 1002, expected: 1001 }));
        acc.unwrap(&tokens[1]).unwrap();
        assert_eq!(acc.unwrap(&tokens[0]), Err(TokenError::OutOfSequence { got: 1000, expected: 1002 }));
        acc.unwrap(&tokens[2]).unwrap();
        acc.unwrap(&tokens[3]).unwrap();
        let err = acc.unwrap(&tokens[3]).unwrap_err().to_string();
        assert!(err.contains("sequence") && err.contains("replayed"), "{err}");
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let (mut init, mut acc) = pair(false);
        init.send_seq = u64::MAX;
        acc.next_recv_seq = u64::MAX;
        acc.unwrap(&init.wrap(b"last", true)).unwrap();
        acc.unwrap(&init.wrap(b"first", true)).unwrap();
        assert_eq!(acc.next_recv_seq, 1);
    }
}

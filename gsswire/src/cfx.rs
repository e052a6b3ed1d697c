//! RFC 4121 wrap tokens (the krb5 mechanism's per-message tokens) made and
//! checked in Rust, for contexts that MIT established and exported.
//!
//! A token is a 16-byte header, `05 04 | flags | FF | EC | RRC | SND_SEQ`,
//! then either, sealed, the encryption of `data | EC filler | header` or,
//! integrity-only, `data | checksum(data | header with EC = RRC = 0)`. The
//! part after the header may be rotated right by RRC bytes. We send with
//! EC = RRC = 0, as MIT does, and accept any rotation.

use crate::gss::MessageKeys;
use crate::krb5_crypto::{BaseKey, ChecksumKey, CryptoError, EncryptionKeys, MAC_LEN};

const TOK_WRAP: [u8; 2] = [0x05, 0x04];
const HEADER_LEN: usize = 16;
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
    #[error("not an RFC 4121 wrap token")]
    NotWrapToken,
    #[error("token of {0} bytes is too short")]
    TooShort(usize),
    #[error("token claims to come from the {}", if *.0 { "acceptor" } else { "initiator" })]
    WrongDirection(bool),
    #[error("token is protected with the acceptor subkey, which this context does not have")]
    UnknownSubkey,
    #[error("token is protected with the context key, whose enctype this context does not handle")]
    ContextKeyNotUsable,
    #[error("token header fields are inconsistent")]
    BadHeader,
    #[error("sequence number {got} replayed or out of order (next expected {expected})")]
    Replayed { got: u64, expected: u64 },
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

/// An exported context's per-message state.
pub struct CfxContext {
    acceptor: bool,
    send: DirectionKeys,
    /// The peer's keys under the context key, and under the acceptor subkey if any.
    receive_context_key: Option<DirectionKeys>,
    receive_subkey: Option<DirectionKeys>,
    uses_acceptor_subkey: bool,
    send_seq: u64,
    next_recv_seq: u64,
    detect_replay: bool,
}

impl CfxContext {
    /// Takes over from MIT. The key that protects messages (the acceptor
    /// subkey when there is one, else the context key) must be an AES-SHA1
    /// key in RFC 4121 mode; the caller checks that before exporting.
    pub fn new(keys: &MessageKeys, detect_replay: bool) -> Result<CfxContext, CryptoError> {
        if !keys.cfx {
            return Err(CryptoError::UnsupportedEnctype(keys.context_key.enctype));
        }
        let subkey = match &keys.acceptor_subkey {
            Some(k) => Some(BaseKey::new(k.enctype, &k.bytes)?),
            None => None,
        };
        // With an acceptor subkey both sides protect every message with it
        // (RFC 4121 section 2), and the context key may be of any enctype.
        let context_key = match BaseKey::new(keys.context_key.enctype, &keys.context_key.bytes) {
            Ok(key) => Some(key),
            Err(_) if subkey.is_some() => None,
            Err(e) => return Err(e),
        };
        let acceptor = !keys.initiator;
        let send_key = subkey.as_ref().or(context_key.as_ref()).expect("one of the two keys is usable");
        Ok(CfxContext {
            acceptor,
            send: DirectionKeys::new(send_key, acceptor),
            receive_context_key: context_key.as_ref().map(|k| DirectionKeys::new(k, !acceptor)),
            receive_subkey: subkey.as_ref().map(|k| DirectionKeys::new(k, !acceptor)),
            uses_acceptor_subkey: subkey.is_some(),
            send_seq: keys.send_seq,
            next_recv_seq: keys.recv_seq,
            detect_replay,
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
        h[3] = 0xff;
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

    /// Checks (and decrypts) one token; returns the data and whether it was sealed.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), TokenError> {
        if token.len() < 2 || token[..2] != TOK_WRAP {
            return Err(TokenError::NotWrapToken);
        }
        if token.len() < HEADER_LEN {
            return Err(TokenError::TooShort(token.len()));
        }
        let flags = token[2];
        if token[3] != 0xff {
            return Err(TokenError::BadHeader);
        }
        let from_acceptor = flags & FLAG_SENT_BY_ACCEPTOR != 0;
        if from_acceptor == self.acceptor {
            return Err(TokenError::WrongDirection(from_acceptor));
        }
        let keys = if flags & FLAG_ACCEPTOR_SUBKEY != 0 {
            self.receive_subkey.as_ref().ok_or(TokenError::UnknownSubkey)?
        } else {
            self.receive_context_key.as_ref().ok_or(TokenError::ContextKeyNotUsable)?
        };
        let ec = u16::from_be_bytes([token[4], token[5]]) as usize;
        let rrc = u16::from_be_bytes([token[6], token[7]]) as usize;
        let seq = u64::from_be_bytes(token[8..16].try_into().expect("8 bytes"));
        let mut body = token[HEADER_LEN..].to_vec();
        if !body.is_empty() {
            let shift = rrc % body.len();
            body.rotate_left(shift);
        }
        let sealed = flags & FLAG_SEALED != 0;
        let data = if sealed {
            let range = keys.seal.decrypt_in_place(&mut body)?;
            let plain = &body[range.clone()];
            // The plaintext ends with EC filler bytes and a copy of the header,
            // which must agree with the header sent in clear (RRC aside).
            if plain.len() < ec + HEADER_LEN {
                return Err(TokenError::TooShort(token.len()));
            }
            let inner = &plain[plain.len() - HEADER_LEN..];
            if inner[..4] != token[..4] || inner[8..] != token[8..16] {
                return Err(TokenError::BadHeader);
            }
            let end = range.start + plain.len() - HEADER_LEN - ec;
            body.truncate(end);
            body.drain(..range.start);
            body
        } else {
            if ec != MAC_LEN || body.len() < MAC_LEN {
                return Err(TokenError::BadHeader);
            }
            let (data, checksum) = body.split_at(body.len() - MAC_LEN);
            let mut zeroed = [0u8; HEADER_LEN];
            zeroed.copy_from_slice(&token[..HEADER_LEN]);
            zeroed[4..8].fill(0);
            keys.sign.verify(&[data, &zeroed], checksum)?;
            body.truncate(body.len() - MAC_LEN);
            body
        };
        // Checked only after the token proved authentic, so that garbage
        // cannot move the expected sequence number.
        if self.detect_replay && seq < self.next_recv_seq {
            return Err(TokenError::Replayed { got: seq, expected: self.next_recv_seq });
        }
        self.next_recv_seq = seq.wrapping_add(1);
        Ok((data, sealed))
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
        (
            CfxContext::new(&keys(true, 1000, 77), true).unwrap(),
            CfxContext::new(&keys(false, 77, 1000), true).unwrap(),
        )
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
        let (mut init, mut acc) = pair(true);
        let mut token = init.wrap(b"rotate me please", true);
        let rrc = 28usize;
        token[6..8].copy_from_slice(&(rrc as u16).to_be_bytes());
        token[HEADER_LEN..].rotate_right(rrc);
        assert_eq!(acc.unwrap(&token).unwrap().0, b"rotate me please");
    }

    #[test]
    fn tampering_replay_and_reflection_are_refused() {
        let (mut init, mut acc) = pair(false);
        let token = init.wrap(b"hello", true);
        let mut bad = token.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert!(matches!(acc.unwrap(&bad), Err(TokenError::Crypto(CryptoError::BadIntegrity))));
        // A changed sequence number in the clear header no longer matches the sealed copy.
        let mut moved = token.clone();
        moved[15] ^= 1;
        assert_eq!(acc.unwrap(&moved), Err(TokenError::BadHeader));
        acc.unwrap(&token).unwrap();
        assert!(matches!(acc.unwrap(&token), Err(TokenError::Replayed { .. })));
        // Our own token sent back to us.
        let own = init.wrap(b"mirror", false);
        assert_eq!(init.unwrap(&own), Err(TokenError::WrongDirection(false)));
        // Integrity-only: the data is in clear but guarded by the checksum.
        let mut signed = init.wrap(b"abc", false);
        signed[HEADER_LEN] = b'x';
        assert!(matches!(acc.unwrap(&signed), Err(TokenError::Crypto(CryptoError::BadIntegrity))));
        assert_eq!(acc.unwrap(b"\x60\x82junk"), Err(TokenError::NotWrapToken));
        assert_eq!(acc.unwrap(&token[..10]), Err(TokenError::TooShort(10)));
    }
}

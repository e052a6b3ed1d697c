//! Kerberos' AES enctypes for message protection: `aes128-cts-hmac-sha1-96`
//! (17) and `aes256-cts-hmac-sha1-96` (18), RFC 3961's simplified profile with
//! RFC 3962's parameters. Key derivation (n-fold, DK), encryption with a
//! random confounder, AES in CBC mode with ciphertext stealing and a zero IV,
//! and HMAC-SHA1 truncated to 96 bits. AES-NI and the SHA extensions are used
//! when the CPU has them (the RustCrypto crates detect them at run time);
//! Debian's MIT build has neither. Everything as good as a key is wiped when
//! dropped: the AES key schedules (the `aes` crate's `zeroize` feature), the
//! HMAC states keyed with the ipad and opad blocks and every per-message copy
//! of them (`KeyedHmac`), and the derived key bytes (DK's output blocks).
//!
//! The types: [`BaseKey`] (a session key or subkey) derives, per key usage,
//! [`EncryptionKeys`] (Ke and Ki: encrypt-then-check messages) and
//! [`ChecksumKey`] (Kc: checksums). Refusals are [`CryptoError`]s.

use aes::cipher::inout::InOutBuf;
use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Kerberos enctype number of `aes128-cts-hmac-sha1-96` (RFC 3962): 16-byte keys.
pub const ENCTYPE_AES128_CTS_HMAC_SHA1_96: i32 = 17;
/// Kerberos enctype number of `aes256-cts-hmac-sha1-96` (RFC 3962): 32-byte keys.
pub const ENCTYPE_AES256_CTS_HMAC_SHA1_96: i32 = 18;

const BLOCK: usize = 16;
/// Length in bytes of the random confounder in front of every plaintext.
pub const CONFOUNDER_LEN: usize = BLOCK;
/// Length in bytes of an HMAC-SHA1-96 tag (the first 96 bits of HMAC-SHA1).
pub const MAC_LEN: usize = 12;

/// Why a key or a ciphertext was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The enctype (the number given) is neither 17 nor 18; such keys are
    /// left to MIT's code.
    #[error("enctype {0} is not an AES-SHA1 enctype")]
    UnsupportedEnctype(i32),
    /// The key is not as long as its enctype's keys (16 or 32 bytes).
    #[error("key of {len} bytes for enctype {enctype}")]
    BadKeyLength {
        /// The enctype the key was given for.
        enctype: i32,
        /// The length of the key given, in bytes.
        len: usize,
    },
    /// A ciphertext (the length given, in bytes) shorter than a confounder
    /// and a tag ([`CONFOUNDER_LEN`] + [`MAC_LEN`]).
    #[error("ciphertext of {0} bytes is too short")]
    TooShort(usize),
    /// The HMAC did not verify: the data was altered, or made with another
    /// key or key usage.
    #[error("integrity check failed")]
    BadIntegrity,
}

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
}

impl Cipher {
    fn new(key: &[u8]) -> Option<Cipher> {
        match key.len() {
            16 => Some(Cipher::Aes128(Box::new(Aes128::new(GenericArray::from_slice(key))))),
            32 => Some(Cipher::Aes256(Box::new(Aes256::new(GenericArray::from_slice(key))))),
            _ => None,
        }
    }

    fn encrypt(&self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Cipher::Aes128(c) => c.encrypt_block(b),
            Cipher::Aes256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Cipher::Aes128(c) => c.decrypt_block(b),
            Cipher::Aes256(c) => c.decrypt_block(b),
        }
    }

    /// CBC encryption with a zero IV, in place; `data` is whole blocks. The
    /// cipher's backend is entered once for all of them.
    fn cbc_encrypt(&self, data: &mut [u8]) {
        match self {
            Cipher::Aes128(c) => cbc::Encryptor::inner_iv_init(c.as_ref().clone(), &Default::default()).encrypt_blocks_inout_mut(whole_blocks(data)),
            Cipher::Aes256(c) => cbc::Encryptor::inner_iv_init(c.as_ref().clone(), &Default::default()).encrypt_blocks_inout_mut(whole_blocks(data)),
        }
    }

    /// CBC decryption with a zero IV, in place; `data` is whole blocks
    /// (decrypted in parallel, which AES-NI pipelines).
    fn cbc_decrypt(&self, data: &mut [u8]) {
        match self {
            Cipher::Aes128(c) => cbc::Decryptor::inner_iv_init(c.as_ref().clone(), &Default::default()).decrypt_blocks_inout_mut(whole_blocks(data)),
            Cipher::Aes256(c) => cbc::Decryptor::inner_iv_init(c.as_ref().clone(), &Default::default()).decrypt_blocks_inout_mut(whole_blocks(data)),
        }
    }
}

fn whole_blocks(data: &mut [u8]) -> InOutBuf<'_, '_, aes::Block> {
    let (blocks, rest) = InOutBuf::from(data).into_chunks();
    debug_assert!(rest.is_empty(), "CBC input must be whole blocks");
    blocks
}

/// A base key (session key or subkey) of an AES-SHA1 enctype. Only its AES key
/// schedule is kept (wiped when dropped); per-usage keys are derived from it.
pub struct BaseKey {
    enctype: i32,
    cipher: Cipher,
}

impl BaseKey {
    /// A key of `enctype` (17 or 18) from its raw `bytes` (16 or 32 of them).
    /// `bytes` is not kept: wiping it is the caller's business.
    pub fn new(enctype: i32, bytes: &[u8]) -> Result<BaseKey, CryptoError> {
        let len = match enctype {
            ENCTYPE_AES128_CTS_HMAC_SHA1_96 => 16,
            ENCTYPE_AES256_CTS_HMAC_SHA1_96 => 32,
            other => return Err(CryptoError::UnsupportedEnctype(other)),
        };
        if bytes.len() != len {
            return Err(CryptoError::BadKeyLength { enctype, len: bytes.len() });
        }
        let cipher = Cipher::new(bytes).ok_or(CryptoError::BadKeyLength { enctype, len: bytes.len() })?;
        Ok(BaseKey { enctype, cipher })
    }

    /// The enctype the key was made for.
    pub fn enctype(&self) -> i32 {
        self.enctype
    }

    /// DK(base, usage | kind): RFC 3961 section 5.1, random-to-key being the identity for AES.
    /// The output and every intermediate block are key material: the blocks
    /// live in a wiped buffer, the output is wiped when the caller drops it.
    fn derive(&self, usage: u32, kind: u8) -> Zeroizing<Vec<u8>> {
        let key_len: usize = if self.enctype == ENCTYPE_AES128_CTS_HMAC_SHA1_96 { 16 } else { 32 };
        let mut constant = [0u8; 5];
        constant[..4].copy_from_slice(&usage.to_be_bytes());
        constant[4] = kind;
        let mut block = Zeroizing::new([0u8; BLOCK]);
        block.copy_from_slice(&n_fold(&constant, BLOCK));
        // Room for whole blocks, so that no push reallocates and leaves a copy behind.
        let mut out = Zeroizing::new(Vec::with_capacity(key_len.div_ceil(BLOCK) * BLOCK));
        while out.len() < key_len {
            // A one-block CBC-CTS encryption with a zero IV is a plain AES block encryption.
            self.cipher.encrypt(&mut block);
            out.extend_from_slice(&block[..]);
        }
        out.truncate(key_len);
        out
    }

    /// The keys for encrypting under key usage `usage` (RFC 4121 section 2:
    /// 22 for the acceptor's wrap tokens, 24 for the initiator's).
    pub fn encryption_keys(&self, usage: u32) -> EncryptionKeys {
        let ke = self.derive(usage, 0xAA);
        let ki = self.derive(usage, 0x55);
        EncryptionKeys {
            cipher: Cipher::new(&ke).expect("DK yields a key of the enctype's length"),
            integrity: KeyedHmac::new(&ki),
        }
    }

    /// The key for checksums under key usage `usage`.
    pub fn checksum_key(&self, usage: u32) -> ChecksumKey {
        ChecksumKey { mac: KeyedHmac::new(&self.derive(usage, 0x99)) }
    }
}

/// HMAC-SHA1 keyed once. Its state (the SHA-1 states after the ipad and opad
/// blocks) is as good as the key: it is wiped when dropped, and so is the copy
/// that each message is processed with.
#[derive(Clone)]
struct KeyedHmac(Hmac<Sha1>);

// `KeyedHmac`'s Drop relies on `Hmac<Sha1>` being flat (see there); a change
// of its layout in a new version of the hmac or sha1 crate shows up here.
const _: () = assert!(std::mem::size_of::<Hmac<Sha1>>() == 168);

impl KeyedHmac {
    fn new(key: &[u8]) -> KeyedHmac {
        KeyedHmac(<Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length"))
    }

    /// HMAC-SHA1 of the concatenated `parts`, truncated to 96 bits.
    fn tag(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut mac = self.clone();
        for part in parts {
            mac.0.update(part);
        }
        // finalize_reset works in place (finalize would move the state out
        // of the wiped copy); the copy is wiped when it goes out of scope.
        let full = mac.0.finalize_reset().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Compares in constant time.
    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError> {
        if tag.len() != MAC_LEN {
            return Err(CryptoError::BadIntegrity);
        }
        if bool::from(self.tag(parts).ct_eq(tag)) {
            Ok(())
        } else {
            Err(CryptoError::BadIntegrity)
        }
    }
}

impl Drop for KeyedHmac {
    fn drop(&mut self) {
        // SAFETY: `Hmac<Sha1>` (hmac 0.12, sha1 0.10, digest 0.10) is a
        // `CoreWrapper<HmacCore<Sha1>>`: three `Sha1Core`s (running, opad
        // and, with the `reset` feature, ipad; each a `[u32; 5]` and a `u64`
        // block count) and a `BlockBuffer` (`[u8; 64]` and a `u8` position). Integers and arrays only: no pointers, no Drop impl, and
        // all zeroes is a valid value of every field (an empty buffer). The
        // pointer comes from a live `&mut` and nothing reads the value after
        // this; the size assertion above guards against a layout change.
        unsafe { zeroize::zeroize_flat_type(&mut self.0 as *mut Hmac<Sha1>) }
    }
}

/// Ke and Ki for one key usage: RFC 3961 encryption (random confounder,
/// AES-CTS with a zero IV, HMAC-SHA1-96 over confounder and plaintext).
/// Wiped when dropped.
#[derive(Clone)]
pub struct EncryptionKeys {
    cipher: Cipher,
    integrity: KeyedHmac,
}

impl EncryptionKeys {
    /// Appends `confounder | plaintext` encrypted, then the HMAC, to `out`:
    /// [`CONFOUNDER_LEN`] + plaintext length + [`MAC_LEN`] bytes. The
    /// plaintext is given in `parts` so that callers need not concatenate.
    pub fn encrypt_into(&self, parts: &[&[u8]], out: &mut Vec<u8>) {
        let start = out.len();
        let mut confounder = [0u8; CONFOUNDER_LEN];
        rand::thread_rng().fill_bytes(&mut confounder);
        out.extend_from_slice(&confounder);
        for part in parts {
            out.extend_from_slice(part);
        }
        let tag = self.integrity.tag(&[&out[start..]]);
        cts_encrypt(&self.cipher, &mut out[start..]);
        out.extend_from_slice(&tag);
    }

    /// Decrypts `ciphertext | mac` in place, checks the HMAC and returns the
    /// plaintext's range within the buffer (the confounder stripped). After an
    /// error the buffer holds unauthenticated bytes and must not be used.
    pub fn decrypt_in_place(&self, data: &mut [u8]) -> Result<std::ops::Range<usize>, CryptoError> {
        if data.len() < CONFOUNDER_LEN + MAC_LEN {
            return Err(CryptoError::TooShort(data.len()));
        }
        let (body, tag) = data.split_at_mut(data.len() - MAC_LEN);
        cts_decrypt(&self.cipher, body);
        self.integrity.verify(&[body], tag)?;
        Ok(CONFOUNDER_LEN..body.len())
    }
}

/// Kc for one key usage: HMAC-SHA1-96 checksums. Wiped when dropped.
#[derive(Clone)]
pub struct ChecksumKey {
    mac: KeyedHmac,
}

impl ChecksumKey {
    /// The checksum of the concatenated `parts`.
    pub fn checksum(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        self.mac.tag(parts)
    }

    /// Checks `tag` against the checksum of the concatenated `parts`, in
    /// constant time; a tag of the wrong length is [`CryptoError::BadIntegrity`].
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError> {
        self.mac.verify(parts, tag)
    }
}

/// RFC 3961 n-fold of `input` to `out_len` bytes. An empty `input` folds to
/// zeroes (and panics when `out_len` is 0 as well).
pub fn n_fold(input: &[u8], out_len: usize) -> Vec<u8> {
    let in_len = input.len();
    let lcm = out_len / gcd(out_len, in_len) * in_len;
    let in_bits = in_len * 8;
    let mut out = vec![0u8; out_len];
    let mut carry: u32 = 0;
    // Walk the lcm-byte string of rotated copies from its last byte, adding
    // each byte into its place in the output with the carry running on.
    for i in (0..lcm).rev() {
        // The most significant bit, within the input, of the byte that lands
        // at position i: copy number i / in_len is rotated right by 13 bits
        // per copy.
        let msbit = ((in_bits - 1) + (in_bits + 13) * (i / in_len) + (in_len - i % in_len) * 8) % in_bits;
        let hi = input[(in_len - 1 - (msbit >> 3)) % in_len] as u32;
        let lo = input[(in_len - (msbit >> 3)) % in_len] as u32;
        carry += (((hi << 8) | lo) >> ((msbit & 7) + 1)) & 0xff;
        carry += out[i % out_len] as u32;
        out[i % out_len] = carry as u8;
        carry >>= 8;
    }
    // Ones' complement addition: the final carry goes around.
    if carry != 0 {
        for byte in out.iter_mut().rev() {
            carry += *byte as u32;
            *byte = carry as u8;
            carry >>= 8;
        }
    }
    out
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// For more than one block: where the last block starts, and its length
/// (1 to 16; a whole block when the length is a multiple of 16).
fn split_last_block(len: usize) -> (usize, usize) {
    debug_assert!(len > BLOCK);
    let tail = match len % BLOCK {
        0 => BLOCK,
        r => r,
    };
    (len - tail, tail)
}

/// AES-CBC with ciphertext stealing (RFC 3962: the last two blocks swapped,
/// always), zero IV, in place. `data` must be at least one block long.
fn cts_encrypt(cipher: &Cipher, data: &mut [u8]) {
    if let Ok(block) = <&mut [u8; BLOCK]>::try_from(&mut *data) {
        cipher.encrypt(block);
        return;
    }
    let (full, tail) = split_last_block(data.len());
    // Blocks before the last (possibly partial) one: plain CBC.
    cipher.cbc_encrypt(&mut data[..full]);
    // C(n-1), then the last block, zero-padded, chained on it: C(n).
    let prev_start = full - BLOCK;
    let mut prev = [0u8; BLOCK];
    prev.copy_from_slice(&data[prev_start..full]);
    let mut last = prev;
    xor_into(&mut last[..tail], &data[full..]);
    cipher.encrypt(&mut last);
    // Output ..., C(n), C(n-1) truncated to the tail's length.
    data[prev_start..full].copy_from_slice(&last);
    data[full..].copy_from_slice(&prev[..tail]);
}

/// Inverse of [`cts_encrypt`], in place.
fn cts_decrypt(cipher: &Cipher, data: &mut [u8]) {
    if let Ok(block) = <&mut [u8; BLOCK]>::try_from(&mut *data) {
        cipher.decrypt(block);
        return;
    }
    let (full, tail) = split_last_block(data.len());
    let prev_start = full - BLOCK;
    // Undo the swap: decrypting C(n) gives C(n-1) XOR P(n)padded, whose bytes
    // past the tail are C(n-1)'s own, so C(n-1) can be made whole again.
    let mut last = [0u8; BLOCK];
    last.copy_from_slice(&data[prev_start..full]);
    cipher.decrypt(&mut last);
    let mut prev = [0u8; BLOCK];
    prev[..tail].copy_from_slice(&data[full..]);
    prev[tail..].copy_from_slice(&last[tail..]);
    xor_into(&mut last[..tail], &prev[..tail]);
    data[prev_start..full].copy_from_slice(&prev);
    data[full..].copy_from_slice(&last[..tail]);
    // Now data[..full] is ordinary CBC ciphertext.
    cipher.cbc_decrypt(&mut data[..full]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn n_fold_matches_rfc3961_vectors() {
        let cases: [(&str, usize, &str); 6] = [
            ("012345", 8, "be072631276b1955"),
            ("password", 7, "78a07b6caf85fa"),
            ("Rough Consensus, and Running Code", 8, "bb6ed30870b7f0e0"),
            ("password", 21, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
            ("MASSACHVSETTS INSTITVTE OF TECHNOLOGY", 24, "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"),
            ("kerberos", 16, "6b65726265726f737b9b5b2b93132b93"),
        ];
        for (input, len, want) in cases {
            assert_eq!(n_fold(input.as_bytes(), len), hex(want), "{len}-byte fold of {input:?}");
        }
    }

    /// RFC 3962 appendix B: AES-128 CTS with the key "chicken teriyaki" and a
    /// zero IV, on prefixes of one sentence.
    #[test]
    fn cts_matches_rfc3962_vectors() {
        let key = b"chicken teriyaki";
        let input = b"I would like the General Gau's Chicken, please, and wonton soup.";
        let cases: [(usize, &str); 6] = [
            (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
            (31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"),
            (32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"),
            (47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"),
            (48, "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"),
            (64, "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"),
        ];
        let cipher = Cipher::new(key).unwrap();
        for (len, want) in cases {
            let mut data = input[..len].to_vec();
            cts_encrypt(&cipher, &mut data);
            assert_eq!(data, hex(want), "encrypting {len} bytes");
            cts_decrypt(&cipher, &mut data);
            assert_eq!(&data[..], &input[..len], "decrypting {len} bytes");
        }
    }

    #[test]
    fn encryption_round_trips_and_detects_tampering() {
        for (enctype, len) in [(ENCTYPE_AES128_CTS_HMAC_SHA1_96, 16), (ENCTYPE_AES256_CTS_HMAC_SHA1_96, 32)] {
            let base = BaseKey::new(enctype, &vec![7u8; len]).unwrap();
            let keys = base.encryption_keys(24);
            for size in [0usize, 1, 15, 16, 17, 100, 4096] {
                let plain: Vec<u8> = (0..size).map(|i| i as u8).collect();
                let mut token = Vec::new();
                keys.encrypt_into(&[&plain[..size / 2], &plain[size / 2..]], &mut token);
                assert_eq!(token.len(), CONFOUNDER_LEN + size + MAC_LEN);
                let mut copy = token.clone();
                let range = keys.decrypt_in_place(&mut copy).unwrap();
                assert_eq!(&copy[range], &plain[..]);
                let mut bad = token.clone();
                bad[CONFOUNDER_LEN / 2] ^= 1;
                assert_eq!(keys.decrypt_in_place(&mut bad), Err(CryptoError::BadIntegrity));
                // Another usage's keys do not open it.
                let mut other = token.clone();
                assert!(base.encryption_keys(22).decrypt_in_place(&mut other).is_err());
            }
        }
    }

    /// RFC 2202 test cases 1 and 6 (a key longer than a block), with the
    /// message split in parts.
    #[test]
    fn hmac_matches_rfc2202_vectors() {
        let mac = KeyedHmac::new(&[0x0b; 20]);
        assert_eq!(mac.tag(&[b"Hi ", b"There"])[..], hex("b617318655057264e28bc0b6fb378c8ef146be00")[..MAC_LEN]);
        let mac = KeyedHmac::new(&[0xaa; 80]);
        let msg = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(mac.tag(&[&msg[..10], &msg[10..]])[..], hex("aa4ae5e15272d00e95705637ce8a3b55ed402112")[..MAC_LEN]);
        assert_eq!(mac.verify(&[msg], &hex("aa4ae5e15272d00e95705637ce8a3b55ed402112")[..MAC_LEN]), Ok(()));
        assert_eq!(mac.verify(&[msg], &[0; MAC_LEN]), Err(CryptoError::BadIntegrity));
        assert_eq!(mac.verify(&[msg], &[0; 20]), Err(CryptoError::BadIntegrity));
    }

    /// The keyed HMAC state is as good as the key: nothing of it may be left
    /// in memory once the key is dropped.
    #[test]
    fn keyed_hmac_state_is_wiped_on_drop() {
        let mut slot = std::mem::MaybeUninit::<KeyedHmac>::zeroed();
        slot.write(KeyedHmac::new(&[0x42; 20]));
        // SAFETY: `slot` holds an initialised value, dropped exactly once
        // here; afterwards its bytes are only read as bytes (all of them were
        // written, the padding by the zeroed start or by the wipe).
        let bytes = unsafe {
            std::ptr::drop_in_place(slot.as_mut_ptr());
            std::slice::from_raw_parts(slot.as_ptr() as *const u8, std::mem::size_of::<KeyedHmac>()).to_vec()
        };
        assert!(bytes.iter().all(|&b| b == 0), "HMAC state left after drop: {bytes:02x?}");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(BaseKey::new(23, &[0; 16]).err(), Some(CryptoError::UnsupportedEnctype(23)));
        assert_eq!(
            BaseKey::new(ENCTYPE_AES256_CTS_HMAC_SHA1_96, &[0; 16]).err(),
            Some(CryptoError::BadKeyLength { enctype: 18, len: 16 })
        );
    }
}

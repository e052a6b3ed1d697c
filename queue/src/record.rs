//! On-disk formats: segment header and record framing.
//!
//! A segment file starts with an 8-byte magic. Each record is
//! `len: u32 LE | crc32c(seq LE ‖ payload): u32 LE | seq: u64 LE | payload`.

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"GSLQSEG1";
pub(crate) const SEGMENT_HEADER: u64 = SEGMENT_MAGIC.len() as u64;
pub(crate) const RECORD_HEADER: usize = 16;

/// Sequence numbers and segment ids above this come from damaged files, not
/// from a queue (2^62 records is a billion a second for 146 years); they are
/// treated as corrupt, so that counting on from them cannot overflow.
pub(crate) const MAX_PLAUSIBLE: u64 = 1 << 62;

pub(crate) fn checksum(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Appends one framed record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

pub(crate) fn encoded_len(payload_len: usize) -> u64 {
    (RECORD_HEADER + payload_len) as u64
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
}

impl RecordHeader {
    pub fn decode(b: &[u8; RECORD_HEADER]) -> Self {
        RecordHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            seq: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    pub fn matches(&self, payload: &[u8]) -> bool {
        checksum(self.seq, payload) == self.crc
    }
}

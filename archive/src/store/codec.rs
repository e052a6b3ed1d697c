//! Bounded reading and writing of the archive's binary records: varints,
//! length-prefixed byte strings, fixed-width checksums. A reader never
//! reads past its slice and never allocates more than the bytes it holds,
//! whatever a damaged or hostile file says.

use super::FormatError;

/// Appends records to a byte vector.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn u32_le(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

/// Reads records from a slice, failing with [`FormatError::Truncated`] at its end.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn rest_len(&self) -> usize {
        self.rest.len()
    }

    pub fn u8(&mut self) -> Result<u8, FormatError> {
        let (&b, rest) = self.rest.split_first().ok_or(FormatError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FormatError::Invalid("varint longer than 64 bits"))
    }

    /// A varint that must fit in `u32`.
    pub fn varint32(&mut self) -> Result<u32, FormatError> {
        u32::try_from(self.varint()?).map_err(|_| FormatError::Invalid("value over 32 bits"))
    }

    /// A count of items, each taking at least one byte: never more than the bytes left.
    pub fn count(&mut self) -> Result<usize, FormatError> {
        let n = self.varint()?;
        if n > self.rest.len() as u64 {
            return Err(FormatError::Truncated);
        }
        Ok(n as usize)
    }

    pub fn u32_le(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if n > self.rest.len() {
            return Err(FormatError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| FormatError::Truncated)?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overlong_ones_fail() {
        let mut w = Writer::default();
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            w.varint(v);
        }
        let mut r = Reader::new(&w.buf);
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(r.varint(), Ok(v));
        }
        assert!(r.is_empty());
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(FormatError::Invalid("varint longer than 64 bits")));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(FormatError::Truncated));
    }

    #[test]
    fn a_length_past_the_end_is_truncated_not_allocated() {
        let mut w = Writer::default();
        w.varint(u64::MAX / 2);
        assert_eq!(Reader::new(&w.buf).bytes(), Err(FormatError::Truncated));
        assert_eq!(Reader::new(&w.buf).count(), Err(FormatError::Truncated));
    }
}

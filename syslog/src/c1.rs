//! C1 control characters (0x80-0x9F): where they are in a message's bytes.
//!
//! A terminal that shows a log line acts on C1 controls as on C0 ones (0x9B
//! is CSI, the 8-bit form of `ESC [`). rsyslog escapes only C0 (and DEL is
//! left alone on receive) and lets every byte of 0x80 or more through, since
//! escaping them all would break UTF-8 text. We find the C1 controls without
//! breaking UTF-8:
//! - a byte 0x80-0x9F that is not part of a valid UTF-8 sequence (a raw
//!   8-bit C1 control, as a Latin-1 sender or an attacker writes it);
//! - a valid UTF-8 sequence that encodes U+0080-U+009F (`C2 80` to `C2 9F`),
//!   which UTF-8 terminals read as the same controls.
//!
//! Every other byte, valid UTF-8 or not (`é` in UTF-8 or in Latin-1, `€`
//! whose encoding `E2 82 AC` holds 0x82), is left as it is.

/// Whether `bytes` may hold a C1 control: some byte is in 0x80-0x9F. A quick
/// test, without an early exit, that the compiler vectorises; most messages
/// have no such byte at all.
pub fn may_contain(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |any, &c| any | (c & 0xE0 == 0x80))
}

/// Splits `bytes` into runs, calling `each(run, is_control)`: runs of
/// ordinary bytes, and each C1 control on its own (one byte, or the two
/// bytes of its UTF-8 encoding). The runs, joined, are `bytes`.
pub fn split(bytes: &[u8], mut each: impl FnMut(&[u8], bool)) {
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let mut start = 0;
        for (at, c) in valid.char_indices() {
            if ('\u{80}'..='\u{9f}').contains(&c) {
                if start < at {
                    each(&valid.as_bytes()[start..at], false);
                }
                each(&valid.as_bytes()[at..at + 2], true);
                start = at + 2;
            }
        }
        if start < valid.len() {
            each(&valid.as_bytes()[start..], false);
        }
        let invalid = chunk.invalid();
        let mut start = 0;
        for (at, &c) in invalid.iter().enumerate() {
            if c & 0xE0 == 0x80 {
                if start < at {
                    each(&invalid[start..at], false);
                }
                each(&invalid[at..at + 1], true);
                start = at + 1;
            }
        }
        if start < invalid.len() {
            each(&invalid[start..], false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(bytes: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut runs = Vec::new();
        split(bytes, |run, control| runs.push((run.to_vec(), control)));
        assert_eq!(runs.concat_bytes(), bytes, "the runs joined are the input");
        runs
    }

    trait Concat {
        fn concat_bytes(&self) -> Vec<u8>;
    }
    impl Concat for Vec<(Vec<u8>, bool)> {
        fn concat_bytes(&self) -> Vec<u8> {
            self.iter().flat_map(|(r, _)| r.clone()).collect()
        }
    }

    fn controls(bytes: &[u8]) -> Vec<Vec<u8>> {
        marked(bytes).into_iter().filter(|(_, c)| *c).map(|(r, _)| r).collect()
    }

    #[test]
    fn raw_c1_bytes_and_encoded_c1_characters_are_controls() {
        assert_eq!(controls(b"a\x9b31mb"), [b"\x9b".to_vec()]);
        assert_eq!(controls(b"\x80\x9f"), [b"\x80".to_vec(), b"\x9f".to_vec()]);
        assert_eq!(controls("a\u{9b}b\u{85}".as_bytes()), [b"\xc2\x9b".to_vec(), b"\xc2\x85".to_vec()]);
        // A lead byte whose sequence is cut: the stray 0x9B after it is raw.
        assert_eq!(controls(b"\xe2\x9b"), [b"\x9b".to_vec()]);
    }

    #[test]
    fn utf8_text_and_other_high_bytes_stay_whole() {
        for text in ["plain", "caf\u{e9}", "\u{20ac}100 \u{65e5}\u{672c} \u{1f600}", "\u{a0}\u{ff}"] {
            assert!(controls(text.as_bytes()).is_empty(), "{text}");
        }
        assert!(controls(b"Latin-1 caf\xe9 \xa0\xff").is_empty());
        assert!(!may_contain("caf\u{e9}".as_bytes()), "0xC3 0xA9: no byte in 0x80-0x9F");
        assert!(may_contain("\u{20ac}".as_bytes()), "E2 82 AC holds 0x82: a closer look is needed");
    }
}

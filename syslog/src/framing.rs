//! Syslog over a byte stream, both ways.
//!
//! [`encode`] frames one message as rsyslog's omgssapi sends it ([`Framing`]:
//! LF-terminated or octet-counted, optionally zlib-compressed).
//!
//! [`Deframer`] splits a TCP (or unwrapped GSS) byte stream into syslog
//! messages, as rsyslog's TCP receivers do: each frame is octet-counted
//! (`LEN SP MSG`) when it starts with a digit, otherwise it runs to the next
//! LF. A message longer than the maximum size is split into pieces of that size.
//!
//! Deliberate difference from rsyslog: when the digits at the start of a frame
//! are not followed by a space, rsyslog eats that character and reads an
//! octet-counted frame of that length (merging or losing messages); we take
//! the frame as LF-terminated text instead.

use std::io::Write;

/// How a shipper frames each message: the `(zN,o)` options of an
/// `:omgssapi:` action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framing {
    /// `o`: `LEN SP msg` instead of `msg LF`.
    pub octet_counted: bool,
    /// `zN`: compress with zlib at level N (0-9) when that makes a message
    /// over 60 bytes shorter.
    pub zlib_level: Option<u32>,
}

/// rsyslog's omgssapi framing: LF appended (unless present), or `LEN SP msg`
/// with `(o)`; with `(zN)` a message over 60 bytes is zlib-compressed when
/// that makes it shorter, and then always octet-counted as `LEN SP z...`.
pub fn encode(msg: &[u8], framing: Framing, out: &mut Vec<u8>) {
    if let Some(level) = framing.zlib_level.filter(|_| msg.len() > 60) {
        let mut z = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::new(level));
        if z.write_all(msg).is_ok() {
            if let Ok(compressed) = z.finish() {
                if compressed.len() < msg.len() {
                    out.extend_from_slice(format!("{} ", compressed.len()).as_bytes());
                    out.extend_from_slice(&compressed);
                    return;
                }
            }
        }
    }
    if framing.octet_counted {
        out.extend_from_slice(format!("{} ", msg.len()).as_bytes());
        out.extend_from_slice(msg);
    } else {
        out.extend_from_slice(msg);
        if msg.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
}

/// The message inside one frame made by [`encode`]: the octet count or the
/// final LF taken off, and a `z` message inflated (to at most `max` bytes)
/// when it is a zlib stream; anything else is the message as it is. For
/// reading a shipper's queue back (`omgssapi queue export`).
pub fn decode(frame: &[u8], max: usize) -> Vec<u8> {
    let digits = frame.iter().take_while(|b| b.is_ascii_digit()).count();
    let counted = (digits > 0 && frame.get(digits) == Some(&b' '))
        .then(|| std::str::from_utf8(&frame[..digits]).ok()?.parse::<usize>().ok())
        .flatten()
        .filter(|&n| n == frame.len() - digits - 1);
    let body = match counted {
        Some(_) => &frame[digits + 1..],
        None => frame.strip_suffix(b"\n").unwrap_or(frame),
    };
    if let Some(compressed) = body.strip_prefix(b"z") {
        let mut inflated = Vec::new();
        let mut reader = std::io::Read::take(flate2::read::ZlibDecoder::new(compressed), max as u64);
        if std::io::Read::read_to_end(&mut reader, &mut inflated).is_ok() {
            return inflated;
        }
    }
    body.to_vec()
}

#[derive(Debug)]
enum State {
    /// At the start of a frame.
    Start,
    /// Reading the digits of an octet count (kept in case they are text).
    Count(Vec<u8>),
    /// Inside an LF-terminated message.
    Line,
    /// Inside an octet-counted message, with this many bytes to go.
    Counted(usize),
}

/// Splits a byte stream into messages; feed it with [`Deframer::push`].
#[derive(Debug)]
pub struct Deframer {
    state: State,
    msg: Vec<u8>,
    max: usize,
}

/// More digits than any sane count: the frame is text, not a length.
const MAX_COUNT_DIGITS: usize = 10;

impl Deframer {
    /// A deframer that splits messages longer than `max_message_size`.
    pub fn new(max_message_size: usize) -> Self {
        Deframer { state: State::Start, msg: Vec::new(), max: max_message_size.max(1) }
    }

    /// Feeds received bytes; calls `emit` for every complete message.
    pub fn push(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !data.is_empty() {
            match &mut self.state {
                State::Start => {
                    if data[0].is_ascii_digit() {
                        self.state = State::Count(Vec::new());
                    } else {
                        self.state = State::Line;
                    }
                }
                State::Count(digits) => {
                    let c = data[0];
                    if c.is_ascii_digit() && digits.len() < MAX_COUNT_DIGITS {
                        digits.push(c);
                        data = &data[1..];
                    } else if c == b' ' {
                        let n = std::str::from_utf8(digits).ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
                        data = &data[1..];
                        self.state = if n == 0 { State::Start } else { State::Counted(n) };
                    } else {
                        // Not a count after all: the digits begin an LF-terminated message.
                        let digits = std::mem::take(digits);
                        self.state = State::Line;
                        for d in digits {
                            self.append(d, emit);
                        }
                    }
                }
                State::Line => match memchr::memchr(b'\n', data) {
                    Some(end) if self.msg.is_empty() && end <= self.max => {
                        // The whole line is in this chunk: hand it over without a copy.
                        if end > 0 {
                            emit(&data[..end]);
                        }
                        self.state = State::Start;
                        data = &data[end + 1..];
                    }
                    Some(end) => {
                        self.append_all(&data[..end], emit);
                        self.submit(emit);
                        self.state = State::Start;
                        data = &data[end + 1..];
                    }
                    None => {
                        self.append_all(data, emit);
                        data = &[];
                    }
                },
                State::Counted(remaining) => {
                    let take = (*remaining).min(data.len());
                    *remaining -= take;
                    let done = *remaining == 0;
                    self.append_all(&data[..take], emit);
                    data = &data[take..];
                    if done {
                        self.submit(emit);
                        self.state = State::Start;
                    }
                }
            }
        }
    }

    /// At the end of a plain TCP stream: submit an unterminated last message,
    /// as rsyslog does for plain TCP (its GSS sessions drop it; see the caller).
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if let State::Count(digits) = &mut self.state {
            let digits = std::mem::take(digits);
            self.append_all(&digits, emit);
        }
        self.submit(emit);
        self.state = State::Start;
    }

    /// Whether bytes of an unfinished message are held.
    pub fn has_partial(&self) -> bool {
        !self.msg.is_empty() || matches!(&self.state, State::Count(d) if !d.is_empty())
    }

    fn append(&mut self, c: u8, emit: &mut impl FnMut(&[u8])) {
        self.append_all(&[c], emit);
    }

    fn append_all(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = self.max - self.msg.len();
            let take = room.min(bytes.len());
            self.msg.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.msg.len() >= self.max {
                // rsyslog splits an oversize message: this part goes now.
                self.submit(emit);
            }
        }
    }

    fn submit(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.msg.is_empty() {
            emit(&self.msg);
            self.msg.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_undoes_encode_for_every_framing() {
        let long = "<13>Nov 23 12:00:00 node1 app: ".to_string() + &"compressible ".repeat(20);
        for msg in ["<13>Nov 23 12:00:00 node1 app: short", long.as_str(), "zebra: not compressed at all"] {
            for framing in [
                Framing::default(),
                Framing { octet_counted: true, zlib_level: None },
                Framing { octet_counted: false, zlib_level: Some(9) },
            ] {
                let mut frame = Vec::new();
                encode(msg.as_bytes(), framing, &mut frame);
                assert_eq!(String::from_utf8(decode(&frame, 64 * 1024)).unwrap(), msg, "{framing:?}");
            }
        }
    }

    fn frames(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut d = Deframer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut |m| out.push(String::from_utf8_lossy(m).into_owned()));
        }
        d.finish(&mut |m| out.push(format!("[eof]{}", String::from_utf8_lossy(m))));
        out
    }

    fn framing(zlib_level: Option<u32>, octet_counted: bool) -> Framing {
        Framing { octet_counted, zlib_level }
    }

    #[test]
    fn framing_like_omgssapi() {
        let mut out = Vec::new();
        encode(b"<13>short", framing(None, false), &mut out);
        assert_eq!(out, b"<13>short\n");
        out.clear();
        encode(b"<30>Nov 23 12:15:13 vm pbs_mom: short", framing(None, true), &mut out);
        assert_eq!(out, b"37 <30>Nov 23 12:15:13 vm pbs_mom: short");
        out.clear();
        let long = vec![b'a'; 500];
        encode(&long, framing(Some(9), false), &mut out);
        let (len, rest) = out.split_at(out.iter().position(|c| *c == b' ').unwrap());
        assert_eq!(std::str::from_utf8(len).unwrap().parse::<usize>().unwrap(), rest.len() - 1);
        assert_eq!(&rest[1..3], b"zx", "z prefix, then a zlib stream");
        out.clear();
        encode(b"<13>under sixty bytes stays plain", framing(Some(9), false), &mut out);
        assert_eq!(out, b"<13>under sixty bytes stays plain\n");
    }

    /// What the collector does with a `z` frame (the parser inflates it).
    fn inflate(frame: &[u8]) -> Vec<u8> {
        use std::io::Read;
        match frame.strip_prefix(b"z") {
            Some(z) => {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(z).read_to_end(&mut out).unwrap();
                out
            }
            None => frame.to_vec(),
        }
    }

    /// Encodes `messages` back to back, feeds the stream to a Deframer in
    /// awkward pieces (as TCP may deliver it), and returns what comes out.
    fn round_trip(messages: &[Vec<u8>], framing: Framing) -> Vec<Vec<u8>> {
        let mut stream = Vec::new();
        for m in messages {
            encode(m, framing, &mut stream);
        }
        let mut got = Vec::new();
        let mut d = Deframer::new(64 * 1024);
        for chunk in stream.chunks(7) {
            d.push(chunk, &mut |m| got.push(inflate(m)));
        }
        d.finish(&mut |m| got.push(inflate(m)));
        got
    }

    #[test]
    fn encoded_messages_come_back_whole_from_the_deframer() {
        let incompressible: Vec<u8> = (0..80u32).map(|i| b'!' + (i * 37 % 90) as u8).collect();
        let messages: Vec<Vec<u8>> = vec![
            b"<13>short".to_vec(),
            b"2026-11-23 a line that starts with digits".to_vec(),
            [b"<13>long and compressible ".as_slice(), &[b'x'; 300]].concat(),
            vec![b'y'; 60],
            [b"<13>".as_slice(), &incompressible].concat(),
        ];
        for framing in [framing(None, false), framing(None, true), framing(Some(6), false), framing(Some(9), true)] {
            assert_eq!(round_trip(&messages, framing), messages, "{framing:?}");
        }
        // Octet counting carries LFs inside and at the end of a message too.
        let with_lfs = vec![b"<13>two\nlines".to_vec(), b"<13>own LF\n".to_vec(), [b"<13>z ".as_slice(), &[b'\n'; 100]].concat()];
        for framing in [framing(None, true), framing(Some(9), true)] {
            assert_eq!(round_trip(&with_lfs, framing), with_lfs, "{framing:?}");
        }
    }

    #[test]
    fn lf_and_octet_counted_mixed_and_split_across_chunks() {
        let got = frames(&[b"<13>a\n<13>b", b"c\n9 <13>x\ny z", b"w\n"], 100);
        assert_eq!(got, ["<13>a", "<13>bc", "<13>x\ny z", "w"]);
    }

    #[test]
    fn oversize_messages_are_split() {
        assert_eq!(frames(&[b"abcdefgh\n"], 3), ["abc", "def", "gh"]);
        assert_eq!(frames(&[b"7 abcdefg"], 3), ["abc", "def", "g"]);
    }

    #[test]
    fn unterminated_tail_and_digits_that_are_text() {
        assert_eq!(frames(&[b"<13>a\n<13>partial"], 100), ["<13>a", "[eof]<13>partial"]);
        assert_eq!(frames(&[b"2026-11-23 text\n"], 100), ["2026-11-23 text"]);
        assert_eq!(frames(&[b"\n\n<13>a\n"], 100), ["<13>a"], "empty lines are no messages");
    }

    #[test]
    fn digits_left_at_the_end_respect_the_maximum() {
        // Found by the deframer fuzz target: digits still being read as a count
        // when the stream ended were submitted whole, past the maximum size.
        assert_eq!(frames(&[b"\xfc\xff\n0000"], 1), ["\u{fffd}", "\u{fffd}", "[eof]0", "[eof]0", "[eof]0", "[eof]0"]);
        assert_eq!(frames(&[b"12345"], 2), ["[eof]12", "[eof]34", "[eof]5"]);
    }
}

//! Splitting a TCP (or unwrapped GSS) byte stream into syslog messages, as
//! rsyslog's TCP receivers do: each frame is octet-counted (`LEN SP MSG`) when
//! it starts with a digit, otherwise it runs to the next LF. A message longer
//! than the maximum size is split into pieces of that size.
//!
//! Deliberate difference from rsyslog: when the digits at the start of a frame
//! are not followed by a space, rsyslog eats that character and reads an
//! octet-counted frame of that length (merging or losing messages); we take
//! the frame as LF-terminated text instead.

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

#[derive(Debug)]
pub struct Deframer {
    state: State,
    msg: Vec<u8>,
    max: usize,
}

/// More digits than any sane count: the frame is text, not a length.
const MAX_COUNT_DIGITS: usize = 10;

impl Deframer {
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

    fn frames(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut d = Deframer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut |m| out.push(String::from_utf8_lossy(m).into_owned()));
        }
        d.finish(&mut |m| out.push(format!("[eof]{}", String::from_utf8_lossy(m))));
        out
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

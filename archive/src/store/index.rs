//! The token index of a pack: which of its chunks hold which words.
//!
//! A token is a maximal run of word bytes (`[A-Za-z0-9_]`, grep's word
//! constituents in the C locale), ASCII-lowercased, cut to [`MAX_TOKEN`]
//! bytes (a chunk with a longer one carries [`FLAG_LONG_TOKEN`]). The index
//! of a pack is its sorted token dictionary (one `\n`-separated blob, so
//! that a substring of a token is found with one memmem pass) and, for each
//! token, the slots of the chunks that hold it.
//!
//! A search asks the index with a [`Probe`]: a word piece that every
//! matching line must hold, either as a whole token (`Exact`) or inside
//! one (`Contains`). The answer is a superset of the chunks with a match:
//! never a chunk too few.
//!
//! [`FLAG_LONG_TOKEN`]: super::manifest::FLAG_LONG_TOKEN

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

use super::codec::{Reader, Writer};
use super::FormatError;

pub const MAX_TOKEN: usize = 64;
const MAGIC: &[u8; 8] = b"GSLINDX3";
/// A word found in more of a chunk's blocks than this is posted for the
/// whole chunk (its block list would cost more than it saves).
pub const MAX_LISTED_BLOCKS: usize = 16;
/// A chunk of fewer blocks than this has no block lists.
pub const MIN_LISTED_CHUNK: usize = 4;
/// A dictionary hit list longer than this reads every chunk of the pack:
/// the probe is too common to be worth the postings.
const MAX_HITS: usize = 4096;
/// The largest decompressed index a reader accepts.
const MAX_INDEX: u32 = 1 << 30;

pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The distinct tokens of one chunk: words, and numbers apart (digits
/// only, no leading zero, at most 19 digits: most of a log's distinct
/// tokens, kept as integers), each with the blocks of the chunk that hold
/// it (words only; empty: every block may, see [`MAX_LISTED_BLOCKS`]).
#[derive(Debug, Default)]
pub struct Tokens {
    pub words: Vec<(Box<[u8]>, Vec<u32>)>,
    pub numbers: Vec<u64>,
    /// A token was longer than [`MAX_TOKEN`].
    pub long: bool,
}

/// Hashes the numbers of the index: one multiply with a key drawn per
/// process (numbers come from the logs, so the key keeps an outsider from
/// choosing colliding ones), several times cheaper than SipHash, which the
/// words keep.
#[derive(Clone, Copy, Default)]
pub struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let mixed = (self.0 ^ n ^ NumberHasher::key()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = mixed ^ (mixed >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl NumberHasher {
    fn key() -> u64 {
        static KEY: OnceLock<u64> = OnceLock::new();
        *KEY.get_or_init(|| RandomState::new().hash_one(0x6773_736c_6f67u64))
    }
}

/// Builds [`NumberHasher`]s.
#[derive(Clone, Copy, Default)]
pub struct Numbers;

impl BuildHasher for Numbers {
    type Hasher = NumberHasher;
    fn build_hasher(&self) -> NumberHasher {
        NumberHasher(0)
    }
}

/// The value of a token that is kept as a number.
pub fn as_number(token: &[u8]) -> Option<u64> {
    let canonical = !token.is_empty() && token.len() <= 19 && (token[0] != b'0' || token.len() == 1);
    if !canonical || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(token.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// The distinct tokens of `chunk`, whose blocks end at `block_ends`
/// (ascending offsets in `chunk`, the last one its length).
pub fn tokens(chunk: &[u8], block_ends: &[usize]) -> Tokens {
    let mut words: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
    let mut numbers: HashSet<u64, Numbers> = HashSet::with_hasher(Numbers);
    let note = |blocks: &mut Vec<u32>, block: u32| {
        if blocks.last() != Some(&block) {
            blocks.push(block);
        }
    };
    let mut long = false;
    let mut scratch = Vec::with_capacity(MAX_TOKEN);
    let mut block = 0u32;
    let mut i = 0;
    while i < chunk.len() {
        if !is_word(chunk[i]) {
            i += 1;
            continue;
        }
        // Blocks end at a newline, so a token never spans two.
        while block_ends.get(block as usize).is_some_and(|&end| end <= i) {
            block += 1;
        }
        let start = i;
        while i < chunk.len() && is_word(chunk[i]) {
            i += 1;
        }
        let mut word = &chunk[start..i];
        if word.len() > MAX_TOKEN {
            long = true;
            word = &word[..MAX_TOKEN];
        }
        if let Some(n) = as_number(word) {
            numbers.insert(n);
            continue;
        }
        scratch.clear();
        scratch.extend(word.iter().map(u8::to_ascii_lowercase));
        match words.get_mut(scratch.as_slice()) {
            Some(blocks) => note(blocks, block),
            None => {
                words.insert(scratch.as_slice().into(), vec![block]);
            }
        }
    }
    // Numbers (pids, ports, job ids: most tokens, nearly all rare) are
    // posted by chunk only: block lists for them would double the index.
    // A chunk of a few blocks is read whole.
    let whole = block_ends.len();
    let listed = |mut blocks: Vec<u32>| {
        if whole < MIN_LISTED_CHUNK || blocks.len() > MAX_LISTED_BLOCKS || blocks.len() >= whole {
            blocks.clear();
        }
        blocks
    };
    Tokens { words: words.into_iter().map(|(w, b)| (w, listed(b))).collect(), numbers: numbers.into_iter().collect(), long }
}

/// Where a probe may be found in one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hit {
    No,
    /// Anywhere in the chunk.
    All,
    /// In these blocks only (ascending).
    Blocks(Vec<u32>),
}

impl Hit {
    /// Both places.
    pub fn union(&mut self, other: &Hit) {
        match (&mut *self, other) {
            (_, Hit::No) | (Hit::All, _) => {}
            (Hit::No, _) | (_, Hit::All) => *self = other.clone(),
            (Hit::Blocks(a), Hit::Blocks(b)) => {
                a.extend_from_slice(b);
                a.sort_unstable();
                a.dedup();
            }
        }
    }

    pub fn any(&self) -> bool {
        *self != Hit::No
    }
}

/// A word's posting: a chunk's slot, and the blocks of it that hold the word (empty: all).
type Posting = (u32, Vec<u32>);

/// Collects the tokens of a pack's chunks, slot by slot.
#[derive(Default)]
pub struct IndexBuilder {
    words: HashMap<Box<[u8]>, Vec<Posting>>,
    numbers: HashMap<u64, Vec<u32>, Numbers>,
    slots: u32,
}

impl IndexBuilder {
    /// Adds the next chunk's tokens; returns its slot.
    pub fn add(&mut self, tokens: Tokens) -> u32 {
        let slot = self.slots;
        self.slots += 1;
        for (t, blocks) in tokens.words {
            self.words.entry(t).or_default().push((slot, blocks));
        }
        for n in tokens.numbers {
            self.numbers.entry(n).or_default().push(slot);
        }
        slot
    }

    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// The index file's bytes: magic, raw length, CRC-32C of the length and the body, zstd body.
    pub fn encode(self) -> std::io::Result<Vec<u8>> {
        let mut entries: Vec<(Box<[u8]>, Vec<Posting>)> = self.words.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut numbers: Vec<(u64, Vec<u32>)> = self.numbers.into_iter().collect();
        numbers.sort_unstable_by_key(|n| n.0);
        let mut blob = Vec::with_capacity(entries.iter().map(|e| e.0.len() + 1).sum::<usize>() + 1);
        blob.push(b'\n');
        for (t, _) in &entries {
            blob.extend_from_slice(t);
            blob.push(b'\n');
        }
        let mut nums = Writer::default();
        let mut prev = 0;
        for (n, _) in &numbers {
            nums.varint(n - prev);
            prev = *n;
        }
        // A word's posting: `varint (slot delta << 1 | listed)`, then when
        // listed `varint (blocks - 1)` and the block deltas; a number's: the slot delta.
        let mut groups: Vec<Writer> = Vec::new();
        let mut token = 0u64;
        let mut next = |groups: &mut Vec<Writer>| {
            if token.is_multiple_of(POSTINGS_GROUP) {
                groups.push(Writer::default());
            }
            token += 1;
        };
        for (_, slots) in &entries {
            next(&mut groups);
            let Some(postings) = groups.last_mut() else { continue };
            postings.varint(slots.len() as u64);
            let mut prev = 0;
            for (s, blocks) in slots {
                postings.varint((u64::from(s - prev) << 1) | u64::from(!blocks.is_empty()));
                prev = *s;
                if let Some(count) = blocks.len().checked_sub(1) {
                    postings.varint(count as u64);
                    let mut prev_block = 0;
                    for &b in blocks {
                        postings.varint(u64::from(b - prev_block));
                        prev_block = b;
                    }
                }
            }
        }
        for (_, slots) in &numbers {
            next(&mut groups);
            let Some(postings) = groups.last_mut() else { continue };
            postings.varint(slots.len() as u64);
            let mut prev = 0;
            for &s in slots {
                postings.varint(u64::from(s - prev));
                prev = s;
            }
        }
        let groups: Vec<&[u8]> = groups.iter().map(|g| g.buf.as_slice()).collect();
        assemble(self.slots, entries.len() as u64, numbers.len() as u64, &blob, &nums.buf, &groups)
    }
}

/// An index file from its counts and its frames' raw bytes (the word
/// dictionary, the numbers' deltas, the postings in groups of
/// [`POSTINGS_GROUP`] tokens), each compressed apart so that a lookup reads
/// and decompresses only what it needs.
pub fn assemble(slots: u32, words: u64, numbers: u64, blob: &[u8], nums: &[u8], groups: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    let mut header = Writer::default();
    header.varint(u64::from(slots));
    header.varint(words);
    header.varint(numbers);
    let mut stored = Vec::new();
    for (k, raw) in [blob, nums].into_iter().chain(groups.iter().copied()).enumerate() {
        if k == 2 {
            header.varint(groups.len() as u64);
        }
        let frame = zstd::bulk::compress(raw, 3)?;
        header.varint(frame.len() as u64);
        header.varint(raw.len() as u64);
        header.u32_le(crc32c::crc32c(&frame));
        stored.extend_from_slice(&frame);
    }
    if groups.is_empty() {
        header.varint(0);
    }
    let mut out = Vec::with_capacity(stored.len() + header.buf.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.buf.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&header.buf).to_le_bytes());
    out.extend_from_slice(&header.buf);
    out.extend_from_slice(&stored);
    Ok(out)
}

/// What every matching line must hold: a lowercased word piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A whole token.
    Exact(Vec<u8>),
    /// Part of a token.
    Contains(Vec<u8>),
}

impl Probe {
    /// The best probe for a literal that every match contains (`whole_word`:
    /// the match is bounded by non-word bytes, as with `grep -w`), or `None`
    /// when the literal has no word piece worth asking for.
    pub fn for_literal(literal: &[u8], whole_word: bool) -> Option<Probe> {
        let mut best: Option<(bool, usize, usize)> = None; // (exact, start, end)
        let mut i = 0;
        while i < literal.len() {
            if !is_word(literal[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < literal.len() && is_word(literal[i]) {
                i += 1;
            }
            // A piece under 3 bytes is worth nothing to the index, however exact.
            if i - start < 3 {
                continue;
            }
            let exact = whole_word || (start > 0 && i < literal.len());
            let better = match best {
                None => true,
                Some((e, s, end)) => (exact, i - start) > (e, end - s),
            };
            if better {
                best = Some((exact, start, i));
            }
        }
        let (exact, start, end) = best?;
        if end - start < 3 {
            return None;
        }
        let piece: Vec<u8> = literal[start..end].iter().take(MAX_TOKEN).map(u8::to_ascii_lowercase).collect();
        Some(if exact { Probe::Exact(piece) } else { Probe::Contains(piece) })
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Probe::Exact(_))
    }
}

/// A pack's index, read back: its counts, and its frames read and
/// decompressed only when a lookup needs them.
pub struct PackIndex {
    slots: u32,
    words: u64,
    numbers: u64,
    source: Source,
    /// Where each frame lies in the file, its raw length and CRC: the
    /// words, the numbers, then the postings' groups.
    frames: Vec<(u64, u64, usize, u32)>,
}

/// The index file's bytes: in memory, or read from the file as needed.
enum Source {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

const WORDS: usize = 0;
const NUMBERS: usize = 1;
const GROUPS: usize = 2;
/// Tokens per group of postings (each group its own frame).
pub const POSTINGS_GROUP: u64 = 1024;

impl Source {
    fn read(&self, start: u64, end: u64) -> Result<Vec<u8>, FormatError> {
        match self {
            Source::Bytes(b) => match (usize::try_from(start), usize::try_from(end)) {
                (Ok(s), Ok(e)) if s <= e && e <= b.len() => Ok(b[s..e].to_vec()),
                _ => Err(FormatError::Truncated),
            },
            Source::File(f) => {
                use std::os::unix::fs::FileExt;
                let len = usize::try_from(end.saturating_sub(start)).map_err(|_| FormatError::Truncated)?;
                let mut buf = vec![0; len];
                f.read_exact_at(&mut buf, start).map_err(|_| FormatError::Truncated)?;
                Ok(buf)
            }
        }
    }
}

impl PackIndex {
    pub fn decode(file: &[u8]) -> Result<PackIndex, FormatError> {
        Self::parse(Source::Bytes(file.to_vec()), file.len() as u64)
    }

    /// Reads the index file's header only; frames are read when needed.
    pub fn open(path: &std::path::Path) -> Result<PackIndex, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
        Self::parse(Source::File(file), len).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(source: Source, file_len: u64) -> Result<PackIndex, FormatError> {
        let start = source.read(0, (MAGIC.len() as u64 + 8).min(file_len))?;
        let mut r = Reader::new(&start);
        if r.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
            return Err(FormatError::BadMagic("index"));
        }
        let header_len = u64::from(r.u32_le()?);
        let crc = r.u32_le()?;
        let header_end = (MAGIC.len() as u64 + 8).checked_add(header_len).filter(|&e| e <= file_len).ok_or(FormatError::Truncated)?;
        let header = source.read(MAGIC.len() as u64 + 8, header_end)?;
        if crc32c::crc32c(&header) != crc {
            return Err(FormatError::Checksum("index header"));
        }
        let mut h = Reader::new(&header);
        let (slots, words, numbers) = (h.varint32()?, h.varint()?, h.varint()?);
        let mut at = header_end;
        let mut frames = Vec::new();
        let mut frame = |h: &mut Reader| -> Result<(), FormatError> {
            let stored = h.varint()?;
            let raw = h.varint()?;
            if raw > u64::from(MAX_INDEX) {
                return Err(FormatError::Invalid("index frame larger than the limit"));
            }
            let end = at.checked_add(stored).filter(|&e| e <= file_len).ok_or(FormatError::Truncated)?;
            frames.push((at, end, raw as usize, h.u32_le()?));
            at = end;
            Ok(())
        };
        frame(&mut h)?;
        frame(&mut h)?;
        let groups = h.count()?;
        if groups as u64 != words.saturating_add(numbers).div_ceil(POSTINGS_GROUP) {
            return Err(FormatError::Invalid("index has the wrong number of postings groups"));
        }
        for _ in 0..groups {
            frame(&mut h)?;
        }
        if at != file_len || !h.is_empty() {
            return Err(FormatError::Invalid("index frames do not fill the file"));
        }
        Ok(PackIndex { slots, words, numbers, source, frames })
    }

    fn frame(&self, which: usize) -> Result<Vec<u8>, FormatError> {
        let &(start, end, raw_len, crc) = self.frames.get(which).ok_or(FormatError::Invalid("no such index frame"))?;
        let stored = self.source.read(start, end)?;
        if crc32c::crc32c(&stored) != crc {
            return Err(FormatError::Checksum("index frame"));
        }
        let raw = zstd::bulk::decompress(&stored, raw_len).map_err(|_| FormatError::Invalid("index frame does not decompress"))?;
        if raw.len() != raw_len {
            return Err(FormatError::Invalid("index frame length mismatch"));
        }
        Ok(raw)
    }

    /// Reads every frame: each against its checksum, and decompressed.
    pub fn check(&self) -> Result<(), FormatError> {
        self.blob()?;
        self.numbers()?;
        (GROUPS..self.frames.len()).try_for_each(|k| self.frame(k).map(drop))
    }

    /// The word dictionary, checked.
    fn blob(&self) -> Result<Vec<u8>, FormatError> {
        let blob = self.frame(WORDS)?;
        if blob.first() != Some(&b'\n')
            || blob.last() != Some(&b'\n')
            || memchr::memchr_iter(b'\n', &blob).count() as u64 != self.words.saturating_add(1)
        {
            return Err(FormatError::Invalid("index dictionary is malformed"));
        }
        Ok(blob)
    }

    /// The numbers, ascending.
    fn numbers(&self) -> Result<Vec<u64>, FormatError> {
        let raw = self.frame(NUMBERS)?;
        let mut r = Reader::new(&raw);
        if self.numbers > raw.len() as u64 {
            return Err(FormatError::Truncated);
        }
        let mut out = Vec::with_capacity(self.numbers as usize);
        let mut n = 0u64;
        for _ in 0..self.numbers {
            n = n.checked_add(r.varint()?).ok_or(FormatError::Invalid("index number overflows"))?;
            out.push(n);
        }
        Ok(out)
    }

    /// For each slot, where its chunk may hold the probe; `None`: anywhere in every chunk.
    pub fn candidates(&self, probe: &Probe) -> Result<Option<Vec<Hit>>, FormatError> {
        let mut ordinals = Vec::new();
        match probe {
            Probe::Exact(piece) => match as_number(piece) {
                Some(n) => {
                    if let Ok(k) = self.numbers()?.binary_search(&n) {
                        ordinals.push(self.words + k as u64);
                    }
                }
                None => {
                    let blob = self.blob()?;
                    let mut needle = Vec::with_capacity(piece.len() + 2);
                    needle.push(b'\n');
                    needle.extend_from_slice(piece);
                    needle.push(b'\n');
                    if let Some(pos) = memchr::memmem::find(&blob, &needle) {
                        ordinals.push(memchr::memchr_iter(b'\n', &blob[..=pos]).count() as u64 - 1);
                    }
                }
            },
            // Every token contains the empty piece.
            Probe::Contains(piece) if piece.is_empty() => return Ok(None),
            Probe::Contains(piece) => {
                let blob = self.blob()?;
                let (mut counted_to, mut newlines) = (0, 0u64);
                for pos in memchr::memmem::find_iter(&blob, piece) {
                    newlines += memchr::memchr_iter(b'\n', &blob[counted_to..pos]).count() as u64;
                    counted_to = pos;
                    let ordinal = newlines - 1;
                    if ordinals.last() != Some(&ordinal) {
                        ordinals.push(ordinal);
                        if ordinals.len() > MAX_HITS {
                            return Ok(None);
                        }
                    }
                }
                // A number's digits can hold only a piece of digits.
                if piece.iter().all(u8::is_ascii_digit) {
                    let finder = memchr::memmem::Finder::new(piece);
                    let mut text = Vec::with_capacity(20);
                    for (k, n) in self.numbers()?.iter().enumerate() {
                        text.clear();
                        write_decimal(&mut text, *n);
                        if finder.find(&text).is_some() {
                            ordinals.push(self.words + k as u64);
                            if ordinals.len() > MAX_HITS {
                                return Ok(None);
                            }
                        }
                    }
                }
            }
        }
        let mut hit = vec![Hit::No; self.slots as usize];
        if ordinals.is_empty() {
            return Ok(Some(hit));
        }
        let total = self.words.saturating_add(self.numbers);
        let mut wanted = ordinals.iter().peekable();
        let mut group: Option<(u64, Vec<u8>, usize)> = None; // (number, raw, read so far)
        let mut ordinal = 0;
        while ordinal < total {
            let Some(&&next) = wanted.peek() else { break };
            // Skip whole groups that hold no wanted ordinal.
            if next / POSTINGS_GROUP > ordinal / POSTINGS_GROUP {
                ordinal = next / POSTINGS_GROUP * POSTINGS_GROUP;
                continue;
            }
            let number = ordinal / POSTINGS_GROUP;
            if group.as_ref().map(|g| g.0) != Some(number) {
                let raw = self.frame(GROUPS + usize::try_from(number).map_err(|_| FormatError::Truncated)?)?;
                group = Some((number, raw, 0));
            }
            let Some((_, raw, read)) = group.as_mut() else { break };
            let mut r = Reader::new(raw.get(*read..).unwrap_or_default());
            let before = r.rest_len();
            let n = r.count()?;
            let take = next == ordinal;
            let mut slot = 0u64;
            let is_word = ordinal < self.words;
            for _ in 0..n {
                let (delta, listed) = match r.varint()? {
                    v if is_word => (v >> 1, v & 1 == 1),
                    v => (v, false),
                };
                slot = slot.checked_add(delta).ok_or(FormatError::Invalid("slot out of range"))?;
                let mut blocks = Vec::new();
                if listed {
                    let count = r.count()?.checked_add(1).ok_or(FormatError::Truncated)?;
                    let mut at = 0u64;
                    for _ in 0..count {
                        at = at.checked_add(r.varint()?).ok_or(FormatError::Invalid("block out of range"))?;
                        let block = u32::try_from(at).map_err(|_| FormatError::Invalid("block out of range"))?;
                        if take && blocks.last() != Some(&block) {
                            blocks.push(block);
                        }
                    }
                }
                if take {
                    let s = usize::try_from(slot).ok().filter(|&s| s < hit.len()).ok_or(FormatError::Invalid("slot out of range"))?;
                    hit[s].union(&if listed { Hit::Blocks(blocks) } else { Hit::All });
                }
            }
            *read += before - r.rest_len();
            if take {
                wanted.next();
            }
            ordinal += 1;
        }
        Ok(Some(hit))
    }
}

fn write_decimal(out: &mut Vec<u8>, n: u64) {
    let start = out.len();
    let mut n = n;
    loop {
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out[start..].reverse();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(chunks: &[&[u8]]) -> PackIndex {
        let mut b = IndexBuilder::default();
        for c in chunks {
            b.add(tokens(c, &[c.len()]));
        }
        match PackIndex::decode(&b.encode().unwrap_or_default()) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn probes_find_the_chunks_that_hold_them_and_only_those() {
        let idx = index_of(&[b"Accepted gssapi for RealUser from 10.1.2.3\n", b"session opened for user root\n", b"realusers are here\n"]);
        let ask = |p: Probe| idx.candidates(&p).ok().flatten().map(|v| v.iter().map(Hit::any).collect::<Vec<bool>>());
        assert_eq!(ask(Probe::Exact(b"realuser".to_vec())), Some(vec![true, false, false]));
        assert_eq!(ask(Probe::Contains(b"realuser".to_vec())), Some(vec![true, false, true]));
        assert_eq!(ask(Probe::Contains(b"ser".to_vec())), Some(vec![true, true, true]));
        assert_eq!(ask(Probe::Exact(b"nobody".to_vec())), Some(vec![false, false, false]));
        // Numbers: whole, inside longer numbers, with a leading zero (kept as a word).
        let idx = index_of(&[b"port 22 pid 4022\n", b"port 2201 id 007\n", b"x 0 y\n"]);
        let ask = |p: Probe| idx.candidates(&p).ok().flatten().map(|v| v.iter().map(Hit::any).collect::<Vec<bool>>());
        assert_eq!(ask(Probe::Exact(b"22".to_vec())), Some(vec![true, false, false]));
        assert_eq!(ask(Probe::Contains(b"22".to_vec())), Some(vec![true, true, false]));
        assert_eq!(ask(Probe::Contains(b"07".to_vec())), Some(vec![false, true, false]));
        assert_eq!(ask(Probe::Exact(b"007".to_vec())), Some(vec![false, true, false]));
        assert_eq!(ask(Probe::Exact(b"0".to_vec())), Some(vec![false, false, true]));
    }

    #[test]
    fn a_rare_token_is_posted_with_the_blocks_that_hold_it() {
        // Four blocks; "rare" in the second only, "common" in all, "two" in
        // two; 4022 in one (numbers are posted by chunk).
        let chunk = b"common one two\ncommon rare 4022\ncommon two\ncommon\n";
        let ends = [15, 32, 43, 50];
        let mut b = IndexBuilder::default();
        b.add(tokens(b"nothing here\n", &[13]));
        b.add(tokens(chunk, &ends));
        let idx = PackIndex::decode(&b.encode().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        let ask = |p: Probe| idx.candidates(&p).ok().flatten();
        assert_eq!(ask(Probe::Exact(b"rare".to_vec())), Some(vec![Hit::No, Hit::Blocks(vec![1])]));
        assert_eq!(ask(Probe::Exact(b"4022".to_vec())), Some(vec![Hit::No, Hit::All]));
        assert_eq!(ask(Probe::Exact(b"two".to_vec())), Some(vec![Hit::No, Hit::Blocks(vec![0, 2])]));
        assert_eq!(ask(Probe::Exact(b"common".to_vec())), Some(vec![Hit::No, Hit::All]));
        // A piece found in several tokens: the union of their blocks.
        assert_eq!(ask(Probe::Contains(b"o".to_vec())), Some(vec![Hit::All, Hit::All]));
        assert_eq!(ask(Probe::Contains(b"ar".to_vec())), Some(vec![Hit::No, Hit::Blocks(vec![1])]));
        assert_eq!(ask(Probe::Contains(b"402".to_vec())), Some(vec![Hit::No, Hit::All]));
        // A chunk of fewer than MIN_LISTED_CHUNK blocks is posted whole.
        let mut b = IndexBuilder::default();
        b.add(tokens(b"a rare\nb\nc\n", &[7, 9, 11]));
        let idx = PackIndex::decode(&b.encode().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(idx.candidates(&Probe::Exact(b"rare".to_vec())).ok().flatten(), Some(vec![Hit::All]));
    }

    #[test]
    fn lookups_find_tokens_in_every_group_of_postings() {
        // 3000 words and 3000 numbers: several groups of postings each.
        let first: String = (0..3000).map(|i| format!("w{i:04}x {}\n", 10_000 + i)).collect();
        let second: String = (0..3000).step_by(7).map(|i| format!("w{i:04}x {}\n", 10_000 + i)).collect();
        let idx = index_of(&[first.as_bytes(), second.as_bytes(), b"nothing\n"]);
        assert!(idx.frames.len() > GROUPS + 4, "{} frames", idx.frames.len());
        for i in [0, 1, 6, 7, 1023, 1024, 1025, 2047, 2048, 2999] {
            let both = i % 7 == 0;
            let ask = |p: Probe| idx.candidates(&p).ok().flatten().map(|v| v.iter().map(Hit::any).collect::<Vec<bool>>());
            assert_eq!(ask(Probe::Exact(format!("w{i:04}x").into_bytes())), Some(vec![true, both, false]), "word {i}");
            assert_eq!(ask(Probe::Exact(format!("{}", 10_000 + i).into_bytes())), Some(vec![true, both, false]), "number {i}");
        }
        let ask = |p: Probe| idx.candidates(&p).ok().flatten().map(|v| v.iter().map(Hit::any).collect::<Vec<bool>>());
        assert_eq!(ask(Probe::Contains(b"299".to_vec())), Some(vec![true, true, false]));
        assert!(idx.check().is_ok());
    }

    #[test]
    fn the_probe_of_a_literal_is_a_word_piece_the_match_must_hold() {
        assert_eq!(Probe::for_literal(b"realuser", false), Some(Probe::Contains(b"realuser".to_vec())));
        assert_eq!(Probe::for_literal(b"RealUser", true), Some(Probe::Exact(b"realuser".to_vec())));
        assert_eq!(Probe::for_literal(b"for realuser from", false), Some(Probe::Exact(b"realuser".to_vec())));
        assert_eq!(Probe::for_literal(b"10.1.2.3", false), None);
        assert_eq!(Probe::for_literal(b"Failed password", false), Some(Probe::Contains(b"password".to_vec())));
        // An exact piece too short to ask for does not hide a longer one.
        assert_eq!(Probe::for_literal(b"OUT OF MEMORY", false), Some(Probe::Contains(b"memory".to_vec())));
        assert_eq!(Probe::for_literal(b"a of b", false), None);
    }

    #[test]
    fn slot_deltas_that_overflow_are_an_error() {
        let mut postings = Writer::default();
        postings.varint(2); // postings of "ab": two deltas that overflow
        postings.varint(u64::MAX);
        postings.varint(u64::MAX);
        let file = assemble(1, 1, 0, b"\nab\n", b"", &[&postings.buf]).unwrap_or_default();
        let idx = PackIndex::decode(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(idx.candidates(&Probe::Exact(b"ab".to_vec())).is_err());
    }

    #[test]
    fn a_damaged_index_is_an_error_not_a_panic() {
        let mut b = IndexBuilder::default();
        b.add(tokens(b"one two three 12 007", &[20]));
        let bytes = b.encode().unwrap_or_default();
        for i in 0..bytes.len() {
            let mut d = bytes.clone();
            d[i] ^= 1;
            // Found when read, or when the frame it lies in is first needed.
            let found = PackIndex::decode(&d).and_then(|idx| {
                idx.candidates(&Probe::Exact(b"one".to_vec()))?;
                idx.candidates(&Probe::Contains(b"1".to_vec()))
            });
            assert!(found.is_err(), "flip at {i}");
        }
    }
}

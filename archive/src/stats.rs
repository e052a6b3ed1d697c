//! `gsslog stats`: what the archive holds and what it costs.

use std::fmt;
use std::path::Path;

use crate::content;
use crate::store::manifest::Stamp;
use crate::store::{Archive, OpenError};
use crate::tree;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: usize,
    pub generations: usize,
    pub packs: usize,
    pub chunks: usize,
    pub lines: u64,
    /// Bytes of lines sealed.
    pub sealed: u64,
    /// Bytes of the packs' chunk frames, of the sshd tables in them, of the
    /// token indexes plus the manifest.
    pub data: u64,
    pub tables: u64,
    pub index: u64,
    /// Bytes in the tree not sealed yet.
    pub unsealed: u64,
    pub oldest: Stamp,
    pub newest: Stamp,
}

pub fn stats(archive_dir: &Path, root: &Path) -> Result<Stats, OpenError> {
    let archive = Archive::open(archive_dir)?;
    let m = &archive.manifest;
    let mut s = Stats { files: m.files.len(), packs: m.packs.len(), ..Stats::default() };
    for g in m.files.values().flat_map(|r| &r.generations) {
        s.generations += 1;
        s.sealed += g.sealed;
        for c in &g.chunks {
            s.chunks += 1;
            s.lines += c.lines;
            s.tables += u64::from(c.table_len);
            if c.first != 0 {
                s.oldest = if s.oldest == 0 { c.first } else { s.oldest.min(c.first) };
                s.newest = s.newest.max(c.last);
            }
        }
    }
    let pack_bytes: u64 = m.packs.iter().map(|p| p.data_len).sum();
    s.data = pack_bytes.saturating_sub(s.tables);
    let manifest_len = std::fs::metadata(Archive::manifest_path(archive_dir)).map_or(0, |md| md.len());
    s.index = m.packs.iter().map(|p| p.index_len).sum::<u64>() + manifest_len;
    let (files, _) = tree::walk(root, Some(archive_dir));
    let mut errors = Vec::new();
    s.unsealed = content::views(m, root, &files, &mut errors).iter().filter_map(|v| v.tail).map(|(a, b)| b.saturating_sub(a)).sum();
    Ok(s)
}

fn stamp_text(s: Stamp) -> String {
    if s == 0 {
        return "-".to_string();
    }
    let d = s / 1_000_000;
    let t = s % 1_000_000;
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", d / 10000, d / 100 % 100, d % 100, t / 10000, t / 100 % 100, t % 100)
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let archive = self.data + self.tables + self.index;
        let ratio = if archive == 0 { 0.0 } else { self.sealed as f64 / archive as f64 };
        writeln!(f, "files: {}", self.files)?;
        writeln!(f, "generations: {}", self.generations)?;
        writeln!(f, "lines: {}", self.lines)?;
        writeln!(f, "bytes sealed: {}", self.sealed)?;
        writeln!(f, "bytes not sealed yet: {}", self.unsealed)?;
        writeln!(f, "archive data bytes: {}", self.data)?;
        writeln!(f, "archive sshd table bytes: {}", self.tables)?;
        writeln!(f, "archive index bytes: {}", self.index)?;
        writeln!(f, "ratio: {ratio:.2}")?;
        writeln!(f, "packs: {}", self.packs)?;
        writeln!(f, "chunks: {}", self.chunks)?;
        writeln!(f, "oldest sealed line: {}", stamp_text(self.oldest))?;
        writeln!(f, "newest sealed line: {}", stamp_text(self.newest))
    }
}

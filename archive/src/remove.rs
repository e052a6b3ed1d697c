//! `seal --remove-sources`: deletes the source files of months that are
//! over, once their bytes were all sealed and read back equal from the
//! archive. The month is that of the `YEAR/MONTH` folders or of the date in
//! a per-service file name; a file with neither is never removed, nor one
//! of the current month (UTC), nor one that ends in a line without newline
//! (those bytes are not sealed).

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::linetime::PathDate;
use crate::store::Archive;
use crate::tree::{self, TreeFile};
use crate::verify::compare_with_source;

#[derive(Debug, Default)]
pub struct Removal {
    pub removed: Vec<String>,
    pub kept: Vec<(String, Kept)>,
}

/// Why a file of a closed month was kept.
#[derive(Debug)]
pub struct Kept {
    pub reason: String,
    /// Whether it is an error (a mismatch, an I/O error) rather than a rule.
    pub is_error: bool,
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

pub fn remove_closed_months(archive: &Archive, root: &Path) -> Removal {
    let today = crate::clock::today_utc();
    let current = (today.year, today.month);
    let (files, errors) = tree::walk(root, Some(&archive.dir));
    let mut removal = Removal::default();
    for e in errors {
        removal.kept.push((e, Kept { reason: "could not be read".into(), is_error: true }));
    }
    for file in files {
        let name = tree::display(&file.rel);
        let date = PathDate::of(&name);
        let month = date.day.map(|d| (d.year, d.month)).or(date.year.zip(date.month));
        if month.is_none_or(|m| m >= current) {
            continue;
        }
        match remove_one(archive, &file, &name) {
            Ok(()) => removal.removed.push(name),
            Err(kept) => removal.kept.push((name, kept)),
        }
    }
    removal
}

fn remove_one(archive: &Archive, file: &TreeFile, name: &str) -> Result<(), Kept> {
    let rule = |reason: &str| Kept { reason: reason.to_string(), is_error: false };
    let error = |reason: String| Kept { reason, is_error: true };
    let Some(g) = archive.manifest.files.get(&file.rel).and_then(|r| r.generations.last()) else {
        return Err(rule("nothing of it is sealed (empty, or a single line without newline)"));
    };
    if !file.continues(g).map_err(|e| error(e.to_string()))? {
        return Err(rule("changed since it was sealed"));
    }
    if file.size != g.sealed {
        return Err(rule("ends with a line without newline, which is not sealed"));
    }
    let f = File::open(&file.path).map_err(|e| error(e.to_string()))?;
    let problems = compare_with_source(archive, name, g, &f);
    if !problems.is_empty() {
        return Err(error(problems.join("; ")));
    }
    let meta = f.metadata().map_err(|e| error(e.to_string()))?;
    if (meta.ino(), meta.len()) != (g.ino, g.sealed) {
        return Err(rule("changed while it was compared"));
    }
    fs::remove_file(&file.path).map_err(|e| error(e.to_string()))?;
    tracing::debug!(file = name, "removed, its bytes are in the archive");
    Ok(())
}

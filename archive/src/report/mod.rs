//! `gsslog report sshd`: the views and their formats (text, csv, json, html).

use std::io;

use crate::cli::SshdArgs;

/// Where a report's data come from: the tables `seal` stored (the bytes
/// [`crate::sshd::extract`] returned for each sealed chunk) and the live
/// tails not sealed yet. The archive implements it.
pub trait Source {
    /// Calls `each` with (relpath, stored table) for every table sealed.
    fn for_each_table(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()>;
    /// Calls `each` with (relpath, complete lines) for every file's unsealed tail.
    fn for_each_tail(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()>;
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading the archive: {0}")]
    Io(#[from] io::Error),
}

/// Writes the report `args` asks for to `out`.
pub fn run(args: &SshdArgs, source: &dyn Source, out: &mut dyn io::Write) -> Result<(), ReportError> {
    let _ = (args, source, out);
    Ok(())
}

//! sshd activity, as the grid's grok patterns classified it.
//!
//! The interface with sealing (owned here, called by `seal`): for every chunk
//! of complete lines that `seal` stores, it calls [`extract`] with the file's
//! path relative to ROOT and stores the returned bytes beside the chunk, as
//! they are; `report` reads them back through [`crate::report::Source`] and
//! decodes them here, and runs [`extract`] itself over the live (unsealed)
//! tails. An empty result means "nothing sshd in this chunk" and need not be
//! stored.

/// The sshd events of `chunk` (complete lines of the file `relpath`,
/// relative to ROOT), encoded for storing beside the chunk.
pub fn extract(relpath: &str, chunk: &[u8]) -> Vec<u8> {
    let _ = (relpath, chunk);
    Vec::new()
}

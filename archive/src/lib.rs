//! `gsslog`: the admin's tool beside the collector. It seals the collector's
//! tree (a tree of append-only text files, whatever the templates) into a
//! compressed, indexed archive, searches sealed data and live tails together
//! exactly as `grep -r` would over the original tree, and reports on sshd
//! activity from tables built at seal time.
//!
//! Reading guide:
//! - `cli.rs`: the command line, a contract that scripts rely on.
//! - `store/`: the archive on disk (manifest, packs, token index); its
//!   format is described in `archive/FORMAT.md`.
//! - `tree.rs`: the collector's tree: walking it, files' identities.
//! - `content.rs`: what a file holds now, from the archive and the live file.
//! - `seal.rs` (with `remove.rs`), `verify.rs`, `cat.rs`, `grep/`,
//!   `stats.rs`: the commands; `progress.rs`: their progress display.
//! - `source.rs`: the archive as the reports' [`report::Source`].
//! - `sshd/`: the sshd line classifier and the per-chunk event tables that
//!   sealing stores beside the data (`sshd::extract`, `sshd::decode`).
//! - `report/`: the report views and their output formats.
//! - `linetime.rs`: the day and time of a line, and the dates in a path.

#![forbid(unsafe_code)]

pub mod cat;
pub mod cli;
pub mod clock;
pub mod content;
pub mod grep;
pub mod linetime;
pub mod progress;
pub mod remove;
pub mod report;
pub mod seal;
pub mod senders;
pub mod source;
pub mod sshd;
pub mod stats;
pub mod store;
pub mod tree;
pub mod verify;

//! `gsslog`: the admin's tool beside the collector. It seals the collector's
//! tree (a tree of append-only text files, whatever the templates) into a
//! compressed, indexed archive, searches sealed data and live tails together
//! exactly as `grep -r` would over the original tree, and reports on sshd
//! activity from tables built at seal time.
//!
//! Reading guide:
//! - `cli.rs`: the command line, a contract that scripts rely on.
//! - `sshd/`: the sshd line classifier and the per-chunk event tables that
//!   sealing stores beside the data (`sshd::extract`, `sshd::decode`).
//! - `report/`: the report views and their output formats.
//! - `linetime.rs`: the day and time of a line, and the dates in a path.

#![forbid(unsafe_code)]

pub mod cli;
pub mod linetime;
pub mod report;
pub mod sshd;

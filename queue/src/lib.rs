//! The shipper's disk-assisted action queue: a crash-safe FIFO with an exact
//! cap on disk bytes, in the spirit of Vector's disk buffer (v2).
//!
//! [`open`] recovers a queue from its files and returns its two ends: a
//! [`Producer`] (cloneable, enqueue only: one per input) and the one
//! [`Consumer`] (not `Clone`: the forwarder), which alone hands out
//! [`Record`]s, acknowledges and rewinds. [`QueueConfig`] holds the settings,
//! [`Stats`] the counters; failures are [`QueueError`] and [`PushError`].
//!
//! # Modules
//! - `writer`: the producer: framing, one `write` per batch, segment roll-over.
//! - `reader`: the consumer: reading in order, acknowledging, rewinding.
//! - `cache`: the in-memory read cache between them (the watermarks).
//! - `space`: the disk cap: reservation, drop-oldest, freeing acknowledged segments.
//! - `recovery`: opening, and deriving the state from what is on disk.
//! - `backlog`: reading a closed queue's backlog without changing it ([`read_backlog`]).
//! - `sync`: the fsync thread.
//! - `state`: what both ends share, and the lock order.
//! - `age`: when records were accepted, for the oldest record's age.
//! - `segment`, `record`, `checkpoint`: the on-disk formats.
//! - `work_dir`: the work directory, held open, and its files against
//!   planted links and files (`openat` on the held directory, `O_NOFOLLOW`,
//!   `O_NONBLOCK`, regular files with one link, ownership, no world-writable
//!   directory without the sticky bit).
//!
//! # Files
//! In the work directory, for a queue named `NAME`:
//! - `NAME.0000000001.seg`, …: segment files of a target size, each an 8-byte
//!   magic followed by records `len | crc32c(seq ‖ payload) | seq | payload`.
//!   A record never spans two segments.
//! - `NAME.ckpt`: how far the consumer has acknowledged (two CRC-protected slots).
//! - `NAME.lock`: held while a process has the queue open.
//! - `NAME.*.seg.bad`: segments found unreadable at open, moved aside.
//!
//! # Durability
//! - A message is *accepted* when [`Producer::push`] returns `Ok`: it has been
//!   written to its segment file. It survives `kill -9` of the process (the data
//!   is in the kernel's page cache) and is delivered after a restart, in order.
//! - An OS crash or power loss loses at most the last fsync interval
//!   (default 1 s, [`QueueConfig::fsync_interval`]).
//! - Delivery is at-least-once: records handed out but not acknowledged when
//!   the process stops are handed out again after the restart. Acknowledged
//!   records never come back: the checkpoint is written before `ack` returns.
//!
//! # Disk cap
//! The bytes of the segment files and the checkpoint never exceed
//! [`QueueConfig::max_disk_bytes`]: space is reserved before a write. Space is
//! freed one segment at a time, once all its records are acknowledged. When the
//! cap is reached, an enqueue waits up to the enqueue timeout, then discards
//! the new message (or, with [`FullPolicy::DropOldest`], the oldest segment),
//! and counts it.
//!
//! # Recovery
//! Opening derives the truth from the segments: a torn last record is cut off,
//! a record with a bad checksum is skipped and counted when read, a segment
//! that cannot be read is moved aside, and the queue always starts.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod age;
mod backlog;
mod cache;
mod checkpoint;
mod config;
mod error;
mod reader;
mod record;
mod recovery;
mod segment;
mod space;
mod state;
mod stats;
mod work_dir;
mod sync;
mod writer;

pub use backlog::{read_backlog, Backlog};
pub use config::{FullPolicy, QueueConfig};
pub use error::{ConfigError, PushError, QueueError};
pub use reader::{Consumer, Record};
pub use recovery::open;
pub use stats::Stats;
pub use writer::Producer;

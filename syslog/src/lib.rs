//! rsyslog-compatible syslog, shared by the shipper and the collector.

pub mod config;
pub mod filter;
pub mod framing;
pub mod message;
pub mod template;
pub mod time;

pub use message::{parse, Message, Origin, ParseOptions};
pub use time::Timestamp;

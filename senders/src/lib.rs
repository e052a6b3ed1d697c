//! The collector's per-sender last-seen rows as its admin tools read them,
//! apart from the collector itself (which links the GSS library): a row and
//! its [`Status`], the state file's format ([`state_file`]) and the
//! `GET /senders` document ([`document`]). The collector (`imgssapi`) writes
//! both; `gsslog senders` reads them with the same types.

#![forbid(unsafe_code)]

pub mod document;
pub mod state_file;

use serde::{Deserialize, Serialize};

/// What the collector makes of a sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// No expected senders list: nothing to judge.
    #[default]
    #[serde(rename = "unlisted")]
    Unlisted,
    /// On the list, and heard from within `$InputGSSServerSilentAfter`.
    #[serde(rename = "ok")]
    Expected,
    /// On the list, and not heard from for longer.
    #[serde(rename = "silent")]
    Silent,
    /// Not on the list.
    #[serde(rename = "unexpected")]
    Unexpected,
}

impl Status {
    /// Where the listings put it: silent first, then unexpected, expected,
    /// unlisted (`/senders`, `/senders.txt`, `gsslog senders`).
    pub fn rank(self) -> u8 {
        match self {
            Status::Silent => 0,
            Status::Unexpected => 1,
            Status::Expected => 2,
            Status::Unlisted => 3,
        }
    }

    /// The name in the state file, `/senders` and `/senders.txt`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Unlisted => "unlisted",
            Status::Expected => "ok",
            Status::Silent => "silent",
            Status::Unexpected => "unexpected",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        [Status::Unlisted, Status::Expected, Status::Silent, Status::Unexpected].into_iter().find(|s| s.name() == name)
    }
}

/// One sender's row. Times are seconds since the Unix epoch; "today" is the
/// UTC day `day` (days since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    pub principal: Option<String>,
    pub last_message: Option<u64>,
    pub last_heartbeat: Option<u64>,
    pub day: u64,
    pub messages_today: u64,
    pub bytes_today: u64,
    pub status: Status,
    /// Heard from while silent: shown as expected at once, logged as back
    /// by the collector's next judgement. Not kept in the state file.
    pub returned: bool,
}

impl Sender {
    /// The last time anything came from it: a message or a heartbeat.
    pub fn last_seen(&self) -> Option<u64> {
        self.last_message.max(self.last_heartbeat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_documents_names() {
        for s in [Status::Unlisted, Status::Expected, Status::Silent, Status::Unexpected] {
            assert_eq!(Status::from_name(s.name()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
        assert_eq!(Status::from_name("OK"), None);
    }
}

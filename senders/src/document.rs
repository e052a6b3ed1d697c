//! `GET /senders` on the collector's metrics endpoint: every sender with its
//! status and times, as JSON. The collector builds a [`SendersDocument`] and
//! writes it with [`SendersDocument::to_json`]; `gsslog senders` reads it
//! back with [`SendersDocument::from_json`].
//!
//! ```json
//! {"now":…,"silent_after_seconds":…,"expected_senders_file":…,
//!  "counts":{"known":…,"expected":…,"silent":…,"unexpected":…},
//!  "senders":[{"ip":…,"principal":…,"status":"silent|unexpected|ok|unlisted",
//!    "last_seen":…,"last_message":…,"last_heartbeat":…,"messages_today":…,"bytes_today":…},…]}
//! ```
//! Times are Unix seconds or `null` (never); `ip` is `null` for an expected
//! principal never seen on any address.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Status;

/// The whole `/senders` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendersDocument {
    /// The collector's clock when it answered.
    pub now: u64,
    /// `$InputGSSServerSilentAfter` in force.
    pub silent_after_seconds: u64,
    /// `$InputGSSServerExpectedSenders`, if any: without it no sender is judged.
    pub expected_senders_file: Option<String>,
    pub counts: Counts,
    /// Silent senders first, then unexpected ones, then the rest.
    pub senders: Vec<SenderEntry>,
}

/// How many senders have each status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows, and expected principals never seen.
    pub known: u64,
    /// On the list: ok or silent.
    pub expected: u64,
    pub silent: u64,
    pub unexpected: u64,
}

/// One sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderEntry {
    /// fromhost-ip; `None` for an expected principal never seen.
    pub ip: Option<IpAddr>,
    pub principal: Option<String>,
    pub status: Status,
    /// The later of `last_message` and `last_heartbeat`.
    pub last_seen: Option<u64>,
    pub last_message: Option<u64>,
    pub last_heartbeat: Option<u64>,
    /// Since 00:00 UTC.
    pub messages_today: u64,
    pub bytes_today: u64,
}

impl SenderEntry {
    /// The address, the principal it authenticated as, or both: `10.1.2.3
    /// (host/n3.grid@GRID)`.
    pub fn who(&self) -> String {
        match (&self.ip, &self.principal) {
            (Some(ip), Some(p)) => format!("{ip} ({p})"),
            (Some(ip), None) => ip.to_string(),
            (None, Some(p)) => p.clone(),
            (None, None) => "-".to_string(),
        }
    }
}

/// An answer that is not a `/senders` document.
#[derive(Debug, thiserror::Error)]
#[error("not a /senders document: {0}")]
pub struct DocumentError(#[from] serde_json::Error);

impl SendersDocument {
    /// The JSON text, with a final line break.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and strings into a String cannot fail.
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<SendersDocument, DocumentError> {
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> SendersDocument {
        SendersDocument {
            now: 1040,
            silent_after_seconds: 30,
            expected_senders_file: Some("/etc/exp".into()),
            counts: Counts { known: 3, expected: 2, silent: 2, unexpected: 1 },
            senders: vec![
                SenderEntry {
                    ip: None,
                    principal: Some("host/gone@R".into()),
                    status: Status::Silent,
                    last_seen: None,
                    last_message: None,
                    last_heartbeat: None,
                    messages_today: 0,
                    bytes_today: 0,
                },
                SenderEntry {
                    ip: Some("::1".parse().unwrap()),
                    principal: Some("host/a\"b\n@R".into()),
                    status: Status::Unexpected,
                    last_seen: Some(1000),
                    last_message: Some(1000),
                    last_heartbeat: None,
                    messages_today: 2,
                    bytes_today: 20,
                },
            ],
        }
    }

    #[test]
    fn the_document_as_written_is_read_back() {
        let d = document();
        let json = d.to_json();
        assert!(json.starts_with("{\"now\":1040,\"silent_after_seconds\":30,\"expected_senders_file\":\"/etc/exp\",\"counts\":{\"known\":3,\"expected\":2,\"silent\":2,\"unexpected\":1},\"senders\":[{\"ip\":null,\"principal\":\"host/gone@R\",\"status\":\"silent\",\"last_seen\":null,"), "{json}");
        assert!(json.contains("{\"ip\":\"::1\",\"principal\":\"host/a\\\"b\\n@R\",\"status\":\"unexpected\",\"last_seen\":1000,\"last_message\":1000,\"last_heartbeat\":null,\"messages_today\":2,\"bytes_today\":20}"), "{json}");
        assert!(json.ends_with("}]}\n"));
        assert_eq!(SendersDocument::from_json(&json).unwrap(), d);
        assert_eq!(d.senders[0].who(), "host/gone@R");
        assert_eq!(d.senders[1].who(), "::1 (host/a\"b\n@R)");
    }

    #[test]
    fn anything_else_is_an_error() {
        for bad in ["", "<html>", "{\"now\":1}", &document().to_json().replace("\"silent\"", "\"quiet\"")] {
            let e = SendersDocument::from_json(bad).unwrap_err();
            assert!(e.to_string().starts_with("not a /senders document: "), "{e}");
        }
    }
}

//! What `gsslog senders` reads from outside (`gsslog_senders`): the
//! collector's `GET /senders` answer (network bytes) and its state file.
//! Neither may panic; what is read is written back and read again unchanged
//! (the state file keeps only the senders ever heard from).
//!
//! Input: one byte (bit 0: a state file, else a `/senders` document), then
//! the text.
#![no_main]

use std::path::Path;

use gsslog_senders::document::SendersDocument;
use gsslog_senders::state_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if kind & 1 == 0 {
        if let Ok(document) = SendersDocument::from_json(text) {
            let again = SendersDocument::from_json(&document.to_json()).expect("a written document reads back");
            assert_eq!(again, document);
            for sender in &document.senders {
                let _ = sender.who();
            }
        }
    } else if let Ok(mut rows) = state_file::parse(Path::new("state"), text) {
        let again = state_file::parse(Path::new("state"), &state_file::render(&rows)).expect("a written state file reads back");
        rows.retain(|_, r| r.last_seen().is_some());
        assert_eq!(again, rows);
    }
});

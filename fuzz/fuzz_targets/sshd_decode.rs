//! The stored sshd tables (`sshd::decode`): a damaged or hostile archive
//! gives an error, never a panic, an out-of-bounds read or an allocation
//! larger than its input allows; a table that decodes has only valid string
//! indexes and times.
#![no_main]

use gsslog_archive::sshd::{self, NONE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = sshd::decode(data) else { return };
    assert!(table.events.len() <= data.len());
    for e in &table.events {
        for id in [e.method, e.user, e.remote, e.principal] {
            assert!(id == NONE || (id as usize) < table.strings.len(), "index {id} of {}", table.strings.len());
        }
        assert!(sshd::clock::from_secs(e.secs).is_some(), "time {} out of range", e.secs);
    }
});

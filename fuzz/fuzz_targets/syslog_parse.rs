//! The syslog message parser (`syslog::parse`): sanitising, PRI, RFC 5424 and
//! RFC 3164 headers, timestamps, and the 'z' compression extension.
//!
//! Input: one byte of settings (bit 0: send the rest zlib-compressed behind a
//! 'z', as a compressing sender would, so the parser's decompressed path sees
//! structured text), 2 bytes choosing `$MaxMessageSize`, 4 bytes of reception
//! time, then the message.
#![no_main]

use std::io::Write;
use std::sync::Arc;

use gsslog_fuzz::{received_time, Cursor};
use libfuzzer_sys::fuzz_target;
use syslog::{Origin, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let settings = input.u8();
    // The daemons accept 128 and more.
    let max_message_size = 128 + usize::from(input.u16());
    let received = received_time(u32::from(input.u16()) << 16 | u32::from(input.u16()));
    let body = input.rest();

    let compressed;
    let wire = if settings & 1 != 0 {
        let mut z = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::fast());
        let _ = z.write_all(body);
        compressed = z.finish().unwrap_or_default();
        &compressed[..]
    } else {
        body
    };

    let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi", provenance: Default::default() });
    let Some(m) = syslog::parse(wire, origin, received, &ParseOptions { max_message_size }) else {
        assert!(wire.is_empty(), "only an empty message is dropped");
        return;
    };
    assert!(m.raw.len() <= max_message_size, "raw of {} bytes over $MaxMessageSize {max_message_size}", m.raw.len());
    assert!(m.raw.iter().all(|&c| c >= 32), "a control byte survived sanitising");
    syslog::c1::split(&m.raw, |run, control| assert!(!control, "a C1 control survived sanitising: {run:?}"));
    assert!(m.facility() <= 24 && m.severity() <= 7);
    // Every accessor on every message.
    let fields: [&[u8]; 9] = [
        m.msg(),
        m.hostname(),
        m.tag(),
        m.app_name(),
        m.procid(),
        m.msgid(),
        m.structured_data(),
        m.programname(),
        &m.raw,
    ];
    std::hint::black_box(fields);
    let mut out = Vec::new();
    m.reported.write_rfc3339(&mut out);
    m.reported.write_rfc3164(&mut out);
    m.reported.write_mysql(&mut out);
    std::hint::black_box((m.reported.unix(), m.reported.to_utc(), m.reported.weekday(), out));
});

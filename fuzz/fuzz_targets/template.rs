//! Templates (`syslog::template::Template`: parse, render, render_path) and the
//! two legacy filters (`syslog::filter::Selector`, `PropertyFilter`), against a
//! message parsed from the same input.
//!
//! Input: the template (or filter) text, a NUL byte, then the message.
#![no_main]

use gsslog_fuzz::{parse_message, received_time};
use libfuzzer_sys::fuzz_target;
use syslog::config::{parse_action, parse_bool, parse_size};
use syslog::filter::{PropertyFilter, Selector};
use syslog::template::{builtin, Template};

const BUILTINS: [&str; 6] = [
    "RSYSLOG_FileFormat",
    "RSYSLOG_TraditionalFileFormat",
    "RSYSLOG_ForwardFormat",
    "RSYSLOG_TraditionalForwardFormat",
    "RSYSLOG_SyslogProtocol23Format",
    "RSYSLOG_FileFormatUTC",
];

fuzz_target!(|data: &[u8]| {
    let (text, raw) = match data.iter().position(|&c| c == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &b"<38>Nov 23 12:00:00 node1 sshd[42]: Accepted publickey for root\n"[..]),
    };
    let text = String::from_utf8_lossy(text);
    let now = received_time(1_795_000_000);
    let message = parse_message(raw, 1_790_000_000);

    let (template, _problem) = Template::parse("fuzz", &text);
    let _ = template.same_for_a_batch();
    for p in template.properties() {
        std::hint::black_box(p);
    }
    if let Some(m) = &message {
        let mut out = Vec::new();
        template.render(m, &now, &mut out);
        out.clear();
        template.render_path(m, &now, &mut out);
        // Without a '/' (or an escape that could make one) in the literal
        // text, no property value may add one to a path.
        if !text.contains('/') && !text.contains('\\') {
            assert!(!out.contains(&b'/'), "render_path let a property value add a '/': {:?}", String::from_utf8_lossy(&out));
            // Nor, without one in the literal text, a C1 control.
            let mut literal_c1 = false;
            syslog::c1::split(text.as_bytes(), |_, control| literal_c1 |= control);
            if !literal_c1 {
                syslog::c1::split(&out, |run, control| assert!(!control, "render_path let a C1 control into a path: {run:?}"));
            }
        }
        for name in BUILTINS {
            if let Some(t) = builtin(name) {
                out.clear();
                t.render(m, &now, &mut out);
            }
        }
    }

    if let Ok(selector) = Selector::parse(&text) {
        if let Some(m) = &message {
            let _ = selector.matches(m.facility(), m.severity());
        }
        for facility in 0..=25 {
            let _ = selector.matches(facility, 7);
        }
    }
    if let Ok((filter, action)) = PropertyFilter::parse(&text) {
        let _ = filter.never_matches();
        if let Some(m) = &message {
            let _ = filter.matches(m);
        }
        let _ = parse_action(action);
    }
    let _ = parse_action(&text);
    let _ = parse_size(&text);
    let _ = parse_bool(&text);
});

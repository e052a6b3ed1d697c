//! The metrics endpoint's request reading (`daemon::metrics_http`), which
//! anyone who reaches `$GssMetricsListen` can talk to: `read_head` on a
//! stream arriving in chunks, then `Request::parse` of what it returns.
//!
//! Input: one byte of chunk size, then the stream.
#![no_main]

use daemon::metrics_http::{read_head, Asks, Request, MAX_HEAD, READ_CHUNK};
use gsslog_fuzz::{runtime, ChunkedReader, Cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let chunk = usize::from(input.u8()) * 8 + 1;
    let stream = input.rest();
    let head = runtime().block_on(async {
        let mut reader = ChunkedReader::new(stream, chunk);
        read_head(&mut reader).await
    });
    let Some(head) = head.unwrap_or_else(|e| panic!("an in-memory stream failed: {e}")) else {
        return;
    };
    assert!(head.len() <= MAX_HEAD + READ_CHUNK, "a head of {} bytes", head.len());
    assert!(stream.starts_with(head.as_bytes()), "the head is not the stream's first bytes");
    assert!(head.contains("\r\n\r\n") || head.contains("\n\n"), "a head with no blank line: {head:?}");
    let request = Request::parse(&head);
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("");
    let path = words.next().unwrap_or("").split('?').next().unwrap_or("");
    match request.asks {
        Asks::Metrics | Asks::Health | Asks::NotFound => assert!(method == "GET" || method == "HEAD", "{line:?} read as {request:?}"),
        Asks::MethodNotAllowed | Asks::Bad => {}
    }
    match request.asks {
        Asks::Metrics => assert_eq!(path, "/metrics"),
        Asks::Health => assert_eq!(path, "/health"),
        _ => {}
    }
    assert_eq!(request.with_body, method != "HEAD");
});

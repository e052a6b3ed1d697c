//! From a received message to the queues: parse, apply each action's filter,
//! render its template, frame it as rsyslog's omgssapi does, enqueue.

use std::io::Write;
use std::sync::Arc;

use queue::{Producer, PushError};
use syslog::config::Filter;
use syslog::template::Template;
use syslog::{Origin, ParseOptions, Timestamp};

use crate::config::Target;

pub struct Route {
    pub filter: Filter,
    pub template: Arc<Template>,
    pub target: Target,
    pub queue: Producer,
}

pub struct Router {
    pub routes: Vec<Route>,
    pub options: ParseOptions,
}

impl Router {
    /// Routes one received message. `Err` when an action's queue did not take
    /// it (full for the whole enqueue timeout, or a disk error): the message
    /// is not accepted there, and a sender that can retry (omprog) should.
    pub fn route(&self, raw: &[u8], origin: &Arc<Origin>) -> Result<(), PushError> {
        self.route_many(&[raw], origin).map(|_| ())
    }

    /// Routes several messages (one read from a stream) with one queue write
    /// per action. Returns how many records the queues refused (full).
    pub fn route_many(&self, raws: &[&[u8]], origin: &Arc<Origin>) -> Result<usize, PushError> {
        let received = Timestamp::now();
        let messages: Vec<_> = raws.iter().filter_map(|raw| syslog::parse(raw, origin.clone(), received, &self.options)).collect();
        let mut rendered = Vec::with_capacity(512);
        let mut arena = Vec::with_capacity(raws.iter().map(|r| r.len() + 64).sum());
        let mut ends = Vec::with_capacity(messages.len());
        let mut refused = 0;
        let mut result = Ok(());
        for r in &self.routes {
            arena.clear();
            ends.clear();
            for m in messages.iter().filter(|m| r.filter.matches(m)) {
                rendered.clear();
                r.template.render(m, &received, &mut rendered);
                // rsyslog cuts the rendered message to $MaxMessageSize before framing.
                rendered.truncate(self.options.max_message_size);
                frame(&rendered, &r.target, &mut arena);
                ends.push(arena.len());
            }
            if ends.is_empty() {
                continue;
            }
            let mut start = 0;
            let records: Vec<&[u8]> = ends
                .iter()
                .map(|&end| {
                    let rec = &arena[start..end];
                    start = end;
                    rec
                })
                .collect();
            match r.queue.push_batch(&records) {
                Ok(accepted) => refused += records.len() - accepted,
                Err(PushError::Full) => refused += records.len(),
                Err(e) => result = Err(e),
            }
        }
        match result {
            Ok(()) if refused > 0 && raws.len() == 1 => Err(PushError::Full),
            Ok(()) => Ok(refused),
            Err(e) => Err(e),
        }
    }
}

/// rsyslog's omgssapi framing: LF appended (unless present), or `LEN SP msg`
/// with `(o)`; with `(zN)` a message over 60 bytes is zlib-compressed when
/// that makes it shorter, and then always octet-counted as `LEN SP z...`.
pub fn frame(msg: &[u8], target: &Target, out: &mut Vec<u8>) {
    if let Some(level) = target.zlib_level.filter(|_| msg.len() > 60) {
        let mut z = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::new(level));
        if z.write_all(msg).is_ok() {
            if let Ok(compressed) = z.finish() {
                if compressed.len() < msg.len() {
                    out.extend_from_slice(format!("{} ", compressed.len()).as_bytes());
                    out.extend_from_slice(&compressed);
                    return;
                }
            }
        }
    }
    if target.octet_counted {
        out.extend_from_slice(format!("{} ", msg.len()).as_bytes());
        out.extend_from_slice(msg);
    } else {
        out.extend_from_slice(msg);
        if msg.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(z: Option<u32>, o: bool) -> Target {
        Target { host: "c".into(), port: 1, zlib_level: z, octet_counted: o }
    }

    #[test]
    fn framing_like_omgssapi() {
        let mut out = Vec::new();
        frame(b"<13>short", &target(None, false), &mut out);
        assert_eq!(out, b"<13>short\n");
        out.clear();
        frame(b"<30>Nov 23 12:15:13 vm pbs_mom: short", &target(None, true), &mut out);
        assert_eq!(out, b"37 <30>Nov 23 12:15:13 vm pbs_mom: short");
        out.clear();
        let long = vec![b'a'; 500];
        frame(&long, &target(Some(9), false), &mut out);
        let (len, rest) = out.split_at(out.iter().position(|c| *c == b' ').unwrap());
        assert_eq!(std::str::from_utf8(len).unwrap().parse::<usize>().unwrap(), rest.len() - 1);
        assert_eq!(&rest[1..3], b"zx", "z prefix, then a zlib stream");
        out.clear();
        frame(b"<13>under sixty bytes stays plain", &target(Some(9), false), &mut out);
        assert_eq!(out, b"<13>under sixty bytes stays plain\n");
    }
}

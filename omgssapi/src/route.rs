//! From a received message to the queues: parse, apply each action's filter,
//! render its template, frame it as rsyslog's omgssapi does
//! ([`syslog::framing::encode`]), enqueue.

use std::sync::Arc;

use queue::{Producer, PushError};
use syslog::filter::Filter;
use syslog::template::Template;
use syslog::framing::{self, Framing};
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
        crate::stats::received(raws);
        let received = Timestamp::now();
        let messages: Vec<_> = raws.iter().filter_map(|raw| syslog::parse(raw, origin.clone(), received, &self.options)).collect();
        let mut rendered = Vec::with_capacity(512);
        let mut arena = Vec::with_capacity(raws.iter().map(|r| r.len() + 64).sum());
        let mut ends = Vec::with_capacity(messages.len());
        let mut refused = 0;
        let mut result = Ok(());
        for r in &self.routes {
            let framing = Framing { octet_counted: r.target.octet_counted, zlib_level: r.target.zlib_level };
            arena.clear();
            ends.clear();
            for m in messages.iter().filter(|m| r.filter.matches(m)) {
                rendered.clear();
                r.template.render(m, &received, &mut rendered);
                // rsyslog cuts the rendered message to $MaxMessageSize before framing.
                rendered.truncate(self.options.max_message_size);
                framing::encode(&rendered, framing, &mut arena);
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

//! `$ModLoad immark` and `$MarkMessagePeriod N`: every period a `-- MARK --`
//! message goes through the same filters, templates, queues and sessions as
//! every other message, so that its arrival at the collector proves the whole
//! path works (the collector's last-seen table counts it as a heartbeat).
//!
//! As rsyslog 8.2302 sends it: priority 46 (syslog.info; rsyslog's
//! selector facility `mark` is not a wire facility), the message text
//! `-- MARK --`; the tag is ours, `omgssapi:`. Marks are sent every period,
//! busy or not, as rsyslog's immark does.

use std::sync::Arc;
use std::time::Duration;

use syslog::Origin;

use crate::inputs::Inputs;

/// rsyslog's default `$MarkMessagePeriod` (20 minutes).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1200);

/// The message, before the router parses it (no timestamp or hostname: the
/// parser takes the time of reception and the node's name, as rsyslog does
/// for its own messages).
pub const MARK: &[u8] = b"<46>omgssapi: -- MARK --";

/// Sends a mark every `period` until shutdown (spawn it on the runtime;
/// queueing runs on the blocking pool, as it may wait for room).
pub async fn run(inputs: Arc<Inputs>, period: Duration) {
    let origin = Arc::new(Origin {
        fromhost: inputs.hostname.clone(),
        fromhost_ip: "127.0.0.1".into(),
        inputname: "immark",
        provenance: Default::default(),
    });
    tracing::info!(period_seconds = period.as_secs(), "immark: a -- MARK -- message every period");
    let mut shutdown = inputs.shutdown.clone();
    while !shutdown.sleep(period).await {
        let (inputs, origin) = (inputs.clone(), origin.clone());
        match tokio::task::spawn_blocking(move || inputs.router.route(MARK, &origin)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "-- MARK -- message not queued"),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_rsyslogs_on_the_wire() {
        let origin = Arc::new(Origin { fromhost: "node1".into(), fromhost_ip: "127.0.0.1".into(), inputname: "immark", provenance: Default::default() });
        let now = syslog::Timestamp::now();
        let m = syslog::parse(MARK, origin, now, &syslog::ParseOptions::default()).unwrap();
        assert_eq!((m.facility(), m.severity()), (5, 6));
        let mut out = Vec::new();
        syslog::template::builtin("RSYSLOG_TraditionalForwardFormat").unwrap().render(&m, &now, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("<46>"), "{line}");
        assert!(line.ends_with(" node1 omgssapi: -- MARK --"), "{line}");
    }
}

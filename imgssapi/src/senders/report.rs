//! The table as the admin sees it: Prometheus series (a few per sender),
//! the `/senders` JSON document, and the line `/health` adds.

use std::fmt::Write as _;
use std::net::IpAddr;

pub use gsslog_senders::document::Counts;
use gsslog_senders::document::{SenderEntry, SendersDocument};

use super::table::{Inner, Sender, Status};

/// How many senders have each status now.
pub fn counts(inner: &Inner) -> Counts {
    let mut c = Counts::default();
    let statuses = inner.rows.values().map(|r| r.status).chain(inner.unseen_principals.values().copied());
    for s in statuses {
        c.known += 1;
        match s {
            Status::Expected => c.expected += 1,
            Status::Silent => {
                c.expected += 1;
                c.silent += 1
            }
            Status::Unexpected => c.unexpected += 1,
            Status::Unlisted => {}
        }
    }
    c
}

/// Rows sorted by address, for stable output.
fn sorted(inner: &Inner) -> Vec<(&IpAddr, &Sender)> {
    let mut rows: Vec<_> = inner.rows.iter().collect();
    rows.sort_by_key(|(ip, _)| **ip);
    rows
}

/// The per-sender Prometheus series: `gsslog_sender_*{ip="…",principal="…"}`.
/// A time never seen has no sample; a sender not heard from today counts 0 today.
pub fn prometheus(inner: &Inner, now: u64, text: &mut String) {
    let today = now / 86_400;
    let rows = sorted(inner);
    let labels: Vec<String> = rows
        .iter()
        .map(|(ip, r)| format!("{{ip=\"{ip}\",principal=\"{}\"}}", escape_label(r.principal.as_deref().unwrap_or(""))))
        .collect();
    let this_day = |r: &Sender, v: u64| Some(if r.day == today { v } else { 0 });
    type Value<'a> = &'a dyn Fn(&Sender) -> Option<u64>;
    let families: [(&str, &str, Value); 5] = [
        ("last_message_timestamp_seconds", "When the sender's last message arrived (Unix time).", &|r| r.last_message),
        ("last_heartbeat_timestamp_seconds", "When the sender's last heartbeat (-- MARK -- or protocol heartbeat) arrived (Unix time).", &|r| r.last_heartbeat),
        ("messages_today", "Messages from the sender since 00:00 UTC.", &|r| this_day(r, r.messages_today)),
        ("bytes_today", "Bytes from the sender since 00:00 UTC.", &|r| this_day(r, r.bytes_today)),
        ("silent", "1 when the sender is expected and has been silent longer than $InputGSSServerSilentAfter.", &|r| {
            (r.status != Status::Unlisted).then_some(u64::from(r.status == Status::Silent))
        }),
    ];
    for (name, help, value) in families {
        let _ = writeln!(text, "# HELP gsslog_sender_{name} {help}\n# TYPE gsslog_sender_{name} gauge");
        for ((_, row), labels) in rows.iter().zip(&labels) {
            if let Some(v) = value(row) {
                let _ = writeln!(text, "gsslog_sender_{name}{labels} {v}");
            }
        }
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /senders`: every sender with its status and times (Unix seconds,
/// `null` when never): expected principals never seen (silent ones first),
/// then the rows, silent and unexpected ones first.
pub fn json(inner: &Inner, now: u64) -> String {
    document(inner, now).to_json()
}

pub fn document(inner: &Inner, now: u64) -> SendersDocument {
    let unseen = |(p, status): (&String, &Status)| SenderEntry {
        ip: None,
        principal: Some(p.clone()),
        status: *status,
        last_seen: None,
        last_message: None,
        last_heartbeat: None,
        messages_today: 0,
        bytes_today: 0,
    };
    let mut senders: Vec<SenderEntry> = inner.unseen_principals.iter().filter(|(_, s)| **s == Status::Silent).map(unseen).collect();
    senders.extend(inner.unseen_principals.iter().filter(|(_, s)| **s != Status::Silent).map(unseen));
    let mut rows = sorted(inner);
    rows.sort_by_key(|(_, r)| r.status.rank());
    senders.extend(rows.into_iter().map(|(ip, r)| {
        let today = r.day == now / 86_400;
        SenderEntry {
            ip: Some(*ip),
            principal: r.principal.clone(),
            status: r.status,
            last_seen: r.last_seen(),
            last_message: r.last_message,
            last_heartbeat: r.last_heartbeat,
            messages_today: if today { r.messages_today } else { 0 },
            bytes_today: if today { r.bytes_today } else { 0 },
        }
    }));
    SendersDocument {
        now,
        silent_after_seconds: inner.silent_after,
        expected_senders_file: inner.expected.as_ref().map(|l| l.path.display().to_string()),
        counts: counts(inner),
        senders,
    }
}

/// `GET /senders.txt`, for scripts and `check_gsslog_senders`: a line
/// `now NOW silent_after SECONDS list PATH|-`, then per sender
/// `STATUS IP|- PRINCIPAL|- LAST_SEEN|-`, tab-separated, in the order of
/// [`json`]. A principal's tabs and line breaks are written as in the state file.
pub fn text(inner: &Inner, now: u64) -> String {
    let list = inner.expected.as_ref().map_or("-".to_string(), |l| gsslog_senders::state_file::escape(&l.path.display().to_string()));
    let mut out = format!("now\t{now}\tsilent_after\t{}\tlist\t{list}\n", inner.silent_after);
    let mut unseen: Vec<_> = inner.unseen_principals.iter().collect();
    unseen.sort_by_key(|(_, s)| (**s).rank());
    for (p, status) in unseen {
        let _ = writeln!(out, "{}\t-\t{}\t-", status.name(), gsslog_senders::state_file::escape(p));
    }
    let mut rows = sorted(inner);
    rows.sort_by_key(|(_, r)| r.status.rank());
    for (ip, r) in rows {
        let principal = r.principal.as_deref().map_or("-".to_string(), gsslog_senders::state_file::escape);
        let _ = writeln!(out, "{}\t{ip}\t{principal}\t{}", r.status.name(), r.last_seen().map_or("-".to_string(), |t| t.to_string()));
    }
    out
}

/// What `/health` adds: how many expected senders are silent (never a reason
/// to fail the collector's own health).
pub fn health(inner: &Inner) -> Option<String> {
    inner.expected.as_ref()?;
    let c = counts(inner);
    Some(format!("{} of {} expected senders silent, {} unexpected", c.silent, c.expected, c.unexpected))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::expected::ExpectedSenders;
    use super::super::table::Senders;
    use super::*;

    fn table() -> Senders {
        let s = Senders::new(30);
        s.set_expected(Some(ExpectedSenders::parse(Path::new("/etc/exp"), "10.0.0.1\n10.0.0.2\nhost/gone@R\n").unwrap()), 1000);
        s.received("10.0.0.1".parse().unwrap(), Some("host/a\"b@R"), 2, 20, true, 1000);
        s.received("10.0.0.9".parse().unwrap(), None, 1, 5, false, 1040);
        s.check(1040);
        s
    }

    #[test]
    fn prometheus_series_per_sender() {
        let s = table();
        let mut text = String::new();
        prometheus(&s.lock(), 1040, &mut text);
        assert!(text.contains("gsslog_sender_last_message_timestamp_seconds{ip=\"10.0.0.1\",principal=\"host/a\\\"b@R\"} 1000\n"), "{text}");
        assert!(text.contains("gsslog_sender_silent{ip=\"10.0.0.1\",principal=\"host/a\\\"b@R\"} 1\n"), "{text}");
        assert!(text.contains("gsslog_sender_silent{ip=\"10.0.0.9\",principal=\"\"} 0\n"), "{text}");
        assert!(!text.contains("gsslog_sender_last_message_timestamp_seconds{ip=\"10.0.0.2\""), "never: no sample\n{text}");
        assert_eq!(text.matches("# TYPE").count(), 5);
        let mut tomorrow = String::new();
        prometheus(&s.lock(), 86_400 + 1, &mut tomorrow);
        assert!(tomorrow.contains("gsslog_sender_messages_today{ip=\"10.0.0.9\",principal=\"\"} 0\n"), "a new day: {tomorrow}");
        assert!(text.contains("gsslog_sender_messages_today{ip=\"10.0.0.9\",principal=\"\"} 1\n"), "{text}");
    }

    #[test]
    fn json_lists_silent_first() {
        let s = table();
        let json = json(&s.lock(), 1040);
        assert!(json.starts_with("{\"now\":1040,\"silent_after_seconds\":30,\"expected_senders_file\":\"/etc/exp\",\"counts\":{\"known\":4,\"expected\":3,\"silent\":3,\"unexpected\":1},\"senders\":[{\"ip\":null,\"principal\":\"host/gone@R\",\"status\":\"silent\""), "{json}");
        assert!(json.contains("{\"ip\":\"10.0.0.1\",\"principal\":\"host/a\\\"b@R\",\"status\":\"silent\",\"last_seen\":1000,\"last_message\":1000,\"last_heartbeat\":1000,\"messages_today\":2,\"bytes_today\":20}"), "{json}");
        assert!(json.ends_with("\"status\":\"unexpected\",\"last_seen\":1040,\"last_message\":1040,\"last_heartbeat\":null,\"messages_today\":1,\"bytes_today\":5}]}\n"), "{json}");
        assert_eq!(health(&s.lock()).unwrap(), "3 of 3 expected senders silent, 1 unexpected");
        assert_eq!(
            text(&s.lock(), 1040),
            "now\t1040\tsilent_after\t30\tlist\t/etc/exp\nsilent\t-\thost/gone@R\t-\nsilent\t10.0.0.1\thost/a\"b@R\t1000\n\
             silent\t10.0.0.2\t-\t-\nunexpected\t10.0.0.9\t-\t1040\n"
        );
    }
}

//! `action(type="omclickhouse")` against a real ClickHouse server (Debian's
//! 18.16, on loopback, in a temporary directory), fed through the
//! collector's GSS input by a real Kerberos session:
//! - numbered messages become exactly as many rows, with the right fields;
//! - hostile messages are stored exactly as the file output writes them,
//!   by the default JSONEachRow rows and by a user template's INSERT, and
//!   the collector's user ran nothing but INSERTs (and `SELECT 1`);
//! - a row the server refuses lands in errorFile with the server's answer,
//!   and the rows around it are inserted;
//! - the server stopped for 30 s under load and the collector killed with
//!   SIGKILL meanwhile: every message the shipper was told was written ends
//!   up in the table, and duplicates stay within what was unacknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsslog_tests::clickhouse::{unhex, ClickHouse, PASSWORD, USER};
use gsslog_tests::client::GssClient;
use gsslog_tests::daemon::{logged_unacknowledged, Daemon};
use gsslog_tests::net::{free_port, paced_lines};
use gsslog_tests::realm::TestRealm;
use gsswire::{ByteOrder, Protection};

const WAIT: Duration = Duration::from_secs(120);

/// A collector with its GSS input on `port`, `%msg%` of every message to
/// `out`, and `action` (an omclickhouse action, or more) after that.
fn start_collector(dir: &Path, port: u16, out: &Path, action: &str) -> Daemon {
    start_collector_with_work(dir, &dir.join("work"), port, out, action)
}

/// [`start_collector`] with its queues in `work` (a restarted collector
/// recovers them there).
fn start_collector_with_work(dir: &Path, work: &Path, port: u16, out: &Path, action: &str) -> Daemon {
    std::fs::create_dir_all(work).unwrap();
    let conf = format!(
        "$ModLoad imgssapi\n$ModLoad impstats\n$PStatInterval 1\n$MaxMessageSize 128k\n$WorkDirectory {}\n$InputGSSServerRun {port}\n\
         module(load=\"omclickhouse\")\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n{action}\n",
        work.display(),
        out.display()
    );
    let realm = TestRealm::shared();
    let mut d = Daemon::start("imgssapi", dir, &conf, &realm.server_env(), &["-x"]).unwrap();
    d.wait_for_log("collector running", WAIT).unwrap();
    d
}

/// The default action to `server`, as the collector's user.
fn default_action(server: &ClickHouse, extra: &str) -> String {
    format!(
        "action(type=\"omclickhouse\" server=\"127.0.0.1\" port=\"{}\" useHttps=\"off\" user=\"{USER}\" pwd=\"{}\" {extra})",
        server.http_port,
        PASSWORD.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool, logs: impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > WAIT {
            panic!("{what}: not within {WAIT:?}\n{}", logs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count(server: &ClickHouse, table: &str) -> u64 {
    server.query(&format!("SELECT count() FROM {table}")).ok().and_then(|c| c.trim().parse().ok()).unwrap_or(0)
}

/// Every `message` of `table`, as bytes, sorted.
fn messages(server: &ClickHouse, table: &str) -> Vec<Vec<u8>> {
    let hex = server.query(&format!("SELECT hex(message) FROM {table} FORMAT TSV")).unwrap();
    let mut all: Vec<Vec<u8>> = hex.lines().map(unhex).collect();
    all.sort();
    all
}

/// The lines of the file output, sorted.
fn file_lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    lines.sort();
    lines
}

fn gss_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The last value of `key=` in the collector's impstats lines for the action.
fn impstats(log: &str, key: &str) -> u64 {
    let needle = format!(" {key}=");
    log.lines().rev().filter(|l| l.contains("origin=omclickhouse")).filter_map(|l| l.split(&needle).nth(1)?.split(' ').next()?.parse().ok()).next().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_messages_through_the_gss_input_become_exactly_as_many_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = ClickHouse::start(&dir.path().join("clickhouse")).unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, &default_action(&server, ""));
    const N: u64 = 3000;
    let mut client = GssClient::connect(gss_addr(port), None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let lines: Vec<String> = chunk.iter().map(|n| format!("<38>1 2026-12-07T10:00:00Z node7 sshd 42 - - Accepted publickey n {n:06}")).collect();
        client.send_lines(&lines).await.unwrap();
    }
    wait_until("every row inserted", || count(&server, "rsyslog.SystemEvents") >= N, || collector.log());
    // Quiet for a moment: a late duplicate would show.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&server, "rsyslog.SystemEvents"), N, "{}", collector.log());
    let rows = server
        .query("SELECT severity, facility, toUnixTimestamp(timestamp), hostname, tag, message FROM rsyslog.SystemEvents ORDER BY message FORMAT TSV")
        .unwrap();
    // rsyslog's syslogtag of an RFC 5424 message: APP-NAME[PROCID], no colon.
    let expected: Vec<String> = (0..N).map(|n| format!("6\t4\t1796637600\tnode7\tsshd[42]\tAccepted publickey n {n:06}")).collect();
    let got: Vec<&str> = rows.lines().collect();
    assert_eq!(got.len(), expected.len());
    if let Some((g, e)) = got.iter().zip(&expected).find(|(g, e)| *g != e) {
        panic!("row {g:?}, expected {e:?}");
    }
    // The same messages as the file output.
    assert!(messages(&server, "rsyslog.SystemEvents") == file_lines(&out), "the table holds what the file output wrote");
    collector.wait_for_log("rows.sent=3000", WAIT).unwrap();
    assert!(collector.stop(WAIT).unwrap().success());
}

/// Messages no string literal survives unescaped, and bytes that are not text.
fn hostile_messages() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = [
        "it's",
        "quote ' and double \" and backslash \\ end",
        "\\'); DROP TABLE rsyslog.SystemEvents; --",
        "'); DROP TABLE rsyslog.SystemEvents; --",
        "\\\\'); DROP TABLE rsyslog.SystemEvents; --",
        "ends with a backslash \\",
        "\\",
        "'",
        "\\\\\\'",
        "\", \"message\": \"injected",
        "}\n{\"severity\":0,\"message\":\"forged row",
        "tab\there, bell \x07, escape \x1b[31m, DEL \x7f",
        "a NUL \0 in the middle",
        "unicode é 日本 🙂 and \\u0041 written out",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    all.push(b"invalid UTF-8: \xff\xfe \xc3\x28 \xe2\x82 end".to_vec());
    all.push(b"lone continuation \x80 and overlong \xc0\xaf".to_vec());
    let mut long = b"64 KiB: ".to_vec();
    long.extend((0..64 * 1024).map(|i| b"abc'\\\"xyz "[i % 10]));
    all.push(long);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_stored_exactly_as_the_file_output_writes_them_and_only_inserts_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = ClickHouse::start(&dir.path().join("clickhouse")).unwrap();
    server.query("CREATE TABLE rsyslog.Custom (host String, message String) ENGINE = MergeTree() ORDER BY tuple()").unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    // The default rows, and a user template rendering the INSERT rsyslog's way.
    let actions = format!(
        "{}\ntemplate(name=\"custom\" type=\"string\" string=\"INSERT INTO rsyslog.Custom (host, message) VALUES ('%hostname%', '%msg%')\")\n{}",
        default_action(&server, "name=\"default\""),
        default_action(&server, "name=\"custom\" template=\"custom\" queue.filename=\"custom\"")
    );
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, &actions);
    let hostile = hostile_messages();
    let mut client = GssClient::connect(gss_addr(port), None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    for m in &hostile {
        let mut line = b"<13>1 2026-12-07T10:00:00Z node7 app - - - ".to_vec();
        line.extend_from_slice(m);
        line.push(b'\n');
        client.send_plaintext(&line).await.unwrap();
    }
    // A LF in the plaintext ends a message: the forged-row line is two.
    let n: u64 = hostile.iter().map(|m| m.split(|&b| b == b'\n').count() as u64).sum();
    let tables = ["rsyslog.SystemEvents", "rsyslog.Custom"];
    wait_until("every hostile row inserted", || tables.iter().all(|t| count(&server, t) >= n), || collector.log());
    let written = file_lines(&out);
    assert_eq!(written.len() as u64, n);
    for table in tables {
        let stored = messages(&server, table);
        if let Some((s, w)) = stored.iter().zip(&written).find(|(s, w)| s != w) {
            panic!("{table}: stored {:?}, the file has {:?}", String::from_utf8_lossy(s), String::from_utf8_lossy(w));
        }
        assert_eq!(stored.len(), written.len(), "{table}");
    }
    // Bytes the file output keeps as they are, kept by the database too.
    for kept in [&b"\xff\xfe"[..], b"\\'); DROP", b"\\\\\\'", b"\xc0\xaf"] {
        assert!(messages(&server, "rsyslog.SystemEvents").iter().any(|m| m.windows(kept.len()).any(|w| w == kept)), "{kept:?}");
    }
    // Nothing but INSERTs ran as the collector's user (and rsyslog's health check).
    server.flush_logs().unwrap();
    let queries =
        server.query(&format!("SELECT DISTINCT replaceRegexpAll(query, '\\\\s+', ' ') FROM system.query_log WHERE user = '{USER}' FORMAT TSV")).unwrap();
    assert!(!queries.trim().is_empty(), "the collector's queries are logged");
    for q in queries.lines() {
        let upper = q.to_ascii_uppercase();
        assert!(
            upper.starts_with("INSERT INTO RSYSLOG.SYSTEMEVENTS (SEVERITY, FACILITY, TIMESTAMP, HOSTNAME, TAG, MESSAGE) FORMAT JSONEACHROW")
                || upper.starts_with("INSERT INTO RSYSLOG.CUSTOM (HOST, MESSAGE) VALUES")
                || upper == "SELECT 1",
            "the collector ran: {q}"
        );
    }
    let kinds = server.query(&format!("SELECT DISTINCT query_kind FROM system.query_log WHERE user = '{USER}'"));
    if let Ok(kinds) = kinds {
        assert!(kinds.lines().all(|k| k == "Insert" || k == "Select"), "{kinds}");
    }
    assert_eq!(count(&server, "rsyslog.SystemEvents"), n, "the table is still there, with every row once");
    assert!(collector.stop(WAIT).unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_lands_in_error_file_and_does_not_block_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = ClickHouse::start(&dir.path().join("clickhouse")).unwrap();
    server.query("CREATE TABLE rsyslog.Numbered (id Int32, message String) ENGINE = MergeTree() ORDER BY id").unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let errors = dir.path().join("clickhouse-errors.json");
    // rsyslog's test template: the id is the message's second ':' field, outside quotes.
    let actions = format!(
        "template(name=\"numbered\" type=\"string\" string=\"INSERT INTO rsyslog.Numbered (id, message) VALUES (%msg:F,58:2%, '%msg%')\")\n{}",
        default_action(&server, &format!("template=\"numbered\" errorFile=\"{}\"", errors.display()))
    );
    let mut collector = start_collector(&dir.path().join("collector"), port, &out, &actions);
    let mut client = GssClient::connect(gss_addr(port), None, Protection::Encryption, ByteOrder::Little).await.unwrap();
    // One token: the three rows reach the queue together, and go in one batch.
    let lines: Vec<String> = ["n:1:", "n:not a number:", "n:3:"].iter().map(|m| format!("<13>1 2026-12-07T10:00:00Z node7 app - - - {m}")).collect();
    client.send_lines(&lines).await.unwrap();
    wait_until("the refused row in errorFile", || std::fs::read(&errors).is_ok_and(|e| !e.is_empty()), || collector.log());
    wait_until("the good rows inserted", || count(&server, "rsyslog.Numbered") >= 2, || collector.log());
    // The queue goes on after the refusal.
    client.send_lines(&["<13>1 2026-12-07T10:00:00Z node7 app - - - n:4:"]).await.unwrap();
    wait_until("the row after the refusal inserted", || count(&server, "rsyslog.Numbered") >= 3, || collector.log());
    assert_eq!(server.query("SELECT id FROM rsyslog.Numbered ORDER BY id FORMAT TSV").unwrap(), "1\n3\n4\n");
    let error_file = std::fs::read_to_string(&errors).unwrap();
    let records: Vec<&str> = error_file.lines().collect();
    assert_eq!(records.len(), 1, "{error_file}");
    let record = records[0];
    assert!(
        record.starts_with(&format!(
            "{{\"request\":{{\"url\":\"http://127.0.0.1:{}/\",\"postdata\":\"INSERT INTO rsyslog.Numbered (id, message) VALUES (not a number, ",
            server.http_port
        )),
        "{record}"
    );
    assert!(record.contains("\"reply\":\"Code: "), "the server's answer is kept: {record}");
    assert!(!record.contains("n:1:") && !record.contains("n:3:"), "only the refused row: {record}");
    collector.wait_for_log("rows.rejected=1", WAIT).unwrap();
    assert!(collector.stop(WAIT).unwrap().success());
}

/// The shipper feeding the collector: rsyslog's stanza of the grid, in
/// acknowledged mode, with short backoffs.
fn shipper_conf(port: u16) -> String {
    let seed = include_str!("../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"));
    format!("$ActionGSSForwardBackoffBase 100\n$ActionGSSForwardBackoffMax 500\n$ActionGSSForwardAcknowledged on\n{seed}")
}

fn numbered(sender: u32, seq: u64) -> String {
    format!("<13>Nov 23 12:00:00 node{sender} app: sender {sender} seq {seq:08}")
}

/// Every (sender, seq) in `text`; only complete identifiers count.
fn identifiers(text: &str) -> Vec<(u32, u64)> {
    let mut found = Vec::new();
    for part in text.split("sender ").skip(1) {
        let mut words = part.split([' ', '\n', '\t']);
        let (Some(sender), Some("seq"), Some(seq)) = (words.next(), words.next(), words.next()) else { continue };
        if seq.len() != 8 {
            continue;
        }
        if let (Ok(sender), Ok(seq)) = (sender.parse(), seq.parse()) {
            found.push((sender, seq));
        }
    }
    found
}

/// How many times each (sender, seq) is in the table.
fn stored_ids(server: &ClickHouse) -> BTreeMap<(u32, u64), u64> {
    let text = server.query("SELECT message FROM rsyslog.SystemEvents FORMAT TSV").unwrap_or_default();
    let mut times = BTreeMap::new();
    for id in identifiers(&text) {
        *times.entry(id).or_default() += 1;
    }
    times
}

#[test]
fn server_down_30_s_under_load_and_collector_killed_meanwhile_loses_nothing_acknowledged() {
    const SENDERS: u32 = 2;
    const RATE: u64 = 1000; // a second, per sender
    const SECONDS: u64 = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ClickHouse::start(&dir.path().join("clickhouse")).unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("all.log");
    let work = dir.path().join("collector-work");
    let action = default_action(&server, "action.resumeInterval=\"2\" timeout=\"10000\" healthCheckTimeout=\"1000\"");
    let mut collector = start_collector_with_work(&dir.path().join("collector0"), &work, port, &out, &action);
    let input = free_port().unwrap();
    let mut shipper =
        gsslog_tests::daemon::start_shipper(&dir.path().join("shipper"), &shipper_conf(port), &["--tcp", &format!("127.0.0.1:{input}")], WAIT).unwrap();
    shipper.wait_for_log("the collector acknowledges", WAIT).unwrap();

    let progress: Vec<Arc<AtomicU64>> = (0..SENDERS).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let feed: Vec<_> = (1..=SENDERS)
        .map(|s| {
            let p = progress[s as usize - 1].clone();
            std::thread::spawn(move || paced_lines(input, RATE * SECONDS, RATE, |q| numbered(s, q), Some(&p)))
        })
        .collect();
    let fed_from = Instant::now();
    let at = |secs: u64| {
        if let Some(rest) = Duration::from_secs(secs).checked_sub(fed_from.elapsed()) {
            std::thread::sleep(rest);
        }
    };
    at(3);
    let before_outage = count(&server, "rsyslog.SystemEvents");
    server.stop().unwrap();
    let stopped_at = Instant::now();
    eprintln!("t={:.1}s server stopped", fed_from.elapsed().as_secs_f64());
    // Clocked from the moment the server is gone (its orderly stop takes a while).
    let since_stop = |secs: u64| {
        if let Some(rest) = Duration::from_secs(secs).checked_sub(stopped_at.elapsed()) {
            std::thread::sleep(rest);
        }
    };
    since_stop(7);
    // SIGKILL while rows wait in the queue for the server.
    collector.kill_9(WAIT).unwrap();
    let mut collector = start_collector_with_work(&dir.path().join("collector1"), &work, port, &out, &action);
    since_stop(22);
    let sent_by_25: Vec<u64> = progress.iter().map(|p| p.load(Ordering::Relaxed)).collect();
    since_stop(30);
    // The file output went on while the database was down.
    let in_file: BTreeSet<(u32, u64)> = identifiers(&String::from_utf8_lossy(&std::fs::read(&out).unwrap())).into_iter().collect();
    for (i, &n) in sent_by_25.iter().enumerate() {
        let s = i as u32 + 1;
        let missing = (0..n).filter(|q| !in_file.contains(&(s, *q))).count();
        assert_eq!(
            missing, 0,
            "sender {s}: {missing} of the {n} messages sent in the first 25 s (up to 8 s before the check) are not in the file while the server is down"
        );
    }
    server.run().unwrap();
    eprintln!("server down for {:.1} s; {before_outage} rows before", stopped_at.elapsed().as_secs_f64());
    eprintln!("t={:.1}s server restarted", fed_from.elapsed().as_secs_f64());
    let sent: BTreeMap<u32, u64> = feed.into_iter().enumerate().map(|(i, t)| (i as u32 + 1, t.join().unwrap())).collect();
    let total: u64 = sent.values().sum();

    let all_there = |ids: &BTreeMap<(u32, u64), u64>| sent.iter().all(|(&s, &n)| (0..n).all(|q| ids.contains_key(&(s, q))));
    let start = Instant::now();
    let mut ids = stored_ids(&server);
    while !all_there(&ids) {
        assert!(start.elapsed() < Duration::from_secs(180), "{} of {total} messages in the table\n{}\n{}", ids.len(), collector.log(), shipper.log());
        std::thread::sleep(Duration::from_millis(500));
        ids = stored_ids(&server);
    }
    eprintln!("t={:.1}s every message in the table", fed_from.elapsed().as_secs_f64());
    // Quiet for a moment, then count again: late duplicates would show.
    std::thread::sleep(Duration::from_secs(3));
    ids = stored_ids(&server);
    let rows = count(&server, "rsyslog.SystemEvents");
    let duplicates: u64 = ids.values().map(|n| n - 1).sum();
    let invented = ids.keys().filter(|(s, q)| sent.get(s).is_none_or(|n| q >= n)).count();
    assert_eq!(invented, 0, "rows of messages never sent");
    assert_eq!(rows, total + duplicates, "every row is a sent message");
    assert!(shipper.stop(WAIT).unwrap().success());
    eprintln!("t={:.1}s shipper stopped", fed_from.elapsed().as_secs_f64());
    let unacknowledged = logged_unacknowledged(&shipper.log());
    collector.wait_for_log("rows.sent=", WAIT).unwrap();
    let log = collector.log();
    let uncertain = impstats(&log, "rows.uncertain");
    let retries = impstats(&log, "retries");
    eprintln!("{total} sent, {rows} rows, {duplicates} duplicates; the shipper resent at most {unacknowledged}, the action counted {uncertain} uncertain rows and {retries} retries");
    assert!(retries > 0, "the outage was seen and retried\n{log}");
    assert!(
        duplicates <= unacknowledged + uncertain,
        "{duplicates} duplicates: more than the shipper's unacknowledged ({unacknowledged}) and the action's uncertain rows ({uncertain})"
    );
    assert!(collector.stop(WAIT).unwrap().success());
    eprintln!("t={:.1}s collector stopped", fed_from.elapsed().as_secs_f64());
}

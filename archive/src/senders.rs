//! `gsslog senders`: the collector's silent and unexpected senders with
//! their last-seen times, on one line. Read from the collector's
//! `GET /senders` ([`from_collector`]) or, with the collector down or without
//! a metrics endpoint, from its state file ([`from_state_file`]); both with
//! the collector's own model (`gsslog_senders`).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gsslog_senders::document::{DocumentError, SenderEntry, SendersDocument};
use gsslog_senders::state_file::{self, StateError};
use gsslog_senders::Status;

use crate::linetime::Day;

/// The packaged collector's metrics endpoint, as `check_gsslog_senders` takes it.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9515";
/// Time to connect, and for each read and write.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Enough for 100,000 senders.
const MAX_ANSWER: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SendersError {
    #[error("{0} is not an http://HOST:PORT[/PATH] URL of the collector's metrics endpoint")]
    BadUrl(String),
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: std::io::Error },
    #[error("{url} answered {status} (a collector with $GssMetricsListen?)")]
    Answer { url: String, status: String },
    #[error("{url}: the answer is over {MAX_ANSWER} bytes")]
    TooLarge { url: String },
    #[error("{url}: {source}")]
    Document { url: String, source: DocumentError },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The senders as one source told them.
#[derive(Debug, Clone)]
pub struct Senders {
    /// When the statuses were judged (the collector's clock, or when the
    /// state file was saved).
    pub judged_at: u64,
    /// Now, by the clock the ages are counted on.
    pub now: u64,
    /// Whether the collector had an expected senders list (from a state
    /// file: whether any row was judged).
    pub judged: bool,
    /// Where they came from, for the line's start when it is not the collector now.
    pub from_state_file: Option<PathBuf>,
    pub entries: Vec<SenderEntry>,
}

/// `GET URL/senders` (or URL itself when it has a path).
pub fn from_collector(url: &str) -> Result<Senders, SendersError> {
    let (host_port, path) = split_url(url).ok_or_else(|| SendersError::BadUrl(url.to_string()))?;
    let target = format!("http://{host_port}{path}");
    let unreachable = |source| SendersError::Unreachable { url: target.clone(), source };
    let mut last_error = std::io::Error::other("the name has no address");
    let mut stream = None;
    for addr in host_port.to_socket_addrs().map_err(unreachable)? {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let mut stream = stream.ok_or_else(|| unreachable(last_error))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host_port}\r\nConnection: close\r\n\r\n").as_bytes()).map_err(unreachable)?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER + 1).read_to_end(&mut answer).map_err(unreachable)?;
    if answer.len() as u64 > MAX_ANSWER {
        return Err(SendersError::TooLarge { url: target });
    }
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status_line = head.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) != Some("200") {
        let status = if status_line.is_empty() { "nothing".to_string() } else { status_line.to_string() };
        return Err(SendersError::Answer { url: target, status });
    }
    let document = SendersDocument::from_json(body).map_err(|source| SendersError::Document { url: target, source })?;
    Ok(Senders {
        judged_at: document.now,
        now: document.now,
        judged: document.expected_senders_file.is_some(),
        from_state_file: None,
        entries: document.senders,
    })
}

/// `http://HOST:PORT[/PATH]` as `HOST:PORT` (port 80 when none) and the
/// path to ask (`/senders` when none).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end + 1..].starts_with(':'),
        None => authority.contains(':'),
    };
    let host_port = if has_port { authority.to_string() } else { format!("{authority}:80") };
    let path = if path.is_empty() || path == "/" { "/senders".to_string() } else { path.to_string() };
    Some((host_port, path))
}

/// The collector's state file: the statuses as it last saved them (every
/// 30 s, on each change and at shutdown), ages counted to now.
pub fn from_state_file(path: &Path) -> Result<Senders, SendersError> {
    let rows = state_file::read(path)?;
    let saved = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| StateError::Read { path: path.to_path_buf(), source })?;
    let now = now();
    let judged_at = saved.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by_key(|(ip, r)| (r.status.rank(), *ip));
    let entries: Vec<SenderEntry> = rows
        .into_iter()
        .map(|(ip, r)| SenderEntry {
            ip: Some(ip),
            last_seen: r.last_seen(),
            principal: r.principal,
            status: r.status,
            last_message: r.last_message,
            last_heartbeat: r.last_heartbeat,
            messages_today: r.messages_today,
            bytes_today: r.bytes_today,
        })
        .collect();
    let judged = entries.iter().any(|e| e.status != Status::Unlisted);
    Ok(Senders { judged_at, now, judged, from_state_file: Some(path.to_path_buf()), entries })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The one line, and whether it names any silent or unexpected sender.
pub fn summary(senders: &Senders) -> (String, bool) {
    let mut line = String::new();
    if let Some(path) = &senders.from_state_file {
        let _ = write!(line, "{} as saved {}: ", path.display(), when(senders.judged_at, senders.now));
    }
    if !senders.judged {
        let _ = write!(line, "{} senders, none judged: the collector has no $InputGSSServerExpectedSenders list", senders.entries.len());
        return (line, false);
    }
    let count = |s: Status| senders.entries.iter().filter(|e| e.status == s).count();
    let (silent, unexpected) = (count(Status::Silent), count(Status::Unexpected));
    let _ = write!(line, "{silent} of {} expected senders silent, {unexpected} unexpected", silent + count(Status::Expected));
    let named: Vec<String> = senders
        .entries
        .iter()
        .filter(|e| matches!(e.status, Status::Silent | Status::Unexpected))
        .map(|e| {
            let seen = e.last_seen.map_or("never seen".to_string(), |t| format!("last seen {}", when(t, senders.now)));
            format!("{} {}, {seen}", e.who(), e.status.name())
        })
        .collect();
    if !named.is_empty() {
        let _ = write!(line, ": {}", named.join("; "));
    }
    (line, !named.is_empty())
}

/// `2026-12-07 18:03:12 UTC (41 min ago)`.
fn when(t: u64, now: u64) -> String {
    let secs = i64::try_from(t).unwrap_or(i64::MAX);
    let day = Day::from_number(secs.div_euclid(86_400)).map_or_else(|| "?".to_string(), |d| d.to_string());
    let s = secs.rem_euclid(86_400);
    format!("{day} {:02}:{:02}:{:02} UTC ({} ago)", s / 3600, s / 60 % 60, s % 60, age(now.saturating_sub(t)))
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 120 * 60 => format!("{} min", s / 60),
        s if s < 48 * 3600 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use gsslog_senders::Sender;

    use super::*;

    fn entry(ip: Option<&str>, principal: Option<&str>, status: Status, last_seen: Option<u64>) -> SenderEntry {
        SenderEntry {
            ip: ip.map(|i| i.parse().unwrap()),
            principal: principal.map(str::to_string),
            status,
            last_seen,
            last_message: last_seen,
            last_heartbeat: None,
            messages_today: 0,
            bytes_today: 0,
        }
    }

    fn senders(entries: Vec<SenderEntry>) -> Senders {
        // 2026-12-07 18:44:00 UTC.
        let now = 1_796_669_040;
        Senders { judged_at: now, now, judged: true, from_state_file: None, entries }
    }

    #[test]
    fn one_line_names_the_silent_and_unexpected_senders_with_their_last_seen_times() {
        let now = 1_796_669_040;
        let s = senders(vec![
            entry(None, Some("host/n9.grid@GRID"), Status::Silent, None),
            entry(Some("10.1.2.3"), Some("host/n3.grid@GRID"), Status::Silent, Some(now - 41 * 60 - 7)),
            entry(Some("10.9.9.9"), None, Status::Unexpected, Some(now - 5)),
            entry(Some("10.1.2.4"), None, Status::Expected, Some(now - 1)),
        ]);
        let (line, found) = summary(&s);
        assert!(found);
        assert_eq!(
            line,
            "2 of 3 expected senders silent, 1 unexpected: host/n9.grid@GRID silent, never seen; \
             10.1.2.3 (host/n3.grid@GRID) silent, last seen 2026-12-07 18:02:53 UTC (41 min ago); \
             10.9.9.9 unexpected, last seen 2026-12-07 18:43:55 UTC (5 s ago)"
        );
        assert!(!line.contains('\n'));
        let (line, found) = summary(&senders(vec![entry(Some("10.1.2.4"), None, Status::Expected, Some(now - 1))]));
        assert_eq!((line.as_str(), found), ("0 of 1 expected senders silent, 0 unexpected", false));
        let mut unjudged = senders(vec![entry(Some("10.1.2.4"), None, Status::Unlisted, Some(now - 1))]);
        unjudged.judged = false;
        assert_eq!(summary(&unjudged), ("1 senders, none judged: the collector has no $InputGSSServerExpectedSenders list".to_string(), false));
    }

    #[test]
    fn ages_read_as_a_person_would_say_them() {
        assert_eq!(age(0), "0 s");
        assert_eq!(age(119), "119 s");
        assert_eq!(age(120), "2 min");
        assert_eq!(age(3 * 3600), "3 h");
        assert_eq!(age(49 * 3600), "2 d");
    }

    #[test]
    fn urls_of_the_metrics_endpoint() {
        let split = |u: &str| split_url(u).map(|(h, p)| format!("{h} {p}"));
        assert_eq!(split("http://127.0.0.1:9515").as_deref(), Some("127.0.0.1:9515 /senders"));
        assert_eq!(split("http://127.0.0.1:9515/").as_deref(), Some("127.0.0.1:9515 /senders"));
        assert_eq!(split("http://[::1]:9515/senders").as_deref(), Some("[::1]:9515 /senders"));
        assert_eq!(split("http://collector.grid/x/senders").as_deref(), Some("collector.grid:80 /x/senders"));
        assert_eq!(split("http://[::1]/").as_deref(), Some("[::1]:80 /senders"));
        for bad in ["127.0.0.1:9515", "https://c:1", "http://", "http://u@c:1", "http://c:1/a b"] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }

    /// A one-shot server on loopback that answers `answer` to one request.
    fn serve(answer: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = vec![0u8; 4096];
            let n = s.read(&mut request).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        (url, handle)
    }

    #[test]
    fn the_collectors_answer_is_read_with_its_own_model() {
        let document = SendersDocument {
            now: 1000,
            silent_after_seconds: 30,
            expected_senders_file: Some("/etc/gsslog/expected".into()),
            counts: Default::default(),
            senders: vec![entry(Some("10.0.0.1"), None, Status::Silent, Some(900))],
        };
        let body = document.to_json();
        let (url, server) = serve(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        let got = from_collector(&url).unwrap();
        assert!(server.join().unwrap().starts_with("GET /senders HTTP/1.0\r\n"));
        assert_eq!((got.now, got.judged, got.entries), (1000, true, document.senders));

        let (url, server) = serve("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into());
        let e = from_collector(&url).unwrap_err();
        server.join().unwrap();
        assert!(e.to_string().ends_with("/senders answered HTTP/1.1 404 Not Found (a collector with $GssMetricsListen?)"), "{e}");

        let (url, server) = serve("HTTP/1.1 200 OK\r\n\r\n# HELP something\n".into());
        let e = from_collector(&url).unwrap_err();
        server.join().unwrap();
        assert!(matches!(e, SendersError::Document { .. }), "{e}");

        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = from_collector(&format!("http://{closed}")).unwrap_err();
        assert!(e.to_string().starts_with(&format!("cannot reach http://{closed}/senders: ")), "{e}");
    }

    #[test]
    fn the_state_file_gives_the_statuses_as_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(state_file::FILE_NAME);
        let mut rows = std::collections::HashMap::new();
        let row = |status, t| Sender { last_message: Some(t), status, ..Sender::default() };
        rows.insert("10.0.0.2".parse().unwrap(), row(Status::Expected, now()));
        rows.insert("10.0.0.1".parse().unwrap(), row(Status::Silent, 1_796_669_040));
        state_file::write(&path, &state_file::render(&rows)).unwrap();
        let senders = from_state_file(&path).unwrap();
        let (line, found) = summary(&senders);
        assert!(found);
        assert!(line.starts_with(&format!("{} as saved ", path.display())), "{line}");
        assert!(line.contains(" ago): 1 of 2 expected senders silent, 0 unexpected: 10.0.0.1 silent, last seen 2026-12-07 18:44:00 UTC ("), "{line}");
        let e = from_state_file(&dir.path().join("none")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "a state file named and not there: {e}");
        std::fs::write(&path, "not a state file\n").unwrap();
        assert!(matches!(from_state_file(&path), Err(SendersError::State(_))));
    }
}

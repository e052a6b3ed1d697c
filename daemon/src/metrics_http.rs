//! A tiny HTTP/1.1 server for `$GssMetricsListen`: `GET /metrics` (the
//! Prometheus text format of a [`Registry`]) and `GET /health` (200 when the
//! daemon is serving, 503 when not, with one line saying why). One request
//! per connection; requests are small and bounded in size, time and number
//! at once, so a scanner on the port costs little.
//!
//! Slow clients cannot keep `/health` from answering: the accept loop never
//! waits, each request has [`HEAD_DEADLINE`] to arrive and [`REQUEST_DEADLINE`]
//! in all, and when [`MAX_CONNECTIONS`] are open a newcomer closes the oldest
//! connection still sending its request of the source address that holds
//! the most (as MIT's KDC closes its oldest TCP connection), so a monitoring
//! probe, which sends its request at once, is answered however many
//! connections trickle from other addresses.
//!
//! There is no authentication: bound to an address other than loopback, the
//! endpoint says so in the log ([`exposure_warning`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Registry;
use crate::signals::Shutdown;

/// The most bytes of a request head read (give or take one read of
/// [`READ_CHUNK`]).
pub const MAX_HEAD: usize = 8192;
/// The bytes asked of the socket at once while reading a request head.
pub const READ_CHUNK: usize = 1024;
/// How long a client has to send its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// How long a whole request may take, the answer written included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Connections open at once; a newcomer past that closes the oldest one
/// still sending its request, or is closed itself when there is none.
pub const MAX_CONNECTIONS: usize = 16;

/// The health check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether the daemon does its job now.
    pub serving: bool,
    /// One line for the admin: what it does, or what is wrong.
    pub detail: String,
}

/// What the daemon says about its health, asked at every `GET /health`.
pub type HealthCheck = Arc<dyn Fn() -> Health + Send + Sync>;

/// Binds the endpoint (before privileges are dropped: the port may be below
/// 1024); warns when the address is not loopback ([`exposure_warning`]).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    if let Some(warning) = exposure_warning(addr) {
        tracing::warn!(%addr, "{warning}");
    }
    Ok(listener)
}

/// The warning for an endpoint bound to `addr`, unless it is loopback.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "metrics endpoint on {addr}, not a loopback address, without authentication: whoever reaches it reads \
             every counter and the health line (bind $GssMetricsListen to 127.0.0.1 or a management network, or firewall it)"
        )
    })
}

/// The connections open now, by source address, and which of them are still
/// sending their request (oldest first), so that a newcomer can close one.
#[derive(Default)]
struct Connections {
    state: Mutex<ConnectionsState>,
}

#[derive(Default)]
struct ConnectionsState {
    per_address: HashMap<IpAddr, usize>,
    reading: VecDeque<Reading>,
}

/// A connection still sending its request.
struct Reading {
    from: IpAddr,
    conn: Arc<Connection>,
    task: tokio::task::AbortHandle,
}

/// One connection's flags, shared by its task and the list.
struct Connection {
    /// Its request has not yet arrived whole.
    still_reading: AtomicBool,
    /// It is still counted in `per_address` (cleared by whoever uncounts it).
    counted: AtomicBool,
}

impl Connections {
    /// Counts a newcomer from `from`, making room when [`MAX_CONNECTIONS`]
    /// are open: the oldest connection still sending its request, of the
    /// address that holds the most (the newcomer counted, so a sender that
    /// trickles closes its own connections first). `None`: no room (every
    /// open connection is being answered), the newcomer is closed.
    fn admit(&self, from: IpAddr) -> Option<Arc<Connection>> {
        let mut guard = self.state.lock().ok()?;
        let state = &mut *guard;
        state.reading.retain(|r| r.conn.still_reading.load(Ordering::SeqCst) && !r.task.is_finished());
        if state.per_address.values().sum::<usize>() >= MAX_CONNECTIONS {
            let holding = |a: &IpAddr| state.per_address.get(a).copied().unwrap_or(0) + usize::from(*a == from);
            let busiest = state.reading.iter().map(|r| r.from).max_by_key(|a| (holding(a), *a == from))?;
            let at = state.reading.iter().position(|r| r.from == busiest)?;
            let victim = state.reading.remove(at)?;
            victim.task.abort();
            if victim.conn.counted.swap(false, Ordering::SeqCst) {
                uncount(&mut state.per_address, victim.from);
            }
        }
        *state.per_address.entry(from).or_default() += 1;
        Some(Arc::new(Connection { still_reading: AtomicBool::new(true), counted: AtomicBool::new(true) }))
    }

    fn reading(&self, from: IpAddr, conn: Arc<Connection>, task: tokio::task::AbortHandle) {
        if let Ok(mut state) = self.state.lock() {
            state.reading.push_back(Reading { from, conn, task });
        }
    }

    fn closed(&self, from: IpAddr, conn: &Connection) {
        if conn.counted.swap(false, Ordering::SeqCst) {
            if let Ok(mut state) = self.state.lock() {
                uncount(&mut state.per_address, from);
            }
        }
    }
}

fn uncount(per_address: &mut HashMap<IpAddr, usize>, from: IpAddr) {
    if let Some(n) = per_address.get_mut(&from) {
        *n -= 1;
        if *n == 0 {
            per_address.remove(&from);
        }
    }
}

/// Uncounts a connection when its task ends or is aborted.
struct Open {
    connections: Arc<Connections>,
    from: IpAddr,
    conn: Arc<Connection>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.connections.closed(self.from, &self.conn);
    }
}

/// Answers requests on `listener` until `shutdown`. Call inside the runtime.
pub async fn serve(listener: std::net::TcpListener, registry: Arc<Registry>, health: HealthCheck, mut shutdown: Shutdown) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "metrics endpoint: cannot use its socket");
            return;
        }
    };
    let connections = Arc::new(Connections::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.triggered() => return,
        };
        let from = peer.ip();
        let Some(conn) = connections.admit(from) else {
            continue; // every open connection is being answered: this one is closed
        };
        let open = Open { connections: connections.clone(), from, conn: conn.clone() };
        let (registry, health) = (registry.clone(), health.clone());
        let flag = conn.clone();
        let task = tokio::spawn(async move {
            let _open = open;
            let head_read = || flag.still_reading.store(false, Ordering::SeqCst);
            let _ = tokio::time::timeout(REQUEST_DEADLINE, answer(stream, &registry, &health, head_read)).await;
        });
        connections.reading(from, conn, task.abort_handle());
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry, health: &HealthCheck, head_read: impl FnOnce()) -> std::io::Result<()> {
    let head = tokio::time::timeout(HEAD_DEADLINE, read_head(&mut stream)).await;
    head_read();
    let head = match head {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return respond(&mut stream, 400, "Bad Request", "text/plain", "bad request\n", true).await,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let request = Request::parse(&head);
    // Pages a daemon added (the collector's `/senders`).
    let page = (request.asks == Asks::NotFound).then(|| registry.page(request_path(&head))).flatten();
    let (status, reason, kind, body) = match page {
        Some((kind, body)) => (200, "OK", kind, body),
        None => route(request, registry, health),
    };
    respond(&mut stream, status, reason, kind, &body, request.with_body).await
}

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Which answer.
    pub asks: Asks,
    /// `false` for a HEAD request: the response has no body.
    pub with_body: bool,
}

/// The answers the endpoint has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// `GET /metrics`.
    Metrics,
    /// `GET /health`.
    Health,
    /// A GET of any other path.
    NotFound,
    /// Any method but GET and HEAD.
    MethodNotAllowed,
    /// Not an HTTP/1 request line.
    Bad,
}

impl Request {
    /// Reads the request line of `head`; the header lines are not looked at.
    pub fn parse(head: &str) -> Request {
        let mut parts = head.lines().next().unwrap_or("").split_whitespace();
        let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let with_body = method != "HEAD";
        let asks = if !version.starts_with("HTTP/1.") {
            Asks::Bad
        } else if method != "GET" && method != "HEAD" {
            Asks::MethodNotAllowed
        } else {
            match target.split('?').next().unwrap_or("") {
                "/metrics" => Asks::Metrics,
                "/health" => Asks::Health,
                _ => Asks::NotFound,
            }
        };
        Request { asks, with_body }
    }
}

/// The path of a request line, without its query.
fn request_path(head: &str) -> &str {
    let target = head.lines().next().unwrap_or("").split_whitespace().nth(1).unwrap_or("");
    target.split('?').next().unwrap_or("")
}

/// The response to a request: status, reason, content type, body.
fn route(request: Request, registry: &Registry, health: &HealthCheck) -> (u16, &'static str, &'static str, String) {
    match request.asks {
        Asks::Bad => (400, "Bad Request", "text/plain", "bad request\n".into()),
        Asks::MethodNotAllowed => (405, "Method Not Allowed", "text/plain", "only GET\n".into()),
        Asks::Metrics => (200, "OK", "text/plain; version=0.0.4; charset=utf-8", registry.prometheus_text()),
        Asks::Health => {
            let h = health();
            if h.serving {
                (200, "OK", "text/plain", format!("ok: {}\n", h.detail))
            } else {
                (503, "Service Unavailable", "text/plain", format!("not serving: {}\n", h.detail))
            }
        }
        Asks::NotFound => (404, "Not Found", "text/plain", "GET /metrics or /health\n".into()),
    }
}

/// Reads until the blank line that ends a request head; `None` when the
/// client closed first, sent more than [`MAX_HEAD`] bytes, or not text.
pub async fn read_head<R: AsyncRead + Unpin>(stream: &mut R) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(String::from_utf8(buf).ok());
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

async fn respond(stream: &mut TcpStream, status: u16, reason: &str, kind: &str, body: &str, with_body: bool) -> std::io::Result<()> {
    let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// A plain HTTP GET of `path` on `addr`, for tests and for admins' scripts:
/// the status and the body.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::StatsObject;

    #[test]
    fn request_lines() {
        let asks = |head: &str| Request::parse(head).asks;
        assert_eq!(asks("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Asks::Metrics);
        assert_eq!(asks("GET /health?verbose HTTP/1.0\n\n"), Asks::Health);
        assert_eq!(Request::parse("HEAD /health HTTP/1.1\r\n\r\n"), Request { asks: Asks::Health, with_body: false });
        assert_eq!(asks("GET /metrics/x HTTP/1.1\r\n\r\n"), Asks::NotFound);
        assert_eq!(asks("POST /metrics HTTP/1.1\r\n\r\n"), Asks::MethodNotAllowed);
        for bad in ["GET /metrics\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n", "", "\r\n\r\n"] {
            assert_eq!(asks(bad), Asks::Bad, "{bad:?}");
        }
    }

    #[test]
    fn only_loopback_goes_without_a_warning() {
        assert_eq!(exposure_warning("127.0.0.1:9515".parse().unwrap()), None);
        assert_eq!(exposure_warning("[::1]:9515".parse().unwrap()), None);
        for open in ["0.0.0.0:9515", "[::]:9515", "10.1.2.3:9515"] {
            let warning = exposure_warning(open.parse().unwrap()).unwrap();
            assert!(warning.contains("without authentication") && warning.contains(open), "{warning}");
        }
    }

    /// `GET path` from `source`: status and body.
    async fn get_from(source: &str, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
        let mut stream = socket.connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
    }

    /// 200 connections from one address that send half a request and wait,
    /// each reopened as soon as it is closed, must not keep a probe on
    /// another address from an answer to `GET /health` (before: 16 of them
    /// delayed it by seconds, 200 stopped it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn health_answers_while_200_slow_connections_trickle() {
        use std::sync::atomic::AtomicUsize;
        let health: HealthCheck = Arc::new(|| Health { serving: true, detail: "listening".into() });
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = crate::signals::shutdown();
        let server = tokio::spawn(serve(listener, Registry::new(), health, shutdown));
        let attacking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reopened = Arc::new(AtomicUsize::new(0));
        let mut attackers = Vec::new();
        for _ in 0..200 {
            let (attacking, reopened) = (attacking.clone(), reopened.clone());
            attackers.push(tokio::spawn(async move {
                while attacking.load(Ordering::Relaxed) {
                    let Ok(mut slow) = TcpStream::connect(addr).await else { continue };
                    let _ = slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await;
                    let mut rest = Vec::new();
                    let _ = slow.read_to_end(&mut rest).await; // until the server closes it
                    reopened.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // Let the slow connections fill every place first.
        while reopened.load(Ordering::Relaxed) < 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..5 {
            let answer = tokio::time::timeout(Duration::from_secs(20), get_from("127.0.0.2", addr, "/health")).await;
            assert_eq!(answer.expect("/health answered while slow connections trickle").unwrap(), (200, "ok: listening\n".into()));
        }
        attacking.store(false, Ordering::Relaxed);
        stop.trigger();
        for a in attackers {
            a.abort();
        }
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn metrics_health_and_everything_else() {
        let registry = Registry::new();
        registry.register(StatsObject::new("x", "test", "test", vec![]).gauge("up", "Up.", || 1));
        let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let s = serving.clone();
        let health: HealthCheck = Arc::new(move || Health {
            serving: s.load(std::sync::atomic::Ordering::Relaxed),
            detail: "listening".into(),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = crate::signals::shutdown();
        let server = tokio::spawn(serve(listener, registry.clone(), health, shutdown));
        assert_eq!(get(addr, "/metrics").await.unwrap(), (200, "# HELP gsslog_test_up Up.\n# TYPE gsslog_test_up gauge\ngsslog_test_up 1\n".into()));
        assert_eq!(get(addr, "/health").await.unwrap(), (200, "ok: listening\n".into()));
        serving.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(get(addr, "/health?x=1").await.unwrap(), (503, "not serving: listening\n".into()));
        assert_eq!(get(addr, "/").await.unwrap().0, 404);
        registry.add_page("/extra", "application/json", Box::new(|| "{}\n".into()));
        assert_eq!(get(addr, "/extra?x").await.unwrap(), (200, "{}\n".into()));
        // Not HTTP at all, and a head that never ends: refused, bounded.
        let mut junk = TcpStream::connect(addr).await.unwrap();
        junk.write_all(&[b'A'; MAX_HEAD + 10]).await.unwrap();
        let mut reply = Vec::new();
        junk.read_to_end(&mut reply).await.unwrap();
        assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400 "), "{reply:?}");
        stop.trigger();
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    }
}

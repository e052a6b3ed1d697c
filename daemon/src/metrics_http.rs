//! A tiny HTTP/1.1 server for `$GssMetricsListen`: `GET /metrics` (the
//! Prometheus text format of a [`Registry`]) and `GET /health` (200 when the
//! daemon is serving, 503 when not, with one line saying why). One request
//! per connection; requests are small and bounded in size, time and number
//! at once, so a scanner on the port costs little.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Registry;
use crate::signals::Shutdown;

/// The most bytes of a request head read.
const MAX_HEAD: usize = 8192;
/// How long a client has to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered at once; more wait for the accept.
const MAX_CONNECTIONS: usize = 16;

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

/// Binds the endpoint (before privileges are dropped: the port may be below 1024).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
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
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            _ = shutdown.triggered() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, _) = tokio::select! {
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
        let (registry, health) = (registry.clone(), health.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(READ_TIMEOUT * 2, answer(stream, &registry, &health)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry, health: &HealthCheck) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return respond(&mut stream, 400, "Bad Request", "text/plain", "bad request\n", true).await,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let (status, reason, kind, body) = route(&head, registry, health);
    let with_body = !head.starts_with("HEAD ");
    respond(&mut stream, status, reason, kind, &body, with_body).await
}

/// The response to a request head: status, reason, content type, body.
fn route(head: &str, registry: &Registry, health: &HealthCheck) -> (u16, &'static str, &'static str, String) {
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return (400, "Bad Request", "text/plain", "bad request\n".into());
    }
    if method != "GET" && method != "HEAD" {
        return (405, "Method Not Allowed", "text/plain", "only GET\n".into());
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => (200, "OK", "text/plain; version=0.0.4; charset=utf-8", registry.prometheus_text()),
        "/health" => {
            let h = health();
            if h.serving {
                (200, "OK", "text/plain", format!("ok: {}\n", h.detail))
            } else {
                (503, "Service Unavailable", "text/plain", format!("not serving: {}\n", h.detail))
            }
        }
        _ => (404, "Not Found", "text/plain", "GET /metrics or /health\n".into()),
    }
}

/// Reads until the blank line that ends a request head; `None` when the
/// client closed first, sent more than [`MAX_HEAD`] bytes, or not text.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
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
        let server = tokio::spawn(serve(listener, registry, health, shutdown));
        assert_eq!(get(addr, "/metrics").await.unwrap(), (200, "# HELP gsslog_test_up Up.\n# TYPE gsslog_test_up gauge\ngsslog_test_up 1\n".into()));
        assert_eq!(get(addr, "/health").await.unwrap(), (200, "ok: listening\n".into()));
        serving.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(get(addr, "/health?x=1").await.unwrap(), (503, "not serving: listening\n".into()));
        assert_eq!(get(addr, "/").await.unwrap().0, 404);
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

//! Loopback helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A TCP port that was free a moment ago, chosen below Linux's ephemeral
/// range (32768 and up) so that the many client connections of a test run
/// cannot take it between now and the server's bind.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() as u16).wrapping_mul(7919) % 12000;
    for _ in 0..12000 {
        let port = 20000 + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % 12000;
        if TcpListener::bind(("0.0.0.0", port)).is_ok() && std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_listener(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("nothing listening on {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `path` until `done` accepts its contents; returns them.
pub fn wait_for_file(path: &std::path::Path, timeout: Duration, done: impl Fn(&str) -> bool) -> Result<String> {
    let start = Instant::now();
    loop {
        // Bytes, not a UTF-8 string: log files may hold any bytes.
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if done(&text) {
            return Ok(text);
        }
        if start.elapsed() > timeout {
            bail!("{} did not reach the expected content within {timeout:?}; it holds:\n{text}", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

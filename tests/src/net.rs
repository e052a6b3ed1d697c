//! Loopback helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
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
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return Ok(text);
        }
        if start.elapsed() > timeout {
            bail!("{} did not reach the expected content within {timeout:?}; it holds:\n{text}", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

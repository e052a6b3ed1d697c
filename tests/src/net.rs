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

/// Waits until a UDP socket is bound to local `port` in this network
/// namespace (`/proc/net/udp` and `udp6`). From then on, datagrams sent to it
/// wait in its buffer even if the daemon has not started reading: no fixed
/// sleep before the first message, and no message lost to an early start.
pub fn wait_for_udp_bound(port: u16, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let local = format!(":{port:04X}");
    loop {
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            // "  sl  local_address rem_address ...": the local address is the second field.
            if text.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).any(|a| a.ends_with(&local)) {
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            bail!("nothing bound UDP port {port} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long ago the kernel completed the handshake of an accepted `stream`
/// that has received no data since (`tcpi_last_data_recv` of `TCP_INFO`:
/// set when the connection is created, at the client's final ACK). A time
/// taken by the kernel, so a test that accepts late under load still knows
/// when each connection really came. Millisecond resolution (jiffies).
pub fn established_ago(stream: &std::net::TcpStream) -> Result<Duration> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain integers, all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the fd is open for the duration of the call (borrowed from
    // `stream`), and `info`/`len` are valid for writes of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, (&mut info as *mut libc::tcp_info).cast(), &mut len)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("getsockopt TCP_INFO");
    }
    Ok(Duration::from_millis(u64::from(info.tcpi_last_data_recv)))
}

/// Writes `count` lines, `line(0)` to `line(count - 1)` each with its line
/// feed, to 127.0.0.1:`port` at about `rate` lines a second (in bursts every
/// 5 ms), storing how many are written in `progress` as it goes. Returns
/// the number written.
pub fn paced_lines(port: u16, count: u64, rate: u64, line: impl Fn(u64) -> String, progress: Option<&std::sync::atomic::AtomicU64>) -> u64 {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = Instant::now();
    let mut seq = 0;
    let mut buf = Vec::new();
    while seq < count {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        let until = due.min(count).max(seq + 1);
        buf.clear();
        for q in seq..until {
            buf.extend_from_slice(line(q).as_bytes());
            buf.push(b'\n');
        }
        s.write_all(&buf).unwrap();
        seq = until;
        if let Some(p) = progress {
            p.store(seq, std::sync::atomic::Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn established_ago_is_the_kernels_time_of_the_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (accepted, _) = listener.accept().unwrap();
        let ago = established_ago(&accepted).unwrap();
        // Accepted 300 ms (or more, on a loaded machine) after the handshake.
        assert!(ago >= Duration::from_millis(290), "{ago:?}");
    }
}

//! Testbed load driver: sends numbered syslog messages across facilities to
//! a local input at a steady rate, and keeps a report of how many it sent.
//!
//! loadgen NODE tcp:HOST:PORT RATE_PER_S COUNT REPORT_FILE
//! Messages: `<PRI>Mmm dd hh:mm:ss NODE loadgen: testbed NODE seq NNNNNNNN`.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, node, target, rate, count, report] = args.as_slice() else {
        anyhow::bail!("usage: loadgen NODE tcp:HOST:PORT RATE_PER_S COUNT REPORT_FILE");
    };
    let rate: f64 = rate.parse()?;
    let count: u64 = count.parse()?;
    let addr = target.strip_prefix("tcp:").ok_or_else(|| anyhow::anyhow!("target must be tcp:HOST:PORT"))?;
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    const PRI: [u8; 5] = [38, 86, 4, 30, 13]; // auth, authpriv, kern, daemon, user
    let start = Instant::now();
    for seq in 0..count {
        let due = start + Duration::from_secs_f64(seq as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let line = format!("<{}>Nov 23 12:00:00 {node} loadgen: testbed {node} seq {seq:08}\n", PRI[(seq % 5) as usize]);
        if let Err(e) = stream.write_all(line.as_bytes()) {
            anyhow::bail!("input refused message {seq}: {e}");
        }
        if seq % 100 == 99 || seq + 1 == count {
            std::fs::write(report, format!("{}\n", seq + 1))?;
        }
    }
    Ok(())
}

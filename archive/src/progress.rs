//! Progress of long runs: a bar redrawn on stderr when it is a terminal,
//! a log line every ten seconds otherwise (the journal, under the timer).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: u64,
    done: AtomicU64,
    tty: bool,
    started: Instant,
    last: Mutex<Instant>,
}

impl Progress {
    /// Progress over `total` bytes.
    pub fn new(what: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress { what, total, done: AtomicU64::new(0), tty: std::io::stderr().is_terminal(), started: now, last: Mutex::new(now) }
    }

    pub fn add(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let every = if self.tty { Duration::from_millis(200) } else { Duration::from_secs(10) };
        let Ok(mut last) = self.last.lock() else { return };
        if last.elapsed() < every {
            return;
        }
        *last = Instant::now();
        drop(last);
        self.show(done);
    }

    fn show(&self, done: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mb = done as f64 / 1e6;
        let pct = if self.total == 0 { 100.0 } else { done as f64 * 100.0 / self.total as f64 };
        if self.tty {
            let filled = (pct / 5.0) as usize;
            let bar: String = (0..20).map(|i| if i < filled { '#' } else { '.' }).collect();
            eprint!("\r{} [{bar}] {pct:5.1}% {mb:.0} of {:.0} MB, {:.0} MB/s ", self.what, self.total as f64 / 1e6, mb / secs);
            let _ = std::io::stderr().flush();
        } else {
            tracing::info!("{}: {pct:.1}% ({mb:.0} of {:.0} MB, {:.0} MB/s)", self.what, self.total as f64 / 1e6, mb / secs);
        }
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.tty && self.total > 0 {
            self.show(self.done.load(Ordering::Relaxed));
            eprintln!();
        }
    }
}

//! Our own daemons (`imgssapi`, `omgssapi`) run as child processes.
//!
//! `cargo test --workspace` builds every binary of the workspace before it
//! runs the tests; they sit next to the test executable's `deps` folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::realm::EnvVar;

/// Where the workspace's binary `name` was built, found from the test
/// executable's own place.
///
/// Not `CARGO_BIN_EXE_<name>`: cargo sets that only for the binaries of the
/// test's own package (this one's helpers, e.g. `demo`, which its test finds
/// that way), and the daemons and tools are binaries of other packages.
/// Cargo's way to those is an artifact dependency (`artifact = "bin"`,
/// giving `CARGO_BIN_FILE_*`), which is unstable (`-Z bindeps`). Wrapper
/// binaries here calling `imgssapi::main()` would work on stable, but under
/// the daemons' names they collide with the real ones in `target/` (cargo's
/// "output filename collision"), and under other names the tests would run
/// a second link of each daemon, not the binary the packages ship.
pub fn bin_path(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // A test runs from target/<profile>/deps, a helper binary from target/<profile>.
    let here = exe.parent().context("executable has no directory")?;
    for dir in [here, here.parent().unwrap_or(here)] {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!("{name} not built next to {}: run `cargo test --workspace` (tests/run.sh does)", exe.display())
}

/// A daemon with a config file and a log of its stderr, stopped when dropped.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    pub dir: PathBuf,
}

impl Daemon {
    /// Writes `config` to `dir/NAME.conf` and starts `NAME -f` on it.
    pub fn start(name: &str, dir: &Path, config: &str, env: &[EnvVar], extra_args: &[&str]) -> Result<Daemon> {
        fs::create_dir_all(dir)?;
        let conf = dir.join(format!("{name}.conf"));
        fs::write(&conf, config)?;
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(bin_path(name)?)
            .arg("-f")
            .arg(&conf)
            .arg("--pid-file")
            .arg(dir.join(format!("{name}.pid")))
            .args(extra_args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Daemon { child: Some(child), log, dir: dir.to_path_buf() })
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `sig` (a name such as "HUP") to the daemon. Does nothing once it
    /// has been reaped: its pid would be 0 then, and `kill -SIG 0` signals the
    /// whole process group, the test run included.
    pub fn signal(&self, sig: &str) {
        let Some(child) = &self.child else {
            return;
        };
        let _ = Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status();
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("daemon exited with {status} before logging '{needle}':\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("daemon did not log '{needle}' within {timeout:?}:\n{}", self.log())
    }

    /// SIGTERM and wait for the exit; returns the exit status.
    pub fn stop(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        self.signal("TERM");
        self.wait_for_exit(timeout)
    }

    /// Waits for the daemon to exit on its own (after a signal the test sent);
    /// returns the exit status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let start = Instant::now();
        let child = self.child.as_mut().context("already stopped")?;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if start.elapsed() > timeout {
                bail!("daemon did not stop within {timeout:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and wait for the death; fails unless SIGKILL is what ended it.
    pub fn kill_9(&mut self, timeout: Duration) -> Result<()> {
        use std::os::unix::process::ExitStatusExt;
        self.signal("KILL");
        let start = Instant::now();
        let child = self.child.as_mut().context("already stopped")?;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                if status.signal() != Some(libc::SIGKILL) {
                    bail!("daemon ended with {status}, not by SIGKILL:\n{}", self.log());
                }
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("daemon did not die within {timeout:?} of SIGKILL");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Our shipper with `config`, its queues under `dir/work`, credentials of the
/// shared test realm's client, started and running ("shipper running")
/// within `wait`. `args` are more command-line arguments.
pub fn start_shipper(dir: &Path, config: &str, args: &[&str], wait: Duration) -> Result<Daemon> {
    let realm = crate::realm::TestRealm::shared();
    let work = dir.join("work");
    let work = work.to_str().context("a work directory path that is UTF-8")?;
    let mut all = vec!["--work-directory", work];
    all.extend_from_slice(args);
    let mut d = Daemon::start("omgssapi", dir, config, &realm.client_env(crate::realm::SHARED_CLIENT), &all)?;
    d.wait_for_log("shipper running", wait)?;
    Ok(d)
}

/// The largest `unacknowledged_total=` a shipper's log holds (0 if none):
/// the most records its broken sessions may have sent twice.
pub fn logged_unacknowledged(log: &str) -> u64 {
    log.split("unacknowledged_total=").filter_map(|t| t.split_whitespace().next()?.parse().ok()).max().unwrap_or(0)
}

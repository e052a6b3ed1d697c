//! Debian's rsyslogd, run as a test peer with a config of the test's own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::realm::{tool, which, EnvVar};

/// A foreground rsyslogd with its own config, pid file and work directory.
/// It is killed when dropped.
pub struct Rsyslogd {
    child: Child,
    dir: PathBuf,
}

impl Rsyslogd {
    /// Writes `config` to `dir/rsyslog.conf` and starts `rsyslogd -n` on it
    /// with `env` added to its environment. `dir` also holds its pid file,
    /// its work directory and its stderr (`rsyslogd.log`).
    pub fn start(dir: &Path, config: &str, env: &[EnvVar]) -> Result<Self> {
        Self::start_with_args(dir, config, env, &[])
    }

    /// Like [`Rsyslogd::start`], with extra command-line arguments (`-x`).
    pub fn start_with_args(dir: &Path, config: &str, env: &[EnvVar], args: &[&str]) -> Result<Self> {
        if which("rsyslogd").is_none() {
            bail!("rsyslogd not found: run tests/setup.sh (Debian packages rsyslog, rsyslog-gssapi)");
        }
        fs::create_dir_all(dir.join("work"))?;
        let conf = dir.join("rsyslog.conf");
        let header = format!("$WorkDirectory {}\n", dir.join("work").display());
        fs::write(&conf, header + config)?;
        let log = fs::File::create(dir.join("rsyslogd.log"))?;
        let child = Command::new(tool("rsyslogd"))
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting rsyslogd")?;
        Ok(Rsyslogd { child, dir: dir.to_path_buf() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What rsyslogd printed so far (startup errors, session errors).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
    }

    /// Fails if rsyslogd has exited, with its log.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("rsyslogd exited with {status}:\n{}", self.log());
        }
        Ok(())
    }

    /// SIGTERM, then wait (rsyslogd flushes its files on an orderly stop).
    pub fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stock rsyslog acting as a worker node: imudp on loopback, forwarding
/// everything with omgssapi to `localhost:target_port` in `$GssMode mode`.
pub struct RsyslogForwarder {
    pub daemon: Rsyslogd,
    pub udp_port: u16,
}

impl RsyslogForwarder {
    pub fn start(dir: &Path, env: &[EnvVar], mode: &str, target_port: u16, extra: &str) -> Result<Self> {
        Self::start_to(dir, env, mode, "localhost", target_port, extra)
    }

    /// Like [`RsyslogForwarder::start`], to `target_host` (also the GSS host name).
    pub fn start_to(dir: &Path, env: &[EnvVar], mode: &str, target_host: &str, target_port: u16, extra: &str) -> Result<Self> {
        let udp_port = crate::net::free_port()?;
        let config = format!(
            "$ModLoad imudp\n\
             $UDPServerAddress 127.0.0.1\n\
             $UDPServerRun {udp_port}\n\
             $ModLoad omgssapi\n\
             $GssForwardServiceName host\n\
             $GssMode {mode}\n\
             {extra}\
             *.* :omgssapi:{target_host}:{target_port}\n"
        );
        let mut daemon = Rsyslogd::start(dir, &config, env)?;
        // Once imudp is bound, a datagram waits for it: send at once after this.
        if let Err(e) = crate::net::wait_for_udp_bound(udp_port, Duration::from_secs(30)) {
            daemon.ensure_running()?;
            return Err(e);
        }
        Ok(RsyslogForwarder { daemon, udp_port })
    }

    /// Sends one syslog datagram to the forwarder's input (bound since
    /// [`RsyslogForwarder::start`] returned).
    pub fn send(&self, msg: &str) -> Result<()> {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        udp.send_to(msg.as_bytes(), ("127.0.0.1", self.udp_port))?;
        Ok(())
    }
}

/// How a stock omgssapi frames each message inside its GSS tokens.
#[derive(Clone, Copy, Debug)]
pub enum GssFraming {
    /// The default: the message and one LF.
    LineFeed,
    /// `:omgssapi:(o)host`: `<length> SP <message>`, no LF.
    OctetCounted,
    /// `:omgssapi:(z9)host`: a message over 60 bytes is sent as `z` and its
    /// zlib stream, octet-counted, when that is shorter; others as `LineFeed`.
    Compressed,
}

/// A stock rsyslog node that relays what it receives on plain TCP (imtcp on
/// `tcp_port`) with omgssapi to `target_host:target_port`, as received: the
/// forwarding template is `%rawmsg%` and control characters are not escaped
/// on the node, so the collector behind it parses the original bytes.
pub struct RsyslogGssRelay {
    pub daemon: Rsyslogd,
    pub tcp_port: u16,
}

impl RsyslogGssRelay {
    pub fn start(dir: &Path, env: &[EnvVar], mode: &str, framing: GssFraming, target_host: &str, target_port: u16) -> Result<Self> {
        let tcp_port = crate::net::free_port()?;
        let option = match framing {
            GssFraming::LineFeed => "",
            GssFraming::OctetCounted => "(o)",
            GssFraming::Compressed => "(z9)",
        };
        let config = format!(
            "$EscapeControlCharactersOnReceive off\n\
             $ModLoad imtcp\n\
             $InputTCPServerRun {tcp_port}\n\
             $template RawForward,\"%rawmsg%\"\n\
             $ModLoad omgssapi\n\
             $GssForwardServiceName host\n\
             $GssMode {mode}\n\
             *.* :omgssapi:{option}{target_host}:{target_port};RawForward\n"
        );
        let daemon = Rsyslogd::start(dir, &config, env)?;
        Ok(RsyslogGssRelay { daemon, tcp_port })
    }
}

//! A real ClickHouse server for a test (Debian's `clickhouse-server`, which
//! `tests/setup.sh` installs): its own config in a temporary directory,
//! HTTP and native ports chosen free on 127.0.0.1, stopped and started again
//! on the same data, and queried over its HTTP interface.
//!
//! Two users: `default` (the test's, for set-up and checks) and `gsslog`
//! (the collector's, with a password), so `system.query_log` tells the
//! collector's statements apart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::net::free_port;

/// The collector's user and password in the test server.
pub const USER: &str = "gsslog";
pub const PASSWORD: &str = "s3cret'\"\\";

/// rsyslog's documented schema for `StdClickHouseFmt` (MergeTree, ordered
/// for the usual questions: one host's lines over time).
pub const SCHEMA: &str = "CREATE TABLE rsyslog.SystemEvents (severity Int8, facility Int8, timestamp DateTime, hostname String, tag String, message String) \
     ENGINE = MergeTree() PARTITION BY toYYYYMM(timestamp) ORDER BY (hostname, timestamp)";

pub struct ClickHouse {
    dir: PathBuf,
    pub http_port: u16,
    child: Option<Child>,
}

impl ClickHouse {
    /// Starts a server in `dir` (created), with the `rsyslog.SystemEvents` table.
    pub fn start(dir: &Path) -> Result<ClickHouse> {
        std::fs::create_dir_all(dir)?;
        let http_port = free_port()?;
        let tcp_port = free_port()?;
        let d = dir.display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog><console>0</console></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
</yandex>
"#
        );
        let users = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><log_queries>1</log_queries></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <{USER}><password>{}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></{USER}>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#,
            PASSWORD.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;").replace('\'', "&apos;")
        );
        std::fs::write(dir.join("config.xml"), config)?;
        std::fs::write(dir.join("users.xml"), users)?;
        let mut server = ClickHouse { dir: dir.to_path_buf(), http_port, child: None };
        server.run()?;
        server.query("CREATE DATABASE rsyslog")?;
        server.query(SCHEMA)?;
        Ok(server)
    }

    /// Starts the server process (again) on its data; waits until it answers.
    pub fn run(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("stdout.log"))?;
        let child = Command::new(server_binary()?)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting clickhouse-server")?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Ok(answer) = self.query("SELECT 1") {
                if answer.trim() == "1" {
                    return Ok(());
                }
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    bail!("clickhouse-server exited ({status}): {}", self.log());
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("clickhouse-server did not answer within 60 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGTERM, as systemd does) and waits for its end.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let start = Instant::now();
            while child.try_wait()?.is_none() {
                if start.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let err = read("server.err.log");
        let tail: String = err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        format!("{}\n{tail}", read("stdout.log"))
    }

    /// Runs `sql` as `default`; the answer's body, or an error with it.
    pub fn query(&self, sql: &str) -> Result<String> {
        let body = self.post(sql.as_bytes())?;
        String::from_utf8(body).context("the answer is not UTF-8 (query hex() of the column)")
    }

    /// POSTs `body` as the query; the raw answer body.
    pub fn post(&self, body: &[u8]) -> Result<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let head = format!("POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").context("no end of headers")?;
        let status_line = String::from_utf8_lossy(&answer[..answer.iter().position(|&b| b == b'\r').unwrap_or(0)]).into_owned();
        let body = answer[split + 4..].to_vec();
        if !status_line.contains(" 200 ") {
            bail!("{status_line}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// `SYSTEM FLUSH LOGS`, so that `system.query_log` holds every query so far.
    pub fn flush_logs(&self) -> Result<()> {
        self.query("SYSTEM FLUSH LOGS").map(|_| ())
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn server_binary() -> Result<PathBuf> {
    for candidate in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/bin/clickhouse"] {
        if Path::new(candidate).exists() {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!("clickhouse-server is not installed: run tests/setup.sh")
}

/// Bytes from a hex string, as ClickHouse's `hex()` writes them.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
}

//! The parameters of `action(type="omclickhouse" ...)`: one table
//! ([`PARAMETERS`]) gives each its name as rsyslog spells it, its kind, its
//! default, what it does, and whether rsyslog has it or it is ours; reading
//! an action's parameters ([`ActionSettings::read`]) goes by that table, so
//! an unknown name is an error and the documentation cannot drift from the
//! code.

use std::path::PathBuf;
use std::time::Duration;

/// The kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A word or a path.
    Word,
    /// `on`/`off` (also `yes`/`no`, `1`/`0`).
    Binary,
    /// A whole number.
    Integer,
    /// A size: a number with an optional `k`, `m` or `g` (powers of 1024).
    Size,
}

/// Where a parameter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// rsyslog's omclickhouse has it, with this meaning and default.
    Rsyslog,
    /// rsyslog's action queue (`queue.*`, `action.*`) has it.
    RsyslogQueue,
    /// Ours: rsyslog has no such parameter.
    Extension,
}

/// One row of the parameter table.
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    /// As rsyslog spells it (names are matched without regard to case).
    pub name: &'static str,
    pub kind: Kind,
    /// The default, as it would be written; empty for none.
    pub default: &'static str,
    pub origin: Origin,
    /// What it does here.
    pub doc: &'static str,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, origin: Origin, doc: &'static str) -> Parameter {
    Parameter { name, kind, default, origin, doc }
}

use Kind::*;
use Origin::*;

/// Every parameter `action(type="omclickhouse" ...)` takes.
pub const PARAMETERS: &[Parameter] = &[
    p("server", Word, "localhost", Rsyslog, "The ClickHouse server: a host name or address, optionally with http:// or https:// (which then overrides useHttps) and :port (which overrides port)."),
    p("port", Integer, "8123", Rsyslog, "The server's HTTP(S) port."),
    p("useHttps", Binary, "on", Rsyslog, "HTTPS (rustls) when server names no scheme. rsyslog's default is on: set it off for ClickHouse's plain HTTP port."),
    p("template", Word, "StdClickHouseFmt", Rsyslog, "StdClickHouseFmt: severity, facility, timestamp, hostname, tag, message into rsyslog.SystemEvents, sent as INSERT ... FORMAT JSONEachRow. Any other template renders the whole INSERT statement, rsyslog's way, with every property value escaped for a ClickHouse string literal."),
    p("bulkMode", Binary, "on", Rsyslog, "Send a batch of rows in one INSERT; off sends one row per request."),
    p("insertInterval", Integer, "1000", Extension, "Milliseconds: with bulkMode on, at most one INSERT this often unless a full batch (queue.dequeueBatchSize rows) is waiting. ClickHouse writes one part per INSERT and wants about one a second; 0 sends as soon as rows are queued."),
    p("maxBytes", Size, "100m", Rsyslog, "The largest request body; a batch ends before it would pass this (a single larger row is sent alone)."),
    p("user", Word, "", Rsyslog, "ClickHouse user (HTTP basic authentication); none sends no credentials (ClickHouse's default user)."),
    p("pwd", Word, "", Rsyslog, "The user's password."),
    p("errorFile", Word, "", Rsyslog, "Where a batch the server refuses is written, one JSON object per line with the request (url, postdata) and the server's reply, as rsyslog writes it. Without it refused batches are only counted and logged."),
    p("allowUnsignedCerts", Binary, "on", Rsyslog, "HTTPS: accept a certificate that no trusted authority signed (and, as curl then does, any name in it). rsyslog's default is on."),
    p("skipVerifyHost", Binary, "off", Rsyslog, "HTTPS: accept a certificate whose names do not include the server's, as long as its chain is trusted."),
    p("tls.caCert", Word, "", Rsyslog, "HTTPS: a PEM file of the authorities to trust instead of the built-in Mozilla list."),
    p("healthCheckTimeout", Integer, "3500", Rsyslog, "Milliseconds the health check (SELECT 1, sent before resuming after a failure) may take."),
    p("timeout", Integer, "0", Rsyslog, "Milliseconds an INSERT may take, connecting included. rsyslog's 0 means no limit; here 0 means 60000, so that a server that never answers cannot hold the queue forever."),
    p("name", Word, "", Rsyslog, "The action's name, in impstats lines and the metrics' action label (default omclickhouse-N)."),
    p("queue.type", Word, "Disk", RsyslogQueue, "The action always queues on our crash-safe disk queue: LinkedList, FixedArray and Disk are accepted as that; Direct is refused (the session must never wait for the database)."),
    p("queue.filename", Word, "omclickhouse-actionN", RsyslogQueue, "The queue's file name prefix, in $WorkDirectory (which must be set above the action)."),
    p("queue.maxDiskSpace", Size, "0", RsyslogQueue, "A hard cap on the queue's bytes on disk; 0 = no cap. When full, new rows are discarded and counted (after queue.timeoutEnqueue)."),
    p("queue.maxFileSize", Size, "8m", RsyslogQueue, "The size of one queue segment file."),
    p("queue.size", Integer, "1000", RsyslogQueue, "Rows the queue's in-memory read cache holds (every row is on disk anyway)."),
    p("queue.dequeueBatchSize", Integer, "1024", RsyslogQueue, "The most rows in one INSERT (with bulkMode on). rsyslog's default for action queues is 128; ClickHouse wants fewer, larger inserts, so ours is 1024."),
    p("queue.timeoutEnqueue", Integer, "2000", RsyslogQueue, "Milliseconds an enqueue waits for space under queue.maxDiskSpace before discarding the row."),
    p("queue.saveOnShutdown", Binary, "on", RsyslogQueue, "Keep queued rows across an orderly stop (a crash never loses them either way)."),
    p("queue.syncQueueFiles", Binary, "off", RsyslogQueue, "Accepted; the queue fsyncs every second (and before an acknowledgement with $InputGSSServerAckAfterFsync)."),
    p("action.resumeRetryCount", Integer, "0", RsyslogQueue, "How often a batch that failed for want of the server is retried: 0 and -1 = until it succeeds (rsyslog suspends the action and keeps the queue, so do we); N > 0 = N times, then the batch goes to errorFile and counts as failed."),
    p("action.resumeInterval", Integer, "30", RsyslogQueue, "Seconds: the longest wait between two tries; the wait starts at one second and doubles up to this."),
];

/// The default template's name, as rsyslog spells it.
pub const DEFAULT_TEMPLATE: &str = "StdClickHouseFmt";

/// The table the default template inserts into, and its columns.
pub const DEFAULT_TABLE: &str = "rsyslog.SystemEvents";
pub const DEFAULT_COLUMNS: &str = "severity, facility, timestamp, hostname, tag, message";

/// A parameter that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{0}' is not known (omclickhouse takes: {known})", known = known_names())]
    Unknown(String),
    #[error("{name}: '{value}' is not {what}")]
    Invalid { name: &'static str, value: String, what: &'static str },
    #[error("{0}")]
    Refused(String),
}

fn known_names() -> String {
    PARAMETERS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The settings of one action, read from its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    /// `http://host:port/` or `https://...`.
    pub base_url: String,
    pub https: bool,
    pub template: Option<String>,
    pub bulk_mode: bool,
    /// `insertInterval` (extension).
    pub insert_interval: Duration,
    pub max_bytes: u64,
    pub user: Option<String>,
    pub pwd: Option<String>,
    pub error_file: Option<PathBuf>,
    pub allow_unsigned_certs: bool,
    pub skip_verify_host: bool,
    pub ca_cert: Option<PathBuf>,
    pub health_check_timeout: Duration,
    pub timeout: Duration,
    pub name: Option<String>,
    pub queue: QueueSettings,
    /// `None` = retry until the batch goes through.
    pub retry_count: Option<u32>,
    pub resume_interval: Duration,
}

/// The action queue's parameters (the work directory comes from the daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub file_name: Option<String>,
    pub max_disk_space: Option<u64>,
    pub max_file_size: u64,
    pub size: usize,
    pub batch_size: usize,
    pub timeout_enqueue: Duration,
    pub save_on_shutdown: bool,
}

/// rsyslog's `timeout="0"`: no limit there; this bound here.
pub const UNSET_TIMEOUT: Duration = Duration::from_secs(60);

impl ActionSettings {
    /// Reads an action's parameters (names lowercased or not, `type`
    /// already taken out). Returns the settings and warnings to show.
    pub fn read(params: &[(String, String)]) -> Result<(ActionSettings, Vec<String>), ParamError> {
        let mut warnings = Vec::new();
        let mut server = "localhost".to_string();
        let mut port: u16 = 8123;
        let mut s = ActionSettings {
            base_url: String::new(),
            https: true,
            template: None,
            bulk_mode: true,
            insert_interval: Duration::from_millis(1000),
            max_bytes: 100 << 20,
            user: None,
            pwd: None,
            error_file: None,
            allow_unsigned_certs: true,
            skip_verify_host: false,
            ca_cert: None,
            health_check_timeout: Duration::from_millis(3500),
            timeout: UNSET_TIMEOUT,
            name: None,
            queue: QueueSettings {
                file_name: None,
                max_disk_space: None,
                max_file_size: 8 << 20,
                size: 1000,
                batch_size: 1024,
                timeout_enqueue: Duration::from_millis(2000),
                save_on_shutdown: true,
            },
            retry_count: None,
            resume_interval: Duration::from_secs(30),
        };
        for (name, value) in params {
            let Some(param) = PARAMETERS.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
                return Err(ParamError::Unknown(name.clone()));
            };
            let v = value.trim();
            let invalid = |what| ParamError::Invalid { name: param.name, value: value.clone(), what };
            let binary = || syslog::config::parse_bool(v).map_err(|_| invalid("on or off"));
            let integer = || v.parse::<i64>().map_err(|_| invalid("a whole number"));
            let size = || syslog::config::parse_size(v).map_err(|_| invalid("a size such as 100m"));
            let millis = |n: i64| u64::try_from(n).map(Duration::from_millis).map_err(|_| invalid("a number of milliseconds, 0 or more"));
            match param.name {
                "server" => server = v.trim_end_matches('/').to_string(),
                "port" => port = v.parse().map_err(|_| invalid("a port number"))?,
                "useHttps" => s.https = binary()?,
                "template" => s.template = (!v.eq_ignore_ascii_case(DEFAULT_TEMPLATE)).then(|| v.to_string()),
                "bulkMode" => s.bulk_mode = binary()?,
                "maxBytes" => s.max_bytes = size()?.max(1),
                "insertInterval" => s.insert_interval = millis(integer()?)?,
                "user" => s.user = Some(value.clone()),
                "pwd" => s.pwd = Some(value.clone()),
                "errorFile" => s.error_file = Some(PathBuf::from(v)),
                "allowUnsignedCerts" => s.allow_unsigned_certs = binary()?,
                "skipVerifyHost" => s.skip_verify_host = binary()?,
                "tls.caCert" => s.ca_cert = Some(PathBuf::from(v)),
                "healthCheckTimeout" => s.health_check_timeout = millis(integer()?)?.max(Duration::from_millis(1)),
                "timeout" => s.timeout = Some(millis(integer()?)?).filter(|d| !d.is_zero()).unwrap_or(UNSET_TIMEOUT),
                "name" => s.name = Some(v.to_string()),
                "queue.type" => match v.to_ascii_lowercase().as_str() {
                    "linkedlist" | "fixedarray" | "disk" => {}
                    "direct" => {
                        return Err(ParamError::Refused(
                            "queue.type=\"Direct\": omclickhouse always queues on disk, so that a session never waits for the database".into(),
                        ))
                    }
                    _ => return Err(invalid("a queue type (LinkedList, FixedArray, Disk)")),
                },
                "queue.filename" => {
                    if v.is_empty() || v.contains('/') || v.starts_with('.') {
                        return Err(invalid("a plain file name"));
                    }
                    s.queue.file_name = Some(v.to_string());
                }
                "queue.maxDiskSpace" => s.queue.max_disk_space = Some(size()?).filter(|&n| n > 0),
                "queue.maxFileSize" => s.queue.max_file_size = size()?.max(64 * 1024),
                "queue.size" => s.queue.size = usize::try_from(integer()?).map_err(|_| invalid("a count"))?.max(1),
                "queue.dequeueBatchSize" => s.queue.batch_size = usize::try_from(integer()?).map_err(|_| invalid("a count"))?.max(1),
                "queue.timeoutEnqueue" => s.queue.timeout_enqueue = millis(integer()?)?,
                "queue.saveOnShutdown" => s.queue.save_on_shutdown = binary()?,
                "queue.syncQueueFiles" => {
                    binary()?;
                }
                "action.resumeRetryCount" => {
                    s.retry_count = match integer()? {
                        -1 | 0 => None,
                        n if n > 0 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                        _ => return Err(invalid("-1, 0 or a positive count")),
                    }
                }
                "action.resumeInterval" => {
                    let secs = u64::try_from(integer()?).map_err(|_| invalid("a number of seconds"))?;
                    s.resume_interval = Duration::from_secs(secs.max(1));
                }
                other => return Err(ParamError::Unknown(other.to_string())),
            }
        }
        if s.pwd.is_some() && s.user.is_none() {
            warnings.push("pwd is set but user is not: the password is not sent (as in rsyslog)".to_string());
        }
        if s.skip_verify_host && s.allow_unsigned_certs && s.https {
            warnings.push("skipVerifyHost has no effect while allowUnsignedCerts is on (its default): no certificate is checked at all".to_string());
        }
        s.base_url = base_url(&server, port, &mut s.https);
        if s.https && s.allow_unsigned_certs {
            warnings.push(format!(
                "{}: the server's certificate is not checked (allowUnsignedCerts is on, rsyslog's default); set allowUnsignedCerts=\"off\" to check it",
                s.base_url
            ));
        }
        Ok((s, warnings))
    }
}

/// rsyslog's base URL: the scheme the server names, else useHttps's; the
/// port the server names, else `port`.
fn base_url(server: &str, port: u16, https: &mut bool) -> String {
    let lower = server.to_ascii_lowercase();
    let host = if lower.starts_with("http://") {
        *https = false;
        &server[7..]
    } else if lower.starts_with("https://") {
        *https = true;
        &server[8..]
    } else {
        server
    };
    let scheme = if *https { "https" } else { "http" };
    let has_port = match host.rfind(']') {
        Some(close) => host[close..].contains(':'),
        None => host.contains(':') && host.matches(':').count() == 1,
    };
    if has_port {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}:{port}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(params: &[(&str, &str)]) -> Result<ActionSettings, ParamError> {
        let owned: Vec<(String, String)> = params.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.to_string())).collect();
        ActionSettings::read(&owned).map(|(s, _)| s)
    }

    #[test]
    fn defaults_are_rsyslogs() {
        let s = read(&[]).unwrap();
        assert_eq!(s.base_url, "https://localhost:8123/");
        assert!(s.bulk_mode && s.allow_unsigned_certs && !s.skip_verify_host);
        assert_eq!(s.max_bytes, 100 << 20);
        assert_eq!(s.health_check_timeout, Duration::from_millis(3500));
        assert_eq!(s.template, None);
        for p in PARAMETERS {
            assert!(!p.doc.is_empty(), "{} has no doc", p.name);
        }
    }

    #[test]
    fn server_scheme_and_port_win_over_use_https_and_port() {
        assert_eq!(read(&[("server", "127.0.0.1"), ("port", "18123"), ("usehttps", "off")]).unwrap().base_url, "http://127.0.0.1:18123/");
        assert_eq!(read(&[("server", "http://db:9999/"), ("port", "1")]).unwrap().base_url, "http://db:9999/");
        assert_eq!(read(&[("server", "https://[::1]"), ("usehttps", "off")]).unwrap().base_url, "https://[::1]:8123/");
        assert_eq!(read(&[("server", "StdClickHouseFmt")]).unwrap().template, None);
        assert_eq!(read(&[("template", "stdclickhousefmt")]).unwrap().template, None);
    }

    #[test]
    fn names_are_case_blind_and_unknown_ones_are_errors() {
        assert!(read(&[("MAXBYTES", "1k")]).is_ok_and(|s| s.max_bytes == 1024));
        assert!(matches!(read(&[("maxbyte", "1k")]), Err(ParamError::Unknown(n)) if n == "maxbyte"));
        assert!(matches!(read(&[("queue.type", "Direct")]), Err(ParamError::Refused(_))));
        assert!(matches!(read(&[("bulkmode", "maybe")]), Err(ParamError::Invalid { name: "bulkMode", .. })));
        assert_eq!(read(&[("timeout", "0")]).unwrap().timeout, UNSET_TIMEOUT);
        assert_eq!(read(&[("timeout", "250")]).unwrap().timeout, Duration::from_millis(250));
        assert_eq!(read(&[("action.resumeretrycount", "-1")]).unwrap().retry_count, None);
        assert_eq!(read(&[("action.resumeretrycount", "3")]).unwrap().retry_count, Some(3));
    }
}

//! The HTTP(S) client: one `INSERT` per request, every request bounded in
//! time, and the server's answer sorted into "done", "refused" (the data
//! or the statement is wrong: retrying cannot help) and "unavailable"
//! (retrying later can).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::params::ActionSettings;
use crate::tls;

/// How a request ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server answered and refused the request for what it holds.
    #[error("the server refused the insert (HTTP {status}): {reply}")]
    Refused { status: u16, reply: String },
    /// No answer, or an answer that says to come back later. `maybe_applied`:
    /// the request may have reached the server and been carried out (the
    /// answer was lost), so a retry may insert its rows twice.
    #[error("the server is unavailable: {why}")]
    Unavailable { why: String, maybe_applied: bool },
}

/// A ClickHouse HTTP endpoint.
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    authorization: Option<String>,
    timeout: Duration,
    health_check_timeout: Duration,
}

/// The most of a reply kept (for the log and errorFile).
const REPLY_LIMIT: u64 = 64 * 1024;

impl Client {
    pub fn new(settings: &ActionSettings) -> Result<Client, tls::TlsError> {
        let mut builder = ureq::AgentBuilder::new().timeout(settings.timeout).redirects(0).user_agent("gsslog-omclickhouse");
        if settings.https {
            builder = builder.tls_config(Arc::new(tls::client_config(settings)?));
        }
        let authorization = settings.user.as_ref().map(|user| {
            let pair = format!("{user}:{}", settings.pwd.as_deref().unwrap_or(""));
            format!("Basic {}", base64(pair.as_bytes()))
        });
        Ok(Client {
            agent: builder.build(),
            base_url: settings.base_url.clone(),
            authorization,
            timeout: settings.timeout,
            health_check_timeout: settings.health_check_timeout,
        })
    }

    /// The URL a request goes to, as errorFile shows it.
    pub fn url(&self, query: Option<&str>) -> String {
        match query {
            Some(q) => format!("{}?query={}", self.base_url, percent_encode(q)),
            None => self.base_url.clone(),
        }
    }

    /// Sends `body` (under `query`, when the body is data).
    pub fn insert(&self, query: Option<&str>, body: &[u8]) -> Result<(), SendError> {
        self.post(query, body, self.timeout)
    }

    /// rsyslog's health check: `SELECT 1`, within healthCheckTimeout.
    pub fn health_check(&self) -> Result<(), SendError> {
        self.post(None, b"SELECT 1", self.health_check_timeout)
    }

    fn post(&self, query: Option<&str>, body: &[u8], timeout: Duration) -> Result<(), SendError> {
        let mut request = self.agent.post(&self.base_url).timeout(timeout);
        if let Some(q) = query {
            request = request.query("query", q);
        }
        if let Some(auth) = &self.authorization {
            request = request.set("Authorization", auth);
        }
        match request.send_bytes(body) {
            Ok(response) => {
                // Read the (empty) answer so the connection can be reused.
                let _ = read_reply(response);
                Ok(())
            }
            Err(ureq::Error::Status(status, response)) => Err(classify(status, &read_reply(response))),
            Err(ureq::Error::Transport(t)) => {
                let maybe_applied = !matches!(t.kind(), ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::InvalidUrl);
                Err(SendError::Unavailable { why: t.to_string(), maybe_applied })
            }
        }
    }
}

fn read_reply(response: ureq::Response) -> String {
    let mut reply = Vec::new();
    let _ = response.into_reader().take(REPLY_LIMIT).read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).trim_end().to_string()
}

/// ClickHouse's error codes after which the same request can succeed later:
/// the server is overloaded or going down, or its set-up (table, user) is
/// not yet what the action expects. Rows are kept and retried for these.
const RETRY_CODES: &[u32] = &[
    60,  // UNKNOWN_TABLE
    81,  // UNKNOWN_DATABASE
    159, // TIMEOUT_EXCEEDED
    164, // READONLY
    173, // CANNOT_ALLOCATE_MEMORY
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    236, // ABORTED
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    243, // NOT_ENOUGH_SPACE
    252, // TOO_MANY_PARTS
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// Sorts an HTTP error answer: refused (the request is wrong) or
/// unavailable (come back later).
pub fn classify(status: u16, reply: &str) -> SendError {
    let code = reply.strip_prefix("Code: ").and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()).and_then(|d| d.parse::<u32>().ok());
    let later = match (status, code) {
        (502..=504, _) | (408 | 429, _) => true,
        (_, Some(code)) => RETRY_CODES.contains(&code),
        // An answer that is not ClickHouse's (a proxy's page): not the data's fault.
        (_, None) => status >= 500 || status == 401 || status == 403,
    };
    if later {
        // The server answered: it did not carry the request out.
        SendError::Unavailable { why: format!("HTTP {status}: {reply}"), maybe_applied: false }
    } else {
        SendError::Refused { status, reply: reply.to_string() }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted() {
        let parse = "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected { before: x";
        assert!(matches!(classify(500, parse), SendError::Refused { status: 500, .. }));
        assert!(matches!(classify(404, "Code: 60, e.displayText() = DB::Exception: Table rsyslog.Nope doesn't exist."), SendError::Unavailable { .. }));
        assert!(matches!(classify(500, "Code: 252, e.displayText() = DB::Exception: Too many parts"), SendError::Unavailable { .. }));
        assert!(matches!(classify(503, "<html>bad gateway</html>"), SendError::Unavailable { .. }));
        assert!(matches!(classify(400, "Code: 62, e.displayText() = DB::Exception: Syntax error"), SendError::Refused { .. }));
    }

    #[test]
    fn encodings() {
        assert_eq!(base64(b"default:"), "ZGVmYXVsdDo=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(percent_encode("INSERT INTO a (b) FORMAT JSONEachRow"), "INSERT%20INTO%20a%20%28b%29%20FORMAT%20JSONEachRow");
    }
}

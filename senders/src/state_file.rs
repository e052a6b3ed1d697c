//! The table across restarts: `imgssapi-senders.state` in the collector's
//! `$WorkDirectory`, one line per sender that was ever heard from, written
//! atomically (a temporary file, fsync, rename, fsync of the directory) so
//! that a crash leaves the old file or the new one, never a mix.
//!
//! Format (text, tab-separated; `-` for none): a first line
//! `gsslog-senders 1`, then `IP PRINCIPAL LAST_MESSAGE LAST_HEARTBEAT DAY
//! MESSAGES_TODAY BYTES_TODAY STATUS`, times in seconds since the epoch.
//! A principal's `%`, tab and line breaks are written `%25`, `%09`, `%0A`, `%0D`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::{Sender, Status};

const HEADER: &str = "gsslog-senders 1";
/// The file's name in the work directory.
pub const FILE_NAME: &str = "imgssapi-senders.state";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: not a line of a senders state file")]
    Line { path: PathBuf, line: usize },
}

/// The rows worth keeping (heard from at least once), as the file's text.
pub fn render(rows: &HashMap<IpAddr, Sender>) -> String {
    let mut text = format!("{HEADER}\n");
    let mut ips: Vec<&IpAddr> = rows.iter().filter(|(_, r)| r.last_seen().is_some()).map(|(ip, _)| ip).collect();
    ips.sort();
    for ip in ips {
        let r = &rows[ip];
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let principal = r.principal.as_deref().map_or("-".to_string(), escape);
        text.push_str(&format!(
            "{ip}\t{principal}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            opt(r.last_message),
            opt(r.last_heartbeat),
            r.day,
            r.messages_today,
            r.bytes_today,
            r.status.name()
        ));
    }
    text
}

/// Writes `text` to `path` atomically.
pub fn write(path: &Path, text: &str) -> Result<(), StateError> {
    let error = |source| StateError::Write { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = path.with_extension("state.tmp");
    let mut file = File::create(&temp).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(error)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(error)?;
    Ok(())
}

/// Reads the file at `path`; none yet is an empty table.
pub fn read(path: &Path) -> Result<HashMap<IpAddr, Sender>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(source) => return Err(StateError::Read { path: path.to_path_buf(), source }),
    };
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<HashMap<IpAddr, Sender>, StateError> {
    let mut rows = HashMap::new();
    let bad = |line| StateError::Line { path: path.to_path_buf(), line };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad(1));
    }
    for (n, line) in lines.enumerate() {
        let (ip, row) = parse_line(line).ok_or_else(|| bad(n + 2))?;
        rows.insert(ip, row);
    }
    Ok(rows)
}

fn parse_line(line: &str) -> Option<(IpAddr, Sender)> {
    let f: Vec<&str> = line.split('\t').collect();
    let [ip, principal, last_message, last_heartbeat, day, messages, bytes, status] = f[..] else { return None };
    let opt = |v: &str| if v == "-" { Some(None) } else { v.parse().ok().map(Some) };
    let row = Sender {
        principal: if principal == "-" { None } else { Some(unescape(principal)?) },
        last_message: opt(last_message)?,
        last_heartbeat: opt(last_heartbeat)?,
        day: day.parse().ok()?,
        messages_today: messages.parse().ok()?,
        bytes_today: bytes.parse().ok()?,
        status: Status::from_name(status)?,
        returned: false,
    };
    Some((ip.parse().ok()?, row))
}

/// A principal as the state file and `/senders.txt` write it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\t' => out.push_str("%09"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    if out == "-" {
        return "%2D".into();
    }
    out
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        out.push(char::from(u8::from_str_radix(code, 16).ok()?));
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_write_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut rows = HashMap::new();
        let odd = Sender {
            principal: Some("host/a\tb%\n-@R".into()),
            last_message: Some(1_700_000_000),
            last_heartbeat: None,
            day: 19_675,
            messages_today: 12,
            bytes_today: 3456,
            status: Status::Silent,
            returned: false,
        };
        rows.insert("10.0.0.1".parse().unwrap(), odd);
        rows.insert("::1".parse().unwrap(), Sender { last_heartbeat: Some(5), status: Status::Unexpected, ..Sender::default() });
        rows.insert("10.0.0.2".parse().unwrap(), Sender::default());
        write(&path, &render(&rows)).unwrap();
        let back = read(&path).unwrap();
        rows.remove(&"10.0.0.2".parse().unwrap());
        assert_eq!(back, rows, "rows never heard from are not kept");
        assert!(!path.with_extension("state.tmp").exists());
    }

    #[test]
    fn no_file_is_an_empty_table_and_a_damaged_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("none")).unwrap().is_empty());
        let path = dir.path().join("bad");
        std::fs::write(&path, "gsslog-senders 1\n10.0.0.1\t-\t1\n").unwrap();
        assert_eq!(read(&path).unwrap_err().to_string(), format!("{}:2: not a line of a senders state file", path.display()));
        std::fs::write(&path, "something else\n").unwrap();
        assert!(read(&path).is_err());
    }
}

//! The kernel log, as rsyslog's imklog reads it, for a node whose syslog
//! daemon is the shipper: journald does not forward the kernel's messages to
//! syslog.socket (only what came in as syslog, native or stdout), so without
//! this input a node's kernel log would never reach the collector.
//!
//! The records come from `/dev/kmsg`: opened by systemd for the packaged
//! unit (`gsslog-shipper-kmsg.socket`, `ListenSpecial=/dev/kmsg`, which the
//! unit pulls in; the unit itself keeps `ProtectKernelLogs=` and no
//! capability), or by the shipper for `$ModLoad imklog` outside systemd.
//! Each `read` returns one record, `PRI,SEQ,USEC,FLAGS;TEXT\n` followed by
//! indented `KEY=VALUE` lines ([`parse`]). A message is submitted as imklog
//! submits it, `<PRI>kernel: TEXT`, with the time it was read (imklog's
//! default, without `$KLogParseKernelTimestamp`); records of another facility
//! than kern are userspace writes to `/dev/kmsg` and are left out unless
//! `$KLogPermitNonKernelFacility on`, as in imklog.
//!
//! `/dev/kmsg` gives every reader the whole ring buffer from its oldest
//! record. So that a restart neither sends a record twice nor skips one, the
//! last record forwarded is kept in `kmsg.position` (boot id and sequence
//! number) beside the queue, written after the record is queued: records
//! written while the shipper was stopped are read at its next start, if the
//! ring buffer still holds them.

use std::path::{Path, PathBuf};

/// One `/dev/kmsg` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Facility and severity, as in a syslog PRI.
    pub priority: u32,
    /// The kernel's sequence number of the record (per boot).
    pub seq: u64,
    /// The message, without the record's `KEY=VALUE` lines.
    pub text: &'a [u8],
}

impl Record<'_> {
    pub fn facility(&self) -> u32 {
        self.priority >> 3
    }

    /// The message as rsyslog's imklog submits it: `<PRI>kernel: TEXT`.
    pub fn to_syslog(&self) -> Vec<u8> {
        let mut line = format!("<{}>kernel: ", self.priority).into_bytes();
        line.extend_from_slice(self.text);
        line
    }
}

/// Reads a record: `PRI,SEQ,USEC,FLAGS[,more];TEXT\n[ KEY=VALUE\n]...`.
pub fn parse(record: &[u8]) -> Option<Record<'_>> {
    let semi = record.iter().position(|&b| b == b';')?;
    let header = std::str::from_utf8(&record[..semi]).ok()?;
    let mut fields = header.split(',');
    let priority = fields.next()?.parse::<u32>().ok()?;
    let seq = fields.next()?.parse::<u64>().ok()?;
    let body = &record[semi + 1..];
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    Some(Record { priority, seq, text: &body[..end] })
}

/// Where the last forwarded record stands, across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub boot_id: String,
    pub seq: u64,
}

/// The file that keeps the [`Position`], beside the queue in `work_dir`.
pub fn position_file(work_dir: &Path) -> PathBuf {
    work_dir.join("kmsg.position")
}

impl Position {
    /// The position saved in `path`, if any and readable.
    pub fn load(path: &Path) -> Option<Position> {
        let text = std::fs::read_to_string(path).ok()?;
        let (boot_id, seq) = text.trim().split_once(' ')?;
        Some(Position { boot_id: boot_id.to_string(), seq: seq.parse().ok()? })
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        daemon::replace_file::write_replacing(path, format!("{} {}\n", self.boot_id, self.seq).as_bytes(), 0o600)
    }
}

/// This boot's id: `$GSSLOG_BOOT_ID` (the packaged unit sets it from
/// systemd's `%b`, since its `ProcSubset=pid` hides /proc/sys), else
/// `/proc/sys/kernel/random/boot_id`; empty if neither is there, and then no
/// position is kept ([`Filter::position`]).
pub fn boot_id() -> String {
    match std::env::var("GSSLOG_BOOT_ID") {
        Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default(),
    }
}

/// Which records to forward: those after the saved position of this boot,
/// of the kern facility unless non-kernel facilities are permitted.
#[derive(Debug)]
pub struct Filter {
    boot_id: String,
    last_seq: Option<u64>,
    permit_non_kernel: bool,
}

impl Filter {
    pub fn new(boot_id: String, saved: Option<Position>, permit_non_kernel: bool) -> Filter {
        let last_seq = saved.filter(|p| p.boot_id == boot_id).map(|p| p.seq);
        Filter { boot_id, last_seq, permit_non_kernel }
    }

    /// What to send for a record just read (`None`: nothing), and whether
    /// the position moved.
    pub fn take(&mut self, record: &Record<'_>) -> (Option<Vec<u8>>, bool) {
        if self.last_seq.is_some_and(|last| record.seq <= last) {
            return (None, false);
        }
        self.last_seq = Some(record.seq);
        let wanted = record.facility() == 0 || self.permit_non_kernel;
        (wanted.then(|| record.to_syslog()), true)
    }

    /// The position to save, once something was read.
    pub fn position(&self) -> Option<Position> {
        if self.boot_id.is_empty() {
            return None;
        }
        self.last_seq.map(|seq| Position { boot_id: self.boot_id.clone(), seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_as_the_kernel_writes_them() {
        let r = parse(b"6,339,5140900,-;NET: Registered PF_INET6 protocol family\n SUBSYSTEM=net\n DEVICE=+net:lo\n").unwrap();
        assert_eq!(r, Record { priority: 6, seq: 339, text: b"NET: Registered PF_INET6 protocol family" });
        assert_eq!(r.to_syslog(), b"<6>kernel: NET: Registered PF_INET6 protocol family");
        let r = parse(b"12,5,0,c,more;user space wrote this").unwrap();
        assert_eq!((r.facility(), r.seq, r.text), (1, 5, &b"user space wrote this"[..]));
        assert!(parse(b"no header").is_none());
        assert!(parse(b"x,1,0,-;bad priority").is_none());
    }

    #[test]
    fn a_restart_forwards_each_record_once_and_only_kernel_records() {
        let rec = |prio: u32, seq: u64| format!("{prio},{seq},0,-;message {seq}\n").into_bytes();
        let mut f = Filter::new("boot-a".into(), None, false);
        assert_eq!(f.take(&parse(&rec(4, 1)).unwrap()), (Some(b"<4>kernel: message 1".to_vec()), true));
        assert_eq!(f.take(&parse(&rec(14, 2)).unwrap()), (None, true), "user facility, from userspace: left out");
        let saved = f.position().unwrap();
        assert_eq!(saved, Position { boot_id: "boot-a".into(), seq: 2 });

        // The next instance reads the ring buffer from its start again.
        let mut f = Filter::new("boot-a".into(), Some(saved.clone()), false);
        assert_eq!(f.take(&parse(&rec(4, 1)).unwrap()), (None, false));
        assert_eq!(f.take(&parse(&rec(4, 2)).unwrap()), (None, false));
        assert_eq!(f.take(&parse(&rec(4, 3)).unwrap()).0, Some(b"<4>kernel: message 3".to_vec()), "written while it was stopped");

        // After a reboot the numbers start again: the old position is not this boot's.
        let mut f = Filter::new("boot-b".into(), Some(saved), true);
        assert_eq!(f.take(&parse(&rec(4, 1)).unwrap()).0, Some(b"<4>kernel: message 1".to_vec()));
        assert_eq!(f.take(&parse(&rec(14, 2)).unwrap()).0, Some(b"<14>kernel: message 2".to_vec()), "$KLogPermitNonKernelFacility on");
    }

    #[test]
    fn the_position_survives_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = position_file(dir.path());
        assert_eq!(Position::load(&path), None);
        let p = Position { boot_id: "3f1c".into(), seq: 1234 };
        p.save(&path).unwrap();
        assert_eq!(Position::load(&path), Some(p));
    }
}

//! The sshd line classifier: what the grid's grok patterns recognised, read
//! from OpenSSH's own message texts.
//!
//! A line is `TIMESTAMP HOST TAG: MESSAGE` (either timestamp form of
//! [`crate::linetime`]); the tag must be `sshd[PID]` (or OpenSSH 9.8's
//! `sshd-session[PID]` / `sshd-auth[PID]`). The messages, as OpenSSH writes
//! them (old forms without ` port N` too):
//!
//! | kind | message |
//! |---|---|
//! | `Accepted` | `Accepted METHOD for USER from ADDR port N ssh2[: KEY]` |
//! | `Failed` | `Failed METHOD for [invalid user ]USER from ADDR port N ssh2` |
//! | `Invalid` | `Invalid user USER from ADDR[ port N]` |
//! | `identification` | `Did not receive identification string from ADDR[ port N]` |
//! | `disconnect` | `Received disconnect from ADDR port N:11: TEXT` / `... from ADDR: 11: TEXT` |
//! | `closed` | `Connection closed by [authenticating user U \| invalid user U ]ADDR[ port N] [preauth]` |
//! | `refused` | `refused connect from NAME (ADDR)` / `refused connect from ADDR` (tcp wrappers) |
//! | `Authorized` | `Authorized to USER, krb5 principal PRINC (krb5_kuserok)` (or `ssh_gssapi_krb5_cmdok`) |
//!
//! A user name is whatever the client sent (sshd keeps 100 bytes of it), so
//! it may contain ` from `: the address is found from the right, where the
//! client has no say.

use crate::linetime::{self, LineTime, PathDate};

/// The results, in the order reports list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Accepted = 0,
    Failed = 1,
    Invalid = 2,
    Identification = 3,
    Disconnect = 4,
    Closed = 5,
    Refused = 6,
    Authorized = 7,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Accepted,
        Kind::Failed,
        Kind::Invalid,
        Kind::Identification,
        Kind::Disconnect,
        Kind::Closed,
        Kind::Refused,
        Kind::Authorized,
    ];

    /// The name reports print and `--result` takes (the grid's grok classes).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Accepted => "Accepted",
            Kind::Failed => "Failed",
            Kind::Invalid => "Invalid",
            Kind::Identification => "identification",
            Kind::Disconnect => "disconnect",
            Kind::Closed => "closed",
            Kind::Refused => "refused",
            Kind::Authorized => "Authorized",
        }
    }

    /// The kind named `name`, in any case.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name))
    }

    pub fn from_u8(n: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(n)).copied()
    }

    /// Whether events of this kind name a remote address (all but `Authorized`).
    pub fn has_remote(self) -> bool {
        self != Kind::Authorized
    }
}

/// One classified sshd line. Fields a kind does not have are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified<'a> {
    pub time: LineTime,
    pub pid: u32,
    pub kind: Kind,
    /// `Failed ... for invalid user ...`
    pub invalid: bool,
    pub method: &'a [u8],
    pub user: &'a [u8],
    pub remote: &'a [u8],
    pub principal: &'a [u8],
}

/// Classifies one line (without its newline) of a file whose path tells
/// `date`. `None` for lines that are not one of the sshd messages above, and
/// for lines whose time cannot be read (a traditional timestamp in a file
/// whose path gives no year).
pub fn classify<'a>(line: &'a [u8], date: &PathDate) -> Option<Classified<'a>> {
    let (stamp_len, after_stamp) = split_stamp(line)?;
    let (pid, message) = sshd_tag(after_stamp)?;
    let event = message_of(message)?;
    let time = line_time(&line[..stamp_len], date)?;
    Some(Classified {
        time,
        pid,
        kind: event.kind,
        invalid: event.invalid,
        method: event.method,
        user: event.user,
        remote: event.remote,
        principal: event.principal,
    })
}

/// The length of the timestamp at the start of `line`, and what follows its space.
fn split_stamp(line: &[u8]) -> Option<(usize, &[u8])> {
    let len = match line.first()? {
        b'0'..=b'9' => line.iter().position(|&c| c == b' ')?,
        _ => 15,
    };
    match line.get(len..)? {
        [b' ', rest @ ..] => Some((len, rest)),
        _ => None,
    }
}

/// The time of a stamp: the traditional form takes its year from the path,
/// and a December line in a January folder (or the reverse) is put in the
/// neighbouring year, as a line written just before midnight on New Year's
/// Eve and received after it is.
fn line_time(stamp: &[u8], date: &PathDate) -> Option<LineTime> {
    if stamp.first()?.is_ascii_digit() {
        return linetime::parse(stamp, 0);
    }
    let year = date.year()?;
    let path_month = date.day.map(|d| d.month).or(date.month);
    let line_month = linetime::parse(stamp, 2000).map(|t| t.day.month);
    let year = match (path_month, line_month) {
        (Some(1), Some(12)) => year - 1,
        (Some(12), Some(1)) => year + 1,
        _ => year,
    };
    linetime::parse(stamp, year)
}

/// `HOST sshd[PID]: MESSAGE` (or without the host): the pid and the message.
fn sshd_tag(rest: &[u8]) -> Option<(u32, &[u8])> {
    if let Some(found) = tag(rest) {
        return Some(found);
    }
    let space = rest.iter().position(|&c| c == b' ')?;
    tag(&rest[space + 1..])
}

fn tag(text: &[u8]) -> Option<(u32, &[u8])> {
    let after_name = [&b"sshd["[..], b"sshd-session[", b"sshd-auth["].into_iter().find_map(|name| text.strip_prefix(name))?;
    let close = after_name.iter().position(|&c| c == b']')?;
    let pid = number(&after_name[..close])?;
    let message = after_name[close + 1..].strip_prefix(b": ")?;
    Some((pid, message))
}

/// A decimal number that fits a u32, nothing else.
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, &c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))?;
    u32::try_from(n).ok()
}

struct Message<'a> {
    kind: Kind,
    invalid: bool,
    method: &'a [u8],
    user: &'a [u8],
    remote: &'a [u8],
    principal: &'a [u8],
}

impl<'a> Message<'a> {
    fn new(kind: Kind) -> Message<'a> {
        Message { kind, invalid: false, method: b"", user: b"", remote: b"", principal: b"" }
    }
}

fn message_of(m: &[u8]) -> Option<Message<'_>> {
    if let Some(rest) = m.strip_prefix(b"Accepted ") {
        return auth_result(Kind::Accepted, rest);
    }
    if let Some(rest) = m.strip_prefix(b"Failed ") {
        return auth_result(Kind::Failed, rest);
    }
    if let Some(rest) = m.strip_prefix(b"Invalid user") {
        let (user, remote) = user_from_remote(rest)?;
        return Some(Message { user, remote, ..Message::new(Kind::Invalid) });
    }
    if let Some(rest) = m.strip_prefix(b"Did not receive identification string from ") {
        let remote = address_then_port(rest)?;
        return Some(Message { remote, ..Message::new(Kind::Identification) });
    }
    if let Some(rest) = m.strip_prefix(b"Received disconnect from ") {
        // "ADDR port N:11: text" or, before OpenSSH 7.3, "ADDR: 11: text".
        let token = &rest[..rest.iter().position(|&c| c == b' ').unwrap_or(rest.len())];
        let remote = token.strip_suffix(b":").unwrap_or(token);
        return (!remote.is_empty()).then(|| Message { remote, ..Message::new(Kind::Disconnect) });
    }
    if let Some(rest) = m.strip_prefix(b"Connection closed by ") {
        let rest = rest.strip_suffix(b" [preauth]")?;
        let rest = strip_port(rest).unwrap_or(rest);
        let remote = &rest[rest.iter().rposition(|&c| c == b' ').map_or(0, |i| i + 1)..];
        return (!remote.is_empty()).then(|| Message { remote, ..Message::new(Kind::Closed) });
    }
    if let Some(rest) = m.strip_prefix(b"refused connect from ") {
        // tcp wrappers: "NAME (ADDR)" or "ADDR".
        let remote = match rest.strip_suffix(b")") {
            Some(r) => &r[r.iter().rposition(|&c| c == b'(')? + 1..],
            None => rest,
        };
        let ok = !remote.is_empty() && !remote.contains(&b' ');
        return ok.then(|| Message { remote, ..Message::new(Kind::Refused) });
    }
    if let Some(rest) = m.strip_prefix(b"Authorized to ") {
        let sep = find(rest, b", krb5 principal ")?;
        let (user, after) = (&rest[..sep], &rest[sep + b", krb5 principal ".len()..]);
        let principal = &after[..find_last(after, b" (")?];
        return (!principal.is_empty()).then(|| Message { user, principal, ..Message::new(Kind::Authorized) });
    }
    None
}

/// `METHOD for [invalid user ]USER from ADDR port N ssh2...`
fn auth_result(kind: Kind, rest: &[u8]) -> Option<Message<'_>> {
    let space = rest.iter().position(|&c| c == b' ')?;
    let method = &rest[..space];
    let rest = rest[space..].strip_prefix(b" for ")?;
    let (invalid, rest) = match rest.strip_prefix(b"invalid user ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // The rightmost " from ADDR port N" followed by the end or a space.
    let mut end = rest.len();
    while let Some(at) = find_last(&rest[..end], b" from ") {
        let after = &rest[at + b" from ".len()..];
        if let Some(remote) = address_port_required(after) {
            let user = &rest[..at];
            return (!method.is_empty()).then_some(Message { invalid, method, user, remote, ..Message::new(kind) });
        }
        end = at;
    }
    None
}

/// `ADDR port N` then the end or a space: the address.
fn address_port_required(text: &[u8]) -> Option<&[u8]> {
    let space = text.iter().position(|&c| c == b' ')?;
    let (remote, after) = (&text[..space], &text[space..]);
    let after = after.strip_prefix(b" port ")?;
    let digits = after.iter().position(|c| !c.is_ascii_digit()).unwrap_or(after.len());
    let ends = after.get(digits).is_none_or(|&c| c == b' ');
    (digits > 0 && ends && !remote.is_empty()).then_some(remote)
}

/// ` USER from ADDR[ port N]` (with its leading space, so that an empty
/// user name still has a space before " from "): the address found from the right.
fn user_from_remote(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let text = strip_port(text).unwrap_or(text);
    let at = find_last(text, b" from ")?;
    if text.first() != Some(&b' ') {
        return None;
    }
    let user = text.get(1..at)?;
    let remote = &text[at + b" from ".len()..];
    (!remote.is_empty() && !remote.contains(&b' ')).then_some((user, remote))
}

/// `ADDR[ port N]` and nothing after: the address.
fn address_then_port(text: &[u8]) -> Option<&[u8]> {
    let remote = strip_port(text).unwrap_or(text);
    (!remote.is_empty() && !remote.contains(&b' ')).then_some(remote)
}

/// `TEXT port N` → `TEXT`.
fn strip_port(text: &[u8]) -> Option<&[u8]> {
    let at = find_last(text, b" port ")?;
    let digits = &text[at + b" port ".len()..];
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some(&text[..at])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> PathDate {
        PathDate::of("2026/12/10.0.0.7/auth.log")
    }

    fn c(line: &str) -> Option<(Kind, bool, String, String, String, String, u32)> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        classify(line.as_bytes(), &date())
            .map(|e| (e.kind, e.invalid, s(e.method), s(e.user), s(e.remote), s(e.principal), e.pid))
    }

    fn ev(kind: Kind, invalid: bool, method: &str, user: &str, remote: &str, principal: &str, pid: u32) -> Option<(Kind, bool, String, String, String, String, u32)> {
        Some((kind, invalid, method.into(), user.into(), remote.into(), principal.into(), pid))
    }

    #[test]
    fn openssh_messages_are_classified() {
        let h = "Dec  7 17:29:17 node7 sshd[4242]: ";
        let cases = [
            ("Accepted gssapi-with-mic for alice from 10.1.2.3 port 50022 ssh2", ev(Kind::Accepted, false, "gssapi-with-mic", "alice", "10.1.2.3", "", 4242)),
            ("Accepted publickey for bob from 2001:db8::1 port 22 ssh2: RSA SHA256:abc", ev(Kind::Accepted, false, "publickey", "bob", "2001:db8::1", "", 4242)),
            ("Accepted keyboard-interactive/pam for carol from 10.0.0.1 port 1 ssh2", ev(Kind::Accepted, false, "keyboard-interactive/pam", "carol", "10.0.0.1", "", 4242)),
            ("Failed password for root from 198.51.100.7 port 4000 ssh2", ev(Kind::Failed, false, "password", "root", "198.51.100.7", "", 4242)),
            ("Failed password for invalid user admin from 198.51.100.7 port 4000 ssh2", ev(Kind::Failed, true, "password", "admin", "198.51.100.7", "", 4242)),
            ("Failed none for invalid user x from y from 198.51.100.8 port 4000 ssh2", ev(Kind::Failed, true, "none", "x from y", "198.51.100.8", "", 4242)),
            ("Invalid user oracle from 203.0.113.9 port 5555", ev(Kind::Invalid, false, "", "oracle", "203.0.113.9", "", 4242)),
            ("Invalid user oracle from 203.0.113.9", ev(Kind::Invalid, false, "", "oracle", "203.0.113.9", "", 4242)),
            ("Invalid user  from 203.0.113.9 port 5555", ev(Kind::Invalid, false, "", "", "203.0.113.9", "", 4242)),
            ("Did not receive identification string from 192.0.2.1", ev(Kind::Identification, false, "", "", "192.0.2.1", "", 4242)),
            ("Did not receive identification string from 192.0.2.1 port 33", ev(Kind::Identification, false, "", "", "192.0.2.1", "", 4242)),
            ("Received disconnect from 192.0.2.2 port 41234:11: Bye Bye [preauth]", ev(Kind::Disconnect, false, "", "", "192.0.2.2", "", 4242)),
            ("Received disconnect from 192.0.2.2: 11: Bye Bye [preauth]", ev(Kind::Disconnect, false, "", "", "192.0.2.2", "", 4242)),
            ("Connection closed by 192.0.2.3 [preauth]", ev(Kind::Closed, false, "", "", "192.0.2.3", "", 4242)),
            ("Connection closed by 192.0.2.3 port 22 [preauth]", ev(Kind::Closed, false, "", "", "192.0.2.3", "", 4242)),
            ("Connection closed by invalid user adm 192.0.2.3 port 22 [preauth]", ev(Kind::Closed, false, "", "", "192.0.2.3", "", 4242)),
            ("refused connect from bad.example (192.0.2.4)", ev(Kind::Refused, false, "", "", "192.0.2.4", "", 4242)),
            ("refused connect from 192.0.2.4", ev(Kind::Refused, false, "", "", "192.0.2.4", "", 4242)),
            ("Authorized to alice, krb5 principal alice@EXAMPLE.ORG (krb5_kuserok)", ev(Kind::Authorized, false, "", "alice", "", "alice@EXAMPLE.ORG", 4242)),
            ("Authorized to alice, krb5 principal alice/admin@EXAMPLE.ORG (ssh_gssapi_krb5_cmdok)", ev(Kind::Authorized, false, "", "alice", "", "alice/admin@EXAMPLE.ORG", 4242)),
        ];
        for (message, want) in cases {
            assert_eq!(c(&format!("{h}{message}")), want, "{message}");
        }
    }

    #[test]
    fn other_lines_are_not_sshd_events() {
        for line in [
            "Dec  7 17:29:17 node7 sshd[4242]: Connection closed by 192.0.2.3 port 22",
            "Dec  7 17:29:17 node7 sshd[4242]: pam_unix(sshd:session): session opened for user alice",
            "Dec  7 17:29:17 node7 sshd[4242]: Accepted password for alice",
            "Dec  7 17:29:17 node7 sshd[x]: Accepted password for a from 1.2.3.4 port 1 ssh2",
            "Dec  7 17:29:17 node7 cron[4242]: Accepted password for a from 1.2.3.4 port 1 ssh2",
            "Dec  7 17:29:17 node7 sshd: Accepted password for a from 1.2.3.4 port 1 ssh2",
            "Dex  7 17:29:17 node7 sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2",
            "",
            "sshd[1]: Invalid user a from 1.2.3.4",
        ] {
            assert_eq!(c(line), None, "{line}");
        }
    }

    #[test]
    fn both_timestamp_forms_and_the_new_year() {
        let e = classify(b"2026-12-07T17:29:17.1+01:00 node7 sshd[9]: Invalid user a from 1.2.3.4", &PathDate::default());
        assert_eq!(e.map(|e| e.time.to_string()), Some("2026-12-07 17:29:17".into()));
        let e = classify(b"Dec 31 23:59:59 node7 sshd[9]: Invalid user a from 1.2.3.4", &PathDate::of("2027/01/1.2.3.4/auth.log"));
        assert_eq!(e.map(|e| e.time.to_string()), Some("2026-12-31 23:59:59".into()));
        // No year in the path: a traditional stamp cannot be placed.
        assert_eq!(classify(b"Dec 31 23:59:59 node7 sshd[9]: Invalid user a from 1.2.3.4", &PathDate::default()), None);
        // sshd-session, and no host field.
        let e = classify(b"Dec  1 00:00:00 sshd-session[77]: Invalid user a from 1.2.3.4", &date());
        assert_eq!(e.map(|e| e.pid), Some(77));
    }
}

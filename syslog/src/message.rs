//! A received syslog message, parsed the way rsyslog's default parser chain
//! does it: sanitise, PRI, then RFC 5424 if `1 ` follows the PRI, else RFC 3164.
//! Messages are bytes: invalid UTF-8 passes through untouched.

use std::sync::Arc;

use crate::time::{parse_rfc3164, parse_rfc3339, Timestamp};

/// `user.notice`, given to messages without a PRI.
pub const DEFAULT_PRI: u8 = 13;
/// A malformed PRI: facility 24 ("invld"), severity debug.
pub const INVALID_PRI: u8 = (24 << 3) | 7;

pub const FACILITY_NAMES: [&str; 25] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", "invld",
];
pub const SEVERITY_NAMES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// Where a message came from; shared by every message of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The peer's name (reverse DNS, short form), or its address.
    pub fromhost: String,
    pub fromhost_ip: String,
    /// `imgssapi`, `imtcp`, …
    pub inputname: &'static str,
    /// Who the collector authenticated as the sender, and how well.
    pub provenance: Provenance,
}

/// What the collector established about the sender of a session's messages:
/// the `gss-principal`, `gss-protection` and `gss-host-binding` properties.
/// The sender cannot set any of them: they come from the session, not from
/// the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The authenticated Kerberos principal; empty when there is none
    /// (plain TCP, or a local input).
    pub principal: String,
    pub protection: ProtectionSeen,
    pub host_binding: HostBinding,
}

impl Default for Provenance {
    /// Not authenticated: no principal, no protection, nothing checked.
    fn default() -> Self {
        Provenance { principal: String::new(), protection: ProtectionSeen::None, host_binding: HostBinding::Unchecked }
    }
}

/// The weakest per-message protection seen on the session so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionSeen {
    /// Every token so far was sealed.
    Encryption,
    /// At least one token was integrity-only.
    Integrity,
    /// Not a GSS session: nothing is authenticated.
    None,
}

impl ProtectionSeen {
    /// The property value: `encryption`, `integrity` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            ProtectionSeen::Encryption => "encryption",
            ProtectionSeen::Integrity => "integrity",
            ProtectionSeen::None => "none",
        }
    }
}

/// Whether a `host/NAME` principal sent from an address of NAME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostBinding {
    /// Checked, and the address is one of NAME's.
    Match,
    /// Checked, and it is not (the collector was told to accept and mark).
    Mismatch,
    /// Not checked: binding off, not a host principal, or no principal.
    Unchecked,
}

impl HostBinding {
    /// The property value: `match`, `mismatch` or `unchecked`.
    pub fn name(self) -> &'static str {
        match self {
            HostBinding::Match => "match",
            HostBinding::Mismatch => "mismatch",
            HostBinding::Unchecked => "unchecked",
        }
    }
}

/// rsyslog's default `$MaxMessageSize`, both daemons' too.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8096;

/// Settings of the reception path that change how bytes become a message.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// `$MaxMessageSize`: the sanitised message is cut to this many bytes.
    pub max_message_size: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { max_message_size: DEFAULT_MAX_MESSAGE_SIZE }
    }
}

/// The syslog protocol a message was written in, as rsyslog's
/// `protocol-version` property tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Legacy BSD syslog (RFC 3164) or no recognisable header: version 0.
    Rfc3164,
    /// RFC 5424 (`<PRI>1 ...`): version 1.
    Rfc5424,
}

impl Protocol {
    /// rsyslog's `protocol-version`: 0 or 1.
    pub fn version(self) -> u8 {
        match self {
            Protocol::Rfc3164 => 0,
            Protocol::Rfc5424 => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    /// rsyslog's `rawmsg`: the message after decompression and sanitising.
    pub raw: Vec<u8>,
    pub pri: u8,
    pub reported: Timestamp,
    pub generated: Timestamp,
    /// HOSTNAME from the header (a range of `raw`); `None` when there was none.
    hostname: Option<Span>,
    /// The TAG: a range of `raw` (RFC 3164), or emulated (RFC 5424, below).
    tag: Span,
    emulated_tag: Vec<u8>,
    msg_offset: usize,
    /// Which header the message had.
    pub protocol: Protocol,
    /// An RFC 5424 header whose fields after the timestamp were read (its
    /// timestamp was valid); rsyslog then holds them even when empty.
    rfc5424_fields: bool,
    /// A `z` (compressed) message that inflated to more than
    /// `$MaxMessageSize` bytes: it was cut there, as an oversize message is.
    pub inflated_past_limit: bool,
    app_name: Span,
    procid: Span,
    msgid: Span,
    structured_data: Span,
    pub origin: Arc<Origin>,
}

/// A range of `Message::raw`: the parsed fields cost no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        Span { start: start as u32, end: end as u32 }
    }
}

impl Message {
    pub fn facility(&self) -> u8 {
        self.pri >> 3
    }

    pub fn severity(&self) -> u8 {
        self.pri & 7
    }

    /// The MSG part (in RFC 3164 usually starting with a space).
    pub fn msg(&self) -> &[u8] {
        &self.raw[self.msg_offset.min(self.raw.len())..]
    }

    fn span(&self, s: Span) -> &[u8] {
        self.raw.get(s.start as usize..s.end as usize).unwrap_or(b"")
    }

    /// HOSTNAME, or `fromhost` when the header had none.
    pub fn hostname(&self) -> &[u8] {
        match self.hostname {
            Some(h) => self.span(h),
            None => self.origin.fromhost.as_bytes(),
        }
    }

    /// The TAG (`syslogtag`): `sshd[42]:` in RFC 3164; `APP-NAME[PROCID]`
    /// emulated for RFC 5424, as rsyslog does.
    pub fn tag(&self) -> &[u8] {
        if self.protocol == Protocol::Rfc5424 {
            &self.emulated_tag
        } else {
            self.span(self.tag)
        }
    }

    /// Whether the RFC 5424 fields after the timestamp were read (an RFC
    /// 5424 message with a valid or nil timestamp).
    pub fn has_rfc5424_fields(&self) -> bool {
        self.rfc5424_fields
    }

    /// RFC 5424 header fields (empty for RFC 3164 messages).
    pub fn app_name(&self) -> &[u8] {
        self.span(self.app_name)
    }
    pub fn procid(&self) -> &[u8] {
        self.span(self.procid)
    }
    pub fn msgid(&self) -> &[u8] {
        self.span(self.msgid)
    }
    pub fn structured_data(&self) -> &[u8] {
        self.span(self.structured_data)
    }

    /// The TAG up to the first `:`, `[`, `/` or non-printable character.
    pub fn programname(&self) -> &[u8] {
        let tag = self.tag();
        let end = tag.iter().position(|&c| !(0x20..0x7f).contains(&c) || c == b':' || c == b'[' || c == b'/').unwrap_or(tag.len());
        &tag[..end]
    }
}

/// Parses one received message. `received` is the reception time, used where
/// the header has no timestamp and for the fields an RFC 3164 one lacks.
/// Returns `None` for an empty message, which rsyslog drops too.
pub fn parse(input: &[u8], origin: Arc<Origin>, received: Timestamp, options: &ParseOptions) -> Option<Message> {
    if input.is_empty() {
        return None;
    }
    let (raw, inflated_past_limit) = match inflate(input, options.max_message_size) {
        Inflated::Whole(text) => (sanitize(&text, options.max_message_size), false),
        Inflated::CutAtLimit(text) => (sanitize(&text, options.max_message_size), true),
        Inflated::NotCompressed => (sanitize(input, options.max_message_size), false),
    };
    let mut m = Message {
        raw,
        pri: DEFAULT_PRI,
        reported: received,
        generated: received,
        hostname: None,
        tag: Span::default(),
        emulated_tag: Vec::new(),
        msg_offset: 0,
        protocol: Protocol::Rfc3164,
        rfc5424_fields: false,
        inflated_past_limit,
        app_name: Span::default(),
        procid: Span::default(),
        msgid: Span::default(),
        structured_data: Span::default(),
        origin,
    };
    let after_pri = parse_pri(&mut m);
    let rest = &m.raw[after_pri..];
    if rest.len() >= 2 && rest[0] == b'1' && rest[1] == b' ' {
        parse_rfc5424(&mut m, after_pri + 2);
    } else {
        parse_rfc3164_header(&mut m, after_pri);
    }
    Some(m)
}

/// What the `z` compression extension made of a message.
enum Inflated {
    /// Not a `z` message, or not a zlib stream: the bytes are the message.
    NotCompressed,
    /// The whole inflated message, at most the maximum size.
    Whole(Vec<u8>),
    /// The first maximum-size bytes of a message that inflates to more.
    CutAtLimit(Vec<u8>),
}

/// The smallest first guess at the inflated size, and how a guess grows.
const INFLATE_FIRST_GUESS: usize = 256;

/// The `z` compression extension: a message that starts with `z` is a zlib
/// stream, inflated into at most `max` + 1 bytes (the one byte over tells
/// "exactly `max`" from "more"), so that a small frame can never cost more
/// memory or time than a message of the maximum size.
///
/// rsyslog 8.2302 (`runtime/parser.c` `uncompressMessage`) inflates into a
/// `$MaxMessageSize` buffer; when the result does not fit, or the bytes are
/// not a zlib stream, it logs "Uncompression of a message failed ...
/// Message ignored." but goes on with the still-compressed bytes, which are
/// then escaped and written (checked against Debian's 8.2302). We keep that
/// for bytes that are not a zlib stream (a plain message that happens to start
/// with `z` is not lost). A message that inflates past the limit we handle as
/// rsyslog's TCP input handles an oversize message: cut at the limit, and
/// the caller logs it (deliberate difference: the operator gets the first
/// `$MaxMessageSize` bytes of the message instead of escaped zlib bytes).
fn inflate(input: &[u8], max: usize) -> Inflated {
    let Some(compressed) = input.strip_prefix(b"z") else { return Inflated::NotCompressed };
    let limit = max.saturating_add(1);
    let mut inflater = flate2::Decompress::new(true);
    let mut out = Vec::with_capacity(limit.min(INFLATE_FIRST_GUESS.max(4 * compressed.len())));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                out.truncate(max);
                return Inflated::CutAtLimit(out);
            }
            // Grow by doubling, never past the limit: reserve_exact asks for
            // exactly this much, where reserve could round up to twice.
            out.reserve_exact(out.capacity().max(INFLATE_FIRST_GUESS).min(limit - out.len()));
        }
        let (read_before, written_before) = (inflater.total_in(), out.len());
        let rest = compressed.get(read_before as usize..).unwrap_or_default();
        // decompress_vec writes into the spare capacity only: `out` never grows here.
        match inflater.decompress_vec(rest, &mut out, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) if out.len() > max => {
                out.truncate(max);
                return Inflated::CutAtLimit(out);
            }
            Ok(flate2::Status::StreamEnd) => return Inflated::Whole(out),
            Ok(_) if inflater.total_in() == read_before && out.len() == written_before => {
                // No progress with room to write: the stream ends early.
                return Inflated::NotCompressed;
            }
            Ok(_) => {}
            Err(_) => return Inflated::NotCompressed,
        }
    }
}

/// rsyslog's SanitizeMsg with its defaults: drop one trailing NUL, then one
/// trailing LF, and escape control characters (tab included) as `#ooo`.
fn sanitize(input: &[u8], max: usize) -> Vec<u8> {
    let mut s = input;
    if let [head @ .., 0] = s {
        s = head;
    }
    if let [head @ .., b'\n'] = s {
        s = head;
    }
    let mut out = Vec::with_capacity(s.len().min(max));
    let mut rest = s;
    while !rest.is_empty() {
        // Copy the run of ordinary bytes in one go; escape the control byte after it.
        let run = first_control_byte(rest).unwrap_or(rest.len());
        let take = run.min(max - out.len());
        out.extend_from_slice(&rest[..take]);
        if take < run || run == rest.len() {
            break;
        }
        let c = rest[run];
        if out.len() + 4 > max {
            break;
        }
        out.extend_from_slice(&escaped(c));
        rest = &rest[run + 1..];
    }
    if crate::c1::may_contain(&out) {
        out = escape_c1(&out, max);
    }
    out
}

/// rsyslog's escape of a control byte: `#` and its three octal digits.
fn escaped(c: u8) -> [u8; 4] {
    [b'#', b'0' + (c >> 6), b'0' + ((c >> 3) & 7), b'0' + (c & 7)]
}

/// Escapes the C1 controls of `text` (see [`crate::c1`]) as [`sanitize`]
/// escapes C0 ones, every byte of one (`0x9B` gives `#233`, U+009B in UTF-8
/// `#302#233`); other bytes, UTF-8 sequences included, stay as they are. The
/// result is cut at `max` bytes, never inside an escape. (A deliberate
/// difference from rsyslog, which lets C1 controls through.)
fn escape_c1(text: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len().min(max));
    let mut full = false;
    crate::c1::split(text, |run, control| {
        if full {
            return;
        }
        if control {
            if out.len() + 4 * run.len() > max {
                full = true;
                return;
            }
            for &c in run {
                out.extend_from_slice(&escaped(c));
            }
        } else {
            let mut take = run.len().min(max - out.len());
            // Never cut inside a character: its tail would be a stray C1 byte.
            while take < run.len() && take > 0 && run[take] & 0xC0 == 0x80 {
                take -= 1;
            }
            out.extend_from_slice(&run[..take]);
            full = take < run.len();
        }
    });
    out
}

/// Where the first byte below 32 is. Whole 32-byte blocks are tested without
/// an early exit, which the compiler turns into vector compares; most
/// messages have no control byte at all.
fn first_control_byte(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut offset = 0;
    for block in bytes.chunks(BLOCK) {
        if block.iter().fold(false, |any, &c| any | (c < 32)) {
            return block.iter().position(|&c| c < 32).map(|i| offset + i);
        }
        offset += block.len();
    }
    None
}

/// Sets the PRI and returns where the header starts.
fn parse_pri(m: &mut Message) -> usize {
    let raw = &m.raw;
    if raw.first() != Some(&b'<') {
        m.pri = DEFAULT_PRI;
        return 0;
    }
    let mut pri: u32 = 0;
    let mut i = 1;
    while i < raw.len() && raw[i].is_ascii_digit() && pri <= 191 {
        pri = pri * 10 + u32::from(raw[i] - b'0');
        i += 1;
    }
    if raw.get(i) == Some(&b'>') && pri <= 191 {
        m.pri = pri as u8;
        i + 1
    } else {
        m.pri = INVALID_PRI;
        0
    }
}

fn parse_rfc5424(m: &mut Message, mut pos: usize) {
    m.protocol = Protocol::Rfc5424;
    let raw = &m.raw;
    let rest = &raw[pos..];
    if rest.len() >= 2 && rest[0] == b'-' && rest[1] == b' ' {
        pos += 2;
    } else if let Some((t, n)) = parse_rfc3339(rest) {
        m.reported = t;
        pos += n;
    } else {
        m.msg_offset = pos;
        return;
    }
    let field = |pos: &mut usize| -> Span {
        let start = *pos;
        while *pos < raw.len() && raw[*pos] != b' ' {
            *pos += 1;
        }
        let value = Span::new(start, *pos);
        if *pos < raw.len() {
            *pos += 1;
        }
        value
    };
    let hostname = field(&mut pos);
    let app_name = field(&mut pos);
    let procid = field(&mut pos);
    let msgid = field(&mut pos);
    // Where the STRUCTURED-DATA is not one (it starts with neither '[' nor
    // '-'), rsyslog 8.2302 (pmrfc5424.c) keeps what its work buffer still
    // holds: the MSGID. So do we.
    let sd = structured_data(raw, &mut pos).unwrap_or(msgid);
    // rsyslog emulates a TAG for RFC 5424: APP-NAME[PROCID], without a
    // colon; an empty APP-NAME is the nil value "-" (msg.c, MsgSetAPPNAME),
    // and the TAG has at most CONF_TAG_MAXSIZE - 1 = 511 bytes (the snprintf
    // of tryEmulateTAG; rsyslog 8.2302 then copies the untruncated length,
    // reading past its buffer: we stop at 511).
    let app = &raw[app_name.start as usize..app_name.end as usize];
    let mut tag = if app.is_empty() { b"-".to_vec() } else { app.to_vec() };
    let pid = &raw[procid.start as usize..procid.end as usize];
    if pid != b"-" {
        tag.push(b'[');
        tag.extend_from_slice(pid);
        tag.push(b']');
    }
    tag.truncate(EMULATED_TAG_MAX);
    m.rfc5424_fields = true;
    (m.hostname, m.app_name, m.procid, m.msgid, m.structured_data) = (Some(hostname), app_name, procid, msgid, sd);
    m.emulated_tag = tag;
    m.msg_offset = pos;
}

/// The longest TAG rsyslog emulates for an RFC 5424 message.
const EMULATED_TAG_MAX: usize = 511;

fn structured_data(raw: &[u8], pos: &mut usize) -> Option<Span> {
    let start = *pos;
    match raw.get(*pos) {
        Some(b'-') => *pos += 1,
        Some(b'[') => loop {
            let left = raw.len() - *pos;
            if left < 2 {
                if left > 0 && raw[*pos] == b']' {
                    *pos += 1;
                }
                break;
            }
            if raw[*pos] == b'\\' && raw[*pos + 1] == b']' {
                *pos += 2;
            } else if raw[*pos] == b']' && raw[*pos + 1] == b' ' {
                *pos += 1;
                break;
            } else {
                *pos += 1;
            }
        },
        _ => return None,
    }
    let value = Span::new(start, *pos);
    if raw.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
    Some(value)
}

fn parse_rfc3164_header(m: &mut Message, mut pos: usize) {
    m.protocol = Protocol::Rfc3164;
    if m.pri == INVALID_PRI {
        m.msg_offset = pos;
        return;
    }
    let raw = std::mem::take(&mut m.raw);
    let rest = &raw[pos..];
    if let Some((t, n)) = parse_rfc3339(rest) {
        m.reported = t;
        pos += n;
    } else if let Some((t, n)) = parse_rfc3164(rest, &m.generated) {
        m.reported = t;
        pos += n;
    } else if rest.len() > 1 && rest[0] == b' ' {
        if let Some((t, n)) = parse_rfc3164(&rest[1..], &m.generated) {
            m.reported = t;
            pos += 1 + n;
        }
    }

    // HOSTNAME: a word of [A-Za-z0-9._-] ending in an alphanumeric and followed
    // by a space (or the end of the message).
    let rest = &raw[pos..];
    if !rest.is_empty() {
        let mut i = 0;
        while i < rest.len() && i < 511 && (rest[i].is_ascii_alphanumeric() || matches!(rest[i], b'.' | b'_' | b'-')) {
            i += 1;
        }
        if i == rest.len() {
            m.hostname = Some(Span::new(pos, pos + i));
            pos += i;
        } else if i > 0 && rest[i - 1].is_ascii_alphanumeric() && rest[i] == b' ' {
            m.hostname = Some(Span::new(pos, pos + i));
            pos += i + 1;
        }
    }

    // TAG: up to a colon (kept) or a space (not kept), at most 510 bytes.
    let start = pos;
    while pos < raw.len() && raw[pos] != b':' && raw[pos] != b' ' && pos - start < 510 {
        pos += 1;
    }
    if pos < raw.len() && raw[pos] == b':' {
        pos += 1;
    }
    m.tag = Span::new(start, pos);
    m.msg_offset = pos;
    m.raw = raw;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_control_byte_in_every_position() {
        for len in [0usize, 1, 31, 32, 33, 64, 150] {
            let clean = vec![b'a'; len];
            assert_eq!(first_control_byte(&clean), None);
            for at in 0..len {
                let mut v = clean.clone();
                v[at] = b'\t';
                v[len - 1] = if at == len - 1 { b'\t' } else { 0 };
                assert_eq!(first_control_byte(&v), Some(at), "len {len}, control at {at}");
            }
        }
    }

    fn origin() -> Arc<Origin> {
        Arc::new(Origin {
            fromhost: "peer".into(),
            fromhost_ip: "127.0.0.2".into(),
            inputname: "imtcp",
            provenance: Default::default(),
        })
    }

    fn p(s: &[u8]) -> Message {
        let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
        parse(s, origin(), base, &ParseOptions::default()).unwrap()
    }

    #[test]
    fn rfc3164_fields() {
        let m = p(b"<38>Nov 23 12:14:25 vm sshd[42]: accepted key\n");
        assert_eq!((m.facility(), m.severity()), (4, 6));
        assert_eq!(m.hostname(), b"vm");
        assert_eq!(m.tag(), b"sshd[42]:");
        assert_eq!(m.programname(), b"sshd");
        assert_eq!(m.msg(), b" accepted key");
        assert_eq!(m.raw, b"<38>Nov 23 12:14:25 vm sshd[42]: accepted key");
    }

    #[test]
    fn tag_cannot_contain_a_space_so_pbs_mom_is_pbs() {
        let m = p(b"<30>Nov 23 12:00:00 node1 pbs mom: x");
        assert_eq!(m.tag(), b"pbs");
        assert_eq!(m.programname(), b"pbs");
        assert_eq!(m.msg(), b" mom: x");
    }

    #[test]
    fn no_hostname_falls_back_to_fromhost() {
        let m = p(b"<30>Nov 23 12:00:00 pbs_mom: x");
        assert_eq!(m.hostname(), b"peer");
        assert_eq!(m.tag(), b"pbs_mom:");
        let m = p(b"no pri at all");
        assert_eq!(m.pri, DEFAULT_PRI);
        assert_eq!(m.hostname(), b"no");
        assert_eq!(m.tag(), b"pri");
    }

    #[test]
    fn rfc5424_emulates_tag() {
        let m = p(b"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 123 ID47 [ex@32473 iut=\"3\"] An app event");
        assert_eq!(m.protocol, Protocol::Rfc5424);
        assert_eq!(m.hostname(), b"mymachine");
        assert_eq!(m.tag(), b"evntslog[123]");
        assert_eq!(m.programname(), b"evntslog");
        assert_eq!(m.structured_data(), b"[ex@32473 iut=\"3\"]");
        assert_eq!(m.msg(), b"An app event");
        let m = p(b"<13>1 - host app - - - hello");
        assert_eq!(m.tag(), b"app");
    }

    #[test]
    fn rfc5424_empty_app_name_is_nil_and_the_emulated_tag_has_511_bytes_at_most() {
        let m = p(b"<13>1 2026-11-23T10:00:00Z host  7 - - empty app-name");
        assert_eq!((m.tag(), m.programname()), (&b"-[7]"[..], &b"-"[..]));
        let long = format!("<13>1 2026-11-23T10:00:00Z host {} 42 - - x", "a".repeat(600));
        let m = p(long.as_bytes());
        assert_eq!(m.tag().len(), 511);
        assert!(m.has_rfc5424_fields());
        assert!(!p(b"<13>1 notatime host app - - - x").has_rfc5424_fields());
        let m = p(b"<13>1 2026-11-23T10:00:00Z host app 1 ID  no sd");
        assert_eq!((m.structured_data(), m.msg()), (&b"ID"[..], &b" no sd"[..]), "rsyslog's leftover MSGID");
    }

    #[test]
    fn control_characters_are_escaped_and_pri_errors_handled() {
        let m = p(b"<13>Nov 23 12:00:00 h t: a\tb\x01c\0");
        assert_eq!(m.msg(), b" a#011b#001c");
        let m = p(b"<999>Nov 23 12:00:00 h t: x");
        assert_eq!(m.pri, INVALID_PRI);
        assert_eq!(m.msg(), b"<999>Nov 23 12:00:00 h t: x");
    }

    #[test]
    fn c1_controls_are_escaped_like_c0_and_utf8_stays_whole() {
        let m = p(b"<13>Nov 23 12:00:00 h t: a\x9b31mred\x1b[0m");
        assert_eq!(m.msg(), b" a#23331mred#033[0m", "raw 8-bit CSI escaped as ESC is");
        let m = p("<13>Nov 23 12:00:00 h t: caf\u{e9} \u{20ac}5 \u{65e5}\u{672c} \u{9b}x".as_bytes());
        assert_eq!(m.msg(), " caf\u{e9} \u{20ac}5 \u{65e5}\u{672c} #302#233x".as_bytes(), "UTF-8 intact, U+009B escaped");
        let m = p(b"<13>Nov 23 12:00:00 h t: latin1 caf\xe9");
        assert_eq!(m.msg(), b" latin1 caf\xe9", "other high bytes pass, as in rsyslog");
        let m = p(b"<13>Nov 23 12:00:00 h t\x9b: x");
        assert_eq!(m.tag(), b"t#233:", "never raw in properties either (they come from the escaped message)");
        // The cut at the maximum size never splits an escape.
        assert_eq!(sanitize(b"abcdefgh\x9b\x9b", 10), b"abcdefgh");
        assert_eq!(sanitize(b"abcdef\x9bxyz", 10), b"abcdef#233");
        // Nor inside a character after an escape (found by fuzzing: half a
        // euro sign left a stray 0x82).
        assert_eq!(sanitize("\u{9b}abcd\u{20ac}".as_bytes(), 12), b"#302#233abcd");
        let cut = sanitize("\u{9b}abcd\u{20ac}".as_bytes(), 14);
        crate::c1::split(&cut, |run, control| assert!(!control, "{run:?} in {cut:?}"));
    }

    #[test]
    fn compressed_messages_are_inflated() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::best());
        e.write_all(b"<13>Nov 23 12:00:00 h t: compressed").unwrap();
        let m = p(&e.finish().unwrap());
        assert_eq!(m.msg(), b" compressed");
        let m = p(b"zebra: not compressed");
        assert_eq!(m.tag(), b"zebra:", "kept as plain text");
    }

    fn zlib(text: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::best());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn with_max(input: &[u8], max: usize) -> Message {
        let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
        parse(input, origin(), base, &ParseOptions { max_message_size: max }).unwrap()
    }

    /// `<13>Nov 23 12:00:00 h t: EEE…` of exactly `len` bytes.
    fn message_of(len: usize) -> Vec<u8> {
        let mut m = b"<13>Nov 23 12:00:00 h t: ".to_vec();
        m.resize(len, b'E');
        m
    }

    #[test]
    fn inflating_to_exactly_the_maximum_keeps_the_whole_message() {
        for max in [100, 256, 257, 8096] {
            let m = with_max(&zlib(&message_of(max)), max);
            assert_eq!(m.raw, message_of(max), "max {max}");
            assert!(!m.inflated_past_limit, "max {max}");
        }
    }

    #[test]
    fn inflating_to_one_byte_over_the_maximum_cuts_it_there() {
        for max in [100, 256, 257, 8096] {
            let m = with_max(&zlib(&message_of(max + 1)), max);
            assert_eq!(m.raw, message_of(max), "max {max}");
            assert!(m.inflated_past_limit, "max {max}");
            assert_eq!(m.tag(), b"t:");
        }
    }

    #[test]
    fn a_compression_bomb_gives_one_message_of_the_maximum_size() {
        // 32 MiB of 'A' (past the old 16 MiB cap) in about 32 KiB of zlib.
        let mut text = message_of(64);
        text.resize(32 << 20, b'A');
        let bomb = zlib(&text);
        drop(text);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let m = with_max(&bomb, 8096);
        assert_eq!(m.raw.len(), 8096);
        assert!(m.inflated_past_limit);
        assert!(m.raw.starts_with(&message_of(64)));
    }

    #[test]
    fn a_broken_zlib_stream_is_kept_as_plain_text() {
        let whole = zlib(&message_of(300));
        let cut = &whole[..whole.len() / 2];
        let m = with_max(cut, 8096);
        assert!(!m.inflated_past_limit);
        assert!(m.raw.starts_with(b"zx"), "the bytes as received, escaped");
        // A stream cut after the limit's worth of output still gives the message.
        let mut long = message_of(64);
        long.resize(100_000, b'A');
        let whole = zlib(&long);
        let m = with_max(&whole[..whole.len() - 8], 8096);
        assert!(m.inflated_past_limit);
        assert_eq!(m.raw, long[..8096]);
    }
}

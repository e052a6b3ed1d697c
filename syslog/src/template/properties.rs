//! The property table: the names a template or filter may use, and each
//! property's raw value in a message.

use crate::message::{Message, Protocol, FACILITY_NAMES, SEVERITY_NAMES};
use crate::time::{push2, push4, Timestamp};

/// What rsyslog writes for an entry whose property name was invalid.
pub const INVALID_PROPERTY: &[u8] = b"**INVALID PROPERTY NAME**";

/// A message property a template or a filter can name (`%msg%`). The names
/// are rsyslog's; see [`Property::from_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// `msg`: the message text after the TAG.
    Msg,
    /// `rawmsg`: the message as received.
    RawMsg,
    /// `hostname` (also `source`).
    Hostname,
    /// `fromhost`: the sender's name.
    FromHost,
    /// `fromhost-ip`: the sender's address.
    FromHostIp,
    /// `syslogtag`.
    SyslogTag,
    /// `programname`: the TAG up to `[` or `:`.
    ProgramName,
    /// `pri`: the PRI number.
    Pri,
    /// `pri-text`: `facility.severity`.
    PriText,
    /// `syslogfacility`: the facility number.
    Facility,
    /// `syslogfacility-text`.
    FacilityText,
    /// `syslogseverity` (also `syslogpriority`): the severity number.
    Severity,
    /// `syslogseverity-text` (also `syslogpriority-text`).
    SeverityText,
    /// `timereported` (also `timestamp`): the time in the message.
    TimeReported,
    /// `timegenerated`: when the message was received.
    TimeGenerated,
    /// `inputname`: the input module that received it.
    InputName,
    /// `app-name`.
    AppName,
    /// `procid`.
    ProcId,
    /// `msgid`.
    MsgId,
    /// `structured-data`.
    StructuredData,
    /// `protocol-version`: 0 for RFC 3164, 1 for RFC 5424.
    ProtocolVersion,
    /// `gss-principal` (ours): the Kerberos principal the collector
    /// authenticated for the session; empty when none was.
    GssPrincipal,
    /// `gss-protection` (ours): `encryption`, `integrity` (at least one
    /// token of the session so far was integrity-only) or `none` (not
    /// authenticated: plain TCP).
    GssProtection,
    /// `gss-host-binding` (ours): `match`, `mismatch` or `unchecked`.
    GssHostBinding,
    /// `$NOW`, `$YEAR`, …: local (or, with `true`, UTC) time when the
    /// template is rendered.
    Now(NowField, bool),
    /// A message variable: `$!name` (and `$!` itself), local `$.name`,
    /// global `$/name`. Nothing in the supported RainerScript subset sets
    /// one (`set` is refused), so it is always unset, and rsyslog writes an
    /// unset variable as empty.
    Variable,
    /// An entry rsyslog registered with an invalid name.
    Invalid,
}

/// Which part of the render time a `$NOW`-family property writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NowField {
    /// `$NOW`: `YYYY-MM-DD`.
    Now,
    /// `$YEAR`.
    Year,
    /// `$MONTH`.
    Month,
    /// `$DAY`.
    Day,
    /// `$HOUR`.
    Hour,
    /// `$HHOUR`: the half hour (00 or 01).
    HHour,
    /// `$QHOUR`: the quarter hour (00 to 03).
    QHour,
    /// `$MINUTE`.
    Minute,
    /// `$WDAY`: the weekday, 0 = Sunday.
    Wday,
}

impl Property {
    /// Property names are case-insensitive, as in rsyslog's code.
    pub fn from_name(name: &str) -> Option<Property> {
        if ["$!", "$.", "$/"].iter().any(|root| name.starts_with(root)) {
            return Some(Property::Variable);
        }
        let n = name.to_ascii_lowercase();
        let (base, utc) = match n.strip_suffix("-utc") {
            Some(b) if b.starts_with('$') => (b.to_string(), true),
            _ => (n.clone(), false),
        };
        Some(match base.as_str() {
            "msg" => Property::Msg,
            "rawmsg" => Property::RawMsg,
            "hostname" | "source" => Property::Hostname,
            "fromhost" => Property::FromHost,
            "fromhost-ip" => Property::FromHostIp,
            "syslogtag" => Property::SyslogTag,
            "programname" => Property::ProgramName,
            "pri" => Property::Pri,
            "pri-text" => Property::PriText,
            "syslogfacility" => Property::Facility,
            "syslogfacility-text" => Property::FacilityText,
            "syslogseverity" | "syslogpriority" => Property::Severity,
            "syslogseverity-text" | "syslogpriority-text" => Property::SeverityText,
            "timereported" | "timestamp" => Property::TimeReported,
            "timegenerated" => Property::TimeGenerated,
            "inputname" => Property::InputName,
            "app-name" => Property::AppName,
            "procid" => Property::ProcId,
            "msgid" => Property::MsgId,
            "structured-data" => Property::StructuredData,
            "protocol-version" => Property::ProtocolVersion,
            "gss-principal" => Property::GssPrincipal,
            "gss-protection" => Property::GssProtection,
            "gss-host-binding" => Property::GssHostBinding,
            "$now" => Property::Now(NowField::Now, utc),
            "$year" => Property::Now(NowField::Year, utc),
            "$month" => Property::Now(NowField::Month, utc),
            "$day" => Property::Now(NowField::Day, utc),
            "$hour" => Property::Now(NowField::Hour, utc),
            "$hhour" => Property::Now(NowField::HHour, utc),
            "$qhour" => Property::Now(NowField::QHour, utc),
            "$minute" => Property::Now(NowField::Minute, utc),
            "$wday" => Property::Now(NowField::Wday, utc),
            _ => return None,
        })
    }

    pub(super) fn timestamp<'m>(&self, m: &'m Message) -> Option<&'m Timestamp> {
        match self {
            Property::TimeReported => Some(&m.reported),
            Property::TimeGenerated => Some(&m.generated),
            _ => None,
        }
    }

    /// The raw value of a non-date property.
    pub fn value<'m>(&self, m: &'m Message, scratch: &'m mut Vec<u8>) -> &'m [u8] {
        match self {
            Property::Msg => m.msg(),
            Property::RawMsg => &m.raw,
            Property::Hostname => m.hostname(),
            Property::FromHost => m.origin.fromhost.as_bytes(),
            Property::FromHostIp => m.origin.fromhost_ip.as_bytes(),
            Property::SyslogTag => m.tag(),
            Property::ProgramName => m.programname(),
            Property::InputName => m.origin.inputname.as_bytes(),
            Property::GssPrincipal => m.origin.provenance.principal.as_bytes(),
            Property::GssProtection => m.origin.provenance.protection.name().as_bytes(),
            Property::GssHostBinding => m.origin.provenance.host_binding.name().as_bytes(),
            // RFC 3164 messages have no APP-NAME or PROCID: rsyslog emulates
            // them from the TAG (programname, and what stands in [brackets]).
            // An empty one is the nil value "-" (msg.c, MsgSetAPPNAME).
            Property::AppName if m.protocol == Protocol::Rfc3164 => nil_if_empty(m.programname()),
            // getPRI: a PRI above 191 (an invalid one) is "invld".
            Property::Pri if m.pri > 191 => b"invld",
            Property::ProcId if m.protocol == Protocol::Rfc3164 => nil_if_empty(legacy_procid(m.tag())),
            // RFC 5424 fields as rsyslog holds them (msg.c): read from a
            // header with a valid timestamp, an empty APP-NAME is "-" and
            // an empty PROCID or MSGID stays empty; never read (an invalid
            // timestamp), APP-NAME is empty and PROCID and MSGID are "-".
            Property::AppName if m.has_rfc5424_fields() => nil_if_empty(m.app_name()),
            Property::AppName => b"",
            Property::ProcId if m.has_rfc5424_fields() => m.procid(),
            Property::MsgId if m.has_rfc5424_fields() => m.msgid(),
            Property::ProcId | Property::MsgId => b"-",
            Property::StructuredData if m.has_rfc5424_fields() => m.structured_data(),
            Property::StructuredData => b"-",
            Property::FacilityText => name(&FACILITY_NAMES, m.facility()),
            Property::SeverityText => name(&SEVERITY_NAMES, m.severity()),
            Property::Invalid => INVALID_PROPERTY,
            Property::Variable => b"",
            _ => {
                scratch.clear();
                let s = match self {
                    Property::Pri => m.pri.to_string(),
                    Property::Facility => m.facility().to_string(),
                    Property::Severity => m.severity().to_string(),
                    Property::ProtocolVersion => m.protocol.version().to_string(),
                    // rsyslog 8.2302 writes "kern.emerg" (its docs show a "<pri>" suffix).
                    Property::PriText => format!(
                        "{}.{}",
                        String::from_utf8_lossy(name(&FACILITY_NAMES, m.facility())),
                        String::from_utf8_lossy(name(&SEVERITY_NAMES, m.severity()))
                    ),
                    _ => String::new(),
                };
                scratch.extend_from_slice(s.as_bytes());
                scratch
            }
        }
    }
}

/// The `pid` of a `prog[pid]:` TAG.
fn legacy_procid(tag: &[u8]) -> &[u8] {
    let Some(open) = tag.iter().position(|&c| c == b'[') else { return b"" };
    let rest = &tag[open + 1..];
    match rest.iter().position(|&c| c == b']') {
        Some(close) => &rest[..close],
        None => b"",
    }
}

fn nil_if_empty(v: &[u8]) -> &[u8] {
    if v.is_empty() {
        b"-"
    } else {
        v
    }
}

fn name(names: &[&'static str], i: u8) -> &'static [u8] {
    names.get(usize::from(i)).map_or(b"invld", |n| n.as_bytes())
}

impl NowField {
    /// Writes this part of `now` (already in the wanted time zone).
    pub(super) fn write(self, t: &Timestamp, out: &mut Vec<u8>) {
        match self {
            NowField::Now => t.write_date(out, b'-'),
            NowField::Year => push4(out, t.year),
            NowField::Month => push2(out, t.month.into()),
            NowField::Day => push2(out, t.day.into()),
            NowField::Hour => push2(out, t.hour.into()),
            NowField::HHour => push2(out, u32::from(t.minute) / 30),
            NowField::QHour => push2(out, u32::from(t.minute) / 15),
            NowField::Minute => push2(out, t.minute.into()),
            NowField::Wday => out.extend_from_slice(t.weekday().to_string().as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::message::{parse, HostBinding, Origin, ParseOptions, ProtectionSeen, Provenance};

    fn message(provenance: Provenance) -> Message {
        let origin = Arc::new(Origin { fromhost: "n1".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi", provenance });
        parse(b"<13>Nov 23 12:00:00 n1 sshd[99]: hello", origin, Timestamp::now(), &ParseOptions::default()).unwrap()
    }

    fn value(name: &str, m: &Message) -> String {
        let mut scratch = Vec::new();
        String::from_utf8_lossy(Property::from_name(name).unwrap().value(m, &mut scratch)).into_owned()
    }

    #[test]
    fn provenance_properties_come_from_the_session() {
        let m = message(Provenance {
            principal: "host/n1.test@GSSLOG.TEST".into(),
            protection: ProtectionSeen::Integrity,
            host_binding: HostBinding::Mismatch,
        });
        assert_eq!(value("gss-principal", &m), "host/n1.test@GSSLOG.TEST");
        assert_eq!(value("GSS-Protection", &m), "integrity");
        assert_eq!(value("gss-host-binding", &m), "mismatch");

        let plain = message(Provenance::default());
        assert_eq!(value("gss-principal", &plain), "");
        assert_eq!(value("gss-protection", &plain), "none");
        assert_eq!(value("gss-host-binding", &plain), "unchecked");
    }
}

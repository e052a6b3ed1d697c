//! rsyslog templates (`$template Name,"text %property:from:to:options% text"`)
//! and the property replacer.
//!
//! - `properties`: the property table, and each property's value in a message.
//! - `parse`: template text into [`Template`] parts and [`PropertyRef`]s.
//! - `replacer`: the property replacer (options applied to a value).
//! - `builtin`: rsyslog's built-in templates.
//!
//! Date formats (`date-rfc3339`, …) are [`crate::time::DateFormat`].

mod builtin;
mod parse;
mod properties;
mod replacer;

pub use crate::time::DateFormat;
pub use builtin::builtin;
pub(crate) use parse::bre_to_ere;
pub use properties::{NowField, Property, INVALID_PROPERTY};
pub use replacer::PropertyRef;
pub(crate) use replacer::render_plain;

use crate::message::Message;
use crate::time::Timestamp;
use replacer::{make_path_safe, render_property};

/// A piece of a template: literal text, or a property entry.
#[derive(Debug, Clone)]
enum Part {
    Literal(Vec<u8>),
    Property(PropertyRef),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The name it was defined with (`$template NAME,...`).
    pub name: String,
    parts: Vec<Part>,
}

/// A problem in a template's text. rsyslog keeps such a template, cut at the
/// error, and renders the bad entry as `**INVALID PROPERTY NAME**`; so do we,
/// and the config check reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem(
    /// What is wrong, and what rsyslog does about it.
    pub String,
);

impl Template {
    /// Properties this template reads (for config checks).
    pub fn properties(&self) -> impl Iterator<Item = &PropertyRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Property(r) => Some(r),
            Part::Literal(_) => None,
        })
    }

    /// The text before the first property (every message renders it the
    /// same): for a file template, where its files go at the least.
    pub fn literal_prefix(&self) -> Vec<u8> {
        let mut prefix = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => prefix.extend_from_slice(l),
                Part::Property(_) => break,
            }
        }
        prefix
    }

    /// Renders the template for `m`; `now` is the time `$NOW` and friends use.
    pub fn render(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>) {
        self.render_with(m, now, out, false);
    }

    /// Whether every message of one batch (one session, one `$NOW`) renders
    /// the same text: the template uses only the sender and the clock.
    pub fn same_for_a_batch(&self) -> bool {
        self.parts.iter().all(|part| match part {
            Part::Literal(_) => true,
            Part::Property(p) => matches!(
                p.property,
                Property::FromHost | Property::FromHostIp | Property::InputName | Property::Now(..)
            ),
        })
    }

    /// Renders a file path: no property value can add a directory level or
    /// climb out of one (`/` becomes `_`, a value `.` or `..` becomes `_`).
    pub fn render_path(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>) {
        self.render_with(m, now, out, true);
    }

    /// Renders a statement for a database: every property value goes
    /// through `escape` (the literal text does not), so that no value can
    /// end the string literal it stands in.
    pub fn render_escaped(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>, escape: fn(&[u8], &mut Vec<u8>)) {
        let mut scratch = Vec::new();
        let mut value = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Property(p) => {
                    value.clear();
                    render_property(p, m, now, &mut value, &mut scratch);
                    escape(&value, out);
                }
            }
        }
    }

    fn render_with(&self, m: &Message, now: &Timestamp, out: &mut Vec<u8>, path: bool) {
        let mut scratch = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Property(p) => {
                    let start = out.len();
                    render_property(p, m, now, out, &mut scratch);
                    if path {
                        make_path_safe(out, start, p.property);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Origin, ParseOptions};
    use crate::time::parse_rfc3339;
    use std::sync::Arc;

    fn msg(s: &str) -> Message {
        let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
        let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi", provenance: Default::default() });
        parse(s.as_bytes(), origin, base, &ParseOptions::default()).unwrap()
    }

    fn render(t: &Template, m: &Message) -> String {
        let now = parse_rfc3339(b"2026-11-05T08:09:10+00:00").unwrap().0;
        let mut out = Vec::new();
        t.render(m, &now, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn builtin_file_formats() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd[42]: accepted");
        assert_eq!(render(&builtin("RSYSLOG_FileFormat").unwrap(), &m), "2026-11-23T12:14:25+00:00 vm sshd[42]: accepted\n");
        assert_eq!(render(&builtin("RSYSLOG_TraditionalFileFormat").unwrap(), &m), "Nov 23 12:14:25 vm sshd[42]: accepted\n");
        assert_eq!(
            render(&builtin("RSYSLOG_TraditionalForwardFormat").unwrap(), &m),
            "<38>Nov 23 12:14:25 vm sshd[42]: accepted"
        );
        let m = msg("<13>1 2026-11-23T12:00:00Z vm app - - - hi");
        assert_eq!(render(&builtin("RSYSLOG_FileFormat").unwrap(), &m), "2026-11-23T12:00:00Z vm app hi\n");
    }

    #[test]
    fn seed_paths_and_the_typo() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd: x");
        let (t, p) = Template::parse("t", "/var/log/hosts/%$YEAR%/%$MONTH%/%fromhost-ip%/auth.log");
        assert!(p.is_none());
        assert_eq!(render(&t, &m), "/var/log/hosts/2026/11/127.0.0.2/auth.log");
        let (t, p) = Template::parse("t", "/var/log/hosts/pbs/%$YEAR%/%$MONTH%/log.%$YEAR%$MONTH%%$DAY%");
        assert!(p.unwrap().0.contains("invalid property ''"));
        assert_eq!(render(&t, &m), "/var/log/hosts/pbs/2026/11/log.2026$MONTH**INVALID PROPERTY NAME**");
    }

    /// Rendered by Debian's rsyslog 8.2302 with no `set` in the config:
    /// every unset variable is empty, options and all, and the template goes on.
    #[test]
    fn unset_message_variables_are_empty() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd: x");
        let (t, p) = Template::parse("t", "-%$!var%-%$.var%-%$/var%-%$!a!b%-%$!var:1:3%-%$.x:::uppercase%-\\n");
        assert!(p.is_none(), "{p:?}");
        assert_eq!(render(&t, &m), "-------\n");
        let (t, p) = Template::parse("t", "[%$!%][%$.%][%$/%]\\n");
        assert!(p.is_none(), "{p:?}");
        assert_eq!(render(&t, &m), "[][][]\n");
    }

    #[test]
    fn sp_if_no_first_sp_is_the_same_with_or_without_other_options() {
        // The plain entry takes the no-copy path, the lowercase one the copying path.
        for (text, expected) in [("sshd: x", "[]"), ("sshd:x", "[ ]"), ("sshd:", "[]")] {
            let m = msg(&format!("<38>Nov 23 12:14:25 vm {text}"));
            let plain = render(&Template::parse("t", "[%msg:::sp-if-no-1st-sp%]").0, &m);
            let copied = render(&Template::parse("t", "[%msg:::sp-if-no-1st-sp,lowercase%]").0, &m);
            assert_eq!((plain.as_str(), copied.as_str()), (expected, expected), "{text}");
        }
        let m = msg("<38>Nov 23 12:14:25 vm sshd:");
        let builtin_space = render(&builtin("RSYSLOG_TraditionalForwardFormat").unwrap(), &m);
        assert_eq!(builtin_space, "<38>Nov 23 12:14:25 vm sshd: ", "the built-in formats add the space before an empty MSG");
    }

    #[test]
    fn replacer_options() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd[42]: User Root/../x");
        let r = |s: &str| render(&Template::parse("t", s).0, &m);
        assert_eq!(r("%syslogtag:1:4%"), "sshd");
        assert_eq!(r("%msg:2:5:uppercase%"), "USER");
        assert_eq!(r("%msg:R,ERE,1,DFLT:(R[a-z]+)--end%"), "Root");
        assert_eq!(r("%msg:R,ERE,1,DFLT:(Z+)--end%"), "**NO MATCH**");
        assert_eq!(r("%msg:F,47:2%"), "..");
        assert_eq!(r("%timereported:::date-year%-%timereported:::date-month%"), "2026-11");
        assert_eq!(r("%pri-text% %syslogfacility-text%.%syslogseverity-text%"), "auth.info auth.info");
        assert_eq!(r("%app-name% %procid% %msgid%"), "sshd 42 -");
        assert_eq!(r("%msg:::secpath-replace%"), " User Root_.._x");
        let mut out = Vec::new();
        Template::parse("p", "/x/%msg:F,47:2%/%programname%").0.render_path(&m, &m.generated, &mut out);
        assert_eq!(out, b"/x/_./sshd", "a value of '..' cannot climb out of the directory");
    }

    #[test]
    fn principals_map_to_paths_one_to_one_and_c1_controls_never_reach_a_path() {
        let path_of = |principal: &str| {
            let base = parse_rfc3339(b"2026-11-23T10:00:00.000001+00:00").unwrap().0;
            let provenance = crate::Provenance { principal: principal.into(), ..Default::default() };
            let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imgssapi", provenance });
            let m = parse(b"<13>Nov 23 12:00:00 h app: x", origin, base, &ParseOptions::default()).unwrap();
            let mut out = Vec::new();
            Template::parse("p", "/p/%gss-principal%.log").0.render_path(&m, &m.generated, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(path_of("host/n1.test@R"), "/p/host%2Fn1.test@R.log");
        assert_eq!(path_of("host_n1.test@R"), "/p/host_n1.test@R.log", "no longer host/n1.test's file");
        assert_eq!(path_of("host%2Fn1.test@R"), "/p/host%252Fn1.test@R.log");
        // C1 controls never reach a path, and two principals that differ
        // only in one (or in a C1 control against '_') keep their own files.
        assert_eq!(path_of("a\u{9b}b@R"), "/p/a%C2%9Bb@R.log", "U+009B: each byte escaped");
        assert_eq!(path_of("a\u{9c}b@R"), "/p/a%C2%9Cb@R.log");
        assert_eq!(path_of("a__b@R"), "/p/a__b@R.log");
        assert_eq!(path_of("caf\u{e9}\u{20ac}@R"), "/p/caf\u{e9}\u{20ac}@R.log", "other UTF-8 stays whole");
        assert_eq!(path_of(""), "/p/.log");
        let m = msg("<38>Nov 23 12:14:25 vm sshd: caf\u{e9}\u{20ac}");
        let mut out = Vec::new();
        Template::parse("p", "/x/%msg%").0.render_path(&m, &m.generated, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "/x/ caf\u{e9}\u{20ac}", "UTF-8 stays whole in paths");
    }

    /// The divergences a differential run against rsyslog 8.2302 found, each
    /// through the template text as a site writes it.
    #[test]
    fn divergences_found_against_rsyslog() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd: del\x7fhere");
        let r = |s: &str| render(&Template::parse("t", s).0, &m);
        assert_eq!(r("%msg:::drop-cc%"), " delhere");
        assert_eq!(r("%msg:::space-cc%"), " del here");
        assert_eq!(r("%msg:::escape-cc%"), " del#127here");
        assert_eq!(r("%msg:F,32:2%"), "del\x7fhere");
        assert_eq!(r("%msg:F,32:3%"), "**FIELD NOT FOUND**");
        assert_eq!(r("%msg:F,44:2%"), "**FIELD NOT FOUND**");
        let empty = msg("<38>Nov 23 12:14:25 vm sshd:");
        let mut out = Vec::new();
        Template::parse("p", "/x/%msg:::secpath-replace%.log").0.render_path(&empty, &empty.generated, &mut out);
        assert_eq!(out, b"/x/_.log", "an empty value is '_' in a path");
        for (text, expected) in [(".", "_"), ("..", "_.")] {
            let m = msg(&format!("<38>Nov 23 12:14:25 vm sshd:{text}"));
            assert_eq!(render(&Template::parse("t", "%msg:::secpath-drop%").0, &m), expected);
        }
    }

    #[test]
    fn unknown_options_are_reported_and_ignored_as_rsyslog_does() {
        let m = msg("<38>Nov 23 12:14:25 vm sshd: x");
        let (t, problem) = Template::parse("t", "[%msg:::nosuchoption,uppercase%]");
        assert!(problem.unwrap().0.contains("'nosuchoption' is not supported"));
        assert_eq!(render(&t, &m), "[ X]");
        let (t, problem) = Template::parse("t", "[%msg:R,ERE,0,DFLT:([a--end%]");
        assert!(problem.unwrap().0.contains("invalid regex"));
        assert_eq!(render(&t, &m), "[**NO MATCH** **BAD REGULAR EXPRESSION**]");
    }

    #[test]
    fn octal_escape_above_0377_keeps_the_low_byte_instead_of_panicking() {
        // Found by the template fuzz target: `\444` overflowed a u8 (a panic in
        // debug builds). As C's `(char)` cast, only the low 8 bits are kept.
        let m = msg("<13>x");
        assert_eq!(render(&Template::parse("t", "\\444").0, &m), "$");
        assert_eq!(render(&Template::parse("t", "a\\101").0, &m), "aA");
        let now = parse_rfc3339(b"2026-11-05T08:09:10+00:00").unwrap().0;
        let mut out = Vec::new();
        Template::parse("t", "\\777").0.render(&m, &now, &mut out);
        assert_eq!(out, [0xff]);
    }
}

//! Typed values of legacy `$Directive value` lines (and of RainerScript
//! object parameters, read the same way).
//!
//! A [`Directive`] is one such line, or one `name="value"` parameter, with
//! its location. Its typed getters
//! check the value and, when it is bad, report an error naming the directive
//! and its `FILE:LINE`, and return `None`: the daemon's assembly step then
//! only says where each good value goes.

use std::net::IpAddr;
use std::time::Duration;

use syslog::config::{ConfigText, Location};

/// One directive line, borrowed from the configuration being read.
pub struct Directive<'a> {
    /// The name after `$`, lowercased: what daemons match on.
    pub name: &'a str,
    /// The name as written, for messages.
    pub spelled: &'a str,
    /// The value, as written.
    pub value: &'a str,
    /// Where the line is.
    pub location: &'a Location,
    /// For a RainerScript parameter, its object as messages name it
    /// (`action(type="omfile")`); `None` for a legacy `$Directive` line.
    pub object: Option<&'a str>,
    problems: &'a mut ConfigText,
}

impl<'a> Directive<'a> {
    /// A directive line from `location`; problems go to `problems`.
    pub fn new(name: &'a str, spelled: &'a str, value: &'a str, location: &'a Location, problems: &'a mut ConfigText) -> Self {
        Directive { name, spelled, value, location, object: None, problems }
    }

    /// A parameter `spelled="value"` of the RainerScript `object`; `name` is
    /// `spelled` lowercased.
    pub fn parameter(
        object: &'a str,
        name: &'a str,
        spelled: &'a str,
        value: &'a str,
        location: &'a Location,
        problems: &'a mut ConfigText,
    ) -> Self {
        Directive { name, spelled, value, location, object: Some(object), problems }
    }

    /// The directive as messages name it: `$Spelled`, or `object: spelled`.
    pub fn shown(&self) -> String {
        match self.object {
            None => format!("${}", self.spelled),
            Some(object) => format!("{object}: {}", self.spelled),
        }
    }

    /// Reports an error about this directive's value.
    pub fn error(&mut self, why: impl std::fmt::Display) {
        let message = format!("{}: {why}", self.shown());
        self.problems.error(self.location, message);
    }

    /// Reports that the daemon has no such directive (or the object no such parameter).
    pub fn unknown(&mut self) {
        let message = match self.object {
            None => format!("unknown directive ${}", self.name),
            Some(object) => format!("{object}: parameter '{}' is not supported", self.spelled),
        };
        self.problems.error(self.location, message);
    }

    /// [`Directive::unknown`], naming the `known` ones.
    pub fn unknown_among(&mut self, known: &[&str]) {
        let message = match self.object {
            None => format!("unknown directive ${}", self.name),
            Some(object) => format!("{object}: parameter '{}' is not supported ({})", self.spelled, known.join(", ")),
        };
        self.problems.error(self.location, message);
    }

    /// Reports a warning about this line.
    pub fn warn(&mut self, why: impl Into<String>) {
        self.problems.warn(self.location, why);
    }

    fn check<T>(&mut self, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|why| self.error(why)).ok()
    }

    /// rsyslog's binary values: `on`/`off` (also `yes`/`no`, `1`/`0`).
    pub fn bool(&mut self) -> Option<bool> {
        let parsed = syslog::config::parse_bool(self.value);
        self.check(parsed)
    }

    /// A TCP or UDP port.
    pub fn port(&mut self) -> Option<u16> {
        let parsed = self.value.trim().parse::<u16>().map_err(|_| format!("'{}' is not a port number", self.value));
        self.check(parsed)
    }

    /// A whole number of at least `min`.
    pub fn count(&mut self, min: usize) -> Option<usize> {
        let parsed = match self.value.trim().parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ if min == 0 => Err(format!("'{}' is not a number", self.value)),
            _ if min == 1 => Err(format!("'{}' is not a positive number", self.value)),
            _ => Err(format!("'{}' is not a number of at least {min}", self.value)),
        };
        self.check(parsed)
    }

    /// A number of seconds; with `zero_is_none`, 0 means "no limit" (`None` inside).
    pub fn seconds(&mut self, zero_is_none: bool) -> Option<Option<Duration>> {
        let parsed = match self.value.trim().parse::<u64>() {
            Ok(0) if zero_is_none => Ok(None),
            Ok(n) => Ok(Some(Duration::from_secs(n))),
            Err(_) if zero_is_none => Err(format!("'{}' must be 0 (none) or a number of seconds", self.value)),
            Err(_) => Err(format!("'{}' is not a number of seconds", self.value)),
        };
        self.check(parsed)
    }

    /// A number of seconds that must be at least 1 (a limit with no "off").
    pub fn positive_seconds(&mut self) -> Option<Duration> {
        let parsed = match self.value.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => Err(format!("'{}' is not a positive number of seconds", self.value)),
        };
        self.check(parsed)
    }

    /// A number of milliseconds; with `zero_is_none`, 0 means "off".
    pub fn millis(&mut self, zero_is_none: bool) -> Option<Option<Duration>> {
        let parsed = match self.value.trim().parse::<u64>() {
            Ok(0) if zero_is_none => Ok(None),
            Ok(n) => Ok(Some(Duration::from_millis(n))),
            Err(_) => Err(format!("'{}' is not a number of milliseconds", self.value)),
        };
        self.check(parsed)
    }

    /// A size such as `8096`, `64k` or `1g` (rsyslog's suffixes), of at least `min` bytes.
    pub fn size(&mut self, min: u64) -> Option<u64> {
        let parsed = match syslog::config::parse_size(self.value) {
            Ok(n) if n >= min => Ok(n),
            Ok(_) => Err(format!("'{}' is not a size of at least {min} bytes", self.value)),
            Err(e) => Err(e),
        };
        self.check(parsed)
    }

    /// An octal file mode such as `0644`.
    pub fn mode(&mut self) -> Option<u32> {
        let parsed = match u32::from_str_radix(self.value.trim().trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o7777 => Ok(m),
            _ => Err(format!("'{}' is not an octal mode such as 0644", self.value)),
        };
        self.check(parsed)
    }

    /// An IP address, IPv6 possibly in brackets.
    pub fn ip(&mut self) -> Option<IpAddr> {
        let parsed = parse_ip(self.value).ok_or_else(|| format!("'{}' is not an IP address", self.value));
        self.check(parsed)
    }

    /// Any value with a `FromStr` whose error explains itself.
    pub fn parse<T: std::str::FromStr<Err = String>>(&mut self) -> Option<T> {
        let parsed = self.value.parse::<T>();
        self.check(parsed)
    }
}

/// An IP address as written in rsyslog's configuration: IPv6 possibly in brackets.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().trim_matches(|c| c == '[' || c == ']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn with<T>(value: &str, get: impl FnOnce(&mut Directive) -> T) -> (T, Vec<String>) {
        let mut text = ConfigText::default();
        let loc = Location { file: Arc::from("a.conf"), line: 3 };
        let got = get(&mut Directive::new("somedirective", "SomeDirective", value, &loc, &mut text));
        (got, text.problems.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn good_values_are_typed() {
        assert_eq!(with("on", |d| d.bool()).0, Some(true));
        assert_eq!(with("515", |d| d.port()).0, Some(515));
        assert_eq!(with("0", |d| d.seconds(true)).0, Some(None));
        assert_eq!(with("7", |d| d.seconds(false)).0, Some(Some(Duration::from_secs(7))));
        assert_eq!(with("7", |d| d.positive_seconds()).0, Some(Duration::from_secs(7)));
        assert_eq!(with("250", |d| d.millis(false)).0, Some(Some(Duration::from_millis(250))));
        assert_eq!(with("64k", |d| d.size(128)).0, Some(65536));
        assert_eq!(with("0640", |d| d.mode()).0, Some(0o640));
        assert_eq!(with("[::1]", |d| d.ip()).0, Some("::1".parse().unwrap()));
        assert_eq!(with("12", |d| d.count(1)).0, Some(12));
    }

    #[test]
    fn bad_values_name_directive_file_and_line() {
        let (got, problems) = with("5x", |d| d.port());
        assert_eq!(got, None);
        assert_eq!(problems, ["a.conf:3: $SomeDirective: '5x' is not a port number"]);
        assert_eq!(with("0", |d| d.count(1)).1, ["a.conf:3: $SomeDirective: '0' is not a positive number"]);
        assert_eq!(with("1", |d| d.count(2)).1, ["a.conf:3: $SomeDirective: '1' is not a number of at least 2"]);
        assert_eq!(with("100", |d| d.size(128)).1, ["a.conf:3: $SomeDirective: '100' is not a size of at least 128 bytes"]);
        assert_eq!(with("0999", |d| d.mode()).0, None);
        assert_eq!(with("maybe", |d| d.bool()).1, ["a.conf:3: $SomeDirective: 'maybe' is not on or off"]);
        assert_eq!(with("0", |d| d.positive_seconds()).1, ["a.conf:3: $SomeDirective: '0' is not a positive number of seconds"]);
        assert_eq!(with("x", |d| d.seconds(true)).1, ["a.conf:3: $SomeDirective: 'x' must be 0 (none) or a number of seconds"]);
        assert_eq!(with("host.example", |d| d.ip()).0, None);
    }
}

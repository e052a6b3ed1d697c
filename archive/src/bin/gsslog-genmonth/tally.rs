//! The generator's own account of the sshd events it wrote, kept as it
//! writes them (not by reading the files back): what `gsslog report sshd`
//! must find. Each event counts once, on its host (the IP folder); the
//! per-service daily files repeat the lines, not the events.

use std::collections::HashMap;
use std::fmt::Write as _;

/// The grid's classes of sshd lines (its grok patterns), as the report
/// names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Accepted,
    Failed,
    Invalid,
    Identification,
    Disconnect,
    Closed,
    Refused,
    Authorized,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Accepted,
        Class::Failed,
        Class::Invalid,
        Class::Identification,
        Class::Disconnect,
        Class::Closed,
        Class::Refused,
        Class::Authorized,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Accepted => "Accepted",
            Class::Failed => "Failed",
            Class::Invalid => "Invalid",
            Class::Identification => "identification",
            Class::Disconnect => "disconnect",
            Class::Closed => "closed",
            Class::Refused => "refused",
            Class::Authorized => "Authorized",
        }
    }

    /// The sshd line that makes one event of this class, as written here.
    pub fn written_as(self) -> &'static str {
        match self {
            Class::Accepted => "Accepted METHOD for USER from IP port N ssh2[: KEY]",
            Class::Failed => "Failed password|publickey for [invalid user ]USER from IP port N ssh2[: KEY]",
            Class::Invalid => "Invalid user USER from IP port N",
            Class::Identification => "Did not receive identification string from IP port N",
            Class::Disconnect => "Received disconnect from IP port N:11: ...",
            Class::Closed => "Connection closed by [authenticating user USER |invalid user USER ]IP port N [preauth]",
            Class::Refused => "refused connect from IP (IP)",
            Class::Authorized => "Authorized to USER, krb5 principal PRINCIPAL (krb5_kuserok)",
        }
    }
}

/// One accepted login, as the `logins` view lists it.
pub struct Login {
    pub time: String,
    pub host: String,
    pub user: String,
    pub method: &'static str,
    pub remote: String,
    pub principal: String,
}

#[derive(Default)]
pub struct Tally {
    /// (day of month, remote address, class) -> events; Authorized lines
    /// name no address and are counted under "".
    per_day: HashMap<(u8, String, Class), u64>,
    pub logins: Vec<Login>,
}

impl Tally {
    pub fn count(&mut self, day: u8, remote: &str, class: Class) {
        *self.per_day.entry((day, remote.to_string(), class)).or_default() += 1;
    }

    pub fn totals(&self) -> Vec<(Class, u64)> {
        Class::ALL
            .iter()
            .map(|&c| (c, self.per_day.iter().filter(|((_, _, k), _)| *k == c).map(|(_, n)| n).sum()))
            .collect()
    }

    /// `day,remote,result,count`, sorted, for every class that names a remote.
    pub fn remote_results_per_day_csv(&self, year: i32, month: u8) -> String {
        let mut rows: Vec<_> = self.per_day.iter().filter(|((_, remote, _), _)| !remote.is_empty()).collect();
        rows.sort_by(|a, b| (a.0 .0, &a.0 .1, a.0 .2.name()).cmp(&(b.0 .0, &b.0 .1, b.0 .2.name())));
        let mut out = String::from("day,remote,result,count\n");
        for ((day, remote, class), n) in rows {
            let _ = writeln!(out, "{year:04}-{month:02}-{day:02},{remote},{},{n}", class.name());
        }
        out
    }

    /// `bucket,result,count` by day, every class.
    pub fn results_per_day_csv(&self, year: i32, month: u8) -> String {
        let mut per: HashMap<(u8, Class), u64> = HashMap::new();
        for ((day, _, class), n) in &self.per_day {
            *per.entry((*day, *class)).or_default() += n;
        }
        let mut rows: Vec<_> = per.into_iter().collect();
        rows.sort_by(|a, b| (a.0 .0, a.0 .1.name()).cmp(&(b.0 .0, b.0 .1.name())));
        let mut out = String::from("bucket,result,count\n");
        for ((day, class), n) in rows {
            let _ = writeln!(out, "{year:04}-{month:02}-{day:02},{},{n}", class.name());
        }
        out
    }

    /// `time,host,user,method,remote,principal`, in time then host order.
    pub fn logins_csv(&mut self) -> String {
        self.logins.sort_by(|a, b| (&a.time, &a.host).cmp(&(&b.time, &b.host)));
        let mut out = String::from("time,host,user,method,remote,principal\n");
        for l in &self.logins {
            let _ = writeln!(out, "{},{},{},{},{},{}", l.time, l.host, l.user, l.method, l.remote, l.principal);
        }
        out
    }
}

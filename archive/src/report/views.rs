//! The views: each is a tally that sees every event once (keeping counts,
//! or only the events it lists) and then gives its rows, in a fixed order
//! that does not depend on the order the archive hands tables over.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use super::events::{Ev, Strings};
use super::watchlist::List;
use crate::cli::{ProfileBy, TopBy};
use crate::sshd::{clock, Kind, NONE};

/// A view's output: its columns (the CSV header) and rows.
pub struct Rows {
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Count(u64),
}

/// A view being counted.
pub trait Tally {
    /// Sees one event.
    fn add(&mut self, e: &Ev, strings: &Strings);
    /// The view's rows, once every event was seen.
    fn rows(&self, strings: &Strings) -> Rows;
}

/// The events a report looks at: `--since`/`--until` (whole days, as
/// written in the lines) and the `--result`s (all when none is given).
#[derive(Clone, Copy, Debug)]
pub struct Select {
    /// Seconds, `from <= secs < to`.
    pub from: i64,
    pub to: i64,
    pub results: [bool; 8],
}

impl Select {
    pub fn wants_time(&self, secs: i64) -> bool {
        (self.from..self.to).contains(&secs)
    }

    pub fn wants(&self, e: &Ev) -> bool {
        self.results[e.kind as usize] && self.wants_time(e.secs)
    }
}

fn time_text(secs: i64) -> Cell {
    Cell::Text(clock::from_secs(secs).map(|t| t.to_string()).unwrap_or_default())
}

fn day_text(day: i64) -> Cell {
    Cell::Text(clock::from_day_number(day).map(|d| d.to_string()).unwrap_or_default())
}

fn text(strings: &Strings, id: u32) -> Cell {
    Cell::Text(strings.get(id).to_string())
}

/// `day,remote,result,count`: events per remote address, result and day;
/// `days` keeps the last N days up to `until_day` (default: the newest day
/// with an event); rows with a count below `min_count` are left out.
/// Order: day, then count (largest first), then remote (as addresses),
/// then result.
pub struct RemoteResultsPerDay {
    pub select: Select,
    pub min_count: u64,
    pub days: Option<u32>,
    pub until_day: Option<i64>,
    counts: HashMap<(i64, u32, Kind), u64>,
    newest: Option<i64>,
}

impl RemoteResultsPerDay {
    pub fn new(select: Select, min_count: u64, days: Option<u32>, until_day: Option<i64>) -> Self {
        RemoteResultsPerDay { select, min_count, days, until_day, counts: HashMap::new(), newest: None }
    }
}

impl Tally for RemoteResultsPerDay {
    fn add(&mut self, e: &Ev, _: &Strings) {
        if !self.select.wants_time(e.secs) {
            return;
        }
        let day = clock::day_of(e.secs);
        self.newest = self.newest.max(Some(day));
        if self.select.wants(e) && e.remote != NONE {
            *self.counts.entry((day, e.remote, e.kind)).or_default() += 1;
        }
    }

    fn rows(&self, strings: &Strings) -> Rows {
        let first_day = match (self.days, self.until_day.or(self.newest)) {
            (Some(n), Some(last)) => last - i64::from(n) + 1,
            _ => i64::MIN,
        };
        let mut keep: Vec<_> = self.counts.iter().filter(|&(&(day, _, _), &n)| day >= first_day && n >= self.min_count).collect();
        let rank = strings.addr_ranks(keep.iter().map(|((_, r, _), _)| *r));
        keep.sort_unstable_by_key(|&(&(day, remote, kind), &n)| (day, Reverse(n), rank.get(&remote).copied(), kind));
        let rows = keep
            .into_iter()
            .map(|(&(day, remote, kind), &n)| vec![day_text(day), text(strings, remote), Cell::Text(kind.name().into()), Cell::Count(n)])
            .collect();
        Rows { columns: &["day", "remote", "result", "count"], rows }
    }
}

/// Order of login-like rows: time, host (as addresses; `hosts` ranks
/// them), pid.
fn login_order(hosts: &HashMap<u32, u32>, a: &Ev, b: &Ev) -> Ordering {
    let rank = |e: &Ev| hosts.get(&e.host).copied();
    a.secs.cmp(&b.secs).then_with(|| rank(a).cmp(&rank(b))).then(a.pid.cmp(&b.pid)).then(a.kind.cmp(&b.kind))
}

/// `time,host,user,method,remote,principal`: every accepted login, by time
/// and then host. The principal is that of the `Authorized` line of the
/// same sshd pid on the same host that came last before the login (and was
/// not used by an earlier login of that pid).
pub struct Logins {
    pub select: Select,
    /// Accepted and Authorized events, whatever their time: a login just
    /// after --since may have its Authorized line just before.
    events: Vec<Ev>,
}

impl Logins {
    pub fn new(select: Select) -> Self {
        Logins { select, events: Vec::new() }
    }
}

impl Tally for Logins {
    fn add(&mut self, e: &Ev, _: &Strings) {
        if matches!(e.kind, Kind::Accepted | Kind::Authorized) {
            self.events.push(*e);
        }
    }

    fn rows(&self, strings: &Strings) -> Rows {
        // In the order sshd wrote them on each host: by host, time, pid,
        // and an Authorized line before the Accepted line of its login.
        let mut ordered: Vec<&Ev> = self.events.iter().collect();
        let rank = |k: Kind| if k == Kind::Authorized { 0 } else { 1 };
        ordered.sort_by(|a, b| {
            a.host.cmp(&b.host).then(a.secs.cmp(&b.secs)).then(a.pid.cmp(&b.pid)).then(rank(a.kind).cmp(&rank(b.kind)))
        });
        let mut open: HashMap<(u32, u32), u32> = HashMap::new();
        let mut logins: Vec<(&Ev, u32)> = Vec::new();
        for e in ordered {
            match e.kind {
                Kind::Authorized => {
                    open.insert((e.host, e.pid), e.principal);
                }
                _ => {
                    let principal = open.remove(&(e.host, e.pid)).unwrap_or(NONE);
                    if self.select.wants_time(e.secs) {
                        logins.push((e, principal));
                    }
                }
            }
        }
        let hosts = strings.addr_ranks(logins.iter().map(|(e, _)| e.host));
        logins.sort_by(|(a, _), (b, _)| login_order(&hosts, a, b));
        let s = strings;
        let rows = logins
            .into_iter()
            .map(|(e, p)| vec![time_text(e.secs), text(s, e.host), text(s, e.user), text(s, e.method), text(s, e.remote), text(s, p)])
            .collect();
        Rows { columns: &["time", "host", "user", "method", "remote", "principal"], rows }
    }
}

/// `time,host,user,method,remote,list`: accepted logins (every result with
/// `all_results`) from an address on a list; `list` names every list that
/// has it, joined by `;`. By time and then host.
pub struct Watchlist {
    pub select: Select,
    lists: Vec<List>,
    all_results: bool,
    /// Each remote's lists, looked up once.
    listed: HashMap<u32, Option<String>>,
    hits: Vec<(Ev, String)>,
}

impl Watchlist {
    pub fn new(select: Select, lists: Vec<List>, all_results: bool) -> Self {
        Watchlist { select, lists, all_results, listed: HashMap::new(), hits: Vec::new() }
    }
}

impl Tally for Watchlist {
    fn add(&mut self, e: &Ev, strings: &Strings) {
        if !(self.all_results || e.kind == Kind::Accepted) || e.remote == NONE || !self.select.wants_time(e.secs) {
            return;
        }
        let lists = &self.lists;
        let names = self.listed.entry(e.remote).or_insert_with(|| {
            let names: Vec<&str> = lists.iter().filter(|l| l.contains(strings.get(e.remote))).map(|l| l.name.as_str()).collect();
            (!names.is_empty()).then(|| names.join(";"))
        });
        if let Some(names) = names {
            self.hits.push((*e, names.clone()));
        }
    }

    fn rows(&self, strings: &Strings) -> Rows {
        let mut hits: Vec<&(Ev, String)> = self.hits.iter().collect();
        let hosts = strings.addr_ranks(hits.iter().map(|(e, _)| e.host));
        hits.sort_by(|(a, _), (b, _)| login_order(&hosts, a, b));
        let s = strings;
        let rows = hits
            .into_iter()
            .map(|(e, list)| vec![time_text(e.secs), text(s, e.host), text(s, e.user), text(s, e.method), text(s, e.remote), Cell::Text(list.clone())])
            .collect();
        Rows { columns: &["time", "host", "user", "method", "remote", "list"], rows }
    }
}

/// `key,count`: the most frequent users, remotes, hosts or methods among
/// the selected events (those that have the field), largest first, then by
/// key; `limit` rows (0: all).
pub struct Top {
    pub select: Select,
    by: TopBy,
    limit: usize,
    counts: HashMap<u32, u64>,
}

impl Top {
    pub fn new(select: Select, by: TopBy, limit: usize) -> Self {
        Top { select, by, limit, counts: HashMap::new() }
    }
}

impl Tally for Top {
    fn add(&mut self, e: &Ev, _: &Strings) {
        if !self.select.wants(e) {
            return;
        }
        let key = match self.by {
            TopBy::User => e.user,
            TopBy::Remote => e.remote,
            TopBy::Host => e.host,
            TopBy::Method => e.method,
        };
        if key != NONE {
            *self.counts.entry(key).or_default() += 1;
        }
    }

    fn rows(&self, strings: &Strings) -> Rows {
        let mut keys: Vec<(u32, u64)> = self.counts.iter().map(|(&k, &n)| (k, n)).collect();
        let addresses = matches!(self.by, TopBy::Remote | TopBy::Host);
        let rank = if addresses { strings.addr_ranks(keys.iter().map(|(k, _)| *k)) } else { HashMap::new() };
        keys.sort_unstable_by(|(k1, n1), (k2, n2)| {
            n2.cmp(n1).then_with(|| if addresses { rank.get(k1).cmp(&rank.get(k2)) } else { strings.get(*k1).cmp(strings.get(*k2)) })
        });
        if self.limit > 0 {
            keys.truncate(self.limit);
        }
        let rows = keys.into_iter().map(|(k, n)| vec![text(strings, k), Cell::Count(n)]).collect();
        Rows { columns: &["key", "count"], rows }
    }
}

/// `bucket,result,count`: selected events per hour (`YYYY-MM-DD HH:00`) or
/// day (`YYYY-MM-DD`) and result, by bucket and then result; buckets with
/// no event are left out.
pub struct Profile {
    pub select: Select,
    by: ProfileBy,
    counts: HashMap<(i64, Kind), u64>,
}

impl Profile {
    pub fn new(select: Select, by: ProfileBy) -> Self {
        Profile { select, by, counts: HashMap::new() }
    }

    fn width(&self) -> i64 {
        match self.by {
            ProfileBy::Hour => 3600,
            ProfileBy::Day => 86_400,
        }
    }
}

impl Tally for Profile {
    fn add(&mut self, e: &Ev, _: &Strings) {
        if self.select.wants(e) {
            *self.counts.entry((e.secs.div_euclid(self.width()), e.kind)).or_default() += 1;
        }
    }

    fn rows(&self, _: &Strings) -> Rows {
        let mut keys: Vec<_> = self.counts.iter().map(|(&k, &n)| (k, n)).collect();
        keys.sort_unstable();
        let width = self.width();
        let rows = keys
            .into_iter()
            .map(|((bucket, kind), n)| {
                let label = match clock::from_secs(bucket * width) {
                    Some(t) if self.by == ProfileBy::Hour => Cell::Text(format!("{} {:02}:00", t.day, t.hour)),
                    Some(t) => Cell::Text(t.day.to_string()),
                    None => Cell::Text(String::new()),
                };
                vec![label, Cell::Text(kind.name().into()), Cell::Count(n)]
            })
            .collect();
        Rows { columns: &["bucket", "result", "count"], rows }
    }
}

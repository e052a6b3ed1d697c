//! The views: each turns the loaded events into rows, in a fixed order that
//! does not depend on the order the archive hands tables over.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use super::events::{Ev, Events, Strings};
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

/// The events a report looks at: `--since`/`--until` (whole days, as
/// written in the lines) and the `--result`s (all when none is given).
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

    fn time(&self, e: &Ev) -> bool {
        self.wants_time(e.secs)
    }

    fn wants(&self, e: &Ev) -> bool {
        self.results[e.kind as usize] && self.time(e)
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
pub fn remote_results_per_day(ev: &Events, sel: &Select, min_count: u64, days: Option<u32>, until_day: Option<i64>) -> Rows {
    let mut counts: HashMap<(i64, u32, Kind), u64> = HashMap::new();
    let mut newest = None::<i64>;
    for e in ev.events.iter().filter(|e| sel.time(e)) {
        newest = newest.max(Some(clock::day_of(e.secs)));
        if sel.wants(e) && e.remote != NONE {
            *counts.entry((clock::day_of(e.secs), e.remote, e.kind)).or_default() += 1;
        }
    }
    let first_day = match (days, until_day.or(newest)) {
        (Some(n), Some(last)) => last - i64::from(n) + 1,
        _ => i64::MIN,
    };
    let mut keep: Vec<_> = counts.into_iter().filter(|&((day, _, _), n)| day >= first_day && n >= min_count).collect();
    let rank = ev.strings.addr_ranks(keep.iter().map(|((_, r, _), _)| *r));
    keep.sort_unstable_by_key(|&((day, remote, kind), n)| (day, Reverse(n), rank.get(&remote).copied(), kind));
    let rows = keep
        .into_iter()
        .map(|((day, remote, kind), n)| vec![day_text(day), text(&ev.strings, remote), Cell::Text(kind.name().into()), Cell::Count(n)])
        .collect();
    Rows { columns: &["day", "remote", "result", "count"], rows }
}

/// Events in the order sshd wrote them on each host: by host, time, pid,
/// and an `Authorized` line before the `Accepted` line of its login.
fn by_host_in_order(ev: &Events, keep: impl Fn(&Ev) -> bool) -> Vec<&Ev> {
    let mut list: Vec<&Ev> = ev.events.iter().filter(|e| keep(e)).collect();
    let rank = |k: Kind| if k == Kind::Authorized { 0 } else { 1 };
    list.sort_by(|a, b| {
        a.host.cmp(&b.host).then(a.secs.cmp(&b.secs)).then(a.pid.cmp(&b.pid)).then(rank(a.kind).cmp(&rank(b.kind)))
    });
    list
}

/// The principal of each accepted login: the `Authorized` line of the same
/// sshd pid on the same host that came last before it (and was not used by
/// an earlier login of that pid). Indexed like `accepted`, which is in
/// [`by_host_in_order`] order.
fn principals(ordered: &[&Ev]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut open: HashMap<(u32, u32), u32> = HashMap::new();
    for e in ordered {
        match e.kind {
            Kind::Authorized => {
                open.insert((e.host, e.pid), e.principal);
            }
            Kind::Accepted => out.push(open.remove(&(e.host, e.pid)).unwrap_or(NONE)),
            _ => {}
        }
    }
    out
}

/// Order of login-like rows: time, host (as addresses; `hosts` ranks
/// them), pid.
fn login_order(hosts: &HashMap<u32, u32>, a: &Ev, b: &Ev) -> Ordering {
    let rank = |e: &Ev| hosts.get(&e.host).copied();
    a.secs.cmp(&b.secs).then_with(|| rank(a).cmp(&rank(b))).then(a.pid.cmp(&b.pid)).then(a.kind.cmp(&b.kind))
}

/// `time,host,user,method,remote,principal`: every accepted login, by time
/// and then host.
pub fn logins(ev: &Events, sel: &Select) -> Rows {
    // Authorized lines are read whatever the range: a login just after
    // --since may have its line just before.
    let ordered = by_host_in_order(ev, |e| e.kind == Kind::Authorized || e.kind == Kind::Accepted);
    let principals = principals(&ordered);
    let mut logins: Vec<(&Ev, u32)> = ordered.into_iter().filter(|e| e.kind == Kind::Accepted).zip(principals).collect();
    logins.retain(|(e, _)| sel.time(e));
    let hosts = ev.strings.addr_ranks(logins.iter().map(|(e, _)| e.host));
    logins.sort_by(|(a, _), (b, _)| login_order(&hosts, a, b));
    let s = &ev.strings;
    let rows = logins
        .into_iter()
        .map(|(e, p)| vec![time_text(e.secs), text(s, e.host), text(s, e.user), text(s, e.method), text(s, e.remote), text(s, p)])
        .collect();
    Rows { columns: &["time", "host", "user", "method", "remote", "principal"], rows }
}

/// `time,host,user,method,remote,list`: accepted logins (every result with
/// `all_results`) from an address on a list; `list` names every list that
/// has it, joined by `;`. By time and then host.
pub fn watchlist(ev: &Events, sel: &Select, lists: &[List], all_results: bool) -> Rows {
    let mut listed: HashMap<u32, Option<String>> = HashMap::new();
    let mut hits: Vec<(&Ev, String)> = Vec::new();
    for e in &ev.events {
        if !(all_results || e.kind == Kind::Accepted) || e.remote == NONE || !sel.time(e) {
            continue;
        }
        let names = listed.entry(e.remote).or_insert_with(|| {
            let names: Vec<&str> = lists.iter().filter(|l| l.contains(ev.strings.get(e.remote))).map(|l| l.name.as_str()).collect();
            (!names.is_empty()).then(|| names.join(";"))
        });
        if let Some(names) = names {
            hits.push((e, names.clone()));
        }
    }
    let hosts = ev.strings.addr_ranks(hits.iter().map(|(e, _)| e.host));
    hits.sort_by(|(a, _), (b, _)| login_order(&hosts, a, b));
    let s = &ev.strings;
    let rows = hits
        .into_iter()
        .map(|(e, list)| vec![time_text(e.secs), text(s, e.host), text(s, e.user), text(s, e.method), text(s, e.remote), Cell::Text(list)])
        .collect();
    Rows { columns: &["time", "host", "user", "method", "remote", "list"], rows }
}

/// `key,count`: the most frequent users, remotes, hosts or methods among
/// the selected events (those that have the field), largest first, then by
/// key; `limit` rows (0: all).
pub fn top(ev: &Events, sel: &Select, by: TopBy, limit: usize) -> Rows {
    let field = |e: &Ev| match by {
        TopBy::User => e.user,
        TopBy::Remote => e.remote,
        TopBy::Host => e.host,
        TopBy::Method => e.method,
    };
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for e in ev.events.iter().filter(|e| sel.wants(e)) {
        let key = field(e);
        if key != NONE {
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut keys: Vec<(u32, u64)> = counts.into_iter().collect();
    let addresses = matches!(by, TopBy::Remote | TopBy::Host);
    let rank = if addresses { ev.strings.addr_ranks(keys.iter().map(|(k, _)| *k)) } else { HashMap::new() };
    keys.sort_unstable_by(|(k1, n1), (k2, n2)| {
        n2.cmp(n1).then_with(|| {
            if addresses {
                rank.get(k1).cmp(&rank.get(k2))
            } else {
                ev.strings.get(*k1).cmp(ev.strings.get(*k2))
            }
        })
    });
    if limit > 0 {
        keys.truncate(limit);
    }
    let rows = keys.into_iter().map(|(k, n)| vec![text(&ev.strings, k), Cell::Count(n)]).collect();
    Rows { columns: &["key", "count"], rows }
}

/// `bucket,result,count`: selected events per hour (`YYYY-MM-DD HH:00`) or
/// day (`YYYY-MM-DD`) and result, by bucket and then result; buckets with
/// no event are left out.
pub fn profile(ev: &Events, sel: &Select, by: ProfileBy) -> Rows {
    let width = match by {
        ProfileBy::Hour => 3600,
        ProfileBy::Day => 86_400,
    };
    let mut counts: HashMap<(i64, Kind), u64> = HashMap::new();
    for e in ev.events.iter().filter(|e| sel.wants(e)) {
        *counts.entry((e.secs.div_euclid(width), e.kind)).or_default() += 1;
    }
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort_unstable();
    let rows = keys
        .into_iter()
        .map(|((bucket, kind), n)| {
            let label = match by {
                ProfileBy::Day => day_text(bucket),
                ProfileBy::Hour => match clock::from_secs(bucket * 3600) {
                    Some(t) => Cell::Text(format!("{} {:02}:00", t.day, t.hour)),
                    None => Cell::Text(String::new()),
                },
            };
            vec![label, Cell::Text(kind.name().into()), Cell::Count(n)]
        })
        .collect();
    Rows { columns: &["bucket", "result", "count"], rows }
}

//! `gsslog report sshd` against counts made here from the raw lines, with
//! this file's own patterns (not the classifier): every view, both
//! timestamp forms, the per-service copies not counted twice, sealed tables
//! and live tails together.

mod report_support;

use std::collections::HashMap;
use std::net::IpAddr;

use regex::Regex;
use report_support::{parse_csv, report, tree, MemSource, Tree, HOSTS};

/// One sshd event as this test reads it.
#[derive(Clone, Debug)]
struct Raw {
    day: String,
    hour: String,
    time: String,
    host: String,
    pid: String,
    result: &'static str,
    method: String,
    user: String,
    remote: String,
    principal: String,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The events of the hosts' files (`YEAR/MONTH/IP/...`), in line order;
/// the per-service copies under `auth/` are the same lines again.
fn raw_events(tree: &Tree) -> Vec<Raw> {
    let path_re = Regex::new(r"^(\d{4})/(\d\d)/([0-9a-f.:]+)/[^/]+$").unwrap_or_else(|e| panic!("{e}"));
    let line_re = Regex::new(
        r"^(?:(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d+) (?P<t>\d\d:\d\d:\d\d)|(?P<y>\d{4})-(?P<m>\d\d)-(?P<dd>\d\d)T(?P<t2>\d\d:\d\d:\d\d)\S*) \S+ sshd\[(?P<pid>\d+)\]: (?P<msg>.*)$",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let patterns: Vec<(&'static str, Regex)> = [
        ("Accepted", r"^Accepted (?P<method>\S+) for (?P<user>.*) from (?P<remote>\S+) port \d+ ssh2"),
        ("Failed", r"^Failed (?P<method>\S+) for (?:invalid user )?(?P<user>.*) from (?P<remote>\S+) port \d+ ssh2"),
        ("Invalid", r"^Invalid user (?P<user>.*) from (?P<remote>\S+?)(?: port \d+)?$"),
        ("identification", r"^Did not receive identification string from (?P<remote>\S+?)(?: port \d+)?$"),
        ("disconnect", r"^Received disconnect from (?P<remote>\S+?):? (?:port \d+:)?"),
        ("closed", r"^Connection closed by (?:.* )?(?P<remote>\S+) port \d+ \[preauth\]$"),
        ("refused", r"^refused connect from .* \((?P<remote>[^)]+)\)$"),
        ("Authorized", r"^Authorized to (?P<user>.*), krb5 principal (?P<principal>\S+) \((?:krb5_kuserok|ssh_gssapi_krb5_cmdok)\)$"),
    ]
    .into_iter()
    .map(|(name, re)| (name, Regex::new(re).unwrap_or_else(|e| panic!("{e}"))))
    .collect();
    let mut out = Vec::new();
    for (path, bytes) in &tree.files {
        let Some(p) = path_re.captures(path) else { continue };
        let (year, host) = (&p[1], p[3].to_string());
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some(c) = line_re.captures(line) else { continue };
            let day = match c.name("mon") {
                Some(mon) => {
                    let m = MONTHS.iter().position(|x| *x == mon.as_str()).unwrap_or_else(|| panic!("{line}")) + 1;
                    format!("{year}-{m:02}-{:02}", c["d"].parse::<u32>().unwrap_or_else(|e| panic!("{e}")))
                }
                None => format!("{}-{}-{}", &c["y"], &c["m"], &c["dd"]),
            };
            let t = c.name("t").or(c.name("t2")).map_or("", |m| m.as_str()).to_string();
            let msg = &c["msg"];
            let Some((result, m)) = patterns.iter().find_map(|(name, re)| re.captures(msg).map(|m| (*name, m))) else { continue };
            let get = |k: &str| m.name(k).map_or(String::new(), |x| x.as_str().to_string());
            out.push(Raw {
                hour: format!("{day} {}:00", &t[..2]),
                time: format!("{day} {t}"),
                day,
                host: host.clone(),
                pid: c["pid"].to_string(),
                result,
                method: get("method"),
                user: get("user"),
                remote: get("remote"),
                principal: get("principal"),
            });
        }
    }
    out
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn counts<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> HashMap<K, u64> {
    let mut map = HashMap::new();
    for k in keys {
        *map.entry(k).or_default() += 1;
    }
    map
}

fn csv(source: &MemSource, args: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    parse_csv(&report(source, &all).unwrap_or_else(|e| panic!("{args:?}: {e}")))
}

fn fixture() -> (Tree, Vec<Raw>, MemSource) {
    let tree = tree(7, 120);
    let raw = raw_events(&tree);
    let source = MemSource::new(&tree, 70, 11);
    (tree, raw, source)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn the_fixture_has_what_the_tests_need() {
    let (tree, raw, _) = fixture();
    for result in ["Accepted", "Failed", "Invalid", "identification", "disconnect", "closed", "refused", "Authorized"] {
        assert!(raw.iter().filter(|r| r.result == result).count() >= 10, "few {result} events");
    }
    for host in HOSTS {
        assert!(raw.iter().any(|r| r.host == host), "no events of {host}");
    }
    // Both stamp forms, and the per-service copies holding the same sshd lines.
    let text = |p: &str| tree.files.iter().filter(|(path, _)| path.starts_with(p)).map(|(_, b)| String::from_utf8_lossy(b).into_owned()).collect::<String>();
    assert!(text("2026/12/10.0.0.7/").contains("T"), "no RFC3339 stamps");
    assert!(text("2026/12/10.0.0.12/").contains("Dec  1 "), "no traditional stamps");
    assert_eq!(text("auth/").matches(" sshd[").count(), text("2026/").matches(" sshd[").count());
}

#[test]
fn remote_results_per_day_counts_each_message_once() {
    let (_, raw, source) = fixture();
    let (header, rows) = csv(&source, &["remote-results-per-day", "--result", "Failed", "--min-count", "2"]);
    assert_eq!(header, ["day", "remote", "result", "count"]);
    let want: Vec<Vec<String>> = counts(raw.iter().filter(|r| r.result == "Failed").map(|r| (r.day.clone(), r.remote.clone())))
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|((d, r), n)| vec![d, r, "Failed".into(), n.to_string()])
        .collect();
    assert!(want.len() > 20, "a vacuous comparison");
    assert_eq!(sorted(rows.clone()), sorted(want));
    // Ordered by day, then count (largest first), then remote as an address.
    let key = |r: &Vec<String>| (r[0].clone(), std::cmp::Reverse(r[3].parse::<u64>().unwrap_or(0)), ip(&r[1]));
    assert!(rows.windows(2).all(|w| key(&w[0]) <= key(&w[1])), "rows out of order");
}

#[test]
fn remote_results_per_day_over_every_result_and_the_last_days() {
    let (_, raw, source) = fixture();
    let (_, rows) = csv(&source, &["remote-results-per-day", "--days", "3"]);
    let want: Vec<Vec<String>> = counts(
        raw.iter().filter(|r| r.result != "Authorized" && r.day.as_str() >= "2026-12-04").map(|r| (r.day.clone(), r.remote.clone(), r.result)),
    )
    .into_iter()
    .map(|((d, r, k), n)| vec![d, r, k.to_string(), n.to_string()])
    .collect();
    assert_eq!(sorted(rows), sorted(want));

    let (_, rows) = csv(&source, &["--since", "2026-11-30", "--until", "2026-12-02", "remote-results-per-day", "--result", "invalid", "--result", "closed"]);
    let want: Vec<Vec<String>> = counts(
        raw.iter()
            .filter(|r| (r.result == "Invalid" || r.result == "closed") && ("2026-11-30".."2026-12-03").contains(&r.day.as_str()))
            .map(|r| (r.day.clone(), r.remote.clone(), r.result)),
    )
    .into_iter()
    .map(|((d, r, k), n)| vec![d, r, k.to_string(), n.to_string()])
    .collect();
    assert!(!want.is_empty());
    assert_eq!(sorted(rows), sorted(want));
}

/// The logins, each with the principal of the Authorized line of its sshd
/// pid on its host that came last before it, used once.
fn expected_logins(raw: &[Raw]) -> Vec<Vec<String>> {
    let mut open: HashMap<(String, String), String> = HashMap::new();
    let mut rows = Vec::new();
    for r in raw {
        match r.result {
            "Authorized" => {
                open.insert((r.host.clone(), r.pid.clone()), r.principal.clone());
            }
            "Accepted" => {
                let principal = open.remove(&(r.host.clone(), r.pid.clone())).unwrap_or_default();
                rows.push(vec![r.time.clone(), r.host.clone(), r.user.clone(), r.method.clone(), r.remote.clone(), principal]);
            }
            _ => {}
        }
    }
    rows
}

#[test]
fn logins_carry_the_principal_of_their_authorized_line() {
    let (_, raw, source) = fixture();
    let (header, rows) = csv(&source, &["logins"]);
    assert_eq!(header, ["time", "host", "user", "method", "remote", "principal"]);
    let want = expected_logins(&raw);
    assert!(want.iter().filter(|r| !r[5].is_empty()).count() > 20 && want.iter().filter(|r| r[5].is_empty()).count() > 20);
    assert!(want.iter().filter(|r| r[3] == "gssapi-with-mic").all(|r| r[5] == format!("{}@EXAMPLE.ORG", r[2])));
    assert_eq!(sorted(rows.clone()), sorted(want));
    assert!(rows.windows(2).all(|w| (&w[0][0], ip(&w[0][1])) <= (&w[1][0], ip(&w[1][1]))), "rows out of order");
}

#[test]
fn sealed_tables_and_live_tails_give_the_same_report() {
    let (tree, _, _) = fixture();
    let views: [&[&str]; 3] = [&["logins"], &["profile", "--by", "hour"], &["remote-results-per-day"]];
    for view in views {
        let outputs: Vec<String> = [0, 35, 100]
            .into_iter()
            .map(|sealed| report(&MemSource::new(&tree, sealed, sealed as u64), view).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert!(outputs[0].lines().count() > 10);
        assert_eq!(outputs[0], outputs[1], "{view:?}");
        assert_eq!(outputs[0], outputs[2], "{view:?}");
    }
}

#[test]
fn watchlists_of_addresses_and_blocks() {
    let (_, raw, source) = fixture();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tor = dir.path().join("tor.txt");
    let warden = dir.path().join("warden.txt");
    std::fs::write(&tor, "# Tor exits\n185.220.101.0/24\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&warden, "2001:db8::/48 # v6 block\n198.51.100.7\n185.220.101.4\n").unwrap_or_else(|e| panic!("{e}"));
    let lists = |remote: &str| -> Option<String> {
        let mut names = Vec::new();
        if remote.starts_with("185.220.101.") {
            names.push("tor");
        }
        if remote == "2001:db8::7" || remote == "198.51.100.7" || remote == "185.220.101.4" {
            names.push("warden");
        }
        (!names.is_empty()).then(|| names.join(";"))
    };
    let (tor_arg, warden_arg) = (format!("tor={}", tor.display()), format!("warden={}", warden.display()));
    for all in [false, true] {
        let mut args = vec!["watchlist", "--watchlist", &tor_arg, "--watchlist", &warden_arg];
        if all {
            args.push("--all-results");
        }
        let (header, rows) = csv(&source, &args);
        assert_eq!(header, ["time", "host", "user", "method", "remote", "list"]);
        let want: Vec<Vec<String>> = raw
            .iter()
            .filter(|r| if all { r.result != "Authorized" } else { r.result == "Accepted" })
            .filter_map(|r| lists(&r.remote).map(|l| vec![r.time.clone(), r.host.clone(), r.user.clone(), r.method.clone(), r.remote.clone(), l]))
            .collect();
        assert!(want.iter().any(|r| r[5] == "tor;warden") && want.iter().any(|r| r[4] == "2001:db8::7"), "a vacuous comparison");
        assert_eq!(sorted(rows), sorted(want), "all results: {all}");
    }
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "1.2.3.4\n1.2.3.0/40\n").unwrap_or_else(|e| panic!("{e}"));
    let err = report(&source, &["watchlist", "--watchlist", &format!("bad={}", bad.display())]).err().map(|e| e.to_string());
    assert_eq!(err, Some(format!("watchlist: {}:2: '1.2.3.0/40' is not an IP address or CIDR block", bad.display())));
}

#[test]
fn top_users_remotes_hosts_and_methods() {
    let (_, raw, source) = fixture();
    type Field = fn(&Raw) -> &str;
    let fields: [(&str, Field); 4] = [("user", |r| &r.user), ("remote", |r| &r.remote), ("host", |r| &r.host), ("method", |r| &r.method)];
    for (by, field) in fields {
        for result in [None, Some("Failed"), Some("Accepted")] {
            let mut args = vec!["top", "--by", by, "--limit", "0"];
            if let Some(r) = result {
                args.extend(["--result", r]);
            }
            let (header, rows) = csv(&source, &args);
            assert_eq!(header, ["key", "count"]);
            let has_field = |r: &Raw| match by {
                "user" => matches!(r.result, "Accepted" | "Failed" | "Invalid" | "Authorized"),
                "remote" => r.result != "Authorized",
                "method" => matches!(r.result, "Accepted" | "Failed"),
                _ => true,
            };
            let want: Vec<Vec<String>> = counts(raw.iter().filter(|r| result.is_none_or(|x| r.result == x) && has_field(r)).map(|r| field(r).to_string()))
                .into_iter()
                .map(|(k, n)| vec![k, n.to_string()])
                .collect();
            assert!(!want.is_empty());
            assert_eq!(sorted(rows.clone()), sorted(want), "--by {by} --result {result:?}");
            let n = |r: &Vec<String>| r[1].parse::<u64>().unwrap_or(0);
            assert!(rows.windows(2).all(|w| n(&w[0]) >= n(&w[1])), "not largest first");
            // --limit keeps the first rows.
            let mut limited = args.clone();
            limited[4] = "3";
            assert_eq!(csv(&source, &limited).1, rows[..rows.len().min(3)].to_vec());
        }
    }
}

#[test]
fn profile_by_hour_and_day() {
    let (_, raw, source) = fixture();
    for (by, bucket) in [("hour", (|r: &Raw| r.hour.clone()) as fn(&Raw) -> String), ("day", |r: &Raw| r.day.clone())] {
        for result in [None, Some("Failed")] {
            let mut args = vec!["profile", "--by", by];
            if let Some(r) = result {
                args.extend(["--result", r]);
            }
            let (header, rows) = csv(&source, &args);
            assert_eq!(header, ["bucket", "result", "count"]);
            let want: Vec<Vec<String>> = counts(raw.iter().filter(|r| result.is_none_or(|x| r.result == x)).map(|r| (bucket(r), r.result)))
                .into_iter()
                .map(|((b, k), n)| vec![b, k.to_string(), n.to_string()])
                .collect();
            assert_eq!(sorted(rows.clone()), sorted(want), "--by {by} --result {result:?}");
            assert!(rows.windows(2).all(|w| w[0][0] <= w[1][0]), "buckets out of order");
        }
    }
}

#[test]
fn a_damaged_table_is_skipped_and_the_rest_counted() {
    let (_, raw, mut source) = fixture();
    let (_, whole) = csv(&source, &["profile", "--by", "day"]);
    let mut damaged = source.tables[0].1.clone();
    damaged.truncate(damaged.len() / 2);
    source.tables.push(("2026/12/10.0.0.7/auth.log".into(), damaged));
    source.tables.push(("2026/12/10.0.0.7/auth.log".into(), vec![0xff; 40]));
    assert_eq!(csv(&source, &["profile", "--by", "day"]).1, whole);
    assert!(!raw.is_empty());
}

#[test]
fn text_json_and_bad_arguments() {
    let (_, _, source) = fixture();
    let text = report(&source, &["top", "--by", "method", "--result", "Accepted"]).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("key ") && h.ends_with("count")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("gssapi-with-mic ")), "{text}");
    let json = report(&source, &["--format", "json", "top", "--by", "method", "--result", "Accepted"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.starts_with("[\n{\"key\":\"") && json.ends_with("}\n]\n"), "{json}");
    let err = report(&source, &["top", "--result", "Nope"]).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("'Nope'")));
    let err = report(&source, &["--since", "2026-13-01", "logins"]).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("2026-13-01")));
}

#[test]
fn hostile_user_names_stay_in_their_field() {
    let (_, raw, source) = fixture();
    let (_, rows) = csv(&source, &["top", "--by", "user", "--result", "Invalid", "--limit", "0"]);
    for name in ["a,b", "x\"y", "bob from 9.9.9.9", ""] {
        assert!(raw.iter().any(|r| r.result == "Invalid" && r.user == name), "fixture lacks {name:?}");
        assert!(rows.iter().any(|r| r[0] == name), "{name:?} missing from {rows:?}");
    }
}

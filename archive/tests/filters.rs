//! `--host`, `--file`, `--since`, `--until`: GNU grep's output over the
//! original tree, restricted by rules the test applies itself (its own
//! reading of paths and of both timestamp forms), sealed and live alike.

mod common;

use common::*;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The `YYYYMMDD` a line's timestamp says (year 2026 for the traditional form, as the tree's).
fn line_day(line: &str) -> Option<u32> {
    let b = line.as_bytes();
    if b.len() > 10 && b[4] == b'-' && b[10] == b'T' {
        return format!("{}{}{}", &line[0..4], &line[5..7], &line[8..10]).parse().ok();
    }
    let month = MONTHS.iter().position(|m| line.starts_with(m))? as u32 + 1;
    let day: u32 = line.get(4..6)?.trim().parse().ok()?;
    Some(20260000 + month * 100 + day)
}

/// Whether a path may hold lines of days `since..=until` (both `YYYYMMDD`).
fn path_in_range(path: &str, since: u32, until: u32) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    if let Some(day) = name.rsplit('.').next().filter(|d| d.len() == 8).and_then(|d| d.parse::<u32>().ok()) {
        return (since..=until).contains(&day);
    }
    for pair in parts.windows(2) {
        if let (Ok(y), Ok(m)) = (pair[0].parse::<u32>(), pair[1].parse::<u32>()) {
            if pair[0].len() == 4 && pair[1].len() == 2 {
                let month = y * 100 + m;
                return (since / 100..=until / 100).contains(&month);
            }
        }
    }
    true
}

fn restrict(output: &[u8], keep: impl Fn(&str, &str) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in output.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let (path, rest) = text.split_once(':').unwrap_or((&text, ""));
        if keep(path, rest) {
            out.extend_from_slice(line);
        }
    }
    out
}

#[test]
fn host_file_and_date_filters_equal_gnu_grep_restricted_by_the_same_rules() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, reference, archive) = (dir.path().join("live"), dir.path().join("reference"), dir.path().join("archive"));
    make_tree(&live, 5, 400);
    copy_tree(&live, &reference);
    seal(&archive, &live, &[]);
    // Half the files get a live tail too.
    let mut rng = Rng::new(9);
    for (i, rel) in files(&reference).into_iter().enumerate() {
        if i % 2 == 0 {
            let more: String = (0..20).map(|_| line(&mut rng, 10, 7, "10.0.0.1") + "\n").collect();
            append(&live.join(&rel), more.as_bytes());
            append(&reference.join(&rel), more.as_bytes());
        }
    }
    for pattern in ["realuser", "sshd", "continuation"] {
        let (all, _) = gnu_grep(&reference, &[], pattern);
        let check = |opts: &[&str], keep: &dyn Fn(&str, &str) -> bool| {
            let (ours, _) = our_grep(&archive, &live, opts, pattern);
            let want = restrict(&all, keep);
            assert!(ours == want, "{opts:?} {pattern}:\n--- ours\n{}\n--- wanted\n{}", String::from_utf8_lossy(&ours), String::from_utf8_lossy(&want));
        };
        check(&["--host", "10.0.0.1"], &|p, _| p.split('/').rev().skip(1).any(|c| c == "10.0.0.1"));
        check(&["--host", "10.0.0.1", "--host", "10.0.0.10"], &|p, _| p.split('/').rev().skip(1).any(|c| c == "10.0.0.1" || c == "10.0.0.10"));
        check(&["--file", "auth.log"], &|p, _| {
            let name = p.rsplit('/').next().unwrap_or_default();
            name == "auth.log" || name.strip_prefix("auth.log.").is_some_and(|d| d.len() == 8)
        });
        let (since, until) = (20261005, 20261010);
        let in_range = |p: &str, rest: &str| path_in_range(p, since, until) && line_day(rest).is_none_or(|d| (since..=until).contains(&d));
        check(&["--since", "2026-10-05", "--until", "2026-10-10"], &in_range);
        check(&["--since", "2026-10-05", "--until", "2026-10-10", "--host", "10.0.0.2"], &|p, r| in_range(p, r) && p.contains("/10.0.0.2/"));
        check(&["--since", "2026-10-27"], &|p, r| path_in_range(p, 20261027, 99999999) && line_day(r).is_none_or(|d| d >= 20261027));
    }
}

//! The month generator (`gsslog-genmonth`) makes what the benchmark relies
//! on: the same tree from the same seed however the days are split between
//! runs, both timestamp forms of the same lines, and a manifest whose counts
//! match the files (counted here by reading them back, line by line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn generate(root: &Path, manifest: &Path, extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_gsslog-genmonth"))
        .args(["--size", "3M", "--hosts", "25", "--seed", "9", "--manifest"])
        .arg(manifest)
        .args(extra)
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every file under `root`, by path relative to it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(bytes).unwrap().lines()
}

/// The number after `"key": ` in the manifest, after `after`.
fn number(manifest: &str, after: &str, key: &str) -> u64 {
    let from = manifest.find(after).unwrap_or_else(|| panic!("no {after} in {manifest}"));
    let rest = &manifest[from..];
    let at = rest.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("no {key} after {after}")) + key.len() + 4;
    rest[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

#[test]
fn a_month_made_in_two_runs_is_the_month_made_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
    generate(&whole, &dir.path().join("whole.json"), &[]);
    generate(&split, &dir.path().join("a.json"), &["--days", "1-29"]);
    let before = files(&split);
    generate(&split, &dir.path().join("b.json"), &["--days", "30-30"]);
    let (whole, split) = (files(&whole), files(&split));
    assert!(whole.len() > 25 * 3, "{} files", whole.len());
    assert_eq!(whole.keys().collect::<Vec<_>>(), split.keys().collect::<Vec<_>>());
    for (path, bytes) in &whole {
        assert!(split[path] == *bytes, "{path} differs");
    }
    // The second run appended day 30: every file it touched grew.
    assert!(before.iter().any(|(path, bytes)| split[path].len() > bytes.len()));
    assert!(split.keys().any(|p| p.ends_with("auth.log.20261130")) && !before.keys().any(|p| p.ends_with("auth.log.20261130")));
}

#[test]
fn the_manifest_counts_what_the_files_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (root, manifest_path) = (dir.path().join("hosts"), dir.path().join("m.json"));
    generate(&root, &manifest_path, &[]);
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let tree = files(&root);

    let total: usize = tree.values().map(|b| lines(b).count()).sum();
    assert_eq!(number(&manifest, "{", "lines"), total as u64);
    for token in ["qv4hx7jz", "mw2pk9tf", "realuser"] {
        let found: usize = tree.values().map(|b| lines(b).filter(|l| l.contains(token)).count()).sum();
        assert_eq!(number(&manifest, &format!("\"{token}\""), "lines"), found as u64, "{token}");
    }
    assert_eq!(number(&manifest, "\"qv4hx7jz\"", "lines"), 1);
    assert_eq!(number(&manifest, "\"mw2pk9tf\"", "lines"), 2);

    // sshd events, read back from the hosts' auth.log files only (the
    // per-service files repeat them).
    type Is = fn(&str) -> bool;
    let classes: [(&str, Is); 8] = [
        ("Accepted", |m| m.starts_with("Accepted ")),
        ("Failed", |m| m.starts_with("Failed ")),
        ("Invalid", |m| m.starts_with("Invalid user ")),
        ("identification", |m| m.starts_with("Did not receive identification string")),
        ("disconnect", |m| m.starts_with("Received disconnect from ")),
        ("closed", |m| m.starts_with("Connection closed by ") && m.ends_with(" [preauth]")),
        ("refused", |m| m.starts_with("refused connect from ")),
        ("Authorized", |m| m.starts_with("Authorized to ")),
    ];
    let mut per_class: BTreeMap<&str, u64> = BTreeMap::new();
    let mut per_day_remote: BTreeMap<String, u64> = BTreeMap::new();
    for (path, bytes) in tree.iter().filter(|(p, _)| p.starts_with("2026/11/") && p.ends_with("/auth.log")) {
        for line in lines(bytes) {
            let Some((_, msg)) = line.split_once("]: ").filter(|(head, _)| head.contains(" sshd[")) else { continue };
            for (name, is) in &classes {
                if is(msg) {
                    *per_class.entry(name).or_default() += 1;
                    let remote = msg.split(' ').rev().find(|w| w.split('.').count() == 4 && w.split('.').all(|o| o.parse::<u8>().is_ok()));
                    let remote = remote.or_else(|| msg.split(' ').find(|w| w.split('.').count() == 4 && w.chars().all(|c| c.is_ascii_digit() || c == '.')));
                    if *name != "Authorized" {
                        let day = &line[..10];
                        *per_day_remote.entry(format!("{day},{},{name}", remote.unwrap())).or_default() += 1;
                    }
                }
            }
        }
        assert!(path.split('/').nth(2).unwrap().starts_with("10.42."), "{path}");
    }
    for (name, _) in &classes {
        assert_eq!(number(&manifest, "\"events\"", name), per_class.get(name).copied().unwrap_or(0), "{name}");
    }
    assert!(per_class["Failed"] > 0 && per_class["Accepted"] > 0);
    let csv = std::fs::read_to_string(PathBuf::from(format!("{}.remote-results-per-day.csv", manifest_path.display()))).unwrap();
    let mut listed: BTreeMap<String, u64> = BTreeMap::new();
    for row in csv.lines().skip(1) {
        let (key, n) = row.rsplit_once(',').unwrap();
        listed.insert(key.to_string(), n.parse().unwrap());
    }
    assert_eq!(listed, per_day_remote);
    let logins = std::fs::read_to_string(PathBuf::from(format!("{}.logins.csv", manifest_path.display()))).unwrap();
    assert_eq!(logins.lines().count() as u64 - 1, per_class["Accepted"]);
}

#[test]
fn both_timestamp_forms_carry_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("file"), &dir.path().join("f.json"), &["--days", "1-2"]);
    generate(&dir.path().join("trad"), &dir.path().join("t.json"), &["--days", "1-2", "--format", "traditional"]);
    let (file, trad) = (files(&dir.path().join("file")), files(&dir.path().join("trad")));
    assert_eq!(file.keys().collect::<Vec<_>>(), trad.keys().collect::<Vec<_>>());
    for (path, bytes) in &file {
        let (a, b): (Vec<&str>, Vec<&str>) = (lines(bytes).collect(), lines(&trad[path]).collect());
        assert_eq!(a.len(), b.len(), "{path}");
        for (a, b) in a.iter().zip(&b) {
            // 2026-11-01T00:00:41.123456+01:00 vs Nov  1 00:00:41
            assert_eq!(&a[33..], &b[16..], "{path}");
            assert_eq!(format!("Nov {:>2} {}", a[8..10].trim_start_matches('0'), &a[11..19]), b[..15], "{path}");
        }
    }
}

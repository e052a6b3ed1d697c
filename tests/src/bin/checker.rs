//! Testbed checker: per load node, what it was asked to send and what its
//! driver says it sent, against the messages found in the collector's
//! per-host files.
//!
//! checker TREE EXPECTED_DIR REPORTS_DIR [--max-lost-ours N] [--max-dup-ours N] [--max-lost-stock N]
//!
//! EXPECTED_DIR holds one file per load node, named after it, written by the
//! scenario when it starts the node: `COUNT IP` (how many messages the node
//! must send, and its address). The node list comes from there, never from
//! the reports, so a node that never started is a failure, not a missing
//! row. A message belongs to the node whose address names its `fromhost-ip`
//! folder; the node named in its text must be that one.
//!
//! Exits 1 when, for any node: its driver did not report sending all of
//! COUNT; a message is in another node's folder, or from an address that is
//! no node's, or numbered beyond COUNT; or, for our nodes, more than
//! `--max-lost-ours` (default 0) are lost, more than `--max-dup-ours`
//! (default 0) are duplicated, or any is out of order within its file. For
//! stock nodes (`stock*`) loss is checked only with `--max-lost-stock`, and
//! order and duplicates are only reported (rsyslog reorders and repeats after
//! a suspension, rsyslog-gss.md 1.9). Loss of `capped*` nodes is not checked
//! (their disk cap is meant to fill; the discards are checked in their log).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// What one node was asked to send.
struct Expected {
    count: u64,
    address: IpAddr,
}

/// What was found of one node in the tree.
#[derive(Default)]
struct Found {
    received: HashSet<u64>,
    duplicated: u64,
    out_of_order: u64,
    /// Messages numbered COUNT or more: never sent by this run's driver.
    beyond: u64,
    /// Messages in this node's folder that name another node.
    misattributed: u64,
}

#[derive(Default)]
struct Limits {
    max_lost_ours: u64,
    max_dup_ours: u64,
    max_lost_stock: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    check(&args)
}

/// The whole check, on the command line's arguments (after the program name).
fn check(args: &[String]) -> anyhow::Result<()> {
    let [tree, expected_dir, reports, options @ ..] = args else {
        bail!("usage: checker TREE EXPECTED_DIR REPORTS_DIR [--max-lost-ours N] [--max-dup-ours N] [--max-lost-stock N]");
    };
    let limits = parse_limits(options)?;
    let expected = read_expected(Path::new(expected_dir))?;
    if expected.is_empty() {
        bail!("{expected_dir} names no load node: nothing would be checked");
    }
    let by_address: BTreeMap<IpAddr, &str> = expected.iter().map(|(name, e)| (e.address, name.as_str())).collect();
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut strangers = 0u64;
    for file in files(Path::new(tree))? {
        // The per-host files; the per-service auth file repeats auth lines.
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !matches!(name, "auth.log" | "kern.log" | "syslog") {
            continue;
        }
        let folder = file.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
        let Some(node) = folder.parse::<IpAddr>().ok().and_then(|ip| by_address.get(&ip)) else {
            let lines = count_testbed_lines(&file)?;
            println!("{}: {lines} messages from an address that is no node's", file.display());
            strangers += lines;
            continue;
        };
        let count = expected[*node].count;
        let f = found.entry(node.to_string()).or_default();
        let mut last: Option<u64> = None;
        for line in String::from_utf8_lossy(&std::fs::read(&file)?).lines() {
            let Some((named, seq)) = parse_line(line) else { continue };
            if named != *node {
                f.misattributed += 1;
                continue;
            }
            if seq >= count {
                f.beyond += 1;
            } else if !f.received.insert(seq) {
                f.duplicated += 1;
            } else if last.is_some_and(|l| seq < l) {
                f.out_of_order += 1;
            }
            last = Some(seq);
        }
    }

    let mut failed = strangers > 0;
    println!(
        "{:<10} {:>8} {:>8} {:>9} {:>6} {:>10} {:>12} {:>7} {:>13}",
        "node", "expected", "sent", "received", "lost", "duplicated", "out of order", "beyond", "misattributed"
    );
    for (node, e) in &expected {
        let f = found.remove(node).unwrap_or_default();
        let sent = read_report(&Path::new(reports).join(node));
        let lost = e.count - f.received.len() as u64;
        let stock = node.starts_with("stock");
        let capped = node.starts_with("capped");
        let mut why = Vec::new();
        if sent != Some(e.count) {
            why.push("driver did not send its count");
        }
        if f.beyond > 0 {
            why.push("messages never sent");
        }
        if f.misattributed > 0 {
            why.push("messages in the wrong folder");
        }
        let max_lost = if stock { limits.max_lost_stock } else if capped { None } else { Some(limits.max_lost_ours) };
        if max_lost.is_some_and(|m| lost > m) {
            why.push("lost");
        }
        if !stock && f.duplicated > limits.max_dup_ours {
            why.push("duplicated");
        }
        if !stock && f.out_of_order > 0 {
            why.push("out of order");
        }
        failed |= !why.is_empty();
        let sent = sent.map_or_else(|| "none".to_string(), |s| s.to_string());
        println!(
            "{node:<10} {:>8} {sent:>8} {:>9} {lost:>6} {:>10} {:>12} {:>7} {:>13}{}",
            e.count,
            f.received.len(),
            f.duplicated,
            f.out_of_order,
            f.beyond,
            f.misattributed,
            if why.is_empty() { String::new() } else { format!("   <-- {}", why.join(", ")) }
        );
    }
    if failed {
        bail!("figures not as expected");
    }
    Ok(())
}

fn parse_limits(options: &[String]) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    let mut it = options.iter();
    while let Some(option) = it.next() {
        let value: u64 = it
            .next()
            .with_context(|| format!("{option} needs a value"))?
            .parse()
            .with_context(|| format!("{option} needs a number"))?;
        match option.as_str() {
            "--max-lost-ours" => limits.max_lost_ours = value,
            "--max-dup-ours" => limits.max_dup_ours = value,
            "--max-lost-stock" => limits.max_lost_stock = Some(value),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(limits)
}

/// `COUNT IP` per node file.
fn read_expected(dir: &Path) -> anyhow::Result<BTreeMap<String, Expected>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).context("a node file name that is not UTF-8")?.to_string();
        let text = std::fs::read_to_string(&path)?;
        let mut words = text.split_whitespace();
        let (Some(count), Some(address)) = (words.next(), words.next()) else {
            bail!("{}: expected 'COUNT IP', found '{}'", path.display(), text.trim());
        };
        let count = count.parse().with_context(|| format!("{}: count '{count}'", path.display()))?;
        let address = address.parse().with_context(|| format!("{}: address '{address}'", path.display()))?;
        out.insert(name, Expected { count, address });
    }
    Ok(out)
}

/// How many messages the node's driver says it sent; `None` without a report.
fn read_report(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `... testbed NODE seq N` (the load driver's text).
fn parse_line(line: &str) -> Option<(&str, u64)> {
    let (_, rest) = line.split_once("testbed ")?;
    let mut parts = rest.split_whitespace();
    let (Some(node), Some("seq"), Some(seq)) = (parts.next(), parts.next(), parts.next()) else { return None };
    Some((node, seq.parse().ok()?))
}

fn count_testbed_lines(file: &Path) -> anyhow::Result<u64> {
    Ok(String::from_utf8_lossy(&std::fs::read(file)?).lines().filter(|l| parse_line(l).is_some()).count() as u64)
}

fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(files(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run directory: node1 (ours, 10.0.0.1) asked for 3 messages.
    struct Run {
        dir: tempfile::TempDir,
    }

    impl Run {
        fn new() -> Run {
            let dir = tempfile::tempdir().unwrap();
            for d in ["tree/hosts/2026/11/10.0.0.1", "expected", "reports"] {
                std::fs::create_dir_all(dir.path().join(d)).unwrap();
            }
            std::fs::write(dir.path().join("expected/node1"), "3 10.0.0.1\n").unwrap();
            Run { dir }
        }

        fn report(&self, sent: u64) -> &Run {
            std::fs::write(self.dir.path().join("reports/node1"), format!("{sent}\n")).unwrap();
            self
        }

        fn messages(&self, folder: &str, lines: &[(&str, u64)]) -> &Run {
            let d = self.dir.path().join("tree/hosts/2026/11").join(folder);
            std::fs::create_dir_all(&d).unwrap();
            let text: String = lines.iter().map(|(node, seq)| format!("Nov 23 12:00:00 {node} loadgen: testbed {node} seq {seq:08}\n")).collect();
            std::fs::write(d.join("syslog"), text).unwrap();
            self
        }

        fn check(&self, extra: &[&str]) -> anyhow::Result<()> {
            let p = |d: &str| self.dir.path().join(d).display().to_string();
            let mut args = vec![p("tree"), p("expected"), p("reports")];
            args.extend(extra.iter().map(|s| s.to_string()));
            check(&args)
        }
    }

    #[test]
    fn each_message_once_in_order_passes() {
        let run = Run::new();
        run.report(3).messages("10.0.0.1", &[("node1", 0), ("node1", 1), ("node1", 2)]);
        run.check(&[]).unwrap();
    }

    #[test]
    fn a_node_whose_driver_reported_nothing_fails() {
        let run = Run::new();
        run.messages("10.0.0.1", &[("node1", 0), ("node1", 1), ("node1", 2)]);
        assert!(run.check(&[]).is_err(), "an empty reports folder must not pass");
    }

    #[test]
    fn a_node_that_never_started_fails() {
        let run = Run::new();
        run.report(3);
        assert!(run.check(&[]).is_err(), "no message at all is a loss of all");
    }

    #[test]
    fn a_duplicate_fails_unless_allowed() {
        let run = Run::new();
        run.report(3).messages("10.0.0.1", &[("node1", 0), ("node1", 1), ("node1", 1), ("node1", 2)]);
        assert!(run.check(&[]).is_err());
        run.check(&["--max-dup-ours", "1"]).unwrap();
    }

    #[test]
    fn a_loss_and_a_duplicate_do_not_cancel_out() {
        let run = Run::new();
        run.report(3).messages("10.0.0.1", &[("node1", 0), ("node1", 1), ("node1", 1)]);
        assert!(run.check(&["--max-dup-ours", "1"]).is_err(), "message 2 is lost");
    }

    #[test]
    fn the_node_is_the_folders_not_the_texts() {
        let run = Run::new();
        // node1's messages, but in a folder no node has: node1 lost them all.
        run.report(3).messages("10.0.0.9", &[("node1", 0), ("node1", 1), ("node1", 2)]);
        assert!(run.check(&[]).is_err());
        // In node1's folder, a message naming another node.
        let run = Run::new();
        run.report(3).messages("10.0.0.1", &[("node1", 0), ("node1", 1), ("node1", 2), ("node2", 0)]);
        assert!(run.check(&[]).is_err());
    }
}

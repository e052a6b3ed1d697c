//! `gsslog-genmonth`: a realistic month of the grid's collector tree, for the
//! archive benchmark and tests (a development tool, not packaged).
//!
//! Deterministic: the same seed, size, month, format and host count give the
//! same bytes, and a run for days A-B followed by one for days B+1-C gives
//! the same tree as one run for A-C (each host's hour has its own random
//! stream). It writes, outside the tree, a JSON manifest of what it planted
//! and its own count of the sshd events it wrote (CSV files beside it), for
//! the benchmark to compare with `gsslog grep` and `gsslog report sshd`.
//!
//! ```text
//! gsslog-genmonth --size 2G --manifest /tmp/month.json /tmp/hosts
//! ```

#![forbid(unsafe_code)]

mod events;
mod rng;
mod tally;
mod tree;
mod world;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use gsslog_archive::linetime::days_in_month;

use events::{plantings, HourGen};
use tally::{Class, Tally};
use tree::{Stamp, Tree};
use world::World;

/// Generate a month of the grid's collector tree.
#[derive(Parser, Debug)]
#[command(name = "gsslog-genmonth")]
struct Cli {
    /// The month's size in bytes over all its days (suffixes K, M, G: powers
    /// of 1024), as written with RSYSLOG_FileFormat timestamps; the
    /// traditional form writes the same lines, about 12% fewer bytes.
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// The month, YYYY-MM.
    #[arg(long, default_value = "2026-11")]
    month: String,
    /// Only these days of the month, A-B (default: all); files are appended
    /// to, so a later run can add the next days.
    #[arg(long, value_name = "A-B")]
    days: Option<String>,
    /// The timestamp form of every line.
    #[arg(long, value_enum, default_value_t = Stamp::File)]
    format: Stamp,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 700)]
    hosts: usize,
    /// Where to write the manifest (JSON); the sshd counts go beside it, as
    /// PATH.remote-results-per-day.csv, PATH.results-per-day.csv, PATH.logins.csv.
    #[arg(long, value_name = "PATH")]
    manifest: PathBuf,
    /// The tree's root (the collector's /var/log/hosts).
    root: PathBuf,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{text}' is not a size"))?;
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return Err(format!("'{text}': the unit is K, M or G")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (year, month) = match cli.month.split_once('-').map(|(y, m)| (y.parse::<i32>(), m.parse::<u8>())) {
        Some((Ok(y), Ok(m))) if (1..=12).contains(&m) => (y, m),
        _ => bail!("--month '{}' is not YYYY-MM", cli.month),
    };
    let ndays = days_in_month(year, month);
    let (first, last) = match &cli.days {
        None => (1, ndays),
        Some(range) => match range.split_once('-').map(|(a, b)| (a.parse::<u8>(), b.parse::<u8>())) {
            Some((Ok(a), Ok(b))) if 1 <= a && a <= b && b <= ndays => (a, b),
            _ => bail!("--days '{range}' is not A-B within 1-{ndays}"),
        },
    };
    if cli.hosts == 0 || cli.hosts > 200 * 256 {
        bail!("--hosts must be 1..{}", 200 * 256);
    }
    if cli.manifest.starts_with(&cli.root) {
        bail!("the manifest must be outside the tree, or grep -r would read it");
    }

    let started = Instant::now();
    let world = World::new(cli.seed, cli.hosts);
    let host_total: f64 = world.hosts.iter().map(|h| h.weight).sum();
    // Busier by day than by night.
    let hour_weight: Vec<f64> = (0..24).map(|h| 1.0 + 0.5 * (((h as f64) - 4.0) / 24.0 * std::f64::consts::TAU).sin()).collect();
    let hour_total: f64 = hour_weight.iter().sum();
    let plants = plantings(ndays, cli.hosts, cli.seed);

    let mut tree = Tree::new(&cli.root, year, month, cli.format);
    let mut tally = Tally::default();
    for day in first..=last {
        for hour in 0..24u8 {
            let mut hosts = Vec::with_capacity(world.hosts.len());
            for (i, host) in world.hosts.iter().enumerate() {
                let budget = cli.size as f64 * host.weight / host_total * hour_weight[usize::from(hour)] / hour_total / f64::from(ndays);
                let plant: Vec<&'static str> = plants.iter().filter(|p| (p.0, p.1, p.2) == (day, hour, i)).map(|p| p.3).collect();
                let mut gen = HourGen::new(&world, i, year, month, day, hour, cli.seed);
                gen.run(budget as u64, &plant);
                for (remote, class) in &gen.counts {
                    tally.count(day, remote, *class);
                }
                tally.logins.append(&mut gen.logins);
                let mut lines = gen.lines;
                lines.sort_by_key(|l| l.at);
                hosts.push((host.ip.as_str(), lines));
            }
            tree.hour(day, hour, hosts)?;
        }
        tree.flush()?;
        eprintln!("gsslog-genmonth: day {day} done, {} MB, {:.0} s", tree.bytes >> 20, started.elapsed().as_secs_f64());
    }
    tree.flush()?;

    write_manifest(&cli, year, month, (first, last), &tree, &mut tally)?;
    eprintln!(
        "gsslog-genmonth: {} bytes, {} lines in {:.1} s; manifest {}",
        tree.bytes,
        tree.lines,
        started.elapsed().as_secs_f64(),
        cli.manifest.display()
    );
    Ok(())
}

fn beside(manifest: &Path, suffix: &str) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn write_manifest(cli: &Cli, year: i32, month: u8, days: (u8, u8), tree: &Tree, tally: &mut Tally) -> anyhow::Result<()> {
    let mut j = String::new();
    let _ = write!(
        j,
        "{{\n  \"seed\": {},\n  \"month\": \"{year:04}-{month:02}\",\n  \"days\": [{}, {}],\n  \"format\": \"{}\",\n  \"hosts\": {},\n  \"size_asked\": {},\n  \"bytes\": {},\n  \"lines\": {},\n",
        cli.seed,
        days.0,
        days.1,
        if cli.format == Stamp::File { "file" } else { "traditional" },
        cli.hosts,
        cli.size,
        tree.bytes,
        tree.lines
    );
    j.push_str("  \"planted\": {\n");
    for (i, token) in world::PLANTED.iter().enumerate() {
        let mut files: Vec<(&String, &u64)> = tree.planted.iter().filter(|((t, _), _)| t == token).map(|((_, f), n)| (f, n)).collect();
        files.sort();
        let total: u64 = files.iter().map(|(_, n)| **n).sum();
        let _ = write!(j, "    \"{token}\": {{\"lines\": {total}, \"files\": {{");
        for (k, (file, n)) in files.iter().enumerate() {
            let _ = write!(j, "{}\"{file}\": {n}", if k == 0 { "" } else { ", " });
        }
        let _ = writeln!(j, "}}}}{}", if i + 1 < world::PLANTED.len() { "," } else { "" });
    }
    j.push_str("  },\n  \"sshd\": {\n    \"events\": {");
    for (i, (class, n)) in tally.totals().iter().enumerate() {
        let _ = write!(j, "{}\"{}\": {n}", if i == 0 { "" } else { ", " }, class.name());
    }
    let _ = writeln!(j, "}},\n    \"logins\": {},", tally.logins.len());
    j.push_str("    \"written_as\": {\n");
    for (i, class) in Class::ALL.iter().enumerate() {
        let _ = writeln!(j, "      \"{}\": \"{}\"{}", class.name(), class.written_as(), if i + 1 < Class::ALL.len() { "," } else { "" });
    }
    j.push_str("    }\n  }\n}\n");
    let write = |path: PathBuf, text: &str| std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()));
    write(cli.manifest.clone(), &j)?;
    write(beside(&cli.manifest, ".remote-results-per-day.csv"), &tally.remote_results_per_day_csv(year, month))?;
    write(beside(&cli.manifest, ".results-per-day.csv"), &tally.results_per_day_csv(year, month))?;
    write(beside(&cli.manifest, ".logins.csv"), &tally.logins_csv())?;
    Ok(())
}


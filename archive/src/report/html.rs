//! The html report: one self-contained page (no scripts, no network, no
//! external assets) with inline SVG charts (the time profile per hour, the
//! top remote addresses of failed logins, failed logins per day) and the
//! views' tables. Every string from the logs is escaped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::events::{Ev, Strings};
use super::format::cell_text;
use super::views::{Cell, Rows, Select};
use crate::sshd::{clock, Kind, NONE};

/// Rows shown per table; the rest are counted under the table.
pub const TABLE_ROWS: usize = 1000;

const COLORS: [&str; 8] = ["#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#1565c0", "#78909c", "#212121", "#00838f"];

/// What the charts count, event by event.
pub struct Charts {
    select: Select,
    events: u64,
    /// Per hour, counts by result.
    hours: HashMap<i64, [u64; 8]>,
    failed_days: HashMap<i64, [u64; 8]>,
    failed_remotes: HashMap<u32, u64>,
}

impl Charts {
    pub fn new(select: Select) -> Charts {
        Charts { select, events: 0, hours: HashMap::new(), failed_days: HashMap::new(), failed_remotes: HashMap::new() }
    }

    pub fn add(&mut self, e: &Ev) {
        if !self.select.wants(e) {
            return;
        }
        self.events += 1;
        self.hours.entry(e.secs.div_euclid(3600)).or_default()[e.kind as usize] += 1;
        if e.kind == Kind::Failed {
            self.failed_days.entry(e.secs.div_euclid(86_400)).or_default()[e.kind as usize] += 1;
            if e.remote != NONE {
                *self.failed_remotes.entry(e.remote).or_default() += 1;
            }
        }
    }
}

/// A page of tables (and, with `charts`, the charts above them; `damaged`
/// tables were skipped).
pub fn page(title: &str, charts: Option<(&Charts, &Strings, usize)>, tables: &[(String, Rows)], out: &mut dyn Write) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style></head><body>\n<h1>{}</h1>\n",
        esc(title),
        STYLE,
        esc(title)
    );
    if let Some((charts, strings, damaged)) = charts {
        let _ = write!(h, "<p class=\"note\">{} events", charts.events);
        if damaged > 0 {
            let _ = write!(h, "; {damaged} damaged tables skipped");
        }
        h.push_str("</p>\n<section class=\"charts\">\n");
        time_profile(charts, &mut h);
        top_remotes(charts, strings, &mut h);
        failures_per_day(charts, &mut h);
        h.push_str("</section>\n");
    }
    for (name, rows) in tables {
        table(name, rows, &mut h);
    }
    h.push_str("</body></html>\n");
    out.write_all(h.as_bytes())
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#212121}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
td.n{text-align:right}th{background:#eee}.note{color:#555}figure{margin:1em 0}figcaption{font-weight:bold}\
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table(name: &str, rows: &Rows, h: &mut String) {
    let _ = write!(h, "<h2>{}</h2>\n<table><thead><tr>", esc(name));
    for c in rows.columns {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in rows.rows.iter().take(TABLE_ROWS) {
        h.push_str("<tr>");
        for cell in row {
            let class = if matches!(cell, Cell::Count(_)) { " class=\"n\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(&cell_text(cell)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    if rows.rows.len() > TABLE_ROWS {
        let _ = writeln!(h, "<p class=\"note\">{} more rows: ask for this view with --format csv.</p>", rows.rows.len() - TABLE_ROWS);
    } else if rows.rows.is_empty() {
        h.push_str("<p class=\"note\">No rows.</p>\n");
    }
}

const W: f64 = 900.0;
const H: f64 = 220.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 30.0;

fn svg_open(id: &str, caption: &str, height: f64, h: &mut String) {
    let _ = write!(
        h,
        "<figure><figcaption>{}</figcaption>\n<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{}\">\n<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{height}\" fill=\"#fafafa\"/>\n",
        esc(caption),
        esc(caption)
    );
}

fn no_data(h: &mut String) {
    let _ = writeln!(h, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">no events</text>", W / 2.0, H / 2.0);
}

/// Vertical bars over consecutive buckets, stacked by result.
fn stacked_bars(labels: &[String], stacks: &[[u64; 8]], h: &mut String) {
    let max = stacks.iter().map(|s| s.iter().sum::<u64>()).max().unwrap_or(0);
    if max == 0 {
        no_data(h);
        return;
    }
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - 10.0;
    let bar = plot_w / stacks.len() as f64;
    axes(max, h);
    for (i, (label, stack)) in labels.iter().zip(stacks).enumerate() {
        let x = LEFT + i as f64 * bar;
        let mut y = H - BOTTOM;
        for (k, &n) in stack.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let height = n as f64 / max as f64 * plot_h;
            y -= height;
            let name = Kind::from_u8(k as u8).map_or("", Kind::name);
            let _ = writeln!(
                h,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{height:.2}\" fill=\"{}\"><title>{} {name}: {n}</title></rect>",
                (bar * 0.9).max(0.5),
                COLORS[k],
                esc(label)
            );
        }
    }
    // First, middle and last labels under the axis.
    let n = labels.len();
    for i in [0, n / 2, n - 1] {
        let x = LEFT + (i as f64 + 0.5) * bar;
        let anchor = if i == 0 { "start" } else if i == n - 1 { "end" } else { "middle" };
        let _ = writeln!(h, "<text x=\"{x:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\">{}</text>", H - 10.0, esc(&labels[i]));
    }
}

fn axes(max: u64, h: &mut String) {
    let _ = writeln!(
        h,
        "<line x1=\"{LEFT}\" y1=\"10\" x2=\"{LEFT}\" y2=\"{y}\" stroke=\"#333\"/><line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#333\"/>\
<text x=\"{}\" y=\"16\" font-size=\"11\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        W - 10.0,
        LEFT - 4.0,
        LEFT - 4.0,
        y = H - BOTTOM
    );
}

fn legend(kinds: &[Kind], h: &mut String) {
    h.push_str("<div class=\"legend\">");
    for &k in kinds {
        let _ = write!(h, "<span><i style=\"background:{}\"></i>{}</span>", COLORS[k as usize], k.name());
    }
    h.push_str("</div>\n");
}

/// The buckets from the first to the last with events (at most `max`:
/// a longer range is cut at its start), counted by result.
fn consecutive(counts: &HashMap<i64, [u64; 8]>, max: i64) -> (i64, Vec<[u64; 8]>) {
    let (Some(&lo), Some(&hi)) = (counts.keys().min(), counts.keys().max()) else { return (0, Vec::new()) };
    let lo = lo.max(hi - max + 1);
    let stacks = (lo..=hi).map(|b| counts.get(&b).copied().unwrap_or_default()).collect();
    (lo, stacks)
}

fn time_profile(charts: &Charts, h: &mut String) {
    // At most a year of hours.
    let (first, stacks) = consecutive(&charts.hours, 24 * 366);
    let labels: Vec<String> = (0..stacks.len() as i64)
        .map(|i| clock::from_secs((first + i) * 3600).map(|t| format!("{} {:02}:00", t.day, t.hour)).unwrap_or_default())
        .collect();
    svg_open("chart-time-profile", "Time profile: events per hour, by result", H, h);
    stacked_bars(&labels, &stacks, h);
    h.push_str("</svg>\n");
    legend(&Kind::ALL, h);
    h.push_str("</figure>\n");
}

fn failures_per_day(charts: &Charts, h: &mut String) {
    let (first, stacks) = consecutive(&charts.failed_days, 366 * 10);
    let labels: Vec<String> =
        (0..stacks.len() as i64).map(|i| clock::from_day_number(first + i).map(|d| d.to_string()).unwrap_or_default()).collect();
    svg_open("chart-failures-per-day", "Failed logins per day", H, h);
    stacked_bars(&labels, &stacks, h);
    h.push_str("</svg></figure>\n");
}

fn top_remotes(charts: &Charts, strings: &Strings, h: &mut String) {
    let mut top: Vec<(u32, u64)> = charts.failed_remotes.iter().map(|(&k, &n)| (k, n)).collect();
    let rank = strings.addr_ranks(top.iter().map(|(k, _)| *k));
    top.sort_unstable_by_key(|&(k, n)| (std::cmp::Reverse(n), rank.get(&k).copied()));
    top.truncate(20);
    let row = 18.0;
    let height = (top.len() as f64 * row + 20.0).max(60.0);
    svg_open("chart-top-remotes", "Top remote addresses of failed logins", height, h);
    let max = top.first().map_or(0, |t| t.1);
    if max == 0 {
        no_data(h);
    }
    let left = 260.0;
    for (i, (remote, n)) in top.iter().enumerate() {
        let y = 10.0 + i as f64 * row;
        let width = *n as f64 / max as f64 * (W - left - 80.0);
        let name = esc(strings.get(*remote));
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{name}</text><rect x=\"{left}\" y=\"{y:.1}\" width=\"{width:.2}\" height=\"{}\" fill=\"{}\"><title>{name}: {n}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{n}</text>",
            left - 6.0,
            y + 12.0,
            row - 4.0,
            COLORS[Kind::Failed as usize],
            left + width + 4.0,
            y + 12.0
        );
    }
    h.push_str("</svg></figure>\n");
}

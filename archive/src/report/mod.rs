//! `gsslog report sshd`: the views and their formats (text, csv, json, html).
//!
//! Files: `events.rs` (loading the stored tables and the live tails),
//! `views.rs` (the views' rows and their order), `watchlist.rs` (address
//! lists), `format.rs` (text, csv, json), `html.rs` (the page and its charts).

mod events;
mod format;
mod html;
mod views;
mod watchlist;

use std::io::{self, Write};

pub use events::{Ev, Scan, Strings};
pub use views::{Cell, Rows, Select, Tally};
pub use watchlist::{List, ListError};

use crate::cli::{Format, ProfileBy, SshdArgs, TopBy, View};
use crate::linetime::{BadDay, Day};
use crate::sshd::{clock, Kind};

/// Where a report's data come from: the tables `seal` stored (the bytes
/// [`crate::sshd::extract`] returned for each sealed chunk) and the live
/// tails not sealed yet. The archive implements it.
pub trait Source {
    /// Calls `each` with (relpath, stored table) for every table sealed.
    fn for_each_table(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()>;
    /// Calls `each` with (relpath, complete lines) for every file's unsealed tail.
    fn for_each_tail(&self, each: &mut dyn FnMut(&str, &[u8]) -> io::Result<()>) -> io::Result<()>;
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading the archive: {0}")]
    Io(#[from] io::Error),
    #[error("--since/--until: {0}")]
    Day(#[from] BadDay),
    #[error("--result '{0}' is not one of Accepted, Failed, Invalid, identification, disconnect, closed, refused, Authorized")]
    Result(String),
    #[error("watchlist: {0}")]
    Watchlist(#[from] ListError),
    #[error("--format csv writes one view: name one")]
    CsvNeedsView,
}

/// The grid's own report, the view of the html page's first table.
const GRID_MIN_COUNT: u64 = 20;
const GRID_DAYS: u32 = 14;
const PAGE_TOP: usize = 20;

/// Writes the report `args` asks for to `out`.
pub fn run(args: &SshdArgs, source: &dyn Source, out: &mut dyn io::Write) -> Result<(), ReportError> {
    let mut buffered = io::BufWriter::with_capacity(256 * 1024, out);
    write_report(args, source, &mut buffered)?;
    Ok(buffered.flush()?)
}

fn write_report(args: &SshdArgs, source: &dyn Source, out: &mut dyn io::Write) -> Result<(), ReportError> {
    let common = &args.common;
    let since = common.since.as_deref().map(Day::parse).transpose()?;
    let until = common.until.as_deref().map(Day::parse).transpose()?;
    let from = since.map_or(i64::MIN, |d| clock::day_number(d) * 86_400);
    let to = until.map_or(i64::MAX, |d| (clock::day_number(d) + 1) * 86_400);
    let select = |results: &[String]| -> Result<Select, ReportError> { Ok(Select { from, to, results: result_set(results)? }) };
    let until_day = until.map(clock::day_number);

    let Some(view) = &args.view else {
        if common.format == Format::Csv {
            return Err(ReportError::CsvNeedsView);
        }
        let all = select(&[])?;
        let failed = select(&["Failed".to_string()])?;
        let accepted = select(&["Accepted".to_string()])?;
        let mut tallies: Vec<(String, Box<dyn Tally>)> = vec![
            (
                format!("remote-results-per-day: Failed, count >= {GRID_MIN_COUNT}, last {GRID_DAYS} days"),
                Box::new(views::RemoteResultsPerDay::new(failed, GRID_MIN_COUNT, Some(GRID_DAYS), until_day)),
            ),
            ("logins".to_string(), Box::new(views::Logins::new(all))),
            ("top remote: Failed".to_string(), Box::new(views::Top::new(failed, TopBy::Remote, PAGE_TOP))),
            ("top user: Failed".to_string(), Box::new(views::Top::new(failed, TopBy::User, PAGE_TOP))),
            ("top user: Accepted".to_string(), Box::new(views::Top::new(accepted, TopBy::User, PAGE_TOP))),
            ("top method: Accepted".to_string(), Box::new(views::Top::new(accepted, TopBy::Method, PAGE_TOP))),
            ("top host: all results".to_string(), Box::new(views::Top::new(all, TopBy::Host, PAGE_TOP))),
            ("profile by day".to_string(), Box::new(views::Profile::new(all, ProfileBy::Day))),
        ];
        let mut charts = html::Charts::new(all);
        let scan = Scan::run(source, &mut |e, strings| {
            charts.add(e);
            for (_, t) in tallies.iter_mut() {
                t.add(e, strings);
            }
        })?;
        let tables: Vec<(String, Rows)> = tallies.into_iter().map(|(name, t)| (name, t.rows(&scan.strings))).collect();
        return match common.format {
            Format::Html => Ok(html::page("sshd report", Some((&charts, &scan.strings, scan.damaged)), &tables, out)?),
            Format::Json => {
                out.write_all(b"{")?;
                for (i, (name, rows)) in tables.iter().enumerate() {
                    let mut key = String::from(if i == 0 { "\n" } else { ",\n" });
                    format::json_string(name, &mut key);
                    key.push(':');
                    out.write_all(key.as_bytes())?;
                    format::json(rows, out)?;
                }
                Ok(out.write_all(b"\n}\n")?)
            }
            _ => {
                for (i, (name, rows)) in tables.iter().enumerate() {
                    writeln!(out, "{}== {name} ==", if i == 0 { "" } else { "\n" })?;
                    format::text(rows, out)?;
                }
                Ok(())
            }
        };
    };

    // Arguments are checked before the archive is read.
    let (name, mut tally): (&str, Box<dyn Tally>) = match view {
        View::RemoteResultsPerDay { results, min_count, days, .. } => {
            ("remote-results-per-day", Box::new(views::RemoteResultsPerDay::new(select(results)?, *min_count, *days, until_day)))
        }
        View::Logins { .. } => ("logins", Box::new(views::Logins::new(select(&[])?))),
        View::Watchlist { watchlists, all_results, .. } => {
            let lists = watchlists.iter().map(|w| List::load(w)).collect::<Result<Vec<_>, _>>()?;
            ("watchlist", Box::new(views::Watchlist::new(select(&[])?, lists, *all_results)))
        }
        View::Top { by, results, limit, .. } => ("top", Box::new(views::Top::new(select(results)?, *by, *limit))),
        View::Profile { by, results, .. } => ("profile", Box::new(views::Profile::new(select(results)?, *by))),
    };
    let scan = Scan::run(source, &mut |e, strings| tally.add(e, strings))?;
    let rows = tally.rows(&scan.strings);
    match common.format {
        Format::Text => format::text(&rows, out)?,
        Format::Csv => format::csv(&rows, out)?,
        Format::Json => {
            format::json(&rows, out)?;
            out.write_all(b"\n")?;
        }
        Format::Html => html::page(&format!("sshd report: {name}"), None, &[(name.to_string(), rows)], out)?,
    }
    Ok(())
}

/// The `--result` names as a set over [`Kind`]; none given: every result.
fn result_set(names: &[String]) -> Result<[bool; 8], ReportError> {
    if names.is_empty() {
        return Ok([true; 8]);
    }
    let mut set = [false; 8];
    for name in names {
        let kind = Kind::from_name(name).ok_or_else(|| ReportError::Result(name.clone()))?;
        set[kind as usize] = true;
    }
    Ok(set)
}

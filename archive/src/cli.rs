//! The command line. Scripts rely on it exactly as written in the admin's
//! guide: add options, never change or remove one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the archive lives when `--archive` is not given. Outside the
/// collector's tree, so that `grep -r /var/log/hosts` never reads it.
pub const DEFAULT_ARCHIVE: &str = "/var/lib/gsslog/archive";

/// Seal the collector's tree into a compressed, indexed archive; search and
/// report on it.
#[derive(Parser, Debug)]
#[command(name = "gsslog", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Seal every complete line not sealed yet under ROOT into the archive.
    Seal(SealArgs),
    /// Check every archived byte against the sources that still exist, and
    /// every segment against its checksum. Exit 1 on any mismatch.
    Verify(RootArgs),
    /// Write the original bytes of one file (sealed part and live tail).
    Cat(CatArgs),
    /// Search sealed data and live tails as `grep -r` over the original tree.
    Grep(GrepArgs),
    /// Reports computed from the tables built at seal time.
    Report(ReportArgs),
    /// Sizes and counts of the archive.
    Stats(RootArgs),
    /// The collector's silent and unexpected senders with their last-seen
    /// times, on one line. Exit 0 when there are none, 1 when the line names
    /// some, 2 on error.
    Senders(SendersArgs),
}

/// The archive's location, shared by every command.
#[derive(Args, Debug, Clone)]
pub struct ArchiveArg {
    /// The archive's directory.
    #[arg(long = "archive", value_name = "DIR", default_value = DEFAULT_ARCHIVE)]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct RootArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// The collector's tree.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct SendersArgs {
    /// The collector's metrics endpoint ($GssMetricsListen): asks URL/senders,
    /// or URL itself when it has a path.
    #[arg(long, value_name = "URL", default_value = crate::senders::DEFAULT_URL)]
    pub url: String,
    /// Read the collector's state file instead ($WorkDirectory/imgssapi-senders.state):
    /// the statuses as the collector last saved them, ages counted to now.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub state: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// Delete the source files of months that are over, once their archived
    /// bytes were verified against them.
    #[arg(long)]
    pub remove_sources: bool,
    /// zstd level of the sealed chunks (1-22): higher is smaller and slower.
    #[arg(long, value_name = "N", default_value_t = 9, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Bytes of lines per pack; each pack is one commit of the archive's
    /// manifest (smaller: more, smaller commits; the tests use it).
    #[arg(long, value_name = "BYTES", default_value_t = crate::seal::PACK)]
    pub pack_bytes: u64,
    /// A run that seals at least this many bytes trains a zstd dictionary
    /// for its blocks (about 110 KiB, stored once per pack: worth it for
    /// large runs only; the tests lower it).
    #[arg(long, value_name = "BYTES", default_value_t = crate::seal::DICTIONARY_MIN)]
    pub dictionary_min_bytes: u64,
    /// The collector's tree.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// The collector's tree.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
    /// The file's path relative to ROOT.
    #[arg(value_name = "RELPATH")]
    pub relpath: PathBuf,
    /// An earlier life of the file (before it was truncated or replaced):
    /// its sealed bytes only. Generations are numbered from 1.
    #[arg(long, value_name = "N")]
    pub generation: Option<u32>,
}

#[derive(Args, Debug)]
pub struct GrepArgs {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// PATTERN is a fixed string, not a regular expression.
    #[arg(short = 'F', long = "fixed-strings")]
    pub fixed: bool,
    /// Ignore case.
    #[arg(short = 'i', long = "ignore-case")]
    pub ignore_case: bool,
    /// Match whole words only.
    #[arg(short = 'w', long = "word-regexp")]
    pub word: bool,
    /// Print `RELPATH:N` for each file with N >= 1 matching lines.
    #[arg(short = 'c', long = "count")]
    pub count: bool,
    /// Print only the names of files with a match.
    #[arg(short = 'l', long = "files-with-matches")]
    pub files_with_matches: bool,
    /// Only files under this host's folder (the IP folder); repeatable.
    #[arg(long = "host", value_name = "IP")]
    pub hosts: Vec<String>,
    /// Only files with this name; repeatable.
    #[arg(long = "file", value_name = "NAME")]
    pub files: Vec<String>,
    /// Only lines from this day on (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<String>,
    /// Only lines up to and including this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,
    /// The pattern: an extended regular expression, or with -F a fixed string.
    #[arg(value_name = "PATTERN", allow_hyphen_values = true)]
    pub pattern: String,
    /// The collector's tree.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub report: Report,
}

#[derive(Subcommand, Debug)]
pub enum Report {
    /// The grid's sshd views, from the auth logs of every host.
    Sshd(SshdArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
    Html,
}

#[derive(Args, Debug)]
#[command(subcommand_negates_reqs = true)]
pub struct SshdArgs {
    #[command(flatten)]
    pub common: SshdCommon,
    /// One view; with none, every view (the html page).
    #[command(subcommand)]
    pub view: Option<View>,
    /// The collector's tree (when no view is named).
    #[arg(value_name = "ROOT", required = true)]
    pub root: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SshdCommon {
    #[command(flatten)]
    pub archive: ArchiveArg,
    /// Only events from this day on (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", global = true)]
    pub since: Option<String>,
    /// Only events up to and including this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", global = true)]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum View {
    /// `day,remote,result,count`
    RemoteResultsPerDay {
        #[arg(long = "result", value_name = "R")]
        results: Vec<String>,
        #[arg(long, value_name = "N", default_value_t = 1)]
        min_count: u64,
        #[arg(long, value_name = "N")]
        days: Option<u32>,
        #[arg(value_name = "ROOT")]
        root: PathBuf,
    },
    /// `time,host,user,method,remote,principal` for every accepted login.
    Logins {
        #[arg(value_name = "ROOT")]
        root: PathBuf,
    },
    /// `time,host,user,method,remote,list` for logins from listed addresses.
    Watchlist {
        /// NAME=FILE: one IP or CIDR per line, `#` comments; repeatable.
        #[arg(long = "watchlist", value_name = "NAME=FILE", required = true)]
        watchlists: Vec<String>,
        /// Every result, not only accepted logins.
        #[arg(long)]
        all_results: bool,
        #[arg(value_name = "ROOT")]
        root: PathBuf,
    },
    /// `key,count`
    Top {
        #[arg(long, value_enum, default_value_t = TopBy::Remote)]
        by: TopBy,
        #[arg(long = "result", value_name = "R")]
        results: Vec<String>,
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        #[arg(value_name = "ROOT")]
        root: PathBuf,
    },
    /// `bucket,result,count`
    Profile {
        #[arg(long, value_enum, default_value_t = ProfileBy::Hour)]
        by: ProfileBy,
        #[arg(long = "result", value_name = "R")]
        results: Vec<String>,
        #[arg(value_name = "ROOT")]
        root: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopBy {
    User,
    Remote,
    Host,
    Method,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileBy {
    Hour,
    Day,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn the_issue_s_command_lines_parse() {
        let cli = parse(&[
            "gsslog", "report", "sshd", "--format", "csv", "remote-results-per-day", "--result", "Failed",
            "--min-count", "20", "/var/log/hosts",
        ]);
        let Command::Report(ReportArgs { report: Report::Sshd(sshd) }) = cli.command else { panic!() };
        assert_eq!(sshd.common.format, Format::Csv);
        let Some(View::RemoteResultsPerDay { results, min_count, root, .. }) = sshd.view else { panic!() };
        assert_eq!((results, min_count, root), (vec!["Failed".to_string()], 20, PathBuf::from("/var/log/hosts")));

        let cli = parse(&["gsslog", "report", "sshd", "--format", "html", "/var/log/hosts"]);
        let Command::Report(ReportArgs { report: Report::Sshd(sshd) }) = cli.command else { panic!() };
        assert!(sshd.view.is_none());
        assert_eq!(sshd.root, Some(PathBuf::from("/var/log/hosts")));

        let cli = parse(&[
            "gsslog", "grep", "--archive", "/a", "-F", "-i", "-w", "--host", "10.0.0.1", "--host", "10.0.0.2",
            "--file", "auth.log", "--since", "2026-11-01", "-e-not-an-option", "/var/log/hosts",
        ]);
        let Command::Grep(g) = cli.command else { panic!() };
        assert_eq!(g.hosts.len(), 2);
        assert_eq!(g.pattern, "-e-not-an-option");

        let cli = parse(&["gsslog", "seal", "--remove-sources", "/var/log/hosts"]);
        let Command::Seal(s) = cli.command else { panic!() };
        assert_eq!(s.archive.dir, PathBuf::from(DEFAULT_ARCHIVE));
    }
}

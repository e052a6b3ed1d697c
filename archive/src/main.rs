//! `gsslog`: the admin's tool. Exit status as grep's where it searches:
//! 0 found (or done), 1 nothing found (or, for verify, a mismatch; for senders,
//! silent or unexpected senders named), 2 error.

use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use gsslog_archive::cli::{CatArgs, Cli, Command, GrepArgs, Report, ReportArgs, RootArgs, SealArgs, SendersArgs, SshdArgs, View};
use gsslog_archive::grep::{self, filter::Filter, matcher::Mode};
use gsslog_archive::linetime::Day;
use gsslog_archive::{cat, remove, seal, senders, stats, verify};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_target(false).with_env_filter(filter).init();
    let result = match cli.command {
        Command::Seal(args) => run_seal(args),
        Command::Verify(args) => run_verify(args),
        Command::Cat(args) => run_cat(args),
        Command::Grep(args) => run_grep(args),
        Command::Stats(args) => run_stats(args),
        Command::Report(ReportArgs { report: Report::Sshd(args) }) => run_report(args),
        Command::Senders(args) => run_senders(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gsslog: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_seal(args: SealArgs) -> anyhow::Result<ExitCode> {
    let options = seal::SealOptions { level: args.level, pack_bytes: args.pack_bytes, dictionary_min: args.dictionary_min_bytes };
    let (archive, summary) = seal::seal(&args.archive.dir, &args.root, options).context("seal")?;
    tracing::info!(
        files = summary.files,
        bytes = summary.bytes,
        chunks = summary.chunks,
        new_generations = summary.new_generations,
        "sealed"
    );
    let mut failed = !summary.errors.is_empty();
    for e in &summary.errors {
        eprintln!("gsslog: seal: {e}");
    }
    if args.remove_sources {
        let removal = remove::remove_closed_months(&archive, &args.root);
        tracing::info!(removed = removal.removed.len(), kept = removal.kept.len(), "sources of closed months");
        for (path, why) in &removal.kept {
            eprintln!("gsslog: seal: kept {path}: {why}");
        }
        failed |= removal.kept.iter().any(|(_, why)| why.is_error);
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn run_senders(args: SendersArgs) -> anyhow::Result<ExitCode> {
    let found = match &args.state {
        Some(path) => senders::from_state_file(path),
        None => senders::from_collector(&args.url),
    };
    // The error names its cause in its own text: printed once, not as a chain.
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            eprintln!("gsslog: senders: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let (line, named) = senders::summary(&found);
    println!("{line}");
    Ok(if named { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn run_verify(args: RootArgs) -> anyhow::Result<ExitCode> {
    let problems = verify::verify(&args.archive.dir, &args.root).context("verify")?;
    for p in &problems {
        println!("{p}");
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_cat(args: CatArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    match cat::cat(&args.archive.dir, &args.root, args.relpath.as_os_str().as_bytes(), args.generation, &mut out) {
        Err(cat::CatError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_grep(args: GrepArgs) -> anyhow::Result<ExitCode> {
    let day = |d: &Option<String>| d.as_deref().map(Day::parse).transpose();
    let options = grep::GrepOptions {
        mode: Mode { fixed: args.fixed, ignore_case: args.ignore_case, word: args.word },
        count: args.count,
        list: args.files_with_matches,
        filter: Filter { hosts: args.hosts, files: args.files, since: day(&args.since)?, until: day(&args.until)? },
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let outcome = match grep::grep(&args.archive.dir, &args.root, &args.pattern, &options, &mut out, &mut std::io::stderr()) {
        // The reader went away (`| head`): as grep, stop quietly.
        Err(grep::GrepError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    };
    Ok(match outcome {
        grep::Outcome { errors: true, .. } => ExitCode::from(2),
        grep::Outcome { matched: true, .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn run_stats(args: RootArgs) -> anyhow::Result<ExitCode> {
    let s = stats::stats(&args.archive.dir, &args.root).context("stats")?;
    print!("{s}");
    Ok(ExitCode::SUCCESS)
}

fn run_report(args: SshdArgs) -> anyhow::Result<ExitCode> {
    let root = match (&args.root, &args.view) {
        (Some(root), _) => root.clone(),
        (None, Some(view)) => match view {
            View::RemoteResultsPerDay { root, .. }
            | View::Logins { root }
            | View::Watchlist { root, .. }
            | View::Top { root, .. }
            | View::Profile { root, .. } => root.clone(),
        },
        (None, None) => anyhow::bail!("report: no ROOT given"),
    };
    let source = gsslog_archive::source::ArchiveSource::open(&args.common.archive.dir, &root)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    gsslog_archive::report::run(&args, &source, &mut out).context("report sshd")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

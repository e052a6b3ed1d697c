//! `omgssapi queue show` and `omgssapi queue export`: the queues of a
//! stopped shipper, read without changing them, so that a backlog is never
//! stranded (a node rolled back to rsyslog, a shipper that cannot start).
//!
//! `show` prints, for every `:omgssapi:` action of the configuration, its
//! queue's records, bytes, and oldest and newest records. `export` writes the
//! records, oldest first, as syslog lines on stdout (one message a line, as
//! the collector would have received them: framing and compression undone),
//! fit for rsyslog's imfile or for a syslog socket. Neither acknowledges
//! anything: a shipper started on the queue afterwards sends the backlog
//! again, so remove the queue's files once the export is delivered.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::queue_cli::{QueueAction, QueueArgs, QueueCli};

/// What to do when a shipper holds the queue: stopping the unit alone is not
/// enough on a socket-activated node (the next log line starts it again).
const STOP_HINT: &str = "a shipper is running on this queue: stop it first. Socket-activated (gsslog-shipper.service), \
stop its socket too, or the next log line starts it again: systemctl stop syslog.socket gsslog-shipper \
(systemctl start syslog.socket gsslog-shipper afterwards). Under rsyslog's omprog: systemctl stop rsyslog";

/// Runs `omgssapi queue ...` (the program's arguments after `omgssapi`);
/// errors are printed with their causes.
pub fn main() -> ExitCode {
    let cli = <QueueCli as clap::Parser>::parse_from(std::env::args_os().skip(1));
    let result = match cli.action {
        QueueAction::Show(args) => show(&args),
        QueueAction::Export(args) => export(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("omgssapi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &QueueArgs) -> Result<crate::config::ShipperConfig, ExitCode> {
    let default = args.work_directory.clone().unwrap_or_else(|| PathBuf::from(crate::cli::DEFAULT_WORK_DIRECTORY));
    // The queues are found by their settings, not by the collector: the
    // packaged placeholder (set in /etc/default/gsslog-shipper) is no error here.
    let (mut config, text) = crate::config::load_for(&args.config, &default, Some("collector.invalid:515"));
    if let Some(exit) = text.gate("omgssapi", false) {
        return Err(exit);
    }
    if let Some(dir) = &args.work_directory {
        for f in &mut config.forwards {
            f.queue.dir = dir.clone();
        }
    }
    Ok(config)
}

/// [`queue::read_backlog`], with what to do when a shipper holds the queue.
fn read(q: &queue::QueueConfig, each: impl FnMut(&queue::Record)) -> anyhow::Result<queue::Backlog> {
    match queue::read_backlog(q, each) {
        Ok(backlog) => Ok(backlog),
        Err(e @ queue::QueueError::Locked { .. }) => Err(anyhow::anyhow!("{e}: {STOP_HINT}")),
        Err(e) => Err(e).with_context(|| format!("reading queue {} in {}", q.name, q.dir.display())),
    }
}

/// The first line of a record as text, cut to `max` characters.
fn preview(record: &queue::Record, max_message_size: usize) -> String {
    let line = syslog::framing::decode(&record.payload, max_message_size);
    let text = String::from_utf8_lossy(&line);
    let first = text.lines().next().unwrap_or("");
    match first.char_indices().nth(160) {
        Some((at, _)) => format!("{}...", &first[..at]),
        None => first.to_string(),
    }
}

fn show(args: &QueueArgs) -> anyhow::Result<ExitCode> {
    let config = match load(args) {
        Ok(c) => c,
        Err(exit) => return Ok(exit),
    };
    let mut out = std::io::stdout().lock();
    for f in &config.forwards {
        let q = &f.queue;
        let backlog = read(q, |_| {})?;
        writeln!(out, "queue {} in {} (to {}:{}, from {})", q.name, q.dir.display(), f.target.host, f.target.port, f.location)?;
        writeln!(out, "  records: {}", backlog.records)?;
        if backlog.segments == 0 && backlog.bytes_on_disk == 0 {
            writeln!(
                out,
                "  no queue files here: a shipper never queued in this directory with this configuration \
                 (the packaged service queues in /var/lib/gsslog-shipper: give the config \
                 $WorkDirectory /var/lib/gsslog-shipper, or pass --work-directory)"
            )?;
        }
        writeln!(out, "  bytes: {} of records, {} on disk in {} segment files", backlog.payload_bytes, backlog.bytes_on_disk, backlog.segments)?;
        if let (Some(oldest), Some(newest)) = (&backlog.oldest, &backlog.newest) {
            writeln!(out, "  oldest: #{} {}", oldest.seq, preview(oldest, config.max_message_size))?;
            writeln!(out, "  newest: #{} {}", newest.seq, preview(newest, config.max_message_size))?;
        }
        if backlog.unreadable > 0 {
            writeln!(out, "  unreadable records skipped: {}", backlog.unreadable)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export(args: &QueueArgs) -> anyhow::Result<ExitCode> {
    let config = match load(args) {
        Ok(c) => c,
        Err(exit) => return Ok(exit),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    for f in &config.forwards {
        let q = &f.queue;
        let backlog = read(q, |record| {
            if failed.is_some() {
                return;
            }
            let mut line = syslog::framing::decode(&record.payload, config.max_message_size);
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed.take() {
            return Err(e).context("writing to stdout");
        }
        eprintln!("omgssapi: queue {} in {}: {} records exported", q.name, q.dir.display(), backlog.records);
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

//! `imgssapi`: the collector. Runs in place of the central rsyslogd, with its
//! legacy configuration, and writes the same files.

mod config;
mod dns;
mod output;
mod rate_limited;
mod render;
mod render_pool;
mod server;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// Kerberos-protected syslog collector, compatible with rsyslog's imgssapi.
#[derive(Parser, Debug)]
#[command(name = "imgssapi", version)]
struct Cli {
    /// The configuration file (rsyslog legacy syntax).
    #[arg(short = 'f', long = "config")]
    config: PathBuf,
    /// Check the configuration, print every problem as FILE:LINE: message,
    /// and exit 0 (no errors) or 1.
    #[arg(long)]
    check_config: bool,
    /// Write the process id here while running.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// No reverse DNS for senders: `fromhost` is their address. (rsyslog's old
    /// -x; current rsyslog and this daemon also take global(net.enableDNS="off").)
    #[arg(short = 'x')]
    no_dns: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let (config, text) = config::load(&cli.config);
    if let Some(exit) = text.gate("imgssapi", cli.check_config) {
        return exit;
    }
    match run(cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, mut config: config::CollectorConfig) -> anyhow::Result<()> {
    if let Some(mask) = config.umask {
        // SAFETY: umask only changes this process's file creation mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    raise_open_file_limit();
    // The rules go to the sessions, which apply them; the rest of the config is shared.
    let rules = Arc::new(render::Rules::new(std::mem::take(&mut config.rules), config.file_actions));
    let config = Arc::new(config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Parsing and rendering run on their own threads, off the runtime; they
    // idle once the sessions are gone and end with the process.
    let render_threads = render_pool::RenderPool::global().map_err(|e| anyhow::anyhow!("starting the render threads: {e}"))?.threads();
    tracing::debug!(threads = render_threads, "render threads started");
    // Batches in flight to the output thread: a few is enough to keep it busy;
    // beyond that a fast sender is slowed by TCP backpressure instead of
    // growing our memory (4096 batches let the collector reach 100 MB).
    let (tx, rx) = mpsc::channel(64);
    let stats = Arc::new(output::OutputStats::default());
    let writer = output::Output::new(rules.file_settings(), stats.clone());
    let writer_thread = std::thread::Builder::new().name("output".into()).spawn(move || writer.run(rx))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let result = runtime.block_on(async {
        let rule_count = rules.count();
        let listening = server::bind(config.clone(), rules, tx.clone(), stop_rx.clone(), config.dns && !cli.no_dns).await?;
        if let Some(path) = &cli.pid_file {
            std::fs::write(path, format!("{}\n", std::process::id())).with_context(|| format!("writing pid file {}", path.display()))?;
        }
        tracing::info!(ports = ?listening.ports(), rules = rule_count, "collector running");
        let signals = tokio::spawn(handle_signals(tx.clone(), stop_tx));
        listening.serve(config.max_sessions, stop_rx).await;
        signals.abort();
        anyhow::Ok(())
    });
    drop(tx);
    // Handshakes stuck in a blocking GSS call must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if writer_thread.join().is_err() {
        tracing::error!("output thread panicked");
    }
    if let Some(path) = &cli.pid_file {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!(
        written = stats.written.load(std::sync::atomic::Ordering::Relaxed),
        lost = stats.lost.load(std::sync::atomic::Ordering::Relaxed),
        inflated_past_limit = rate_limited::INFLATED_PAST_LIMIT.total(),
        "collector stopped"
    );
    result
}

async fn handle_signals(output: mpsc::Sender<output::Command>, stop: watch::Sender<bool>) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let _ = output.send(output::Command::Reopen).await;
            }
        }
    }
    tracing::info!("SIGTERM: graceful shutdown");
    let _ = stop.send(true);
    Ok(())
}

/// Thousands of sessions and a dynafile cache of thousands of files need more
/// than the usual soft limit of 1024 descriptors.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

//! `omgssapi`: the shipper. Takes the node's syslog, queues it on disk, and
//! forwards it over Kerberos to the collector, as rsyslog's omgssapi does.

mod backoff;
mod config;
mod forward;
mod inputs;
mod route;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Kerberos-protected syslog shipper, compatible with rsyslog's omgssapi.
#[derive(Parser, Debug)]
#[command(name = "omgssapi", version)]
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
    /// Read messages from stdin as rsyslog's omprog with confirmMessages="on".
    #[arg(long)]
    stdin: bool,
    /// Also listen on this local datagram socket (like /dev/log).
    #[arg(long = "unix-socket")]
    unix_sockets: Vec<PathBuf>,
    /// Also listen for syslog over UDP on ADDR:PORT.
    #[arg(long)]
    udp: Vec<SocketAddr>,
    /// Also listen for syslog over TCP on ADDR:PORT (LF-framed or octet-counted).
    #[arg(long)]
    tcp: Vec<SocketAddr>,
    /// Where queues live when the config has no $WorkDirectory.
    #[arg(long, default_value = "/var/spool/rsyslog")]
    work_directory: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let (config, text) = config::load(&cli.config, &cli.work_directory);
    if let Some(exit) = text.gate("omgssapi", cli.check_config) {
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

fn run(cli: Cli, mut config: config::ShipperConfig) -> anyhow::Result<()> {
    let mut routes = Vec::new();
    let mut queues = Vec::new();
    let mut consumers = Vec::new();
    for f in &config.forwards {
        let (producer, consumer) = queue::open(f.queue.clone())
            .with_context(|| format!("opening the queue for {} (from {})", f.target.host, f.location))?;
        let backlog = producer.stats().queued;
        if backlog > 0 {
            tracing::info!(queue = %f.queue.name, backlog, "messages from before the restart are queued");
        }
        queues.push(producer.clone());
        consumers.push(consumer);
        routes.push(route::Route { filter: f.filter.clone(), template: f.template.clone(), target: f.target.clone(), queue: producer });
    }
    let router = Arc::new(route::Router {
        routes,
        options: syslog::ParseOptions { max_message_size: config.max_message_size },
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let inputs = Arc::new(inputs::Inputs { router, stopping: stopping.clone(), hostname: local_hostname() });

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut guards = Vec::new();
    config.inputs.unix_sockets.extend(cli.unix_sockets.iter().cloned());
    config.inputs.udp.extend(cli.udp.iter().copied());
    config.inputs.tcp.extend(cli.tcp.iter().copied());
    for path in &config.inputs.unix_sockets {
        guards.push(inputs.spawn_unix(path)?);
    }
    for addr in &config.inputs.udp {
        inputs.spawn_udp(*addr)?;
    }
    for addr in &config.inputs.tcp {
        inputs.spawn_tcp(*addr)?;
    }
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    if cli.stdin {
        inputs.spawn_stdin(move || {
            let _ = eof_tx.send(());
        })?;
    }
    if let Some(path) = &cli.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).with_context(|| format!("writing pid file {}", path.display()))?;
    }

    runtime.block_on(async {
        let mut forwarders = tokio::task::JoinSet::new();
        for (f, consumer) in config.forwards.iter().zip(consumers) {
            forwarders.spawn(forward::run(f.clone(), consumer, stop_rx.clone()));
        }
        tracing::info!(actions = config.forwards.len(), "shipper running");
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let stdin_closed = async {
            match eof_rx.await {
                Ok(()) => (),
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
            _ = stdin_closed => tracing::info!("stdin closed (rsyslog's omprog is stopping): stopping"),
        }
        // Stop taking input, stop the forwarders, keep what is queued.
        stopping.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        while forwarders.join_next().await.is_some() {}
        anyhow::Ok(())
    })?;
    for q in queues {
        let s = q.stats();
        tracing::info!(queued = s.queued, enqueued = s.enqueued, acknowledged = s.acknowledged, discarded_full = s.discarded_full, "queue state at exit");
        if let Err(e) = q.sync() {
            tracing::error!(error = %e, "final queue sync failed");
        }
    }
    drop(guards);
    if let Some(path) = &cli.pid_file {
        let _ = std::fs::remove_file(path);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().split('.').next().unwrap_or("localhost").to_string())
        .unwrap_or_else(|_| "localhost".into())
}

//! `omgssapi`: the shipper. Takes the node's syslog, queues it on disk, and
//! forwards it over Kerberos to the collector, as rsyslog's omgssapi does.

#![forbid(unsafe_code)]

mod backoff;
mod config;
mod forward;
mod inputs;
mod route;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use daemon::cli::CommonArgs;
use daemon::pid_file::PidFile;
use daemon::signals::{self, Signals};

/// Kerberos-protected syslog shipper, compatible with rsyslog's omgssapi.
#[derive(Parser, Debug)]
#[command(name = "omgssapi", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
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
    /// With --check-config: also get a ticket for each action's service from
    /// the KDC, as its first handshake would (no connection to the collector).
    #[arg(long, requires = "check_config")]
    check_credentials: bool,
    /// Where queues live when the config has no $WorkDirectory.
    #[arg(long, default_value = "/var/spool/rsyslog")]
    work_directory: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::logging::init();
    let common = cli.common.clone();
    let work_directory = cli.work_directory.clone();
    let check_credentials = cli.check_credentials;
    let load = |path: &std::path::Path| config::load_checked(path, &work_directory, check_credentials);
    daemon::config::start("omgssapi", &common.config, common.check_config, load, |config| run(cli, config))
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
    let (stop, shutdown) = signals::shutdown();
    let inputs = Arc::new(inputs::Inputs { router, shutdown: shutdown.clone(), hostname: daemon::os::short_hostname() });

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
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
    if cli.stdin {
        let stop = stop.clone();
        inputs.spawn_stdin(move || {
            tracing::info!("stdin closed (rsyslog's omprog is stopping): stopping");
            stop.trigger();
        })?;
    }
    let pid_file = PidFile::create_if(cli.common.pid_file.as_deref())?;

    runtime.block_on(async {
        let mut signals = Signals::install()?;
        let mut forwarders = tokio::task::JoinSet::new();
        for (f, consumer) in config.forwards.iter().zip(consumers) {
            forwarders.spawn(forward::run(f.clone(), consumer, shutdown.clone()));
        }
        tracing::info!(actions = config.forwards.len(), "shipper running");
        let on_hangup = || tracing::info!("SIGHUP: nothing to reopen (the shipper writes no log files); going on");
        let mut stdin_closed = shutdown.clone();
        tokio::select! {
            s = signals.stop_requested(on_hangup) => tracing::info!(signal = s.name(), "stopping"),
            _ = stdin_closed.triggered() => {}
        }
        // Stop taking input, stop the forwarders, keep what is queued.
        stop.trigger();
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
    drop(pid_file);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

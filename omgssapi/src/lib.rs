//! `omgssapi`: the shipper. Takes the node's syslog, queues it on disk, and
//! forwards it over Kerberos to the collector, as rsyslog's omgssapi does.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod cli;
pub mod config;
pub mod directives;
mod forward;
mod inputs;
mod kmsg;
mod mark;
pub mod queue_cli;
mod queue_command;
mod route;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use cli::Cli;
use daemon::pid_file::PidFile;
use daemon::signals::{self, Signals};

/// The shipper's whole program: its command line, then the daemon until it
/// stops. `main.rs` only calls this.
pub fn main() -> ExitCode {
    // `omgssapi queue ...` works on a stopped shipper's queues; every other
    // command line is the daemon's, unchanged.
    if std::env::args_os().nth(1).is_some_and(|a| a == "queue") {
        daemon::logging::init();
        return queue_command::main();
    }
    let cli = Cli::parse();
    if cli.stdin {
        // Under rsyslog's omprog: stderr is /dev/null, so the log goes to the
        // journal; and systemd's variables are rsyslog's (its notify socket,
        // its watchdog), not ours to answer. No thread runs yet.
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            std::env::remove_var(name);
        }
        daemon::logging::init_to_journal_if_unseen("omgssapi", std::path::Path::new(daemon::logging::JOURNAL_SOCKET));
    } else {
        daemon::logging::init();
    }
    let common = cli.common.clone();
    let work_directory = cli.work_directory.clone();
    let check_credentials = cli.check_credentials;
    let collector = cli.collector.clone();
    let load = |path: &std::path::Path| config::load_checked(path, &work_directory, collector.as_deref(), check_credentials);
    daemon::config::start("omgssapi", &common.config, common.check_config, load, |config| run(cli, config))
}

fn run(cli: Cli, mut config: config::ShipperConfig) -> anyhow::Result<()> {
    let mut routes = Vec::new();
    let mut queues = Vec::new();
    let mut consumers = Vec::new();
    let mut actions = Vec::new();
    for f in &config.forwards {
        let (producer, consumer) =
            open_queue(&f.queue).with_context(|| format!("opening the queue for {} (from {})", f.target.host, f.location))?;
        let backlog = producer.stats().queued;
        if backlog > 0 {
            tracing::info!(queue = %f.queue.name, backlog, "messages from before the restart are queued");
        }
        queues.push(producer.clone());
        let collector = format!("{}:{}", f.target.host, f.target.port);
        actions.push(stats::Action { name: f.queue.name.clone(), collector, stats: stats::ActionStats::new(), queue: producer.clone() });
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
    let mut readers = Vec::new();
    config.inputs.unix_sockets.extend(cli.unix_sockets.iter().cloned());
    config.inputs.udp.extend(cli.udp.iter().copied());
    config.inputs.tcp.extend(cli.tcp.iter().copied());
    for path in &config.inputs.unix_sockets {
        let (guard, reader) = inputs.spawn_unix(path)?;
        guards.push(guard);
        readers.push(reader);
    }
    let kernel_log = |kmsg: std::fs::File| -> anyhow::Result<inputs::Reader> {
        let dir = config.forwards.first().map(|f| f.queue.dir.clone()).unwrap_or_else(|| cli.work_directory.clone());
        inputs.spawn_kmsg(kmsg, kmsg::position_file(&dir), config.inputs.permit_non_kernel_facility)
    };
    let mut kmsg_passed = false;
    for fd in daemon::systemd::take_listen_fds()? {
        // A character device systemd opened for us is the kernel log
        // (gsslog-shipper-kmsg.socket, ListenSpecial=/dev/kmsg).
        let file = std::fs::File::from(fd);
        if file.metadata().is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type())) {
            readers.push(kernel_log(file)?);
            kmsg_passed = true;
        } else {
            readers.push(inputs.spawn_activated(file.into())?);
        }
    }
    // $ModLoad imklog without systemd's descriptor: open it here. Never
    // under omprog, where rsyslog's imklog reads the kernel log.
    if config.inputs.kernel_log && !kmsg_passed {
        if cli.stdin {
            tracing::info!("$ModLoad imklog: under omprog, rsyslog's imklog reads the kernel log, not the shipper");
        } else {
            match std::fs::File::open(KMSG) {
                Ok(kmsg) => readers.push(kernel_log(kmsg)?),
                Err(e) => tracing::error!(
                    error = %e,
                    "$ModLoad imklog: cannot open {KMSG}, the kernel log is not forwarded (under systemd, gsslog-shipper-kmsg.socket passes it)"
                ),
            }
        }
    }
    for addr in &config.inputs.udp {
        readers.push(inputs.spawn_udp(*addr)?.1);
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
    if let Some(period) = config.mark_period {
        runtime.spawn(mark::run(inputs.clone(), period));
    }
    let pid_file = PidFile::create_if(cli.common.pid_file.as_deref())?;
    let registry = daemon::metrics::Registry::new();
    stats::register(&registry, &actions);
    let metrics_listener = match config.metrics.listen {
        Some(addr) => Some(daemon::metrics_http::bind(addr).with_context(|| format!("binding $GssMetricsListen {addr}"))?),
        None => None,
    };
    drop_privileges(&config)?;

    runtime.block_on(async {
        let mut signals = Signals::install()?;
        if let Some(listener) = metrics_listener {
            let addr = listener.local_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
            tracing::info!(%addr, "metrics endpoint listening (GET /metrics, GET /health)");
            tokio::spawn(daemon::metrics_http::serve(listener, registry.clone(), stats::health(&actions), shutdown.clone()));
        }
        if config.metrics.impstats {
            tokio::spawn(registry.clone().log_every(config.metrics.interval));
        }
        let mut forwarders = tokio::task::JoinSet::new();
        for ((f, consumer), action) in config.forwards.iter().zip(consumers).zip(&actions) {
            forwarders.spawn(forward::run(f.clone(), consumer, shutdown.clone(), action.stats.clone()));
        }
        tracing::info!(actions = config.forwards.len(), "shipper running");
        daemon::systemd::notify_ready();
        let _watchdog = daemon::systemd::spawn_watchdog();
        let on_hangup = || tracing::info!("SIGHUP: nothing to reopen (the shipper writes no log files); going on");
        let mut stdin_closed = shutdown.clone();
        loop {
            tokio::select! {
                s = signals.stop_requested(on_hangup) => {
                    // Under omprog, systemd's SIGTERM to rsyslog's whole unit
                    // reaches us too; rsyslog still hands over what it holds
                    // and then closes stdin, which is our stop.
                    if cli.stdin && s == signals::StopSignal::Terminate {
                        tracing::info!("SIGTERM: under rsyslog's omprog, stopping once rsyslog closes stdin");
                        continue;
                    }
                    tracing::info!(signal = s.name(), "stopping");
                }
                _ = stdin_closed.triggered() => {}
            }
            break;
        }
        daemon::systemd::notify_stopping();
        // Stop taking input, stop the forwarders, keep what is queued.
        stop.trigger();
        while forwarders.join_next().await.is_some() {}
        anyhow::Ok(())
    })?;
    // Each datagram input queues what it read before the stop and leaves
    // the rest in its socket (systemd's, for the next instance).
    for reader in readers {
        reader.join();
    }
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

/// The kernel log's device.
const KMSG: &str = "/dev/kmsg";

/// How long a starting shipper waits for another process to release its
/// queue: the handover from rsyslog's omprog shipper to the socket-activated
/// one, which systemd may start while rsyslog is still stopping.
const QUEUE_HANDOVER: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens a queue, waiting up to [`QUEUE_HANDOVER`] while another process
/// holds it. Nothing is read from any input meanwhile: what arrives waits in
/// the sockets.
fn open_queue(config: &queue::QueueConfig) -> Result<(queue::Producer, queue::Consumer), queue::QueueError> {
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        match queue::open(config.clone()) {
            Err(queue::QueueError::Locked { path }) if start.elapsed() < QUEUE_HANDOVER => {
                if !said {
                    tracing::info!(lock = %path.display(), "the queue is in use by another process (rsyslog's omprog shipper stopping?): waiting for it");
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// `$PrivDropToUser` and its kin, once the inputs are bound and the queues
/// open: the client keytab must stay readable (MIT reads it at every ticket
/// fetch), the credential cache and the queue directories writable.
fn drop_privileges(config: &config::ShipperConfig) -> anyhow::Result<()> {
    let mut needed = daemon::privileges::StillNeeded::default();
    let group = config.privileges.final_groups();
    if let Some(keytab) = daemon::privileges::keytab_file("KRB5_CLIENT_KTNAME", None) {
        daemon::keytab_mode::warn_if_exposed("the client keytab", &keytab, &group);
        needed.readable.push(("the client keytab", keytab));
    }
    for keytab in config.forwards.iter().flat_map(|f| std::iter::once(f).chain(&f.backups)).filter_map(|f| f.identity.keytab.as_deref()) {
        let path = keytab.strip_prefix("FILE:").unwrap_or(keytab);
        daemon::keytab_mode::warn_if_exposed("the client keytab ($GssForwardKeytab)", std::path::Path::new(path), &group);
    }
    // MIT stores the tickets it fetches there (by default /tmp/krb5cc_UID, per user).
    if let Some(dir) = daemon::privileges::keytab_file("KRB5CCNAME", None).as_deref().and_then(std::path::Path::parent) {
        needed.writable_dirs.push(("the credential cache's directory", dir.to_path_buf()));
    }
    for f in &config.forwards {
        needed.writable_dirs.push(("the queue directory", f.queue.dir.clone()));
    }
    daemon::privileges::drop_and_check(&config.privileges, &needed)?;
    Ok(())
}

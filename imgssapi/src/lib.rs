//! `imgssapi`: the collector. Runs in place of the central rsyslogd, with its
//! legacy configuration, and writes the same files.
//!
//! Each file imports only files below it (`tests/module_graph.rs` checks
//! it), so the folder reads bottom-up:
//! - parts that stand alone: `source` (addresses as the caps count them),
//!   `budget`, `acknowledge`, `counters`, `not_opened`, `event_log`, `dns`,
//!   `render_pool`, `rate_limited`, `session_rate`, `senders/`;
//! - the rules built on them: `front_door` and `slots` (places and slots),
//!   `identity`, `render`; then `admission`, `detect`, `output`;
//! - `settings` (what the directive lines set), `directives` (the table that
//!   sets them), then `config`: the settings of each part, read from rsyslog's config;
//! - a session's stages: `context` (what a listener's sessions share),
//!   `open` (the front door), `pipeline`, `chunks`, `stats`, then `session`;
//! - `server` (the listeners), and this file.

#![forbid(unsafe_code)]

mod acknowledge;
/// Public for the fuzz target `first_token` (with [`detect`]).
pub mod budget;
mod admission;
mod chunks;
mod context;
mod counters;
pub mod cli;
pub mod config;
/// Public for the fuzz target `first_token`: the reading of a connection's
/// first token, the first code that unauthenticated bytes reach.
pub mod detect;
pub mod directives;
pub mod dns;
mod event_log;
mod front_door;
mod lookups;
pub mod identity;
mod not_opened;
mod open;
mod output;
mod pipeline;
mod rate_limited;
mod render;
mod render_pool;
mod server;
mod senders;
mod session;
mod session_rate;
mod settings;
mod slots;
mod source;
mod stats;
mod write_check;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cli::Cli;
use daemon::pid_file::PidFile;
use daemon::signals::{Signals, ShutdownTrigger};
use tokio::sync::mpsc;

/// The collector's whole program: its command line, then the daemon until it
/// stops. `main.rs` only calls this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::logging::init();
    let common = cli.common.clone();
    let load = |path: &std::path::Path| {
        let (config, mut text) = config::load_checked(path, common.check_config);
        // And whether this process, as it runs (the unit's user in its
        // sandbox, for the unit's `ExecStartPre`), can write where the rules write.
        if common.check_config && !text.has_errors() {
            write_check::check(&config, &mut text);
        }
        (config, text)
    };
    daemon::config::start("imgssapi", &common.config, common.check_config, load, |config| run(cli, config))
}

fn run(cli: Cli, mut config: config::CollectorConfig) -> anyhow::Result<()> {
    if let Some(mask) = config.umask {
        daemon::os::set_umask(mask);
    }
    daemon::os::raise_open_file_limit();
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
    // The ClickHouse actions' queues are opened (recovering what an earlier
    // run left) and their workers started before any session can queue rows.
    let (clickhouse, clickhouse_workers) = open_clickhouse_actions(&config.clickhouse)?;
    let writer = output::Output::new(rules.file_settings(), stats.clone())
        .sync_before_acknowledging(config.ack_after_fsync)
        .with_clickhouse(clickhouse.clone());
    let writer_thread = std::thread::Builder::new().name("output".into()).spawn(move || writer.run(rx))?;

    let (stop, shutdown) = daemon::signals::shutdown();
    let result = runtime.block_on(async {
        let rule_count = rules.count();
        let listening = server::bind(config.clone(), rules, tx.clone(), shutdown.clone(), config.dns && !cli.no_dns).await?;
        let pid_file = PidFile::create_if(cli.common.pid_file.as_deref())?;
        let registry = daemon::metrics::Registry::new();
        stats::register(&registry, listening.admission(), listening.budgets(), stats.clone());
        stats::register_clickhouse(&registry, &clickhouse);
        let health = senders::with_health(stats::health(listening.ports(), stats.clone()));
        senders::start(&config.senders, &registry, shutdown.clone());
        start_metrics(&config.metrics, registry, health, &shutdown)?;
        drop_privileges(&config)?;
        // Before "running" and READY=1, so that a SIGTERM or SIGINT sent on
        // that word is handled (it used to be lost in between when the
        // daemon had inherited it as ignored, as background jobs do).
        let signals = Signals::install()?;
        tracing::info!(ports = ?listening.ports(), rules = rule_count, "collector running");
        daemon::systemd::notify_ready();
        let watchdog = daemon::systemd::spawn_watchdog();
        let signals = tokio::spawn(handle_signals(signals, tx.clone(), stop));
        listening.serve(shutdown).await;
        senders::save();
        signals.abort();
        if let Some(w) = watchdog {
            w.abort();
        }
        anyhow::Ok(pid_file)
    });
    drop(tx);
    // Handshakes stuck in a blocking GSS call must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if writer_thread.join().is_err() {
        tracing::error!("output thread panicked");
    }
    // Every row is queued by now; what the workers have not sent stays
    // in the queues for the next start.
    for worker in clickhouse_workers {
        worker.stop();
    }
    tracing::info!(
        written = stats.written.load(std::sync::atomic::Ordering::Relaxed),
        lost = stats.lost.load(std::sync::atomic::Ordering::Relaxed),
        inflated_past_limit = rate_limited::INFLATED_PAST_LIMIT.total(),
        "collector stopped"
    );
    drop(result?);
    Ok(())
}

/// Opens every `omclickhouse` action: its queue, and its worker thread.
fn open_clickhouse_actions(actions: &[config::ClickHouseAction]) -> anyhow::Result<(Vec<omclickhouse::Action>, Vec<omclickhouse::Running>)> {
    let mut opened = Vec::new();
    let mut workers = Vec::new();
    for a in actions {
        let (action, worker) = omclickhouse::Action::open(&a.settings, &a.format, &a.name, &a.work_dir, &a.queue_name, a.also_owned_by)?;
        let queued = action.queue_stats().queued;
        tracing::info!(action = %a.name, url = %a.settings.base_url, queue = %a.work_dir.join(&a.queue_name).display(), queued, "omclickhouse action started");
        opened.push(action);
        workers.push(worker);
    }
    Ok((opened, workers))
}

/// impstats lines every `$PStatInterval`, and the `$GssMetricsListen`
/// endpoint (bound now, before privileges are dropped).
fn start_metrics(
    settings: &daemon::metrics::MetricsSettings,
    registry: Arc<daemon::metrics::Registry>,
    health: daemon::metrics_http::HealthCheck,
    shutdown: &daemon::signals::Shutdown,
) -> anyhow::Result<()> {
    if let Some(addr) = settings.listen {
        let listener = daemon::metrics_http::bind(addr).map_err(|e| anyhow::anyhow!("binding $GssMetricsListen {addr}: {e}"))?;
        tracing::info!(%addr, "metrics endpoint listening (GET /metrics, GET /health)");
        tokio::spawn(daemon::metrics_http::serve(listener, registry.clone(), health, shutdown.clone()));
    }
    if settings.impstats {
        tokio::spawn(registry.log_every(settings.interval));
    }
    Ok(())
}

/// `$PrivDropToUser` and its kin, once the ports are bound and the
/// credential acquired; the keytab must stay readable (MIT reads it at every accept).
fn drop_privileges(config: &config::CollectorConfig) -> anyhow::Result<()> {
    let mut needed = daemon::privileges::StillNeeded::default();
    if config.listeners.iter().any(|l| l.gss.is_some()) {
        if let Some(keytab) = daemon::privileges::keytab_file("KRB5_KTNAME", Some("/etc/krb5.keytab")) {
            daemon::keytab_mode::warn_if_exposed("the keytab", &keytab, &config.privileges.final_groups());
            needed.readable.push(("the keytab", keytab));
        }
        // MIT's replay cache (krb5_UID.rcache2), written at every accept.
        if std::env::var_os("KRB5RCACHETYPE").is_none_or(|t| t != "none") {
            let rcache = std::env::var_os("KRB5RCACHEDIR").map_or_else(|| std::path::PathBuf::from("/var/tmp"), std::path::PathBuf::from);
            needed.writable_dirs.push(("the replay cache directory (KRB5RCACHEDIR)", rcache));
        }
    }
    daemon::privileges::drop_and_check(&config.privileges, &needed)?;
    Ok(())
}

/// SIGHUP closes every output file (they reopen on the next message, as
/// after logrotate); SIGTERM or SIGINT starts the graceful shutdown.
async fn handle_signals(mut signals: Signals, output: mpsc::Sender<output::Command>, stop: ShutdownTrigger) -> anyhow::Result<()> {
    let stopped = signals
        .stop_requested(|| {
            tracing::info!("SIGHUP: closing every output file; each reopens on its next message");
            senders::reload();
            let output = output.clone();
            tokio::spawn(async move { output.send(output::Command::Reopen).await });
        })
        .await;
    tracing::info!(signal = stopped.name(), "graceful shutdown");
    daemon::systemd::notify_stopping();
    stop.trigger();
    Ok(())
}

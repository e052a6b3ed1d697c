//! `omclickhouse`: rsyslog's ClickHouse output action, behind the
//! crash-safe disk queue (crate `queue`).
//!
//! The daemon reads an action's parameters into [`ActionSettings`]
//! ([`params::PARAMETERS`] is the table of them), picks its [`RowFormat`],
//! and [`Action::open`]s it: the queue is opened (recovering what an earlier
//! run left) and a worker thread starts draining it into ClickHouse. The
//! session path renders rows with [`RowFormat::render`] and hands them to
//! [`Action::enqueue`], which returns once they are in the queue file: it
//! never waits for the database.
//!
//! # Modules
//! - `params`: the parameter table and reading an action's parameters.
//! - `row`: a message as a JSONEachRow line, or as a user template's
//!   INSERT with its values escaped.
//! - `http`, `tls`: the HTTP(S) client and the server's answers sorted.
//! - `worker`: batches, retries with backoff, refused rows to errorFile.
//! - `error_file`: rsyslog's errorFile records.
//! - `stats`: the counters.

#![forbid(unsafe_code)]

mod error_file;
mod http;
pub mod params;
pub mod row;
mod stats;
mod tls;
mod worker;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use http::{classify, SendError};
pub use params::{ActionSettings, ParamError, PARAMETERS};
pub use queue::PushError;
pub use row::{escape_json, escape_literal, RowFormat};
pub use stats::ActionStats;

/// The action could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("omclickhouse action {name}: its queue: {source}")]
    Queue { name: String, source: queue::QueueError },
    #[error("omclickhouse action {name}: {source}")]
    Tls { name: String, source: tls::TlsError },
    #[error("omclickhouse action {name}: cannot start its worker thread: {source}")]
    Thread { name: String, source: std::io::Error },
}

/// The session side of a running action: enqueue, and the counters.
#[derive(Clone)]
pub struct Action {
    name: String,
    producer: queue::Producer,
    stats: Arc<ActionStats>,
}

/// The worker side: stop it at shutdown.
pub struct Running {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Running {
    /// Stops the worker after its current request (bounded by `timeout`);
    /// what is not sent stays queued for the next start.
    pub fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("omclickhouse: the worker thread panicked");
        }
    }
}

impl Action {
    /// Opens the action's queue in `work_dir` (its files may belong to
    /// `also_owned_by`, the user the daemon drops to) and starts its worker.
    pub fn open(
        settings: &ActionSettings,
        format: &RowFormat,
        name: &str,
        work_dir: &Path,
        queue_name: &str,
        also_owned_by: Option<u32>,
    ) -> Result<(Action, Running), StartError> {
        let name = name.to_string();
        let q = &settings.queue;
        let mut config = queue::QueueConfig::new(work_dir, queue_name);
        config.max_disk_bytes = q.max_disk_space;
        config.segment_bytes = q.max_file_size;
        config.memory_records = q.size;
        config.enqueue_timeout = q.timeout_enqueue;
        config.save_on_shutdown = q.save_on_shutdown;
        config.also_owned_by = also_owned_by;
        let client = http::Client::new(settings).map_err(|source| StartError::Tls { name: name.clone(), source })?;
        let (producer, consumer) = queue::open(config).map_err(|source| StartError::Queue { name: name.clone(), source })?;
        let stats = Arc::new(ActionStats::default());
        let (stop, stopped) = mpsc::channel();
        let worker = worker::Worker {
            name: name.clone(),
            consumer,
            client,
            shape: worker::Shape {
                query: format.query(),
                bulk_mode: settings.bulk_mode,
                insert_interval: settings.insert_interval,
                max_bytes: usize::try_from(settings.max_bytes).unwrap_or(usize::MAX),
                batch_size: q.batch_size,
                retry_count: settings.retry_count,
                resume_interval: settings.resume_interval,
            },
            error_file: error_file::ErrorFile::new(settings.error_file.clone()),
            stats: stats.clone(),
            stop: stopped,
        };
        let thread = std::thread::Builder::new()
            .name(format!("omclickhouse-{}", name.chars().take(3).collect::<String>()))
            .spawn(move || worker.run())
            .map_err(|source| StartError::Thread { name: name.clone(), source })?;
        Ok((Action { name, producer, stats }, Running { stop, thread }))
    }

    /// The action's name (impstats, the metrics' label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues rows; `Ok(n)`: the first `n` are written to the queue file
    /// (they survive the process's crash), the rest were discarded because
    /// the queue stayed full, and are counted.
    pub fn enqueue(&self, rows: &[&[u8]]) -> Result<usize, PushError> {
        let result = self.producer.push_batch(rows);
        let taken = *result.as_ref().unwrap_or(&0);
        ActionStats::add(&self.stats.submitted, taken as u64);
        ActionStats::add(&self.stats.not_queued, (rows.len() - taken) as u64);
        result
    }

    /// Forces the queued rows to stable storage.
    pub fn sync(&self) -> Result<(), queue::QueueError> {
        self.producer.sync()
    }

    /// The action's counters.
    pub fn stats(&self) -> &Arc<ActionStats> {
        &self.stats
    }

    /// The queue's counters (rows waiting, bytes on disk).
    pub fn queue_stats(&self) -> queue::Stats {
        self.producer.stats()
    }
}

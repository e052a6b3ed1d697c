//! The threads that parse and render received chunks, away from the async
//! runtime.
//!
//! Parsing and rendering a chunk (inflating its `z` messages included) is CPU
//! work of up to milliseconds. Done on the runtime's worker threads, a busy
//! sender's chunks hold them and every other session's handshakes, reads and
//! timers wait behind them. Here a fixed set of plain threads, one per core,
//! takes the work from one bounded queue: the operating system shares the
//! cores between them and the runtime's threads, so the runtime keeps running
//! however much is being rendered, and the number of threads stays the same
//! with ten sessions or ten thousand (tokio's `spawn_blocking` pool grows to
//! 512 threads and queues without bound).
//!
//! A session that finds the queue full waits (asynchronously) before it reads
//! more, so a flood slows its senders through TCP instead of growing memory.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting per thread: enough that a thread never idles while a session
/// is between two chunks, few enough that the queue holds little memory.
const QUEUED_JOBS_PER_THREAD: usize = 4;

pub struct RenderPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The threads could not be started (logged when it happened).
    NotStarted,
    /// The pool was dropped.
    Gone,
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoolError::NotStarted => "the render threads could not be started",
            PoolError::Gone => "the render threads are gone",
        })
    }
}

impl std::error::Error for PoolError {}

impl RenderPool {
    /// Starts `threads` worker threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<RenderPool> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>(threads * QUEUED_JOBS_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("render-{i}")).spawn(move || work(&queue))?;
        }
        Ok(RenderPool { jobs, threads })
    }

    /// The collector's pool: one thread per core, started on first use.
    pub fn global() -> Result<&'static RenderPool, PoolError> {
        static POOL: OnceLock<Option<RenderPool>> = OnceLock::new();
        let pool = POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            RenderPool::start(cores)
                .map_err(|e| tracing::error!(error = %e, "cannot start the render threads"))
                .ok()
        });
        pool.as_ref().ok_or(PoolError::NotStarted)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `work` (waiting while the queue is full) and returns where its
    /// result will arrive. A job that panics drops its sender: the receiver
    /// then reports the job as lost, and the thread goes on with the next.
    pub async fn submit<T, F>(&self, work: F) -> Result<oneshot::Receiver<T>, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).await.map_err(|_| PoolError::Gone)?;
        Ok(result)
    }
}

/// One worker thread: takes the next job, runs it, until the pool is dropped.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Only the wait for a job is under the lock, never the job itself.
        let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).blocking_recv();
        let Some(job) = job else { return };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a render job panicked: the messages of that chunk are lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads_and_return_their_result() {
        let pool = RenderPool::start(2).unwrap();
        let name = pool.submit(|| std::thread::current().name().map(str::to_string)).await.unwrap();
        let name = name.await.unwrap().unwrap();
        assert!(name.starts_with("render-"), "{name}");
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_lost_and_the_thread_goes_on() {
        let pool = RenderPool::start(1).unwrap();
        let lost = pool.submit(|| -> u32 { panic!("boom") }).await.unwrap();
        assert!(lost.await.is_err());
        let next = pool.submit(|| 7).await.unwrap();
        assert_eq!(next.await.unwrap(), 7);
    }

    /// The async runtime keeps its timers while every pool thread is busy:
    /// with one runtime thread and jobs that each burn CPU, a sleep on the
    /// runtime still ends while the jobs are still running.
    #[tokio::test(flavor = "current_thread")]
    async fn busy_pool_threads_do_not_hold_the_runtime() {
        let pool = RenderPool::start(1).unwrap();
        let finished = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut results = Vec::new();
        for _ in 0..3 {
            let (finished, gate) = (finished.clone(), gate.clone());
            results.push(
                pool.submit(move || {
                    // Each job holds its thread until the test lets it go.
                    let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(30));
                    finished.fetch_add(1, Ordering::SeqCst);
                })
                .await
                .unwrap(),
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the runtime ran while the jobs held the pool");
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for r in results {
            r.await.unwrap();
        }
        assert_eq!(finished.load(Ordering::SeqCst), 3);
    }
}

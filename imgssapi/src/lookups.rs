//! Blocking lookups (DNS) run for async sessions: on a bounded pool of
//! threads of their own, never on the blocking pool that runs GSS handshakes,
//! each caller waiting at most a deadline, answers cached.
//!
//! - [`Pool`]: a few threads and a bounded queue of jobs; when the queue is
//!   full a lookup is not started and its caller does without an answer.
//! - [`Lookups`]: the answers of one kind of lookup by key. One key is looked
//!   up once at a time: callers that come while it is in flight wait for the
//!   same answer (one query, many waiters). Answers are kept for a time that
//!   depends on the answer (a failure for less), and when the cache is full
//!   the least recently used answer goes.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Threads for blocking lookups, with a bounded queue.
pub struct Pool {
    jobs: SyncSender<Job>,
}

impl Pool {
    /// `threads` lookups at once, `queued` more waiting.
    pub fn new(name: &str, threads: usize, queued: usize) -> Pool {
        let (jobs, queue) = sync_channel::<Job>(queued);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || loop {
                let job = match queue.lock() {
                    Ok(q) => q.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                job();
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a {name} thread");
            }
        }
        Pool { jobs }
    }

    /// Queues `job`; false when the queue is full (or the threads are gone).
    fn try_run(&self, job: Job) -> bool {
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// What a [`Lookups`] does and keeps.
pub struct Rules<K, V> {
    /// The blocking lookup.
    pub lookup: Arc<dyn Fn(&K) -> V + Send + Sync>,
    /// How long an answer is used.
    pub ttl: fn(&V) -> Duration,
    /// Most answers kept; past that the least recently used goes.
    pub max_cached: usize,
    /// How long a caller waits for an answer.
    pub wait: Duration,
}

/// Cached lookups of one kind on a [`Pool`].
pub struct Lookups<K, V> {
    pool: Arc<Pool>,
    rules: Rules<K, V>,
    state: Arc<Mutex<State<K, V>>>,
}

/// Why [`Lookups::get`] has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The pool's queue was full: the lookup was not started.
    Busy,
    /// It did not come within the wait (it is cached when it comes).
    TimedOut,
}

struct Cached<V> {
    value: V,
    at: Instant,
    /// Its place in `State::recency`.
    used: u64,
}

struct State<K, V> {
    cache: HashMap<K, Cached<V>>,
    /// The cache's keys by last use, oldest first.
    recency: BTreeMap<u64, K>,
    clock: u64,
    /// Keys being looked up, and who waits for each.
    in_flight: HashMap<K, Vec<oneshot::Sender<V>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every step leaves the state consistent: a panic elsewhere while holding
    // the lock leaves nothing half done.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<K: Eq + Hash + Ord + Clone + Send + 'static, V: Clone + Send + 'static> Lookups<K, V> {
    pub fn new(pool: Arc<Pool>, rules: Rules<K, V>) -> Self {
        let state = State { cache: HashMap::new(), recency: BTreeMap::new(), clock: 0, in_flight: HashMap::new() };
        Lookups { pool, rules, state: Arc::new(Mutex::new(state)) }
    }

    /// The answer for `key`: cached, or from the lookup in flight for it, or
    /// from a new lookup; none when the pool is busy or the answer does not
    /// come within the wait.
    pub async fn get(&self, key: K) -> Result<V, NoAnswer> {
        let (reply, answer) = oneshot::channel();
        {
            let mut state = lock(&self.state);
            if let Some(value) = state.fresh(&key, self.rules.ttl) {
                return Ok(value);
            }
            if let Some(waiters) = state.in_flight.get_mut(&key) {
                // Waiters that gave up are dropped, so the list stays as long
                // as the callers waiting now.
                waiters.retain(|w| !w.is_closed());
                waiters.push(reply);
            } else {
                state.in_flight.insert(key.clone(), vec![reply]);
                let (job_key, rules_lookup, shared, max) = (key.clone(), self.rules.lookup.clone(), self.state.clone(), self.rules.max_cached);
                let job: Job = Box::new(move || {
                    let value = rules_lookup(&job_key);
                    let mut state = lock(&shared);
                    state.remember(job_key.clone(), value.clone(), max);
                    for waiter in state.in_flight.remove(&job_key).unwrap_or_default() {
                        let _ = waiter.send(value.clone());
                    }
                });
                if !self.pool.try_run(job) {
                    state.in_flight.remove(&key);
                    return Err(NoAnswer::Busy);
                }
            }
        }
        match tokio::time::timeout(self.rules.wait, answer).await {
            Ok(Ok(value)) => Ok(value),
            _ => Err(NoAnswer::TimedOut),
        }
    }

    /// Answers cached now.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        lock(&self.state).cache.len()
    }
}

impl<K: Eq + Hash + Ord + Clone, V: Clone> State<K, V> {
    /// The cached answer for `key` if it is still fresh, marked as used now.
    fn fresh(&mut self, key: &K, ttl: fn(&V) -> Duration) -> Option<V> {
        self.clock += 1;
        let now = self.clock;
        let entry = self.cache.get_mut(key)?;
        if entry.at.elapsed() >= ttl(&entry.value) {
            return None;
        }
        self.recency.remove(&entry.used);
        entry.used = now;
        self.recency.insert(now, key.clone());
        Some(entry.value.clone())
    }

    /// Keeps `value` for `key`, making room by forgetting the least recently
    /// used answer.
    fn remember(&mut self, key: K, value: V, max: usize) {
        self.clock += 1;
        if let Some(old) = self.cache.remove(&key) {
            self.recency.remove(&old.used);
        }
        while self.cache.len() >= max.max(1) {
            let Some((_, oldest)) = self.recency.pop_first() else { break };
            self.cache.remove(&oldest);
        }
        self.recency.insert(self.clock, key.clone());
        self.cache.insert(key, Cached { value, at: Instant::now(), used: self.clock });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A lookup that counts its calls and answers `key * 10`, each call
    /// first waiting for a permit when `gate` is set (a slow server).
    struct Counting {
        calls: AtomicUsize,
        gate: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
    }

    fn lookups(counting: Arc<Counting>, threads: usize, queued: usize, max_cached: usize) -> Arc<Lookups<u32, u32>> {
        let pool = Arc::new(Pool::new("test-lookup", threads, queued));
        let lookup = move |k: &u32| {
            counting.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &counting.gate {
                let _ = gate.lock().unwrap().recv();
            }
            k * 10
        };
        let rules = Rules { lookup: Arc::new(lookup), ttl: |_| Duration::from_secs(600), max_cached, wait: Duration::from_secs(3600) };
        Arc::new(Lookups::new(pool, rules))
    }

    #[tokio::test]
    async fn callers_of_one_key_in_flight_share_one_lookup() {
        let (open, gate) = std::sync::mpsc::channel();
        let counting = Arc::new(Counting { calls: AtomicUsize::new(0), gate: Some(Mutex::new(gate)) });
        let l = lookups(counting.clone(), 4, 16, 100);
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.get(7).await })
            })
            .collect();
        // Every caller is waiting (the lookup cannot finish before the permit).
        while lock(&l.state).in_flight.get(&7).map_or(0, Vec::len) < 20 {
            tokio::task::yield_now().await;
        }
        for _ in 0..20 {
            let _ = open.send(());
        }
        for c in callers {
            assert_eq!(c.await.unwrap(), Ok(70));
        }
        assert_eq!(counting.calls.load(Ordering::SeqCst), 1, "one query, twenty waiters");
        assert!(lock(&l.state).in_flight.is_empty());
    }

    #[tokio::test]
    async fn a_full_cache_forgets_the_least_recently_used_answer_only() {
        let counting = Arc::new(Counting { calls: AtomicUsize::new(0), gate: None });
        let l = lookups(counting.clone(), 1, 16, 3);
        for k in [1, 2, 3] {
            assert_eq!(l.get(k).await, Ok(k * 10));
        }
        // 1 is used again: 2 is now the least recently used.
        assert_eq!(l.get(1).await, Ok(10));
        assert_eq!(l.get(4).await, Ok(40));
        assert_eq!(l.cached(), 3, "one answer went, not the whole cache");
        assert_eq!(counting.calls.load(Ordering::SeqCst), 4);
        for k in [1, 3, 4] {
            assert_eq!(l.get(k).await, Ok(k * 10));
        }
        assert_eq!(counting.calls.load(Ordering::SeqCst), 4, "1, 3 and 4 were still cached");
        assert_eq!(l.get(2).await, Ok(20));
        assert_eq!(counting.calls.load(Ordering::SeqCst), 5, "2 was the one forgotten");
        let state = lock(&l.state);
        assert_eq!(state.recency.len(), state.cache.len(), "the recency index follows the cache");
    }

    #[tokio::test]
    async fn a_busy_pool_or_a_slow_answer_gives_no_answer_and_the_answer_is_cached_when_it_comes() {
        let (open, gate) = std::sync::mpsc::channel();
        let counting = Arc::new(Counting { calls: AtomicUsize::new(0), gate: Some(Mutex::new(gate)) });
        let pool = Arc::new(Pool::new("test-lookup", 1, 1));
        let c = counting.clone();
        let lookup = move |k: &u32| {
            c.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &c.gate {
                let _ = gate.lock().unwrap().recv();
            }
            k * 10
        };
        let rules = Rules { lookup: Arc::new(lookup), ttl: |_| Duration::from_secs(600), max_cached: 10, wait: Duration::from_millis(50) };
        let l = Lookups::new(pool, rules);
        // 1 takes the thread (and times out its caller), 2 waits in the queue,
        // 3 finds the queue full.
        assert_eq!(l.get(1).await, Err(NoAnswer::TimedOut));
        while counting.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(l.get(2).await, Err(NoAnswer::TimedOut));
        assert_eq!(l.get(3).await, Err(NoAnswer::Busy));
        assert!(!lock(&l.state).in_flight.contains_key(&3), "a lookup not started leaves nothing in flight");
        open.send(()).unwrap();
        open.send(()).unwrap();
        while l.cached() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(l.get(1).await, Ok(10), "the late answer was cached");
        assert_eq!(l.get(2).await, Ok(20));
    }
}

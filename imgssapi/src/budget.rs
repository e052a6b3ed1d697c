//! A byte budget for what the collector holds in flight
//! (`$InputGSSServerMemoryLimit`): handshake tokens being received, a
//! session's token while it is read and unwrapped, render jobs and their
//! rendered batches until the output thread has written them.
//!
//! Reading is the one gate: a session acquires before it reads more, and
//! when the budget is spent, sessions stop reading (TCP pushes back on their
//! senders) until the output thread has written enough. What follows from
//! bytes already read (a chunk's render jobs, a rendered batch larger than
//! its job's estimate) is booked without waiting ([`Budget::book`],
//! [`Reservation::resize`]): the bytes exist already, waiting would free
//! nothing and could deadlock the sessions that are to release them. So the
//! budget can be overdrawn by what was in flight when it ran out, never by
//! new reading.
//!
//! The collector has two: one for sessions (three quarters of the limit)
//! and one for connections that have not authenticated (a quarter), so that
//! neither a flood of handshakes nor busy sessions can starve the other.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The shared budget.
pub struct Budget {
    limit: u64,
    /// Bytes not booked; negative when overdrawn.
    available: AtomicI64,
    freed: Notify,
}

/// The collector's two budgets, out of `$InputGSSServerMemoryLimit`.
#[derive(Clone)]
pub struct Budgets {
    /// Three quarters: sessions' tokens, render jobs, batches.
    pub sessions: Arc<Budget>,
    /// A quarter: handshake tokens of connections not yet authenticated.
    pub front_door: Arc<Budget>,
}

impl Budgets {
    pub fn new(limit: u64) -> Budgets {
        let front_door = limit / 4;
        Budgets { sessions: Budget::new(limit - front_door), front_door: Budget::new(front_door) }
    }

    /// Bytes booked now, in both.
    pub fn in_use(&self) -> u64 {
        self.sessions.in_use() + self.front_door.in_use()
    }
}

/// Bytes booked against the budget, given back when dropped.
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({} bytes)", self.bytes)
    }
}

fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget { limit, available: AtomicI64::new(signed(limit)), freed: Notify::new() })
    }

    /// Bytes booked now (may exceed the limit by what was in flight).
    pub fn in_use(&self) -> u64 {
        u64::try_from(signed(self.limit) - self.available.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Books `bytes` once anything is left; waits while the budget is spent.
    /// A request larger than what is left is granted once anything is left,
    /// so that no request waits forever; the overdraft is bounded by one
    /// request per thread racing for the last bytes.
    pub async fn acquire(self: &Arc<Self>, bytes: u64) -> Reservation {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so that a release in between wakes us.
            freed.as_mut().enable();
            if let Some(r) = self.try_acquire(bytes) {
                return r;
            }
            freed.await;
        }
    }

    /// [`Budget::acquire`] without waiting: `None` while the budget is spent.
    pub fn try_acquire(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let amount = signed(bytes);
        self.available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| (left > 0).then(|| left.saturating_sub(amount)))
            .ok()?;
        Some(Reservation { budget: self.clone(), bytes })
    }

    /// Books `bytes` that exist already, without waiting.
    pub fn book(self: &Arc<Self>, bytes: u64) -> Reservation {
        self.available.fetch_sub(signed(bytes), Ordering::AcqRel);
        Reservation { budget: self.clone(), bytes }
    }

    fn give_back(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let before = self.available.fetch_add(signed(bytes), Ordering::AcqRel);
        if before.saturating_add(signed(bytes)) > 0 {
            self.freed.notify_waiters();
        }
    }
}

impl Reservation {
    /// The bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Books what the reserved bytes turned out to be, without waiting.
    pub fn resize(&mut self, bytes: u64) {
        if bytes > self.bytes {
            self.budget.available.fetch_sub(signed(bytes - self.bytes), Ordering::AcqRel);
        } else {
            self.budget.give_back(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_spent_budget_makes_readers_wait_until_bytes_are_given_back() {
        let budget = Budget::new(100);
        let first = budget.acquire(60).await;
        let second = budget.acquire(60).await;
        assert_eq!(budget.in_use(), 120, "the last request is granted whole: overdrawn by less than one request");
        assert!(budget.try_acquire(1).is_none());
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.acquire(10).await.bytes() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "waits while the budget is spent");
        drop(first);
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap(), 10);
        drop(second);
        assert_eq!(budget.in_use(), 0, "every byte given back");
    }

    #[test]
    fn booking_never_waits_and_closes_the_gate() {
        let budget = Budget::new(100);
        let job = budget.book(250);
        assert!(budget.try_acquire(1).is_none());
        drop(job);
        assert!(budget.try_acquire(1).is_some());
    }

    #[tokio::test]
    async fn resizing_books_the_difference_without_waiting() {
        let budget = Budget::new(100);
        let mut job = budget.acquire(40).await;
        job.resize(150);
        assert_eq!(budget.in_use(), 150);
        assert!(budget.try_acquire(1).is_none(), "overdrawn: no new reading");
        job.resize(30);
        assert_eq!(budget.in_use(), 30);
        assert!(budget.try_acquire(1).is_some());
        drop(job);
        assert_eq!(budget.in_use(), 0);
    }
}

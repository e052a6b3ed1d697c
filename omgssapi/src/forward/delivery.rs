//! Which written records the collector has received, by its TCP stack's
//! acknowledgements.
//!
//! The bytes the peer has acknowledged are the bytes written on the
//! connection minus the socket's unacknowledged send queue. A batch of
//! records is delivered, and acknowledged in the queue (so it may leave the
//! disk), once every byte of its tokens is. Unacknowledged bytes that stop
//! moving for a while (a cut network, a frozen peer) are a [`Stalled`]
//! session: the caller ends it, and the unacknowledged records go again
//! after the reconnect.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use queue::Consumer;

/// How many written batches may wait for acknowledgement: keeps the records
/// in flight bounded (the kernel buffers, roughly).
const MAX_BATCHES_IN_FLIGHT: usize = 1024;

/// The collector's TCP stack stopped acknowledging what was written.
#[derive(Debug, thiserror::Error)]
#[error("no delivery progress for {after:?} ({unacknowledged} bytes unacknowledged): network or collector stuck")]
pub struct Stalled {
    pub after: Duration,
    pub unacknowledged: u64,
}

/// Records written on one connection but not yet acknowledged by the peer's
/// TCP stack.
pub struct Delivery {
    /// How long unacknowledged bytes may make no progress.
    stall_limit: Duration,
    /// Bytes written on this connection so far.
    written: u64,
    /// (last record seq of a batch, `written` once that batch was written).
    batches: VecDeque<(u64, u64)>,
    last_progress: Instant,
    last_acked_bytes: u64,
}

impl Delivery {
    /// Nothing written yet; unacknowledged bytes that make no progress for
    /// `stall_limit` are a stall.
    pub fn new(stall_limit: Duration) -> Self {
        Delivery { stall_limit, written: 0, batches: VecDeque::new(), last_progress: Instant::now(), last_acked_bytes: 0 }
    }

    /// Whether written records wait for acknowledgement.
    pub fn pending(&self) -> bool {
        !self.batches.is_empty()
    }

    /// Whether another batch may be written before earlier ones are acknowledged.
    pub fn has_room(&self) -> bool {
        self.batches.len() < MAX_BATCHES_IN_FLIGHT
    }

    /// Records that a batch ending with record `last_seq` took `bytes` on the wire.
    pub fn written(&mut self, last_seq: u64, bytes: u64) {
        if self.batches.is_empty() {
            self.last_progress = Instant::now();
        }
        self.written += bytes;
        self.batches.push_back((last_seq, self.written));
    }

    /// Asks `socket` how much is unacknowledged, then [`Delivery::settle_unacknowledged`].
    /// When the socket cannot say, nothing is taken to be unacknowledged,
    /// which acknowledges on write.
    pub fn settle(&mut self, socket: &impl AsFd, queue: &mut Consumer) -> Result<(), Stalled> {
        let unacknowledged = daemon::os::unacknowledged_bytes(socket.as_fd()).unwrap_or(0);
        self.settle_unacknowledged(unacknowledged, queue)
    }

    /// Acknowledges, in the queue, every batch the peer's TCP stack has
    /// received, given that `unacknowledged` bytes are still in the send
    /// queue; fails when they stopped moving for the stall limit.
    pub fn settle_unacknowledged(&mut self, unacknowledged: u64, queue: &mut Consumer) -> Result<(), Stalled> {
        let acked_bytes = self.written.saturating_sub(unacknowledged);
        let mut through = None;
        while self.batches.front().is_some_and(|(_, end)| *end <= acked_bytes) {
            through = self.batches.pop_front().map(|(seq, _)| seq);
        }
        if let Some(seq) = through {
            if let Err(e) = queue.ack(seq) {
                tracing::error!(error = %e, "cannot record delivery in the queue checkpoint");
            }
        }
        if acked_bytes > self.last_acked_bytes || self.batches.is_empty() {
            self.last_acked_bytes = acked_bytes;
            self.last_progress = Instant::now();
        } else if self.last_progress.elapsed() > self.stall_limit {
            return Err(Stalled { after: self.stall_limit, unacknowledged });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{Producer, QueueConfig, Record};

    fn queue_with(dir: &std::path::Path, n: usize) -> (Producer, Consumer, Vec<Record>) {
        let (producer, mut consumer) = queue::open(QueueConfig::new(dir, "q")).unwrap();
        for i in 0..n {
            producer.push(format!("record {i}").as_bytes()).unwrap();
        }
        let records = consumer.pop_batch(n, usize::MAX).unwrap();
        assert_eq!(records.len(), n);
        (producer, consumer, records)
    }

    #[test]
    fn a_batch_is_acknowledged_once_all_its_bytes_are() {
        let dir = tempfile::tempdir().unwrap();
        let (_producer, mut queue, records) = queue_with(dir.path(), 3);
        let mut delivery = Delivery::new(Duration::from_secs(60));
        delivery.written(records[1].seq, 100); // records 0 and 1: bytes 0..100
        delivery.written(records[2].seq, 50); // record 2: bytes 100..150
        assert!(delivery.pending());

        delivery.settle_unacknowledged(51, &mut queue).unwrap();
        assert_eq!(queue.stats().acknowledged, 0, "byte 99 of the first batch is not acknowledged yet");
        delivery.settle_unacknowledged(50, &mut queue).unwrap();
        assert_eq!(queue.stats().acknowledged, 2, "the first batch, both its records");
        assert!(delivery.pending());
        delivery.settle_unacknowledged(0, &mut queue).unwrap();
        assert_eq!(queue.stats().acknowledged, 3);
        assert!(!delivery.pending());
    }

    #[test]
    fn unacknowledged_bytes_that_do_not_move_are_a_stall() {
        let dir = tempfile::tempdir().unwrap();
        let (_producer, mut queue, records) = queue_with(dir.path(), 2);
        let limit = Duration::from_millis(20);
        let mut delivery = Delivery::new(limit);
        delivery.written(records[0].seq, 100);
        delivery.written(records[1].seq, 100);
        delivery.settle_unacknowledged(200, &mut queue).unwrap();
        std::thread::sleep(limit * 2);
        // Progress (half of it acknowledged) is not a stall, however late.
        delivery.settle_unacknowledged(100, &mut queue).unwrap();
        assert_eq!(queue.stats().acknowledged, 1);
        std::thread::sleep(limit * 2);
        let stalled = delivery.settle_unacknowledged(100, &mut queue).unwrap_err();
        assert_eq!(stalled.unacknowledged, 100);
        assert!(stalled.to_string().contains("no delivery progress"), "{stalled}");
        assert_eq!(queue.stats().acknowledged, 1, "a stall acknowledges nothing more");
    }

    #[test]
    fn nothing_in_flight_is_never_a_stall() {
        let dir = tempfile::tempdir().unwrap();
        let (_producer, mut queue, _records) = queue_with(dir.path(), 0);
        let limit = Duration::from_millis(10);
        let mut delivery = Delivery::new(limit);
        std::thread::sleep(limit * 2);
        delivery.settle_unacknowledged(0, &mut queue).unwrap();
        assert!(!delivery.pending() && delivery.has_room());
    }

    #[test]
    fn in_flight_batches_are_bounded() {
        let mut delivery = Delivery::new(Duration::from_secs(60));
        for seq in 0..MAX_BATCHES_IN_FLIGHT as u64 {
            assert!(delivery.has_room());
            delivery.written(seq, 1);
        }
        assert!(!delivery.has_room());
    }
}

//! Which written records the collector has, by its TCP stack's
//! acknowledgements or, on an acknowledged session, by its own.
//!
//! TCP-level accounting ([`Accounting::TcpStack`], what a stock collector
//! allows): the bytes the peer has acknowledged are the bytes written on the
//! connection minus the socket's unacknowledged send queue. A batch of
//! records is delivered, and acknowledged in the queue (so it may leave the
//! disk), once every byte of its tokens is. That covers a network loss, not
//! a collector that dies before writing what its kernel received.
//!
//! Collector accounting ([`Accounting::Collector`], our collector in the
//! acknowledged mode, [`gsswire::ack`]): a batch is delivered once the
//! collector says every data token up to the batch's last is written.
//!
//! Until the session knows which applies (it asked, no answer yet) nothing
//! is released. The delivery touches no queue: what it releases it returns,
//! as the last record delivered ("acknowledged through N"), and the send
//! loop acknowledges that in the queue. Acknowledgements that stop moving for a while (a cut
//! network, a frozen peer) are a [`Stalled`] session: the caller ends it,
//! and the unacknowledged records go again after the reconnect.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use gsswire::ack::{AckError, AckReceiver, AckState, CollectorMessage};

/// How many written batches may wait for acknowledgement: keeps the records
/// in flight bounded (the kernel buffers, roughly).
const MAX_BATCHES_IN_FLIGHT: usize = 1024;

/// Delivered: every record written, up to and including this one (its
/// queue sequence number), is the collector's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Through(pub u64);

/// The collector's TCP stack (or the collector) stopped acknowledging what
/// was written.
#[derive(Debug, thiserror::Error)]
#[error("no delivery progress for {after:?} ({unacknowledged} bytes unacknowledged): network or collector stuck")]
pub struct Stalled {
    pub after: Duration,
    pub unacknowledged: u64,
}

/// Whose acknowledgements release records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounting {
    /// The collector's TCP stack's (stock collectors).
    TcpStack,
    /// The collector's own `Written(N)` messages.
    Collector,
}

/// One written batch: its last record, where it ends on the wire, and how
/// many records it holds.
#[derive(Debug)]
struct Batch {
    last_seq: u64,
    bytes_end: u64,
    tokens_end: u64,
    records: u64,
}

/// Records written on one connection but not yet acknowledged.
pub struct Delivery {
    /// How long unacknowledged bytes may make no progress.
    stall_limit: Duration,
    /// Whether the collector acknowledges (and its last `Written(N)`); while
    /// the session waits to learn it, nothing is released.
    ack: AckReceiver,
    /// Bytes written on this connection so far (the request token included).
    written: u64,
    /// Data tokens written on this connection so far.
    tokens: u64,
    batches: VecDeque<Batch>,
    last_progress: Instant,
    last_acked_bytes: u64,
}

impl Delivery {
    /// Nothing written yet; unacknowledged bytes that make no progress for
    /// `stall_limit` are a stall. A session that `asked` for
    /// acknowledgements waits for the collector's Hello; one that did not
    /// goes by its TCP stack.
    pub fn new(stall_limit: Duration, asked: bool) -> Self {
        Delivery {
            stall_limit,
            ack: AckReceiver::new(asked),
            written: 0,
            tokens: 0,
            batches: VecDeque::new(),
            last_progress: Instant::now(),
            last_acked_bytes: 0,
        }
    }

    /// Whose acknowledgements count, once known.
    pub fn accounting(&self) -> Option<Accounting> {
        match self.ack.state() {
            AckState::AwaitingHello => None,
            AckState::Acknowledging(_) => Some(Accounting::Collector),
            AckState::Off => Some(Accounting::TcpStack),
        }
    }

    /// The wait for the collector's Hello ended without one: from now on
    /// its TCP stack's acknowledgements release records.
    pub fn fall_back_to_tcp_stack(&mut self) {
        self.ack.stop_waiting();
        self.last_progress = Instant::now();
    }

    /// Whether written records wait for acknowledgement.
    pub fn pending(&self) -> bool {
        !self.batches.is_empty()
    }

    /// Whether another batch may be written before earlier ones are acknowledged.
    pub fn has_room(&self) -> bool {
        self.batches.len() < MAX_BATCHES_IN_FLIGHT
    }

    /// How many written records are not acknowledged.
    pub fn unacknowledged_records(&self) -> u64 {
        self.batches.iter().map(|b| b.records).sum()
    }

    /// Counts `bytes` written that carry no records (the request token).
    pub fn wrote_control(&mut self, bytes: u64) {
        self.written += bytes;
    }

    /// Counts a heartbeat: a data token that carries no records (it is
    /// numbered, so the collector may acknowledge up to it).
    pub fn wrote_heartbeat(&mut self, bytes: u64) {
        self.written += bytes;
        self.tokens += 1;
    }

    /// Records that a batch of `records` records ending with record
    /// `last_seq` took `tokens` data tokens and `bytes` on the wire.
    pub fn written(&mut self, last_seq: u64, records: u64, tokens: u64, bytes: u64) {
        if self.batches.is_empty() {
            self.last_progress = Instant::now();
        }
        self.written += bytes;
        self.tokens += tokens;
        self.batches.push_back(Batch { last_seq, bytes_end: self.written, tokens_end: self.tokens, records });
    }

    /// With TCP-level accounting: asks `socket` how much is unacknowledged,
    /// then [`Delivery::settle_unacknowledged`]. When the socket cannot say,
    /// nothing is taken to be unacknowledged, which acknowledges on write.
    /// With the collector's accounting: only checks for a stall.
    pub fn settle(&mut self, socket: &impl AsFd) -> Result<Option<Through>, Stalled> {
        match self.accounting() {
            Some(Accounting::TcpStack) => {
                let unacknowledged = daemon::os::unacknowledged_bytes(socket.as_fd()).unwrap_or(0);
                self.settle_unacknowledged(unacknowledged)
            }
            Some(Accounting::Collector) => self.check_stall().map(|()| None),
            None => Ok(None),
        }
    }

    /// Releases every batch the peer's TCP stack has received, given that
    /// `unacknowledged` bytes are still in the send queue; fails when they
    /// stopped moving for the stall limit.
    pub fn settle_unacknowledged(&mut self, unacknowledged: u64) -> Result<Option<Through>, Stalled> {
        let acked_bytes = self.written.saturating_sub(unacknowledged);
        let through = release(&mut self.batches, |b| b.bytes_end <= acked_bytes);
        if acked_bytes > self.last_acked_bytes || self.batches.is_empty() {
            self.last_acked_bytes = acked_bytes;
            self.last_progress = Instant::now();
            return Ok(through);
        }
        self.check_stall().map(|()| through)
    }

    /// A message of the collector (its unwrapped plaintext), checked
    /// against the protocol of the acknowledged mode ([`AckReceiver`]). A
    /// Hello makes the collector's word count from now on; a `Written(n)`
    /// releases every batch whose tokens are all among the first `n`.
    pub fn collector_said(&mut self, plain: &[u8]) -> Result<(CollectorMessage, Option<Through>), AckError> {
        let before = self.ack.state();
        let message = self.ack.receive(plain, self.tokens)?;
        let mut through = None;
        match message {
            CollectorMessage::Hello => self.last_progress = Instant::now(),
            CollectorMessage::Written(n) => {
                if before != AckState::Acknowledging(n) {
                    self.last_progress = Instant::now();
                }
                through = release(&mut self.batches, |b| b.tokens_end <= n);
            }
            CollectorMessage::Closing => {}
        }
        Ok((message, through))
    }

    /// Fails when records are in flight and nothing moved for the stall limit.
    fn check_stall(&mut self) -> Result<(), Stalled> {
        if self.batches.is_empty() {
            self.last_progress = Instant::now();
        } else if self.last_progress.elapsed() > self.stall_limit {
            let unacknowledged = self.written.saturating_sub(self.last_acked_bytes);
            return Err(Stalled { after: self.stall_limit, unacknowledged });
        }
        Ok(())
    }
}

/// Pops the batches at the front that `delivered` says are; returns the
/// last record of the last one.
fn release(batches: &mut VecDeque<Batch>, delivered: impl Fn(&Batch) -> bool) -> Option<Through> {
    let mut through = None;
    while batches.front().is_some_and(&delivered) {
        through = batches.pop_front().map(|b| Through(b.last_seq));
    }
    through
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery whose collector said Hello.
    fn acknowledging() -> Delivery {
        let mut delivery = Delivery::new(Duration::from_secs(60), true);
        assert_eq!(delivery.collector_said(gsswire::ack::HELLO), Ok((CollectorMessage::Hello, None)));
        assert_eq!(delivery.accounting(), Some(Accounting::Collector));
        delivery
    }

    fn written(n: u64) -> Vec<u8> {
        CollectorMessage::Written(n).encode()
    }

    #[test]
    fn a_batch_is_delivered_once_all_its_bytes_are() {
        let mut delivery = Delivery::new(Duration::from_secs(60), false);
        delivery.written(11, 2, 1, 100); // records 10 and 11: bytes 0..100
        delivery.written(12, 1, 1, 50); // record 12: bytes 100..150
        assert!(delivery.pending());

        assert_eq!(delivery.settle_unacknowledged(51).unwrap(), None, "byte 99 of the first batch is not acknowledged yet");
        assert_eq!(delivery.settle_unacknowledged(50).unwrap(), Some(Through(11)), "the first batch, both its records");
        assert!(delivery.pending());
        assert_eq!(delivery.settle_unacknowledged(50).unwrap(), None, "released once");
        assert_eq!(delivery.settle_unacknowledged(0).unwrap(), Some(Through(12)));
        assert!(!delivery.pending());
    }

    #[test]
    fn unacknowledged_bytes_that_do_not_move_are_a_stall() {
        let limit = Duration::from_millis(20);
        let mut delivery = Delivery::new(limit, false);
        delivery.written(1, 1, 1, 100);
        delivery.written(2, 1, 1, 100);
        delivery.settle_unacknowledged(200).unwrap();
        std::thread::sleep(limit * 2);
        // Progress (half of it acknowledged) is not a stall, however late.
        assert_eq!(delivery.settle_unacknowledged(100).unwrap(), Some(Through(1)));
        std::thread::sleep(limit * 2);
        let stalled = delivery.settle_unacknowledged(100).unwrap_err();
        assert_eq!(stalled.unacknowledged, 100);
        assert!(stalled.to_string().contains("no delivery progress"), "{stalled}");
        assert_eq!(delivery.unacknowledged_records(), 1, "a stall releases nothing more");
    }

    #[test]
    fn nothing_in_flight_is_never_a_stall() {
        let limit = Duration::from_millis(10);
        let mut delivery = Delivery::new(limit, false);
        std::thread::sleep(limit * 2);
        assert_eq!(delivery.settle_unacknowledged(0).unwrap(), None);
        assert!(!delivery.pending() && delivery.has_room());
    }

    #[test]
    fn in_flight_batches_are_bounded() {
        let mut delivery = Delivery::new(Duration::from_secs(60), false);
        for seq in 0..MAX_BATCHES_IN_FLIGHT as u64 {
            assert!(delivery.has_room());
            delivery.written(seq, 1, 1, 1);
        }
        assert!(!delivery.has_room());
    }

    #[test]
    fn with_the_collector_accounting_only_its_written_messages_release_records() {
        let mut delivery = acknowledging();
        delivery.wrote_control(20);
        delivery.written(1, 2, 2, 100); // records 0 and 1: tokens 1 and 2
        delivery.written(2, 1, 1, 50); // record 2: token 3
        // Whatever the socket says (this one: nothing unacknowledged), it
        // releases nothing here.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(delivery.settle(&socket).unwrap(), None, "the TCP stack's word does not count");
        let (_, through) = delivery.collector_said(&written(1)).unwrap();
        assert_eq!(through, None, "token 2 of the first batch is not written yet");
        assert_eq!(delivery.unacknowledged_records(), 3);
        assert_eq!(delivery.collector_said(&written(2)).unwrap(), (CollectorMessage::Written(2), Some(Through(1))));
        assert_eq!(delivery.unacknowledged_records(), 1);
        assert_eq!(delivery.collector_said(&written(3)).unwrap().1, Some(Through(2)));
        assert!(!delivery.pending());
    }

    #[test]
    fn an_impossible_written_message_is_a_protocol_error() {
        let mut delivery = acknowledging();
        delivery.written(0, 1, 2, 100);
        let e = delivery.collector_said(&written(3)).unwrap_err();
        assert_eq!(e, AckError::Impossible { acked: 3, previous: 0, sent: 2 }, "past the tokens sent");
        delivery.collector_said(&written(1)).unwrap();
        let e = delivery.collector_said(&written(0)).unwrap_err();
        assert_eq!(e, AckError::Impossible { acked: 0, previous: 1, sent: 2 }, "going down");
        assert_eq!(delivery.unacknowledged_records(), 1);
    }

    #[test]
    fn while_the_accounting_is_unknown_nothing_is_released() {
        let mut delivery = Delivery::new(Duration::from_secs(60), true);
        delivery.written(0, 1, 1, 100);
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(delivery.settle(&socket).unwrap(), None);
        delivery.fall_back_to_tcp_stack();
        assert_eq!(delivery.accounting(), Some(Accounting::TcpStack));
        assert_eq!(delivery.settle_unacknowledged(0).unwrap(), Some(Through(0)), "the fallback releases what the TCP stack has");
    }
}

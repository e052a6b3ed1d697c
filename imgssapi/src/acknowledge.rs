//! Acknowledged sessions ([`gsswire::ack`]): how far a session's data tokens
//! are written, from the output thread back to the session.
//!
//! A session that was asked for acknowledgements numbers its data tokens
//! from 1 and gives each token's batch a [`Ticket`]. The output thread,
//! once the batch's lines are flushed to their files (and synced, with
//! `$InputGSSServerAckAfterFsync on`), calls [`Ticket::written`]; if a line
//! could not be written it calls [`Ticket::failed`], after which the session
//! acknowledges nothing more and closes, so that the sender sends again what
//! was not acknowledged. The session ([`Acknowledger`]) waits for the
//! progress and sends `Written(N)` messages, coalesced: one for every change
//! it sees, with the latest N.

use std::sync::Arc;

use tokio::sync::watch;

/// How far a session's data tokens are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenThrough {
    /// Every message completed by data tokens 1..=N is written.
    Token(u64),
    /// A message of the session could not be written: nothing more is
    /// acknowledged on this session.
    Failed,
}

/// The output thread's handle on one batch of an acknowledged session.
#[derive(Debug, Clone)]
pub struct Ticket {
    progress: Arc<watch::Sender<WrittenThrough>>,
    through: u64,
}

impl Ticket {
    /// The batch is written: the session may acknowledge through its token.
    pub fn written(&self) {
        self.progress.send_if_modified(|now| match now {
            WrittenThrough::Token(n) if *n < self.through => {
                *n = self.through;
                true
            }
            _ => false,
        });
    }

    /// A line of the batch could not be written.
    pub fn failed(&self) {
        self.progress.send_if_modified(|now| {
            let changed = *now != WrittenThrough::Failed;
            *now = WrittenThrough::Failed;
            changed
        });
    }
}

/// The session's side: numbers the data tokens and follows their progress.
#[derive(Debug)]
pub struct Acknowledger {
    progress: Arc<watch::Sender<WrittenThrough>>,
    seen: watch::Receiver<WrittenThrough>,
    /// Data tokens received (after the request token).
    received: u64,
    /// The last N sent to the peer.
    acknowledged: u64,
}

impl Default for Acknowledger {
    fn default() -> Self {
        Self::new()
    }
}

impl Acknowledger {
    pub fn new() -> Acknowledger {
        let (progress, seen) = watch::channel(WrittenThrough::Token(0));
        Acknowledger { progress: Arc::new(progress), seen, received: 0, acknowledged: 0 }
    }

    /// The ticket of the next data token received.
    pub fn next_token(&mut self) -> Ticket {
        self.received += 1;
        self.last_token()
    }

    /// The ticket of the last data token received (for what the end of the
    /// session still holds of it).
    pub fn last_token(&self) -> Ticket {
        Ticket { progress: self.progress.clone(), through: self.received }
    }

    /// Whether every data token received is acknowledged to the peer.
    pub fn all_acknowledged(&self) -> bool {
        self.acknowledged == self.received
    }

    /// Records that `Written(n)` went to the peer.
    pub fn acknowledged(&mut self, n: u64) {
        self.acknowledged = n;
    }

    /// Waits until there is more to acknowledge than was sent, or a failure.
    /// Cancellation-safe: nothing is consumed until the caller records what
    /// it sent with [`Acknowledger::acknowledged`].
    pub async fn progress(&mut self) -> WrittenThrough {
        loop {
            match *self.seen.borrow_and_update() {
                WrittenThrough::Failed => return WrittenThrough::Failed,
                WrittenThrough::Token(n) if n > self.acknowledged => return WrittenThrough::Token(n),
                WrittenThrough::Token(_) => {}
            }
            // We hold a sender ourselves, so the channel cannot close.
            if self.seen.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn soon(acks: &mut Acknowledger) -> Option<WrittenThrough> {
        tokio::time::timeout(Duration::from_millis(100), acks.progress()).await.ok()
    }

    #[tokio::test]
    async fn progress_is_the_latest_written_token_and_never_goes_down() {
        let mut acks = Acknowledger::new();
        let (one, two, three) = (acks.next_token(), acks.next_token(), acks.next_token());
        assert_eq!(soon(&mut acks).await, None, "nothing written yet");
        one.written();
        three.written();
        two.written();
        assert_eq!(soon(&mut acks).await, Some(WrittenThrough::Token(3)));
        acks.acknowledged(3);
        assert!(acks.all_acknowledged());
        assert_eq!(soon(&mut acks).await, None, "all acknowledged");
    }

    #[tokio::test]
    async fn a_failure_stops_acknowledgements() {
        let mut acks = Acknowledger::new();
        let (one, two) = (acks.next_token(), acks.next_token());
        one.failed();
        two.written();
        assert_eq!(soon(&mut acks).await, Some(WrittenThrough::Failed));
    }
}

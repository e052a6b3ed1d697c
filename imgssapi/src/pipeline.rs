//! The render pipeline of one session: received chunks in, rendered lines
//! to the output thread out, in the order the chunks were received.

use std::sync::Arc;

use syslog::framing::Deframer;
use syslog::{Origin, ParseOptions, ProtectionSeen, Timestamp};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::acknowledge::Ticket;
use crate::budget::Reservation;
use crate::output::Command;
use crate::render::{RenderedBatch, Rules};
use crate::render_pool::RenderPool;
use crate::context::SessionContext;

/// Turns a session's byte stream into rendered lines for the output thread,
/// one batch per received chunk.
///
/// Framing is sequential (a message may span chunks), so it happens here; the
/// parsing and rendering of each chunk's messages (CPU work: inflating `z`
/// messages, filters, templates) runs on the render threads
/// ([`crate::render_pool`]), never on the async runtime. One task per session
/// hands the rendered batches to the output thread in the order the chunks
/// were received.
///
/// A chunk becomes render jobs of at most [`MAX_JOB_MESSAGES`] messages and
/// [`MAX_JOB_BYTES`] bytes, framed and submitted one at a time
/// ([`ChunkJobs`]), and at most [`RENDER_TASKS_PER_SESSION`] jobs
/// of a session are in flight (submitted, not yet written by the output
/// thread), after which the session stops reading and TCP slows the sender.
/// With bounded jobs that is a round robin: the shared render queue and
/// output channel hold at most four small jobs of any session, so a busy
/// session's chunk of 98,000 two-byte messages waits its turn in pieces
/// instead of standing in front of every other session. Each job's bytes
/// are booked in the collector's budget ([`crate::budget`]) until its batch
/// is written.
///
/// On an acknowledged session every chunk carries a [`Ticket`], also one
/// without a complete message, so that the output thread reports every
/// token, in order.
pub struct Sink {
    ctx: Arc<SessionContext>,
    origin: Arc<Origin>,
    deframer: Deframer,
    options: ParseOptions,
    count: u64,
    in_flight: Arc<Semaphore>,
    /// Batches being rendered, in the session's order, to [`hand_over_in_order`].
    rendering: Option<mpsc::Sender<InFlight>>,
    hand_over: Option<JoinHandle<()>>,
}

const RENDER_TASKS_PER_SESSION: usize = 4;

/// The most messages in one render job.
pub const MAX_JOB_MESSAGES: usize = 1024;
/// The most message bytes in one render job: a plain read or our
/// shipper's token (64 KiB) is one job.
pub const MAX_JOB_BYTES: usize = 128 * 1024;
/// What a job is booked at per message, beyond its bytes: the rendered
/// paths and the write records of about two file actions.
const JOB_BYTES_PER_MESSAGE: usize = 192;

/// A job on the render threads: its batch arrives on `batch`; the permit
/// is its place among the session's jobs in flight.
struct InFlight {
    batch: oneshot::Receiver<RenderedBatch>,
    permit: OwnedSemaphorePermit,
    ack: Option<Ticket>,
    budget: Option<Reservation>,
}

/// Complete messages of one chunk, copied out of the read buffer, and when
/// they were received.
struct Frames {
    received: Timestamp,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Frames {
    fn new(capacity: usize) -> Frames {
        Frames { received: Timestamp::now(), bytes: Vec::with_capacity(capacity), ends: Vec::new() }
    }

    fn push(&mut self, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.ends.push(self.bytes.len());
    }

    /// The job's messages, in order.
    #[cfg(test)]
    fn messages(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.bytes[start..end])
    }

    fn is_full(&self) -> bool {
        self.ends.len() >= MAX_JOB_MESSAGES || self.bytes.len() >= MAX_JOB_BYTES
    }

    /// What the job holds until rendered, and about what its batch will:
    /// its messages, and two lines and the paths per message.
    fn memory_estimate(&self) -> u64 {
        (3 * self.bytes.capacity() + self.ends.len() * (JOB_BYTES_PER_MESSAGE + std::mem::size_of::<usize>()) + 1024) as u64
    }

    fn render(&self, rules: &Rules, origin: &Arc<Origin>, options: &ParseOptions) -> RenderedBatch {
        let mut batch = rules.batch(self.bytes.len());
        let mut start = 0;
        let mut cut = 0;
        for &end in &self.ends {
            if let Some(m) = syslog::parse(&self.bytes[start..end], origin.clone(), self.received, options) {
                cut += u64::from(m.inflated_past_limit);
                batch.add(&m);
            }
            start = end;
        }
        crate::rate_limited::inflated_past_limit(cut, origin, options.max_message_size);
        batch.finish()
    }
}

/// A chunk's render jobs, framed a piece of [`FRAME_PIECE`] bytes at a
/// time as they are taken, so that only a piece's jobs exist before they
/// are submitted (a chunk of 98,000 two-byte messages is not copied whole
/// into 96 jobs first). A job's buffer is sized for what is left of the
/// chunk, up to [`MAX_JOB_BYTES`].
struct ChunkJobs<'a> {
    rest: &'a [u8],
    filling: Option<Frames>,
    full: std::collections::VecDeque<Frames>,
    tally: crate::senders::Tally,
}

/// Bytes framed at a time: at most a job's worth of two-byte messages and
/// a message spanning pieces, so that a piece completes about two jobs.
const FRAME_PIECE: usize = 2 * MAX_JOB_MESSAGES;

impl<'a> ChunkJobs<'a> {
    fn new(chunk: &'a [u8]) -> Self {
        ChunkJobs { rest: chunk, filling: None, full: Default::default(), tally: Default::default() }
    }

    /// The next full job, framing more of the chunk as needed; `None` once
    /// the whole chunk is framed (what is left is [`ChunkJobs::finish`]'s).
    fn next_full(&mut self, deframer: &mut Deframer) -> Option<Frames> {
        while self.full.is_empty() && !self.rest.is_empty() {
            let capacity = self.rest.len().min(MAX_JOB_BYTES);
            let (piece, rest) = self.rest.split_at(self.rest.len().min(FRAME_PIECE));
            self.rest = rest;
            let (filling, full, tally) = (&mut self.filling, &mut self.full, &mut self.tally);
            deframer.push(piece, &mut |frame| {
                tally.add(frame);
                let job = filling.get_or_insert_with(|| Frames::new(capacity));
                job.push(frame);
                if job.is_full() {
                    full.extend(filling.take());
                }
            });
        }
        self.full.pop_front()
    }

    /// The chunk's last job (perhaps empty), and what its messages tell the
    /// senders' table: every message of the chunk, once.
    fn finish(self) -> (Frames, crate::senders::Tally) {
        (self.filling.unwrap_or_else(|| Frames::new(0)), self.tally)
    }
}

impl Sink {
    pub fn new(ctx: Arc<SessionContext>, origin: Arc<Origin>) -> Self {
        let options = ParseOptions { max_message_size: ctx.config.max_message_size };
        let (rendering, rendered) = mpsc::channel(RENDER_TASKS_PER_SESSION);
        let hand_over = tokio::spawn(hand_over_in_order(rendered, ctx.output.clone()));
        Sink {
            deframer: Deframer::new(ctx.config.max_message_size),
            ctx,
            origin,
            options,
            count: 0,
            in_flight: Arc::new(Semaphore::new(RENDER_TASKS_PER_SESSION)),
            rendering: Some(rendering),
            hand_over: Some(hand_over),
        }
    }

    /// Records a weaker protection than the session's messages say so far:
    /// from now on they say `protection` (it never goes back up).
    pub fn protection_seen(&mut self, protection: ProtectionSeen) {
        if self.origin.provenance.protection == ProtectionSeen::Encryption && protection != ProtectionSeen::Encryption {
            let mut origin = (*self.origin).clone();
            origin.provenance.protection = protection;
            self.origin = Arc::new(origin);
        }
    }

    /// Frames one received chunk and sends its messages to be rendered.
    pub async fn push(&mut self, data: &[u8]) {
        self.push_with(data, None).await;
    }

    /// [`Sink::push`] on an acknowledged session: `ticket` is reported to
    /// once the chunk's messages are written.
    pub async fn push_acknowledged(&mut self, data: &[u8], ticket: Ticket) {
        self.push_with(data, Some(ticket)).await;
    }

    async fn push_with(&mut self, data: &[u8], ack: Option<Ticket>) {
        let mut jobs = ChunkJobs::new(data);
        while let Some(job) = jobs.next_full(&mut self.deframer) {
            self.submit(job, None).await;
        }
        let (last, tally) = jobs.finish();
        crate::senders::received(&self.origin, data.len(), tally);
        // The chunk's acknowledgement goes with its last job: batches are
        // written in order.
        self.submit(last, ack).await;
    }

    /// At the end of the session an unterminated last message is submitted
    /// (rsyslog drops it on GSS sessions; we do not lose it), and the session
    /// waits until everything it received is with the output thread.
    /// Calling it again does nothing.
    pub async fn finish(&mut self) {
        self.finish_with(None).await;
    }

    /// [`Sink::finish`] on an acknowledged session: `ticket` (the last
    /// token's) is reported to once the last message is written.
    pub async fn finish_acknowledged(&mut self, ticket: Ticket) {
        self.finish_with(Some(ticket)).await;
    }

    async fn finish_with(&mut self, ack: Option<Ticket>) {
        let mut frames = Frames::new(0);
        self.deframer.finish(&mut |frame| frames.push(frame));
        self.submit(frames, ack).await;
        // The hand-over task ends once it has passed on the last batch.
        self.rendering = None;
        if let Some(hand_over) = self.hand_over.take() {
            let _ = hand_over.await;
        }
    }

    /// How many messages the session has received.
    pub fn count(&self) -> u64 {
        self.count
    }

    async fn submit(&mut self, frames: Frames, ack: Option<Ticket>) {
        if frames.ends.is_empty() && ack.is_none() {
            return;
        }
        self.count += frames.ends.len() as u64;
        crate::counters::add(&crate::counters::STATS.messages_received, frames.ends.len() as u64);
        let received = frames.ends.len() as u64;
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else { return };
        let Some(rendering) = &self.rendering else { return };
        // The bytes were read through the budget's gate already: booked
        // without waiting, until the batch is written.
        let budget = (!frames.ends.is_empty()).then(|| self.ctx.budgets.sessions.book(frames.memory_estimate()));
        let submitted = if frames.ends.is_empty() {
            // Nothing to render: only the acknowledgement goes on, in order.
            let (done, batch) = oneshot::channel();
            let _ = done.send(RenderedBatch::default());
            Ok(batch)
        } else {
            let (rules, origin, options) = (self.ctx.rules.clone(), self.origin.clone(), self.options);
            match RenderPool::global() {
                Ok(pool) => pool.submit(move || frames.render(&rules, &origin, &options)).await,
                Err(e) => Err(e),
            }
        };
        let batch = match submitted {
            Ok(batch) => batch,
            Err(e) => {
                crate::counters::add(&crate::counters::STATS.messages_discarded, received);
                tracing::error!(error = %e, "messages of this session are lost");
                if let Some(ticket) = ack {
                    ticket.failed();
                }
                return;
            }
        };
        if let Err(lost) = rendering.send(InFlight { batch, permit, ack, budget }).await {
            crate::counters::add(&crate::counters::STATS.messages_discarded, received);
            tracing::error!("the hand-over task is gone: messages of this session are lost");
            if let Some(ticket) = lost.0.ack {
                ticket.failed();
            }
        }
    }
}

/// Passes a session's rendered batches to the output thread, one at a time
/// in the order they were submitted, until the session drops its sender.
async fn hand_over_in_order(mut rendering: mpsc::Receiver<InFlight>, output: mpsc::Sender<Command>) {
    while let Some(InFlight { batch, permit, ack, mut budget }) = rendering.recv().await {
        match batch.await {
            Ok(batch) if batch.writes.is_empty() && ack.is_none() => {}
            Ok(mut batch) => {
                batch.ack = ack;
                if let Some(r) = &mut budget {
                    r.resize(batch.memory());
                }
                batch.budget = budget;
                if let Err(lost) = output.send(Command::Write(batch)).await {
                    tracing::error!("output thread is gone: messages of this session are lost");
                    if let Command::Write(RenderedBatch { ack: Some(ticket), .. }) = lost.0 {
                        ticket.failed();
                    }
                }
            }
            // The render thread has logged why (a panic); go on with the next.
            Err(_) => {
                if let Some(ticket) = ack {
                    ticket.failed();
                }
            }
        }
        drop(permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunks_jobs_are_framed_as_they_are_taken_and_sized_for_the_chunk() {
        // 5000 two-byte messages: five jobs of at most 1024.
        let chunk = b"a\n".repeat(5000);
        let mut deframer = Deframer::new(8096);
        let mut jobs = ChunkJobs::new(&chunk);
        let first = jobs.next_full(&mut deframer).expect("a full job");
        assert_eq!(first.ends.len(), MAX_JOB_MESSAGES);
        assert!(jobs.rest.len() >= chunk.len() - 2 * FRAME_PIECE, "framed only as far as the first job: {} left", jobs.rest.len());
        assert!(first.bytes.capacity() <= chunk.len(), "sized for the chunk, not for {MAX_JOB_BYTES}");
        let mut messages = first.ends.len();
        while let Some(job) = jobs.next_full(&mut deframer) {
            assert_eq!(job.ends.len(), MAX_JOB_MESSAGES);
            assert!(job.bytes.capacity() <= chunk.len());
            messages += job.ends.len();
        }
        let (last, tally) = jobs.finish();
        assert_eq!(messages + last.ends.len(), 5000);
        assert!(last.messages().all(|m| m == b"a"));
        assert_eq!(tally.messages, 5000, "every message of the chunk counted once");
    }

    #[test]
    fn a_small_chunk_is_one_job_the_size_of_the_chunk() {
        let chunk = b"<13>one\n<13>two\n<13>thr";
        let mut deframer = Deframer::new(8096);
        let mut jobs = ChunkJobs::new(chunk);
        assert!(jobs.next_full(&mut deframer).is_none());
        let (last, _) = jobs.finish();
        assert_eq!(last.messages().collect::<Vec<_>>(), vec![&b"<13>one"[..], b"<13>two"]);
        assert!(last.bytes.capacity() <= chunk.len());
        assert!(deframer.has_partial(), "the unterminated message waits for the next chunk");
    }
}

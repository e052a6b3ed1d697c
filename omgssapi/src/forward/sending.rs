//! The send loop's rules, without I/O: in each state, which waits stand in
//! the session's select ([`SendLoop::waits`]), and what each event leads to
//! ([`SendLoop::step`]). [`super::session`] does the waiting, reading and
//! writing and feeds the events in; here each rule is tested on its own.
//!
//! The states ([`State`]): *sending* (records go out as the queue has them
//! and [`Delivery`](super::delivery::Delivery) has room) and *winding*
//! (re-keying or handing back: no more records, the session ends once all
//! it sent is acknowledged). Every rule reads what the delivery says now
//! ([`Facts`]): whose acknowledgements count, whether records wait for
//! them, whether there is room for another batch.

use std::time::Duration;

use gsswire::ack::AckError;
use gsswire::{FrameError, GssError, UnwrapError};

use super::connection::Closed;
use super::delivery::{Accounting, Stalled};

/// A write that cannot complete for this long, or unacknowledged bytes that
/// make no progress for this long, end the session; also the limit of a
/// graceful end's drain.
pub const STALLED: Duration = Duration::from_secs(20);
/// How long a stopping shipper waits for the acknowledgements of what it sent.
pub const DRAIN_ON_STOP: Duration = Duration::from_secs(10);

/// How a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The shipper is stopping: no reconnect.
    Stopped,
    /// The session cannot go on: reconnect, and send the unacknowledged
    /// records again.
    Broken(Cause),
    /// The collector ended the session in order (its Closing), and
    /// acknowledged everything sent before it closed: reconnect.
    CollectorClosed,
    /// The context is near the end of its lifetime and everything written
    /// on it is acknowledged: reconnect at once.
    Rekey { lifetime: Duration },
    /// `hand_back` was triggered and everything written on this session is
    /// acknowledged: the action's own collector takes the queue back.
    HandedBack,
}

/// Why a session broke.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// Seen by the close watcher on the read half.
    #[error(transparent)]
    Closed(#[from] Closed),
    #[error("a write made no progress for {0:?}: network or collector stuck")]
    WriteStalled(Duration),
    #[error(transparent)]
    DeliveryStalled(#[from] Stalled),
    #[error("wrap failed: {0}")]
    Wrap(GssError),
    #[error("write failed: {0}")]
    Write(FrameError),
    #[error("the collector does not acknowledge (no answer to the request within {0:?}); $ActionGSSForwardAcknowledged on: not sending to it")]
    NotAcknowledging(Duration),
    #[error("acknowledgement token refused: {0}")]
    AckUnwrap(UnwrapError),
    #[error(transparent)]
    Ack(#[from] AckError),
    #[error("the collector did not acknowledge everything and close within {0:?} of our half-close")]
    DrainTimedOut(Duration),
    #[error("{doing}: the collector closed before acknowledging {records} records sent")]
    EndUnacknowledged { doing: &'static str, records: u64 },
}

/// Why a session stopped taking records and ends once all it sent is
/// acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winding {
    /// The context is near the end of its lifetime.
    Rekey,
    /// The action's own collector is back (on a backup collector).
    HandBack,
}

impl Winding {
    fn end(self, lifetime: Duration) -> SessionEnd {
        match self {
            Winding::Rekey => SessionEnd::Rekey { lifetime },
            Winding::HandBack => SessionEnd::HandedBack,
        }
    }

    pub fn doing(self) -> &'static str {
        match self {
            Winding::Rekey => "re-keying",
            Winding::HandBack => "handing back to the action's own collector",
        }
    }
}

/// The state of a session's send loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Records go out as the queue has them.
    Sending,
    /// No more records: the session ends once all it sent is acknowledged.
    Winding(Winding),
}

/// What the delivery says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Whose acknowledgements count; `None` while the session waits for the
    /// collector's answer to its request.
    pub accounting: Option<Accounting>,
    /// Whether written records wait for acknowledgement.
    pub pending: bool,
    /// Whether another batch may be written.
    pub has_room: bool,
}

/// The session's settings, fixed for its life.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Whether the session asked for acknowledgements (`auto` or `on`).
    pub asked: bool,
    /// `on`: nothing is sent until the collector's Hello.
    pub required: bool,
    /// Whether an idle acknowledged session sends heartbeats.
    pub heartbeat: bool,
    /// Whether the context expires (and the session re-keys).
    pub rekeys: bool,
    /// How long it lasts before re-keying, reported at its end.
    pub lifetime: Duration,
    /// How long to wait for the Hello.
    pub handshake_timeout: Duration,
}

/// The waits of the select, besides the close watcher and the shipper's
/// stop (always there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Waits {
    pub queue: bool,
    pub rekey: bool,
    pub hand_back: bool,
    pub hello: bool,
    pub heartbeat: bool,
    pub tick: bool,
}

/// What happened.
#[derive(Debug)]
pub enum Event {
    QueueHasData,
    RekeyDue,
    HandBack,
    /// The collector said something (checked, and acted on by the delivery).
    Heard(Heard),
    Stop,
    HelloTimedOut,
    HeartbeatDue,
    Tick,
}

/// What the collector said, as the send loop needs it.
#[derive(Debug)]
pub enum Heard {
    /// A Hello or a `Written(N)`: go on.
    Go,
    /// Its Closing: it is shutting down.
    Closing,
    /// The watcher saw the read half end.
    Closed(Closed),
    /// The collector broke the protocol.
    Broke(Cause),
}

/// What the loop does next.
#[derive(Debug)]
pub enum Action {
    /// Wait for the next event.
    Wait,
    /// Take a batch from the queue and write it.
    SendBatch,
    SendHeartbeat,
    /// Ask the delivery what is acknowledged now.
    Settle,
    /// No Hello in time: the collector's TCP stack's acknowledgements count.
    FallBackToTcpStack,
    /// Half-close and take the collector's last acknowledgements until it
    /// closes, within `limit`; then [`SendLoop::drained`].
    Drain { limit: Duration, then: AfterDrain },
    /// Give the collector's TCP stack a moment to take what is in flight,
    /// then end.
    SettleInFlight { then: SessionEnd },
    End(SessionEnd),
}

/// What a drain was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDrain {
    Winding(Winding),
    CollectorClosing,
    Stopping,
}

/// A session's send loop: its state and its rules.
#[derive(Debug)]
pub struct SendLoop {
    state: State,
    settings: Settings,
}

impl SendLoop {
    pub fn new(settings: Settings) -> SendLoop {
        SendLoop { state: State::Sending, settings }
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// Before each wait: a winding session ends once its accounting allows.
    /// With the collector's, that is a graceful end (half-close, drain); with
    /// its TCP stack's, once nothing is pending (the tick settles until then).
    /// Undecided: the Hello or its timeout decides first.
    pub fn on_turn(&self, facts: Facts) -> Option<Action> {
        let State::Winding(winding) = self.state else { return None };
        match facts.accounting {
            Some(Accounting::Collector) => Some(Action::Drain { limit: STALLED, then: AfterDrain::Winding(winding) }),
            Some(Accounting::TcpStack) if !facts.pending => Some(Action::End(winding.end(self.settings.lifetime))),
            Some(Accounting::TcpStack) | None => None,
        }
    }

    /// Which waits stand in the select now.
    pub fn waits(&self, facts: Facts) -> Waits {
        let sending = self.state == State::Sending;
        let undecided = facts.accounting.is_none();
        let s = &self.settings;
        Waits {
            queue: sending && facts.has_room && !(s.required && undecided),
            rekey: sending && s.rekeys,
            hand_back: sending,
            hello: s.asked && undecided,
            heartbeat: sending && s.heartbeat && facts.accounting == Some(Accounting::Collector),
            tick: facts.pending || !sending,
        }
    }

    /// What `event` leads to.
    pub fn step(&mut self, event: Event, facts: Facts) -> Action {
        match event {
            Event::QueueHasData => Action::SendBatch,
            Event::RekeyDue => self.wind(Winding::Rekey),
            Event::HandBack => self.wind(Winding::HandBack),
            Event::Heard(Heard::Go) => Action::Wait,
            // Nothing more is sent: half-close, and take its last acknowledgements.
            Event::Heard(Heard::Closing) => Action::Drain { limit: STALLED, then: AfterDrain::CollectorClosing },
            // A collector that half-closes still reads what is on its way
            // to it: with TCP-level accounting its TCP stack may take that.
            Event::Heard(Heard::Closed(why)) if facts.accounting == Some(Accounting::TcpStack) => {
                Action::SettleInFlight { then: SessionEnd::Broken(why.into()) }
            }
            Event::Heard(Heard::Closed(why)) => Action::End(SessionEnd::Broken(why.into())),
            Event::Heard(Heard::Broke(cause)) => Action::End(SessionEnd::Broken(cause)),
            Event::Stop => match facts.accounting {
                Some(Accounting::Collector) if facts.pending => Action::Drain { limit: DRAIN_ON_STOP, then: AfterDrain::Stopping },
                // What is in flight is the collector's once its TCP has
                // it: waiting for that (briefly) keeps a restart from
                // sending it twice.
                Some(Accounting::TcpStack) => Action::SettleInFlight { then: SessionEnd::Stopped },
                _ => Action::End(SessionEnd::Stopped),
            },
            Event::HelloTimedOut if self.settings.required => {
                Action::End(SessionEnd::Broken(Cause::NotAcknowledging(self.settings.handshake_timeout)))
            }
            Event::HelloTimedOut => Action::FallBackToTcpStack,
            Event::HeartbeatDue => Action::SendHeartbeat,
            Event::Tick => Action::Settle,
        }
    }

    /// Starts winding; a session winding already goes on as it began (the
    /// select does not wait for another reason while winding).
    fn wind(&mut self, winding: Winding) -> Action {
        if self.state == State::Sending {
            self.state = State::Winding(winding);
        }
        Action::Wait
    }

    /// How the session ends after the drain `then`, which came to `result`
    /// (an error of a stopping session's drain is the caller's to log: it
    /// stops all the same).
    pub fn drained(&self, then: AfterDrain, result: Result<(), Cause>, facts: Facts, unacknowledged: u64) -> SessionEnd {
        match (then, result) {
            (AfterDrain::Stopping, _) => SessionEnd::Stopped,
            (_, Err(cause)) => SessionEnd::Broken(cause),
            (AfterDrain::CollectorClosing, Ok(())) => SessionEnd::CollectorClosed,
            (AfterDrain::Winding(winding), Ok(())) if facts.pending => {
                SessionEnd::Broken(Cause::EndUnacknowledged { doing: winding.doing(), records: unacknowledged })
            }
            (AfterDrain::Winding(winding), Ok(())) => winding.end(self.settings.lifetime),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(3600);

    fn settings() -> Settings {
        Settings { asked: true, required: false, heartbeat: true, rekeys: true, lifetime: LIFETIME, handshake_timeout: Duration::from_secs(5) }
    }

    fn facts(accounting: Option<Accounting>, pending: bool) -> Facts {
        Facts { accounting, pending, has_room: true }
    }

    const COLLECTOR: Option<Accounting> = Some(Accounting::Collector);
    const TCP: Option<Accounting> = Some(Accounting::TcpStack);

    fn winding(w: Winding) -> SendLoop {
        let mut send = SendLoop::new(settings());
        assert!(matches!(send.step(if w == Winding::Rekey { Event::RekeyDue } else { Event::HandBack }, facts(COLLECTOR, true)), Action::Wait));
        assert_eq!(send.state(), State::Winding(w));
        send
    }

    #[test]
    fn a_sending_session_waits_for_records_while_there_is_room() {
        let send = SendLoop::new(settings());
        let w = send.waits(facts(COLLECTOR, false));
        assert_eq!(w, Waits { queue: true, rekey: true, hand_back: true, hello: false, heartbeat: true, tick: false });
        assert!(!send.waits(Facts { has_room: false, ..facts(COLLECTOR, true) }).queue, "no room: no records");
        assert!(send.waits(facts(COLLECTOR, true)).tick, "records pending: the tick settles");
        assert!(send.on_turn(facts(COLLECTOR, true)).is_none());
        assert!(matches!(SendLoop::new(settings()).step(Event::QueueHasData, facts(COLLECTOR, false)), Action::SendBatch));
    }

    #[test]
    fn until_the_answer_auto_sends_and_on_does_not() {
        let auto = SendLoop::new(settings());
        let w = auto.waits(facts(None, false));
        assert!(w.queue && w.hello && !w.heartbeat, "{w:?}");
        let on = SendLoop::new(Settings { required: true, ..settings() });
        let w = on.waits(facts(None, false));
        assert!(!w.queue && w.hello, "{w:?}");
        let off = SendLoop::new(Settings { asked: false, ..settings() });
        assert!(!off.waits(facts(TCP, false)).hello);
    }

    #[test]
    fn no_hello_in_time_falls_back_under_auto_and_breaks_under_on() {
        assert!(matches!(SendLoop::new(settings()).step(Event::HelloTimedOut, facts(None, true)), Action::FallBackToTcpStack));
        let mut on = SendLoop::new(Settings { required: true, ..settings() });
        let action = on.step(Event::HelloTimedOut, facts(None, false));
        assert!(matches!(action, Action::End(SessionEnd::Broken(Cause::NotAcknowledging(t))) if t == Duration::from_secs(5)), "{action:?}");
    }

    #[test]
    fn heartbeats_and_ticks() {
        let mut send = SendLoop::new(settings());
        assert!(matches!(send.step(Event::HeartbeatDue, facts(COLLECTOR, false)), Action::SendHeartbeat));
        assert!(matches!(send.step(Event::Tick, facts(COLLECTOR, true)), Action::Settle));
        assert!(!send.waits(facts(TCP, false)).heartbeat, "no heartbeats on a TCP-level session");
        let quiet = SendLoop::new(Settings { heartbeat: false, ..settings() });
        assert!(!quiet.waits(facts(COLLECTOR, false)).heartbeat);
        let forever = SendLoop::new(Settings { rekeys: false, ..settings() });
        assert!(!forever.waits(facts(COLLECTOR, false)).rekey, "a context that does not expire never re-keys");
    }

    #[test]
    fn a_winding_session_takes_no_records_and_waits_for_no_more_windings() {
        for w in [Winding::Rekey, Winding::HandBack] {
            let send = winding(w);
            let waits = send.waits(facts(TCP, true));
            assert_eq!(waits, Waits { queue: false, rekey: false, hand_back: false, hello: false, heartbeat: false, tick: true });
            assert!(send.waits(facts(TCP, false)).tick, "winding: the tick runs even with nothing pending");
        }
    }

    #[test]
    fn a_winding_session_drains_with_the_collector_accounting_and_ends_when_nothing_is_left() {
        let send = winding(Winding::Rekey);
        let action = send.on_turn(facts(COLLECTOR, true));
        assert!(matches!(action, Some(Action::Drain { limit: STALLED, then: AfterDrain::Winding(Winding::Rekey) })), "{action:?}");
        let end = send.drained(AfterDrain::Winding(Winding::Rekey), Ok(()), facts(COLLECTOR, false), 0);
        assert!(matches!(end, SessionEnd::Rekey { lifetime: LIFETIME }), "{end:?}");
        let end = send.drained(AfterDrain::Winding(Winding::Rekey), Ok(()), facts(COLLECTOR, true), 7);
        assert!(matches!(end, SessionEnd::Broken(Cause::EndUnacknowledged { doing: "re-keying", records: 7 })), "{end:?}");
        let end = send.drained(AfterDrain::Winding(Winding::Rekey), Err(Cause::DrainTimedOut(STALLED)), facts(COLLECTOR, true), 7);
        assert!(matches!(end, SessionEnd::Broken(Cause::DrainTimedOut(_))), "{end:?}");
    }

    #[test]
    fn a_winding_session_with_tcp_accounting_ends_once_nothing_is_pending() {
        let send = winding(Winding::HandBack);
        assert!(send.on_turn(facts(TCP, true)).is_none(), "pending: the tick settles first");
        assert!(send.on_turn(facts(None, false)).is_none(), "undecided: the Hello or its timeout first");
        assert!(matches!(send.on_turn(facts(TCP, false)), Some(Action::End(SessionEnd::HandedBack))));
    }

    #[test]
    fn the_collectors_closing_is_a_drain_and_an_orderly_end_not_a_broken_session() {
        let mut send = SendLoop::new(settings());
        let action = send.step(Event::Heard(Heard::Closing), facts(COLLECTOR, true));
        assert!(matches!(action, Action::Drain { limit: STALLED, then: AfterDrain::CollectorClosing }), "{action:?}");
        let end = send.drained(AfterDrain::CollectorClosing, Ok(()), facts(COLLECTOR, false), 0);
        assert!(matches!(end, SessionEnd::CollectorClosed), "{end:?}");
        let end = send.drained(AfterDrain::CollectorClosing, Err(Cause::DrainTimedOut(STALLED)), facts(COLLECTOR, true), 1);
        assert!(matches!(end, SessionEnd::Broken(_)), "{end:?}");
        assert!(matches!(send.step(Event::Heard(Heard::Go), facts(COLLECTOR, true)), Action::Wait));
    }

    #[test]
    fn a_closed_session_settles_what_is_in_flight_with_tcp_accounting_only() {
        let mut send = SendLoop::new(settings());
        let closed = || Event::Heard(Heard::Closed(Closed::ByCollector));
        let action = send.step(closed(), facts(TCP, true));
        assert!(matches!(action, Action::SettleInFlight { then: SessionEnd::Broken(Cause::Closed(Closed::ByCollector)) }), "{action:?}");
        assert!(matches!(send.step(closed(), facts(COLLECTOR, true)), Action::End(SessionEnd::Broken(_))));
        let data = Event::Heard(Heard::Broke(Cause::Closed(Closed::DataAfterHandshake)));
        assert!(matches!(send.step(data, facts(TCP, true)), Action::End(SessionEnd::Broken(_))), "only a close settles");
    }

    #[test]
    fn a_stop_drains_settles_or_ends_by_the_accounting() {
        let mut send = SendLoop::new(settings());
        assert!(matches!(send.step(Event::Stop, facts(COLLECTOR, true)), Action::Drain { limit: DRAIN_ON_STOP, then: AfterDrain::Stopping }));
        assert!(matches!(send.step(Event::Stop, facts(COLLECTOR, false)), Action::End(SessionEnd::Stopped)));
        assert!(matches!(send.step(Event::Stop, facts(TCP, true)), Action::SettleInFlight { then: SessionEnd::Stopped }));
        assert!(matches!(send.step(Event::Stop, facts(None, true)), Action::End(SessionEnd::Stopped)));
        let end = send.drained(AfterDrain::Stopping, Err(Cause::DrainTimedOut(DRAIN_ON_STOP)), facts(COLLECTOR, true), 3);
        assert!(matches!(end, SessionEnd::Stopped), "a stopping shipper stops whatever the drain says: {end:?}");
    }

    /// Every event, in every state, with every combination of facts and
    /// settings: the rules that hold whatever comes.
    #[test]
    fn in_every_state_every_event_keeps_the_rules() {
        let events = || {
            vec![
                Event::QueueHasData,
                Event::RekeyDue,
                Event::HandBack,
                Event::Heard(Heard::Go),
                Event::Heard(Heard::Closing),
                Event::Heard(Heard::Closed(Closed::ByCollector)),
                Event::Heard(Heard::Broke(Cause::Closed(Closed::DataAfterHandshake))),
                Event::Stop,
                Event::HelloTimedOut,
                Event::HeartbeatDue,
                Event::Tick,
            ]
        };
        let mut cases = 0;
        for bits in 0..16u8 {
            let settings = Settings { asked: bits & 1 != 0, required: bits & 2 != 0, heartbeat: bits & 4 != 0, rekeys: bits & 8 != 0, ..settings() };
            for state in [State::Sending, State::Winding(Winding::Rekey), State::Winding(Winding::HandBack)] {
                for accounting in [None, TCP, COLLECTOR] {
                    for (pending, has_room) in [(false, false), (false, true), (true, false), (true, true)] {
                        let facts = Facts { accounting, pending, has_room };
                        let base = SendLoop { state, settings };
                        let waits = base.waits(facts);
                        if waits.queue {
                            assert!(state == State::Sending && has_room && !(settings.required && accounting.is_none()), "{base:?} {facts:?}");
                        }
                        if state != State::Sending {
                            assert!(!waits.queue && !waits.rekey && !waits.hand_back && !waits.heartbeat && waits.tick, "{base:?} {facts:?}");
                            assert!(matches!(base.on_turn(facts), None | Some(Action::Drain { .. }) | Some(Action::End(_))));
                        } else {
                            assert!(base.on_turn(facts).is_none());
                        }
                        for event in events() {
                            let mut send = SendLoop { state, settings };
                            let queue_event = matches!(event, Event::QueueHasData);
                            let stop = matches!(event, Event::Stop);
                            let action = send.step(event, facts);
                            cases += 1;
                            assert_eq!(matches!(action, Action::SendBatch), queue_event, "{action:?}");
                            if let Action::Drain { then, .. } = action {
                                assert_eq!(then == AfterDrain::Stopping, stop);
                            }
                            if state != State::Sending {
                                assert_eq!(send.state(), state, "a winding session winds on as it began");
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 16 * 3 * 3 * 4 * 11);
    }
}

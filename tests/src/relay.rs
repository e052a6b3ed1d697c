//! A plain TCP relay on loopback that passes every connection on to a
//! collector, unchanged, and notes how each one ended: an outside witness of
//! how a shipper and a collector end their sessions (who half-closed first,
//! whether bytes still came back after that). Unlike [`crate::proxy`], it
//! takes any number of sessions (a shipper that re-keys opens a new one).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

/// What the relay saw of one session, in the order it was accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Bytes from the shipper to the collector.
    pub up: u64,
    /// Bytes from the collector to the shipper.
    pub down: u64,
    /// The shipper ended its side with a FIN (not a reset) while the
    /// collector's was open; `down` at that moment.
    pub shipper_half_closed_at: Option<u64>,
    /// The collector ended its side; `up` at that moment (and whether the
    /// shipper had half-closed before).
    pub collector_closed: bool,
    pub collector_closed_first: bool,
    /// Bytes from the collector could not be passed on: the shipper had
    /// closed its reading side (or reset the connection).
    pub shipper_refused_bytes: bool,
    /// With [`Relay::start_recording`], every byte the shipper sent.
    pub sent: Vec<u8>,
}

impl Session {
    /// The shipper half-closed first (a FIN, not a reset), the collector
    /// closed after that, and whatever it still sent the shipper took: the
    /// graceful end of the acknowledged mode. (Whether anything was left to
    /// acknowledge at the half-close is [`Session::answered_after_half_close`].)
    pub fn ended_gracefully_by_the_shipper(&self) -> bool {
        self.shipper_half_closed_at.is_some()
            && self.collector_closed
            && !self.collector_closed_first
            && !self.shipper_refused_bytes
    }

    /// The collector sent bytes after the shipper's half-close.
    pub fn answered_after_half_close(&self) -> bool {
        self.shipper_half_closed_at.is_some_and(|down| self.down > down)
    }
}

pub struct Relay {
    addr: SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
}

impl Relay {
    /// Listens on a free 127.0.0.1 port and relays each connection to `target`.
    pub fn start(target: SocketAddr) -> Result<Relay> {
        Relay::start_with(target, false)
    }

    /// [`Relay::start`], keeping every byte each shipper sent ([`Session::sent`]).
    pub fn start_recording(target: SocketAddr) -> Result<Relay> {
        Relay::start_with(target, true)
    }

    fn start_with(target: SocketAddr, record: bool) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the relay")?;
        let addr = listener.local_addr()?;
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let all = sessions.clone();
        std::thread::spawn(move || {
            for shipper in listener.incoming().map_while(Result::ok) {
                let Ok(collector) = TcpStream::connect(target) else { continue };
                let index = {
                    let mut s = all.lock().unwrap_or_else(|e| e.into_inner());
                    s.push(Session::default());
                    s.len() - 1
                };
                relay(shipper, collector, index, all.clone(), record);
            }
        });
        Ok(Relay { addr, sessions })
    }

    /// Where the shipper connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every session so far.
    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Copies both ways on two threads, noting the bytes and the ends.
fn relay(shipper: TcpStream, collector: TcpStream, index: usize, sessions: Arc<Mutex<Vec<Session>>>, record: bool) {
    let update = move |f: &dyn Fn(&mut Session)| {
        let mut s = sessions.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s[index]);
    };
    let (Ok(shipper_w), Ok(collector_w)) = (shipper.try_clone(), collector.try_clone()) else { return };
    let up_update = update.clone();
    std::thread::spawn(move || {
        // The end is noted before it is passed on, so that what the
        // collector sends in answer to it is counted after it.
        let ended = |_: bool, clean: bool| {
            up_update(&|s| {
                if clean && !s.collector_closed {
                    s.shipper_half_closed_at = Some(s.down);
                }
            })
        };
        let count = |bytes: &[u8]| {
            up_update(&|s| {
                s.up += bytes.len() as u64;
                if record {
                    s.sent.extend_from_slice(bytes);
                }
            })
        };
        copy(shipper, collector_w, count, ended);
    });
    std::thread::spawn(move || {
        let ended = |delivered: bool, _: bool| {
            update(&|s| {
                s.collector_closed = delivered;
                s.collector_closed_first = s.shipper_half_closed_at.is_none();
                s.shipper_refused_bytes = !delivered;
            })
        };
        copy(collector, shipper_w, |bytes: &[u8]| update(&|s| s.down += bytes.len() as u64), ended);
    });
}

/// Copies until end of stream or a read error, calls `ended` (whether every
/// write succeeded, whether the stream ended with a FIN rather than an
/// error), then passes the end on.
fn copy(mut from: TcpStream, mut to: TcpStream, count: impl Fn(&[u8]), ended: impl Fn(bool, bool)) {
    let mut buf = [0u8; 16 * 1024];
    let mut delivered = true;
    let mut clean = false;
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                clean = true;
                break;
            }
            Err(_) => break,
            Ok(n) => {
                count(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    delivered = false;
                    break;
                }
            }
        }
    }
    ended(delivered, clean);
    let _ = to.shutdown(Shutdown::Write);
}

//! A tampering TCP proxy on loopback, for the tests that play an on-path
//! attacker between a shipper and a collector.
//!
//! It accepts one session (later connections are accepted and closed at
//! once, so a reconnecting shipper never reaches the collector again), reads
//! the shipper's tokens with rsyslog's GSS framing (the byte order detected
//! from the first token, as a collector does) and passes the handshake
//! through. Data tokens (RFC 4121 wrap tokens, `05 04`) pass unchanged until
//! the test arms a [`Tamper`]; it applies to the next data token(s), after
//! which everything passes unchanged again. The collector's bytes go back to
//! the shipper as they are.
//!
//! The proxy runs on its own tokio runtime; its methods block, as the
//! daemon-driving tests do.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use gsswire::{FrameOrder, FrameReader, FrameWriter, MAX_HANDSHAKE_TOKEN};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

/// RFC 4121 section 4.2.6.2: a wrap token starts with TOK_ID `05 04`, and its
/// clear header is 16 bytes.
const WRAP_TOKEN_ID: [u8; 2] = [0x05, 0x04];
pub const WRAP_HEADER_LEN: usize = 16;

/// What the proxy does to the data tokens once armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// XORs `mask` into byte `index` of the next data token.
    XorByte { index: ByteIndex, mask: u8 },
    /// Adds `by` to the clear EC field (bytes 4..6) of the next data token:
    /// the CVE-2024-37370 truncation.
    RaiseEc { by: u16 },
    /// Cuts the next data token to its first `keep` bytes (from the end when
    /// negative: `Truncate { keep: -1 }` drops the last byte).
    Truncate { keep: isize },
    /// Appends `bytes` zero bytes to the next data token.
    Extend { bytes: usize },
    /// A legitimate change, the control case: rotates the part after the
    /// header right by `by` bytes and says so in RRC (bytes 6..8), which RFC
    /// 4121 allows a sender to do. The token must still be accepted.
    Rotate { by: u16 },
    /// Sends a copy of an earlier data token of the session first.
    Replay(Earlier),
    /// Holds the next data token back and sends it after the one that follows.
    Reorder,
    /// Leaves the next data token out.
    Drop,
}

/// A position in a data token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteIndex {
    /// Counted from the start of the token (0..16 is the clear header).
    FromStart(usize),
    /// Counted back from the last byte (1 is the last byte).
    FromEnd(usize),
    /// The middle of the part after the header.
    BodyMiddle,
}

/// Which earlier data token a replay repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// The session's first data token.
    First,
    /// The data token just before the one the replay comes ahead of.
    Previous,
}

impl Tamper {
    /// How many data tokens from the shipper the tampering needs after it is
    /// armed (a reorder or a left-out token is only visible with the next one).
    pub fn tokens_needed(&self) -> usize {
        match self {
            Tamper::Reorder | Tamper::Drop => 2,
            _ => 1,
        }
    }

    /// Applies an in-place change to one token; `Err` if this token cannot
    /// take it (which is a defect of the test, not of the code under test).
    fn edit(&self, token: &[u8]) -> Result<Vec<u8>, String> {
        let mut t = token.to_vec();
        if t.len() < WRAP_HEADER_LEN {
            return Err(format!("a data token of {} bytes has no RFC 4121 header", t.len()));
        }
        match *self {
            Tamper::XorByte { index, mask } => {
                let at = match index {
                    ByteIndex::FromStart(i) => i,
                    ByteIndex::FromEnd(i) => t.len().checked_sub(i).ok_or("index before the token's start")?,
                    ByteIndex::BodyMiddle => WRAP_HEADER_LEN + (t.len() - WRAP_HEADER_LEN) / 2,
                };
                let byte = t.get_mut(at).ok_or_else(|| format!("byte {at} is past the end of a {}-byte token", token.len()))?;
                *byte ^= mask;
                if (6..8).contains(&at) && rotation(&t) == rotation(token) {
                    return Err("the RRC change is a whole number of turns: no change at all".into());
                }
            }
            Tamper::RaiseEc { by } => {
                let ec = u16::from_be_bytes([t[4], t[5]]).checked_add(by).ok_or("EC overflows")?;
                t[4..6].copy_from_slice(&ec.to_be_bytes());
            }
            Tamper::Truncate { keep } => {
                let keep = if keep < 0 { t.len().checked_sub(keep.unsigned_abs()) } else { Some(keep as usize) };
                match keep {
                    Some(k) if k < t.len() => t.truncate(k),
                    _ => return Err(format!("cannot cut a {}-byte token to {keep:?} bytes", token.len())),
                }
            }
            Tamper::Extend { bytes } => t.resize(t.len() + bytes, 0),
            Tamper::Rotate { by } => {
                if u16::from_be_bytes([t[6], t[7]]) != 0 {
                    return Err("the sender rotated this token already".into());
                }
                let body = &mut t[WRAP_HEADER_LEN..];
                let turn = usize::from(by) % body.len().max(1);
                if turn == 0 {
                    return Err(format!("a rotation by {by} of a {}-byte body changes nothing", body.len()));
                }
                body.rotate_right(turn);
                t[6..8].copy_from_slice(&by.to_be_bytes());
            }
            Tamper::Replay(_) | Tamper::Reorder | Tamper::Drop => return Err("not an in-place change".into()),
        }
        Ok(t)
    }
}

/// The effective rotation of a token's body (RRC modulo the body length).
fn rotation(token: &[u8]) -> usize {
    let rrc = usize::from(u16::from_be_bytes([token[6], token[7]]));
    rrc % (token.len() - WRAP_HEADER_LEN).max(1)
}

/// What the proxy has seen and done so far.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The proxy's own address on its connection to the collector: the
    /// collector logs it as the session's `peer`.
    pub upstream_local: Option<SocketAddr>,
    /// Data tokens read from the shipper, before and after arming.
    pub data_tokens: usize,
    /// Data tokens read from the shipper since the tampering was armed.
    pub since_armed: usize,
    /// The armed tampering has been done.
    pub applied: bool,
    /// Connections after the first, closed at once.
    pub refused_connections: usize,
    /// The session is over (either side closed, or [`TamperProxy::cut`]).
    pub ended: bool,
    /// Why the proxy could not do what it was asked (a defect of the test).
    pub error: Option<String>,
    /// How the session's shipper-to-collector half ended, for diagnostics.
    pub end_reason: Option<String>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    status: Status,
    armed: Option<Tamper>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
        self.changed.notify_all();
    }

    fn status(&self) -> Status {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).status.clone()
    }
}

pub struct TamperProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cut: watch::Sender<bool>,
    /// Runs the proxy's tasks; dropping it ends them and closes the sockets.
    _runtime: tokio::runtime::Runtime,
}

impl TamperProxy {
    /// Listens on a free 127.0.0.1 port and forwards its one session to `collector`.
    pub fn start(collector: SocketAddr) -> Result<TamperProxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tamper-proxy")
            .enable_all()
            .build()
            .context("starting the proxy's runtime")?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (cut, cut_rx) = watch::channel(false);
        runtime.spawn(serve(listener, collector, shared.clone(), cut_rx));
        Ok(TamperProxy { addr, shared, cut, _runtime: runtime })
    }

    /// Where the shipper connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Arms `tamper` for the next data token(s).
    pub fn arm(&self, tamper: Tamper) {
        self.shared.update(|s| {
            s.armed = Some(tamper);
            s.status.since_armed = 0;
            s.status.applied = false;
        });
    }

    pub fn status(&self) -> Status {
        self.shared.status()
    }

    /// Waits until `done` holds for the status, or the proxy reported an error.
    pub fn wait(&self, timeout: Duration, what: &str, done: impl Fn(&Status) -> bool) -> Result<Status> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(e) = &state.status.error {
                bail!("the proxy failed while waiting for {what}: {e}");
            }
            if done(&state.status) {
                return Ok(state.status.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the proxy did not see {what} within {timeout:?}: {:?}", state.status);
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Closes the session in both directions (the collector then sees a
    /// clean end of stream between tokens).
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        // The runtime, dropped after this, ends the tasks and closes the sockets.
        self.cut();
    }
}

async fn serve(listener: TcpListener, collector: SocketAddr, shared: Arc<Shared>, cut: watch::Receiver<bool>) {
    let shipper = match listener.accept().await {
        Ok((stream, _)) => stream,
        Err(e) => return fail(&shared, format!("accepting the shipper: {e}")),
    };
    let refusals = shared.clone();
    tokio::spawn(async move {
        while let Ok((later, _)) = listener.accept().await {
            drop(later);
            refusals.update(|s| s.status.refused_connections += 1);
        }
    });
    let upstream = match connect_from_loopback(collector).await {
        Ok(stream) => stream,
        Err(e) => return fail(&shared, format!("connecting to the collector at {collector}: {e}")),
    };
    let local = upstream.local_addr().ok();
    shared.update(|s| s.status.upstream_local = local);
    let _ = shipper.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (shipper_read, shipper_write) = shipper.into_split();
    let (collector_read, collector_write) = upstream.into_split();
    let back = tokio::spawn(copy_back(collector_read, shipper_write, cut.clone()));
    let reason = forward_tokens(shipper_read, collector_write, &shared, cut).await;
    // The shipper-to-collector half is over: end the other one too.
    back.abort();
    shared.update(|s| {
        s.status.ended = true;
        s.status.end_reason = Some(reason);
    });
}

fn fail(shared: &Shared, error: String) {
    shared.update(|s| {
        s.status.error = Some(error);
        s.status.ended = true;
    });
}

async fn connect_from_loopback(collector: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.connect(collector).await
}

async fn cut_requested(cut: &mut watch::Receiver<bool>) {
    let _ = cut.wait_for(|c| *c).await;
}

/// The collector's bytes (the handshake reply, then at most a half-close)
/// go back unchanged.
async fn copy_back(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut cut: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::io::copy(&mut from, &mut to) => {}
        _ = cut_requested(&mut cut) => {}
    }
    let _ = to.shutdown().await;
}

/// Reads the shipper's tokens and writes them (or what the armed tampering
/// makes of them) to the collector; returns why the session ended.
async fn forward_tokens(from: OwnedReadHalf, to: OwnedWriteHalf, shared: &Shared, mut cut: watch::Receiver<bool>) -> String {
    let mut reader = FrameReader::new(from, FrameOrder::Auto);
    // The order is set from the first token, before anything is written.
    let mut writer = FrameWriter::new(to, gsswire::ByteOrder::Little);
    let mut session = Tampering::default();
    loop {
        let token = tokio::select! {
            t = reader.read_token(MAX_HANDSHAKE_TOKEN) => Some(t),
            _ = cut_requested(&mut cut) => None,
        };
        let token = match token {
            None => {
                let _ = writer.get_mut().shutdown().await;
                return "cut by the test".into();
            }
            Some(t) => t,
        };
        let token = match token {
            Ok(Some(t)) => t.to_vec(),
            Ok(None) => {
                let _ = writer.get_mut().shutdown().await;
                return "the shipper closed".into();
            }
            Err(e) => return format!("reading from the shipper: {e}"),
        };
        if let Some(order) = reader.byte_order() {
            writer.set_byte_order(order);
        }
        let out = if token.starts_with(&WRAP_TOKEN_ID) {
            match session.data_token(token, shared) {
                Ok(out) => out,
                Err(e) => {
                    fail(shared, e.clone());
                    return e;
                }
            }
        } else {
            vec![token]
        };
        for t in out {
            if let Err(e) = writer.write_token(&t).await {
                return format!("writing to the collector: {e}");
            }
        }
    }
}

/// The data tokens of the session and where the armed tampering stands.
#[derive(Default)]
struct Tampering {
    forwarded: Vec<Vec<u8>>,
    /// A reordered token waiting for the one after it.
    held: Option<Vec<u8>>,
    /// A token was left out; the next one shows the gap.
    dropped_one: bool,
}

impl Tampering {
    /// Takes one data token from the shipper; returns what goes to the collector.
    fn data_token(&mut self, token: Vec<u8>, shared: &Shared) -> Result<Vec<Vec<u8>>, String> {
        let mut armed = None;
        shared.update(|s| {
            s.status.data_tokens += 1;
            if s.armed.is_some() {
                s.status.since_armed += 1;
                armed = s.armed.clone();
            }
        });
        let Some(tamper) = armed else {
            self.forwarded.push(token.clone());
            return Ok(vec![token]);
        };
        let (out, done) = match &tamper {
            Tamper::Replay(which) => {
                let earlier = match which {
                    Earlier::First => self.forwarded.first(),
                    Earlier::Previous => self.forwarded.last(),
                };
                let copy = earlier.cloned().ok_or("a replay needs an earlier data token")?;
                (vec![copy, token], true)
            }
            Tamper::Reorder => match self.held.take() {
                None => {
                    self.held = Some(token);
                    (vec![], false)
                }
                Some(first) => (vec![token, first], true),
            },
            // The first token after arming is left out; the next one goes.
            Tamper::Drop if self.dropped_one => {
                self.dropped_one = false;
                (vec![token], true)
            }
            Tamper::Drop => {
                self.dropped_one = true;
                (vec![], false)
            }
            edit => (vec![edit.edit(&token)?], true),
        };
        if done {
            shared.update(|s| {
                s.armed = None;
                s.status.applied = true;
            });
        }
        self.forwarded.extend(out.iter().cloned());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(body: usize) -> Vec<u8> {
        let mut t = vec![0x05, 0x04, 0x06, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        t.extend((0..body).map(|i| i as u8));
        t
    }

    #[test]
    fn edits_change_what_they_say() {
        let t = token(40);
        let raised = Tamper::RaiseEc { by: 3 }.edit(&t).unwrap();
        assert_eq!(&raised[4..6], &[0, 3]);
        assert_eq!(raised[6..], t[6..]);
        let cut = Tamper::Truncate { keep: -1 }.edit(&t).unwrap();
        assert_eq!(cut, t[..t.len() - 1]);
        assert_eq!(Tamper::Truncate { keep: 10 }.edit(&t).unwrap(), t[..10]);
        assert_eq!(Tamper::Extend { bytes: 2 }.edit(&t).unwrap().len(), t.len() + 2);
        let last = Tamper::XorByte { index: ByteIndex::FromEnd(1), mask: 0x80 }.edit(&t).unwrap();
        assert_eq!(last[t.len() - 1], t[t.len() - 1] ^ 0x80);
        let rotated = Tamper::Rotate { by: 5 }.edit(&t).unwrap();
        assert_eq!(&rotated[6..8], &[0, 5]);
        assert_eq!(rotated[WRAP_HEADER_LEN..WRAP_HEADER_LEN + 5], t[t.len() - 5..]);
    }

    #[test]
    fn an_rrc_change_of_whole_turns_is_refused_as_a_test_defect() {
        // A 32-byte body: adding 256 to RRC rotates by 8 whole turns.
        let t = token(32);
        assert!(Tamper::XorByte { index: ByteIndex::FromStart(6), mask: 0x01 }.edit(&t).is_err());
        assert!(Tamper::XorByte { index: ByteIndex::FromStart(7), mask: 0x01 }.edit(&t).is_ok());
    }

    #[test]
    fn order_changes_need_the_following_token() {
        let shared = Shared::default();
        let mut session = Tampering::default();
        let (a, b, c) = (token(1), token(2), token(3));
        assert_eq!(session.data_token(a.clone(), &shared).unwrap(), vec![a.clone()]);
        shared.update(|s| s.armed = Some(Tamper::Reorder));
        assert!(session.data_token(b.clone(), &shared).unwrap().is_empty());
        assert_eq!(session.data_token(c.clone(), &shared).unwrap(), vec![c.clone(), b.clone()]);
        assert!(shared.status().applied);

        let mut session = Tampering::default();
        session.data_token(a.clone(), &shared).unwrap();
        shared.update(|s| s.armed = Some(Tamper::Drop));
        assert!(session.data_token(b.clone(), &shared).unwrap().is_empty());
        assert_eq!(session.data_token(c.clone(), &shared).unwrap(), vec![c.clone()]);
        assert_eq!(session.data_token(b.clone(), &shared).unwrap(), vec![b.clone()], "passes unchanged once done");

        let mut session = Tampering::default();
        session.data_token(a.clone(), &shared).unwrap();
        session.data_token(b.clone(), &shared).unwrap();
        shared.update(|s| s.armed = Some(Tamper::Replay(Earlier::First)));
        assert_eq!(session.data_token(c.clone(), &shared).unwrap(), vec![a.clone(), c.clone()]);
    }
}

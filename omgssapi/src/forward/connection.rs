//! Setting up one session to the collector, and watching it for close.
//!
//! [`connect`] resolves the collector's name again (it may have moved),
//! connects from the configured source address, and completes the GSS
//! handshake; each step is bounded by the handshake timeout and fails with a
//! [`ConnectError`] naming it. The read half then goes to a watcher task
//! that passes on what it reads ([`Heard`]): tokens (a stock collector
//! never sends any after the handshake, so on a session without
//! acknowledgements one ends it; with them they are the collector's
//! acknowledgements), and how the read half ended ([`Closed`]).

use std::net::{IpAddr, SocketAddr};

use gsswire::{
    initiate_as, ClientIdentity, FrameError, FrameOrder, FrameReader, FrameWriter, GssError, HandshakeError,
    InitiatorConfig, InitiatorCredential, MessageCode, Session,
};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

use crate::config::ForwardConfig;

/// The largest token the watcher reads (acknowledgements are a few dozen bytes).
const WATCHER_MAX_TOKEN: usize = 64 * 1024;
/// Tokens read ahead of the session's handling of them.
const WATCHER_BACKLOG: usize = 64;

/// Why no session could be set up. Each variant is one step of [`connect`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("resolving {host} timed out")]
    ResolveTimedOut { host: String },
    #[error("resolving {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("connecting to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error("connecting to {addr} timed out")]
    ConnectTimedOut { addr: SocketAddr },
    #[error("turning off Nagle's algorithm (TCP_NODELAY): {0}")]
    NoDelay(std::io::Error),
    #[error("client credentials ($GssForwardPrincipal, $GssForwardKeytab): {0}")]
    Credentials(GssError),
    #[error("GSS handshake: {0}")]
    Handshake(#[from] HandshakeError),
}

/// Why the close watcher says the session is over.
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    /// End of stream: a collector shutting down half-closes, and rsyslog
    /// 8.2504+ closes idle sessions.
    #[error("the collector closed the session")]
    ByCollector,
    #[error("the collector sent data after the handshake")]
    DataAfterHandshake,
    #[error("session error: {0}")]
    ReadFailed(FrameError),
    /// The watcher task ended without a word (the runtime is going away).
    #[error("session watcher ended")]
    WatcherGone,
}

/// An established session: where tokens go, the GSS context that wraps
/// them, and the close watcher of the read half.
pub struct Connection {
    pub writer: FrameWriter<OwnedWriteHalf>,
    pub session: Session,
    pub closed: CloseWatch,
}

/// What the watcher read on the session's read half.
#[derive(Debug)]
pub enum Heard {
    /// A token (still wrapped).
    Token(Vec<u8>),
    /// The read half ended; nothing follows.
    Closed(Closed),
}

/// The watcher of the read half: what it read, in order.
pub struct CloseWatch(mpsc::Receiver<Heard>);

impl CloseWatch {
    /// Reads the session's read half in a task of its own, passing on every
    /// token, until the read half ends.
    fn spawn(mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>) -> CloseWatch {
        let (tx, rx) = mpsc::channel(WATCHER_BACKLOG);
        tokio::spawn(async move {
            loop {
                let heard = match reader.read_token(WATCHER_MAX_TOKEN).await {
                    Ok(Some(token)) => Heard::Token(token.to_vec()),
                    Ok(None) => Heard::Closed(Closed::ByCollector),
                    Err(e) => Heard::Closed(Closed::ReadFailed(e)),
                };
                let last = matches!(heard, Heard::Closed(_));
                if tx.send(heard).await.is_err() || last {
                    return;
                }
            }
        });
        CloseWatch(rx)
    }

    /// The next thing read. Cancellation-safe: fit for `select!`.
    pub async fn wait(&mut self) -> Heard {
        self.0.recv().await.unwrap_or(Heard::Closed(Closed::WatcherGone))
    }

    /// The next thing read if there is one already, without waiting.
    pub fn seen(&mut self) -> Option<Heard> {
        match self.0.try_recv() {
            Ok(heard) => Some(heard),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Heard::Closed(Closed::WatcherGone)),
        }
    }
}

/// Resolves, then tries the name's addresses one after the other, in the
/// resolver's order: the first where the connection and the handshake both
/// succeed is used (a collector name with several addresses is a failover
/// of its own). Each step is bounded by the handshake timeout; when every
/// address fails, the last address's error is returned.
pub async fn connect(config: &ForwardConfig) -> Result<Connection, ConnectError> {
    let host = config.target.host.as_str();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(config.handshake_timeout, tokio::net::lookup_host((host, config.target.port)))
        .await
        .map_err(|_| ConnectError::ResolveTimedOut { host: host.to_string() })?
        .map_err(|source| ConnectError::Resolve { host: host.to_string(), source })?
        .collect();
    connect_any(config, addrs).await
}

/// Tries `addrs` in order; the first that connects and completes the handshake wins.
async fn connect_any(config: &ForwardConfig, addrs: Vec<SocketAddr>) -> Result<Connection, ConnectError> {
    let mut last = ConnectError::NoAddress { host: config.target.host.clone() };
    for addr in addrs {
        match connect_to(config, addr).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::debug!(%addr, error = %e, "address failed; trying the next one");
                last = e;
            }
        }
    }
    Err(last)
}

/// Connects to one address of the collector and completes the handshake.
async fn connect_to(config: &ForwardConfig, addr: SocketAddr) -> Result<Connection, ConnectError> {
    let host = config.target.host.as_str();
    let stream = match tokio::time::timeout(config.handshake_timeout, connect_from(config.bind, addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => return Err(ConnectError::Connect { addr, source }),
        Err(_) => return Err(ConnectError::ConnectTimedOut { addr }),
    };
    // No Nagle: a token must not wait 40 ms for an ACK after the handshake.
    stream.set_nodelay(true).map_err(ConnectError::NoDelay)?;
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read, FrameOrder::Fixed(config.byte_order));
    let mut writer = FrameWriter::new(write, config.byte_order);
    let initiator = InitiatorConfig {
        service: config.service.clone(),
        host: host.to_string(),
        protection: config.protection,
        handshake_timeout: config.handshake_timeout,
        message_code: MessageCode::from_environment(std::env::var_os(MessageCode::ENVIRONMENT).as_deref()),
    };
    let credential = client_credential(&config.identity).await?;
    let session = initiate_as(&mut reader, &mut writer, &initiator, credential.as_ref()).await?;
    Ok(Connection { writer, session, closed: CloseWatch::spawn(reader) })
}

/// The configured client identity's credential, acquired anew for every
/// session so that each one gets fresh tickets (with a client keytab MIT
/// keeps them in a memory cache of the credential's own, released with it);
/// `None` for MIT's defaults, from the environment, as before.
async fn client_credential(identity: &ClientIdentity) -> Result<Option<InitiatorCredential>, ConnectError> {
    if identity == &ClientIdentity::default() {
        return Ok(None);
    }
    let identity = identity.clone();
    // Reading the keytab is file I/O: off the runtime's threads.
    let acquired = tokio::task::spawn_blocking(move || InitiatorCredential::acquire(&identity))
        .await
        .map_err(|e| ConnectError::Handshake(HandshakeError::Worker(e.to_string())))?;
    acquired.map(Some).map_err(ConnectError::Credentials)
}

/// Connects to `addr`, from `source` (any port) when one is configured.
async fn connect_from(source: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use gsswire::ByteOrder;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A watched session whose collector end the test holds.
    async fn watched() -> (CloseWatch, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (collector, _) = listener.accept().await.unwrap();
        let (read, _write) = client.into_split();
        let watch = CloseWatch::spawn(FrameReader::new(read, FrameOrder::Fixed(ByteOrder::Big)));
        (watch, collector)
    }

    async fn heard(watch: &mut CloseWatch) -> Heard {
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.wait()).await.expect("the watcher decides")
    }

    async fn verdict(watch: &mut CloseWatch) -> Closed {
        match heard(watch).await {
            Heard::Closed(why) => why,
            Heard::Token(t) => panic!("a token, not a close: {t:?}"),
        }
    }

    #[tokio::test]
    async fn a_half_close_by_the_collector_is_seen() {
        let (mut watch, mut collector) = watched().await;
        assert!(watch.seen().is_none(), "nothing happened yet");
        collector.shutdown().await.unwrap();
        let why = verdict(&mut watch).await;
        assert!(matches!(why, Closed::ByCollector), "{why:?}");
        assert_eq!(why.to_string(), "the collector closed the session");
    }

    #[tokio::test]
    async fn tokens_are_passed_on_in_order_then_the_close() {
        let (mut watch, mut collector) = watched().await;
        collector.write_all(&[0, 0, 0, 2, 0x60, 0x00, 0, 0, 0, 1, 0x61]).await.unwrap();
        collector.shutdown().await.unwrap();
        assert!(matches!(heard(&mut watch).await, Heard::Token(t) if t == [0x60, 0x00]));
        assert!(matches!(heard(&mut watch).await, Heard::Token(t) if t == [0x61]));
        let why = verdict(&mut watch).await;
        assert!(matches!(why, Closed::ByCollector), "{why:?}");
    }

    #[tokio::test]
    async fn a_cut_token_is_a_read_failure() {
        let (mut watch, mut collector) = watched().await;
        collector.write_all(&[0, 0, 0, 9, 1]).await.unwrap();
        drop(collector);
        let why = verdict(&mut watch).await;
        assert!(matches!(why, Closed::ReadFailed(FrameError::Truncated { .. })), "{why:?}");
        assert!(why.to_string().starts_with("session error: connection closed in the middle of a token"), "{why}");
    }

    /// Counts the connections a listener accepts, closing each at once (a
    /// collector whose handshake fails).
    fn counting_listener() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(s);
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn an_address_whose_handshake_fails_is_followed_by_the_next() {
        let (first, at_first) = counting_listener();
        let (second, at_second) = counting_listener();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(&path, "$ActionGSSForwardHandshakeTimeout 2000\n*.* :omgssapi:collector.invalid:514\n").unwrap();
        let (config, text) = crate::config::load(&path, dir.path());
        assert!(!text.has_errors(), "{:?}", text.problems);
        let result = connect_any(&config.forwards[0], vec![first, second]).await;
        assert!(result.is_err(), "neither address completes a handshake");
        assert_eq!(at_first.load(std::sync::atomic::Ordering::SeqCst), 1, "the first address was tried");
        assert_eq!(at_second.load(std::sync::atomic::Ordering::SeqCst), 1, "and then the second, after the first's handshake failed");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.conf");
        std::fs::write(&path, format!("*.* :omgssapi:{addr}\n")).unwrap();
        let (config, text) = crate::config::load(&path, dir.path());
        assert!(!text.has_errors(), "{:?}", text.problems);
        let Err(e) = connect(&config.forwards[0]).await else { panic!("nothing listens on {addr}") };
        assert!(matches!(&e, ConnectError::Connect { addr: a, .. } if *a == addr), "{e:?}");
        assert!(e.to_string().starts_with(&format!("connecting to {addr}: ")), "{e}");
    }
}

//! Setting up one session to the collector, and watching it for close.
//!
//! [`connect`] resolves the collector's name again (it may have moved),
//! connects from the configured source address, and completes the GSS
//! handshake; each step is bounded by the handshake timeout and fails with a
//! [`ConnectError`] naming it. The read half then goes to a close watcher:
//! the collector never sends after the handshake, so whatever the watcher
//! reads ends the session ([`Closed`]).

use std::net::{IpAddr, SocketAddr};

use gsswire::{
    initiate_as, ClientIdentity, FrameError, FrameOrder, FrameReader, FrameWriter, GssError, HandshakeError,
    InitiatorConfig, InitiatorCredential, Session,
};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

use crate::config::ForwardConfig;

/// The largest token the close watcher reads (it expects none at all).
const WATCHER_MAX_TOKEN: usize = 1 << 20;

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

/// The close watcher's verdict, once it has one.
pub struct CloseWatch(oneshot::Receiver<Closed>);

impl CloseWatch {
    /// Reads the session's read half in a task of its own until something
    /// arrives there; the first thing that does is the verdict.
    fn spawn(mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>) -> CloseWatch {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let why = match reader.read_token(WATCHER_MAX_TOKEN).await {
                Ok(None) => Closed::ByCollector,
                Ok(Some(_)) => Closed::DataAfterHandshake,
                Err(e) => Closed::ReadFailed(e),
            };
            let _ = tx.send(why);
        });
        CloseWatch(rx)
    }

    /// Resolves once the session is seen closed. Cancellation-safe: fit for
    /// `select!`.
    pub async fn wait(&mut self) -> Closed {
        (&mut self.0).await.unwrap_or(Closed::WatcherGone)
    }

    /// The verdict if there is one already, without waiting.
    pub fn seen(&mut self) -> Option<Closed> {
        self.0.try_recv().ok()
    }
}

/// Resolves, connects and completes the handshake, each step within the
/// handshake timeout. The first address that accepts the connection is used.
pub async fn connect(config: &ForwardConfig) -> Result<Connection, ConnectError> {
    let host = config.target.host.as_str();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(config.handshake_timeout, tokio::net::lookup_host((host, config.target.port)))
        .await
        .map_err(|_| ConnectError::ResolveTimedOut { host: host.to_string() })?
        .map_err(|source| ConnectError::Resolve { host: host.to_string(), source })?
        .collect();
    let mut last = ConnectError::NoAddress { host: host.to_string() };
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(config.handshake_timeout, connect_from(config.bind, addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(source)) => last = ConnectError::Connect { addr, source },
            Err(_) => last = ConnectError::ConnectTimedOut { addr },
        }
    }
    let stream = stream.ok_or(last)?;
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

    async fn verdict(watch: &mut CloseWatch) -> Closed {
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.wait()).await.expect("the watcher decides")
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
    async fn a_token_after_the_handshake_ends_the_session() {
        let (mut watch, mut collector) = watched().await;
        collector.write_all(&[0, 0, 0, 2, 0x60, 0x00]).await.unwrap();
        let why = verdict(&mut watch).await;
        assert!(matches!(why, Closed::DataAfterHandshake), "{why:?}");
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

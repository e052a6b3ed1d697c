//! A minimal GSS syslog client for tests: it can bind any 127.0.0.x source
//! address, so one machine plays several hosts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use gsswire::{
    initiate_as, ByteOrder, ClientIdentity, FrameOrder, FrameReader, FrameWriter, InitiatorConfig, InitiatorCredential,
    Protection, Session,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;

pub struct GssClient {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: FrameWriter<OwnedWriteHalf>,
    pub session: Session,
}

impl GssClient {
    pub async fn connect(addr: SocketAddr, source: Option<IpAddr>, protection: Protection, order: ByteOrder) -> Result<Self> {
        Self::connect_as(addr, source, protection, order, &ClientIdentity::default()).await
    }

    /// [`GssClient::connect`] as `identity` (a principal from its keytab)
    /// instead of this process's default credential.
    pub async fn connect_as(
        addr: SocketAddr,
        source: Option<IpAddr>,
        protection: Protection,
        order: ByteOrder,
        identity: &ClientIdentity,
    ) -> Result<Self> {
        let credential = match identity == &ClientIdentity::default() {
            true => None,
            false => Some(InitiatorCredential::acquire(identity)?),
        };
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding source {ip}"))?;
        }
        let stream = socket.connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut reader = FrameReader::new(r, FrameOrder::Fixed(order));
        let mut writer = FrameWriter::new(w, order);
        let config = InitiatorConfig {
            service: "host".into(),
            host: "localhost".into(),
            protection,
            handshake_timeout: Duration::from_secs(20),
            message_code: Default::default(),
        };
        let session = initiate_as(&mut reader, &mut writer, &config, credential.as_ref()).await?;
        Ok(GssClient { reader, writer, session })
    }

    /// Sends the lines, LF-terminated, in one wrapped token.
    pub async fn send_lines<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<()> {
        let mut plain = Vec::new();
        for l in lines {
            plain.extend_from_slice(l.as_ref().as_bytes());
            plain.push(b'\n');
        }
        self.send_plaintext(&plain).await
    }

    pub async fn send_plaintext(&mut self, plain: &[u8]) -> Result<()> {
        let token = self.session.wrap(plain)?;
        self.writer.write_token(&token).await?;
        Ok(())
    }

    /// True once the server has closed (or half-closed) its side.
    pub async fn closed_by_peer(&mut self, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, self.reader.read_token(1 << 20)).await, Ok(Ok(None)) | Ok(Err(_)))
    }
}

/// An initiator and an acceptor context for `target` (`service@host`),
/// established in this process against the realm's KDC, with no network in
/// between: for comparing message-token code on the two ends of one context.
pub fn context_pair(
    target: &str,
    req_flags: u32,
) -> Result<(gsswire::gss::SecurityContext, gsswire::gss::SecurityContext)> {
    use gsswire::gss::{Credential, Name, SecurityContext};
    let name = Name::host_based_service(target)?;
    let cred = Credential::acceptor(&Name::host_based_service("host")?)?;
    let (mut init, mut acc) = (SecurityContext::new(), SecurityContext::new());
    let mut token = init.initiate_step(&name, req_flags, None)?;
    while let Some(t) = token.take() {
        if let Some(reply) = acc.accept_step(&cred, &t)? {
            token = init.initiate_step(&name, req_flags, Some(&reply))?;
        }
    }
    anyhow::ensure!(init.is_complete() && acc.is_complete(), "handshake with {target} incomplete");
    Ok((init, acc))
}

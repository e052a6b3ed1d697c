//! The GSS wire layer between our own initiator and acceptor, through a real
//! MIT KDC: both byte orders, both protection modes, detection, and the errors
//! an admin will meet.

use std::time::{Duration, Instant};

use gsslog_tests::realm::{TestRealm, REALM, SHARED_CLIENT};
use gsswire::{
    accept, initiate, AcceptorCredential, ByteOrder, FrameError, FrameOrder, FrameReader, FrameWriter, GssError,
    HandshakeError, InitiatorConfig, Protection, DEFAULT_MAX_DATA_TOKEN,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(10);

fn client_config(service: &str, protection: Protection) -> InitiatorConfig {
    InitiatorConfig {
        service: service.to_string(),
        host: "localhost".to_string(),
        protection,
        handshake_timeout: TIMEOUT,
        message_code: Default::default(),
    }
}

struct Received {
    plaintext: Vec<u8>,
    sealed: bool,
    detected: Option<ByteOrder>,
    peer: String,
    client_got_reply: Vec<u8>,
}

/// Runs one acceptor and one initiator over loopback TCP; the client sends one
/// message, the server answers one, and both sides report what they saw.
async fn round_trip(client_order: ByteOrder, server_order: FrameOrder, protection: Protection) -> Received {
    TestRealm::shared();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, w) = sock.into_split();
        let mut reader = FrameReader::new(r, server_order);
        let mut writer = FrameWriter::new(w, ByteOrder::Little);
        let cred = AcceptorCredential::acquire("host").unwrap();
        let mut session = accept(&mut reader, &mut writer, &cred, TIMEOUT).await.unwrap();
        let token = reader.read_token(DEFAULT_MAX_DATA_TOKEN).await.unwrap().unwrap();
        let got = session.unwrap(&token).unwrap();
        let reply = session.wrap(b"server says hi").unwrap();
        writer.write_token(&reply).await.unwrap();
        (got.data.to_vec(), got.sealed, reader.byte_order(), session.peer_name().to_string())
    });
    let sock = TcpStream::connect(addr).await.unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, FrameOrder::Fixed(client_order));
    let mut writer = FrameWriter::new(w, client_order);
    let mut session = initiate(&mut reader, &mut writer, &client_config("host", protection)).await.unwrap();
    let token = session.wrap(b"<13>Nov 23 12:00:00 node1 test: hello\n").unwrap();
    writer.write_token(&token).await.unwrap();
    let reply = reader.read_token(DEFAULT_MAX_DATA_TOKEN).await.unwrap().unwrap();
    let client_got_reply = session.unwrap(&reply).unwrap().data.to_vec();
    let (plaintext, sealed, detected, peer) = server.await.unwrap();
    Received { plaintext, sealed, detected, peer, client_got_reply }
}

async fn check(order: ByteOrder, protection: Protection) {
    let got = round_trip(order, FrameOrder::Auto, protection).await;
    assert_eq!(got.plaintext, b"<13>Nov 23 12:00:00 node1 test: hello\n");
    assert_eq!(got.client_got_reply, b"server says hi");
    assert_eq!(got.detected, Some(order), "acceptor must detect the initiator's byte order");
    assert_eq!(got.sealed, protection == Protection::Encryption, "Sealed bit must match the mode");
    assert_eq!(got.peer, format!("{SHARED_CLIENT}@{REALM}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn little_endian_encryption() {
    check(ByteOrder::Little, Protection::Encryption).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn little_endian_integrity() {
    check(ByteOrder::Little, Protection::Integrity).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_endian_encryption() {
    check(ByteOrder::Big, Protection::Encryption).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_endian_integrity() {
    check(ByteOrder::Big, Protection::Integrity).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_order_acceptor_also_works() {
    let got = round_trip(ByteOrder::Big, FrameOrder::Fixed(ByteOrder::Big), Protection::Encryption).await;
    assert_eq!(got.detected, Some(ByteOrder::Big));
    assert!(got.sealed);
}

/// Accepts one connection on a fresh listener and returns the acceptor's result
/// for whatever `send` writes on the client side.
async fn accept_after(order: FrameOrder, send: &[u8]) -> Result<(), HandshakeError> {
    TestRealm::shared();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    client.write_all(send).await.unwrap();
    let (sock, _) = listener.accept().await.unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, order);
    let mut writer = FrameWriter::new(w, ByteOrder::Little);
    let cred = AcceptorCredential::acquire("host").unwrap();
    accept(&mut reader, &mut writer, &cred, Duration::from_secs(3)).await.map(|_| ())
}

#[tokio::test]
async fn oversize_length_is_rejected() {
    let err = accept_after(FrameOrder::Fixed(ByteOrder::Little), &[0x00, 0x00, 0x00, 0x40, 0x60]).await.unwrap_err();
    assert!(
        matches!(err, HandshakeError::Frame(FrameError::TooLarge { len: 0x4000_0000, max: 1_048_576 })),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_instead_of_a_token_is_named() {
    let err = accept_after(FrameOrder::Auto, b"<13>this is plain syslog, not GSS\n").await.unwrap_err();
    assert!(matches!(err, HandshakeError::Frame(FrameError::NotInitialToken { .. })), "{err}");
    assert!(err.to_string().contains("not a GSS-API initial token"), "{err}");
}

#[tokio::test]
async fn defective_token_is_a_gss_error() {
    // Well framed, right DER shape, nonsense inside.
    let mut token = vec![0x60, 0x20];
    // krb5 mechanism OID, token type 01 00 (AP-REQ), then a body that is not DER.
    token.extend([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00]);
    token.resize(34, 0x41);
    let mut frame = (token.len() as u32).to_le_bytes().to_vec();
    frame.extend(&token);
    let err = accept_after(FrameOrder::Auto, &frame).await.unwrap_err();
    // MIT reports a malformed AP-REQ as GSS_S_FAILURE, not DEFECTIVE_TOKEN.
    assert!(matches!(err, HandshakeError::Gss(_)), "{err}");
}

#[tokio::test]
async fn unknown_service_principal_is_named_within_the_timeout() {
    TestRealm::shared();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sock = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, FrameOrder::Fixed(ByteOrder::Little));
    let mut writer = FrameWriter::new(w, ByteOrder::Little);
    let start = Instant::now();
    let err = match initiate(&mut reader, &mut writer, &client_config("nosuchservice", Protection::Encryption)).await {
        Ok(_) => panic!("handshake to an unknown principal succeeded"),
        Err(e) => e,
    };
    assert!(matches!(err, HandshakeError::Gss(GssError::UnknownServer { .. })), "{err}");
    assert!(err.to_string().contains("server principal unknown"), "{err}");
    assert!(start.elapsed() < TIMEOUT);
}

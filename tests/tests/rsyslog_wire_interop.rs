//! Wire-level interop with Debian's rsyslog (8.2302, little-endian framing):
//! our initiator into rsyslog's imgssapi, and rsyslog's omgssapi into our
//! acceptor, in both protection modes.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use gsslog_tests::net::{free_port, wait_for_file, wait_for_listener};
use gsslog_tests::realm::TestRealm;
use gsslog_tests::rsyslog::{RsyslogForwarder, Rsyslogd};
use gsswire::{
    accept, initiate, AcceptorCredential, ByteOrder, FrameOrder, FrameReader, FrameWriter, InitiatorConfig, Protection,
    DEFAULT_MAX_DATA_TOKEN,
};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(20);

async fn our_initiator_into_rsyslog(protection: Protection, mode: &str) {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let out = dir.path().join("received.log");
    let config = format!(
        "$ModLoad imgssapi\n\
         $InputGSSServerServiceName host\n\
         $InputGSSServerRun {port}\n\
         $template Raw,\"%rawmsg%\\n\"\n\
         *.* {};Raw\n",
        out.display()
    );
    let mut rsyslogd = Rsyslogd::start(dir.path(), &config, &realm.server_env()).unwrap();
    wait_for_listener(SocketAddr::from(([127, 0, 0, 1], port)), TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", rsyslogd.log()));

    let sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, FrameOrder::Fixed(ByteOrder::Little));
    let mut writer = FrameWriter::new(w, ByteOrder::Little);
    let config = InitiatorConfig {
        service: "host".into(),
        host: "localhost".into(),
        protection,
        handshake_timeout: TIMEOUT,
        message_code: Default::default(),
    };
    let mut session = initiate(&mut reader, &mut writer, &config)
        .await
        .unwrap_or_else(|e| panic!("handshake with rsyslog failed: {e}\n{}", rsyslogd.log()));
    let line = format!("<38>Nov 23 12:00:00 node1 sshd[42]: interop {mode} from our initiator");
    let token = session.wrap(format!("{line}\n").as_bytes()).unwrap();
    writer.write_token(&token).await.unwrap();

    let text = wait_for_file(&out, TIMEOUT, |t| t.contains(&line))
        .unwrap_or_else(|e| panic!("{e}\nrsyslogd log:\n{}", rsyslogd.log()));
    assert_eq!(text.lines().filter(|l| *l == line).count(), 1, "{text}");
    rsyslogd.ensure_running().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_initiator_into_rsyslog_imgssapi_encryption() {
    our_initiator_into_rsyslog(Protection::Encryption, "encryption").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_initiator_into_rsyslog_imgssapi_integrity() {
    our_initiator_into_rsyslog(Protection::Integrity, "integrity").await;
}

async fn rsyslog_into_our_acceptor(mode: &str) {
    let realm = TestRealm::shared();
    realm.add_client(&format!("node-{mode}")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gss_port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let forwarder = RsyslogForwarder::start(dir.path(), &realm.client_env(&format!("node-{mode}")), mode, gss_port, "").unwrap();
    let rsyslogd = &forwarder.daemon;

    // rsyslog connects when the first message reaches omgssapi; keep feeding
    // its UDP input until it does (UDP readiness cannot be polled).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_feeding = stop.clone();
    let udp_port = forwarder.udp_port;
    let feeder = std::thread::spawn(move || {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..200 {
            if stop_feeding.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let msg = format!("<38>Nov 23 12:00:00 node1 sshd[42]: interop {i} via rsyslog omgssapi");
            let _ = udp.send_to(msg.as_bytes(), ("127.0.0.1", udp_port));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (sock, _) = tokio::time::timeout(TIMEOUT, listener.accept())
        .await
        .unwrap_or_else(|_| panic!("rsyslog never connected\n{}", rsyslogd.log()))
        .unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, FrameOrder::Auto);
    let mut writer = FrameWriter::new(w, ByteOrder::Big);
    let cred = AcceptorCredential::acquire("host").unwrap();
    let mut session = accept(&mut reader, &mut writer, &cred, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("handshake with rsyslog failed: {e}\n{}", rsyslogd.log()));
    assert_eq!(reader.byte_order(), Some(ByteOrder::Little), "Debian's rsyslog frames little-endian");
    assert_eq!(writer.byte_order(), ByteOrder::Little, "the acceptor answers in the detected order");
    assert_eq!(session.peer_name(), format!("node-{mode}@{}", gsslog_tests::realm::REALM));

    let token = tokio::time::timeout(TIMEOUT, reader.read_token(DEFAULT_MAX_DATA_TOKEN))
        .await
        .expect("no data token from rsyslog")
        .unwrap()
        .unwrap();
    let got = session.unwrap(&token).unwrap();
    let text = String::from_utf8(got.data.to_vec()).unwrap();
    assert!(text.starts_with("<38>Nov 23 12:00:00 node1 sshd[42]: interop "), "{text:?}");
    assert!(text.ends_with(" via rsyslog omgssapi\n"), "one message, LF-framed: {text:?}");
    assert_eq!(got.sealed, mode == "encryption", "Sealed bit for $GssMode {mode}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(forwarder);
    let _ = feeder.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_omgssapi_into_our_acceptor_encryption() {
    rsyslog_into_our_acceptor("encryption").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_omgssapi_into_our_acceptor_integrity() {
    rsyslog_into_our_acceptor("integrity").await;
}

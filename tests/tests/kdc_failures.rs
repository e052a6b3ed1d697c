//! A KDC that is down or silent gives a clear error within the handshake
//! timeout, and never stalls the async runtime. One test per process state:
//! the realm's config is process-wide, so the two cases run in sequence here.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsslog_tests::realm::TestRealm;
use gsswire::{initiate, ByteOrder, FrameOrder, FrameReader, FrameWriter, GssError, HandshakeError, InitiatorConfig, Protection};
use tokio::net::{TcpListener, TcpStream};

async fn handshake(timeout: Duration) -> Result<(), HandshakeError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sock = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (r, w) = sock.into_split();
    let mut reader = FrameReader::new(r, FrameOrder::Fixed(ByteOrder::Little));
    let mut writer = FrameWriter::new(w, ByteOrder::Little);
    let config = InitiatorConfig {
        service: "host".into(),
        host: "localhost".into(),
        protection: Protection::Encryption,
        handshake_timeout: timeout,
        message_code: Default::default(),
    };
    initiate(&mut reader, &mut writer, &config).await.map(|_| ())
}

#[test]
fn stopped_then_silent_kdc() {
    let mut realm = TestRealm::start().unwrap();
    realm.add_client("node1").unwrap();
    realm.install_env("node1"); // no ticket yet: the first step must reach the KDC
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // 1. Stopped KDC: refused at once, named as such.
    realm.stop_kdc();
    let start = Instant::now();
    let err = rt.block_on(handshake(Duration::from_secs(10))).unwrap_err();
    assert!(matches!(err, HandshakeError::Gss(GssError::KdcUnreachable { .. })), "{err}");
    assert!(err.to_string().contains("KDC cannot be reached"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));

    // 2. A KDC that accepts and never answers: MIT blocks ~25 s inside the
    // first step. Our handshake gives up at its timeout, and the single-threaded
    // runtime keeps running other tasks meanwhile (the step is off its thread).
    let black_hole = StdListener::bind("127.0.0.1:0").unwrap();
    realm.redirect_clients_to(black_hole.local_addr().unwrap()).unwrap();
    let held = std::thread::spawn(move || black_hole.incoming().take(8).filter_map(Result::ok).collect::<Vec<_>>());
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = ticks.clone();
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    let err = rt.block_on(async move {
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let result = handshake(timeout).await;
        ticker.abort();
        result.unwrap_err()
    });
    let elapsed = start.elapsed();
    assert!(matches!(err, HandshakeError::TimedOut(t) if t == timeout), "{err}");
    assert!(elapsed >= timeout && elapsed < timeout * 3, "gave up after {elapsed:?}");
    assert!(ticks.load(Ordering::Relaxed) > 50, "runtime was blocked: {} ticks", ticks.load(Ordering::Relaxed));
    drop(held);
    // The KDC call is still stuck in its blocking thread: do not wait for it.
    rt.shutdown_background();
}

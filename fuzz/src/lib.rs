//! What the fuzz targets share: a cursor over the fuzzer's bytes, a reader
//! that hands bytes over in chunks, one tokio runtime per process, and RFC 4121
//! contexts with fixed keys.

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use gsswire::cfx::CfxContext;
use gsswire::gss::{LucidKey, MessageKeys};
use gsswire::krb5_crypto::{ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA1_96};
use tokio::io::{AsyncRead, ReadBuf};

/// Takes structure (flags, sizes) off the front of the fuzzer's input; reads
/// past the end yield zeros, so every input is usable.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// One single-threaded runtime (with timers, which deadlines need) for the
/// whole process: building one per input would cost more than the code under
/// test.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap_or_else(|e| panic!("cannot build tokio runtime: {e}"))
    })
}

/// An in-memory stream that returns at most `chunk` bytes per read, so that
/// tokens and messages arrive in pieces as they do from TCP.
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> ChunkedReader<'a> {
    pub fn new(data: &'a [u8], chunk: usize) -> Self {
        ChunkedReader { data, chunk: chunk.max(1) }
    }
}

impl AsyncRead for ChunkedReader<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.chunk.min(self.data.len()).min(buf.remaining());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

/// The two AES-SHA1 enctypes our RFC 4121 code handles.
#[derive(Debug, Clone, Copy)]
pub enum Enctype {
    Aes128,
    Aes256,
}

/// An initiator and an acceptor context with fixed keys, as MIT would export
/// them after a handshake: (initiator, acceptor). Both enforce the order of
/// sequence numbers, as every context does.
pub fn cfx_pair(enctype: Enctype, acceptor_subkey: bool) -> (CfxContext, CfxContext) {
    let (number, len) = match enctype {
        Enctype::Aes128 => (ENCTYPE_AES128_CTS_HMAC_SHA1_96, 16),
        Enctype::Aes256 => (ENCTYPE_AES256_CTS_HMAC_SHA1_96, 32),
    };
    let key = |byte: u8| LucidKey { enctype: number, bytes: vec![byte; len] };
    let keys = |initiator: bool, send_seq: u64, recv_seq: u64| MessageKeys {
        initiator,
        send_seq,
        recv_seq,
        cfx: true,
        context_key: key(0x11),
        acceptor_subkey: acceptor_subkey.then(|| key(0x22)),
        flags: 0,
    };
    let make = |k: MessageKeys| CfxContext::new(&k).unwrap_or_else(|e| panic!("fixed keys refused: {e}"));
    (make(keys(true, 1000, 77)), make(keys(false, 77, 1000)))
}

/// A received syslog message as the collector would parse it: `received`
/// seconds after the epoch (UTC), the default maximum size.
pub fn parse_message(raw: &[u8], received_secs: u32) -> Option<syslog::Message> {
    let origin = std::sync::Arc::new(syslog::Origin {
        fromhost: "peer".into(),
        fromhost_ip: "127.0.0.2".into(),
        inputname: "imgssapi",
        provenance: syslog::Provenance::default(),
    });
    let received = received_time(received_secs);
    syslog::parse(raw, origin, received, &syslog::ParseOptions::default())
}

/// A reception time `secs` after the epoch, in UTC (no time zone lookup).
pub fn received_time(secs: u32) -> syslog::Timestamp {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(secs));
    syslog::Timestamp::from_system_time(at, true)
}

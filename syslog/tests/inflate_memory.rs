//! How much memory a `z` message can make the parser allocate: a compression
//! bomb (a few KiB that inflate to many MiB) must cost no more than a message
//! of the maximum size. Its own test binary, because it counts every
//! allocation of the process with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use syslog::{Origin, ParseOptions, Timestamp};

/// The system allocator, keeping the bytes live now, the most live since the
/// last reset, and the largest single block asked for since then.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::SeqCst) + size;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: every call is passed on unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counters are atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's layout goes unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: ptr was allocated by System with this layout (see alloc).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        LARGEST.fetch_max(new_size, Ordering::SeqCst);
        // SAFETY: ptr was allocated by System with this layout; the caller
        // guarantees new_size is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn zlib(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(vec![b'z'], flate2::Compression::best());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_compression_bomb_allocates_no_more_than_a_message_of_the_maximum_size() {
    let max = 64 * 1024;
    // 32 MiB in about 32 KiB: the old 16 MiB cap let this allocate 16 MiB and more.
    let mut text = b"<13>Nov 23 12:00:00 h t: ".to_vec();
    text.resize(32 << 20, b'A');
    let bomb = zlib(&text);
    drop(text);
    let origin = Arc::new(Origin { fromhost: "peer".into(), fromhost_ip: "127.0.0.2".into(), inputname: "imtcp", provenance: Default::default() });
    let received = Timestamp::now();
    let options = ParseOptions { max_message_size: max };

    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    LARGEST.store(0, Ordering::SeqCst);
    let m = syslog::parse(&bomb, origin, received, &options).unwrap();
    let largest = LARGEST.load(Ordering::SeqCst);
    let peak = PEAK.load(Ordering::SeqCst) - before;

    assert_eq!(m.raw.len(), max);
    assert!(m.inflated_past_limit);
    // The inflater's own state (window and tables) is the small constant.
    let slack = 64 * 1024;
    assert!(largest <= max + 1, "one block of {largest} bytes for a maximum of {max}");
    // The inflated bytes (max + 1) and the sanitised message (max) at once.
    assert!(peak <= 2 * max + 1 + slack, "{peak} bytes at the peak for a maximum of {max}");
}

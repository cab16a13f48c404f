//! The hot path of a small call allocates nothing, on either side, once warmed up.
//! A counting global allocator sees every allocation in this test process, where both
//! ends of the connection live.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashvive_tests::{services, Echo};
use shm_ipc::{socketpair, Connection, Options, Services, Side};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pair(shm: bool, trusted: bool) -> (Connection, Connection) {
    let (a, b) = socketpair().unwrap();
    let opts = Options {
        shm,
        trusted,
        ..Options::default()
    };
    let server_opts = opts.clone();
    let server = std::thread::spawn(move || {
        Connection::new(a, Side::Acceptor, server_opts, services()).unwrap()
    });
    let client = Connection::new(b, Side::Connector, opts, Services::default()).unwrap();
    (client, server.join().unwrap())
}

/// Allocations during `calls` 64-byte echo calls, after a warm-up.
fn allocations_per_run(client: &Connection, calls: usize) -> u64 {
    let payload = vec![9u8; 64];
    for _ in 0..1000 {
        client
            .call_with::<Echo, usize>(&payload, |r| r.len())
            .unwrap();
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..calls {
        let len = client
            .call_with::<Echo, usize>(&payload, |r| r.len())
            .unwrap();
        assert_eq!(len, 64);
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

// One test function: the counter is process-wide, so the cases must not overlap.
#[test]
fn small_calls_do_not_allocate() {
    for (shm, trusted) in [(true, true), (true, false), (false, true)] {
        let (client, server) = pair(shm, trusted);
        let allocations = allocations_per_run(&client, 10_000);
        assert_eq!(
            allocations, 0,
            "shm={shm} trusted={trusted}: {allocations} allocations in 10000 calls"
        );
        drop((client, server));
    }
}

//! The baselines: what moving a cache line, an eventfd wake-up, a socket round trip
//! and a bare ring cost on this machine right now.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{pin_to_cpu, Samples};

/// Median cost of reading the clock, which every sample includes.
pub fn clock_overhead() -> u64 {
    let mut samples = Samples::default();
    for _ in 0..100_000 {
        let t = Instant::now();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    samples.percentile(50.0)
}

#[repr(align(128))]
struct Line(AtomicU64);

/// Two threads pinned to CPUs 0 and 1 bounce one atomic: the floor for any
/// shared-memory round trip.
pub fn cache_line_pingpong(budget: Duration) -> Samples {
    let line = Arc::new(Line(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (line, stop) = (Arc::clone(&line), Arc::clone(&stop));
        std::thread::spawn(move || {
            pin_to_cpu(1);
            let mut expect = 1;
            while !stop.load(Ordering::Relaxed) {
                if line.0.load(Ordering::Acquire) == expect {
                    line.0.store(expect + 1, Ordering::Release);
                    expect += 2;
                }
                std::hint::spin_loop();
            }
        })
    };
    let original = crate::affinity();
    pin_to_cpu(0);
    let mut samples = Samples::default();
    let mut value = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        line.0.store(value + 1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != value + 2 {
            std::hint::spin_loop();
        }
        value += 2;
        samples.push(t.elapsed().as_nanos() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    // Restore the saved mask: processes spawned later inherit it.
    crate::set_affinity(&original);
    samples
}

/// A bare SPSC byte ring per direction (shm-ipc's ring, no framing, no typing),
/// echoing `size` bytes between two spinning threads.
pub fn spsc_ring_echo(size: usize, budget: Duration) -> Samples {
    const CAPACITY: usize = 1 << 16;
    let memory: Arc<Vec<u128>> =
        Arc::new(vec![0u128; 2 * shm_ipc::ring::ring_bytes(CAPACITY) / 16]);
    let base = memory.as_ptr() as usize;
    let ring = |index: usize| (base + index * shm_ipc::ring::ring_bytes(CAPACITY)) as *mut u8;
    // SAFETY: both rings lie in `memory`, which outlives the threads (joined below);
    // each ring has one producer and one consumer.
    unsafe {
        shm_ipc::ring::init(ring(0), CAPACITY);
        shm_ipc::ring::init(ring(1), CAPACITY);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let stop = Arc::clone(&stop);
        let memory = Arc::clone(&memory);
        std::thread::spawn(move || {
            let base = memory.as_ptr() as usize;
            let ring =
                |index: usize| (base + index * shm_ipc::ring::ring_bytes(CAPACITY)) as *mut u8;
            let (mut rx, mut releaser) = unsafe { shm_ipc::ring::consumer(ring(0), CAPACITY) };
            let mut tx = unsafe { shm_ipc::ring::Producer::new(ring(1), CAPACITY) };
            while !stop.load(Ordering::Relaxed) {
                if let Some(record) = rx.next(&mut releaser).unwrap() {
                    let grant = tx.grant(record.len).unwrap().expect("space");
                    unsafe { std::ptr::copy_nonoverlapping(record.ptr, grant.ptr, record.len) };
                    tx.commit(grant, record.len);
                    releaser.release(&record);
                } else {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let mut tx = unsafe { shm_ipc::ring::Producer::new(ring(0), CAPACITY) };
    let (mut rx, mut releaser) = unsafe { shm_ipc::ring::consumer(ring(1), CAPACITY) };
    let payload = vec![7u8; size];
    let mut samples = Samples::default();
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        let grant = tx.grant(size).unwrap().expect("space");
        unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), grant.ptr, size) };
        tx.commit(grant, size);
        let record = loop {
            if let Some(record) = rx.next(&mut releaser).unwrap() {
                break record;
            }
            std::hint::spin_loop();
        };
        black_box(record.len);
        releaser.release(&record);
        samples.push(t.elapsed().as_nanos() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    samples
}

fn blocking_eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).expect("eventfd")
}

/// Two threads wake each other through a pair of blocking eventfds.
pub fn eventfd_pingpong(budget: Duration) -> Samples {
    let ping = Arc::new(blocking_eventfd());
    let pong = Arc::new(blocking_eventfd());
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (ping, pong, stop) = (Arc::clone(&ping), Arc::clone(&pong), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            loop {
                rustix::io::read(ping.as_fd(), &mut buf).unwrap();
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                rustix::io::write(pong.as_fd(), &1u64.to_ne_bytes()).unwrap();
            }
        })
    };
    let mut samples = Samples::default();
    let mut buf = [0u8; 8];
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        rustix::io::write(ping.as_fd(), &1u64.to_ne_bytes()).unwrap();
        rustix::io::read(pong.as_fd(), &mut buf).unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    rustix::io::write(ping.as_fd(), &1u64.to_ne_bytes()).unwrap();
    echo.join().unwrap();
    samples
}

/// Two threads echo `size` bytes over a Unix socketpair.
pub fn socketpair_pingpong(size: usize, budget: Duration) -> Samples {
    let (mut a, mut b) = UnixStream::pair().expect("socketpair");
    let echo = std::thread::spawn(move || {
        let mut buf = vec![0u8; size];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&buf).is_err() {
                return;
            }
        }
    });
    let payload = vec![3u8; size];
    let mut back = vec![0u8; size];
    let mut samples = Samples::default();
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        a.write_all(&payload).unwrap();
        a.read_exact(&mut back).unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    drop(a);
    echo.join().unwrap();
    samples
}

/// The echo a one-process build would make: a virtual call returning a copy.
pub trait EchoLocal {
    /// Returns a copy of `bytes`.
    fn echo(&self, bytes: &[u8]) -> Vec<u8>;
}

struct LocalEcho;

impl EchoLocal for LocalEcho {
    fn echo(&self, bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
}

/// A plain in-process `dyn` call, the cost `hashvived` pays.
pub fn inprocess_call(size: usize, budget: Duration) -> Samples {
    let echo: Box<dyn EchoLocal> = black_box(Box::new(LocalEcho));
    let payload = vec![1u8; size];
    let mut samples = Samples::default();
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        let out = echo.echo(black_box(&payload));
        black_box(&out);
        samples.push(t.elapsed().as_nanos() as u64);
    }
    samples
}

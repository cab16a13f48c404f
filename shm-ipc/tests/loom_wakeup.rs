//! Model check of the wake-up protocol with loom: every interleaving of a producer
//! publishing two records, a reader that takes the reader role, spins, parks and
//! vacates, and the background reader woken through its own eventfd. A lost wake-up
//! leaves a thread blocked forever, which loom reports as a deadlock.
//!
//! The model mirrors `ring::{Producer::publish, Consumer::set_wake_mode}` and
//! `conn::{Inner::park_reader, Inner::vacate, Inner::background_reader}`; eventfds are
//! semaphores. Keep the two in step when the protocol changes.

use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

const ACTIVE: u32 = 0;
const READER_PARKED: u32 = 1;
const NO_READER: u32 = 2;
const MESSAGES: u64 = 2;

#[derive(Default)]
struct EventFd {
    count: Mutex<u32>,
    ready: Condvar,
}

impl EventFd {
    fn signal(&self) {
        *self.count.lock().unwrap() += 1;
        self.ready.notify_all();
    }
    /// Blocks until signalled, then resets the counter (as a read of the eventfd does).
    fn wait(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.ready.wait(count).unwrap();
        }
        *count = 0;
    }
}

struct Ring {
    head: AtomicU64,
    wake_mode: AtomicU32,
    /// The reader role; holds the consumer's read cursor.
    role: Mutex<u64>,
    /// Set by the background reader before it tries the role; honoured by the holder
    /// after it lets go.
    background_pending: AtomicBool,
    consumed: AtomicU64,
    done: AtomicBool,
    data: EventFd,
    background: EventFd,
}

impl Ring {
    fn set_wake_mode(&self, mode: u32) {
        self.wake_mode.store(mode, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    fn publish(&self, head: u64) {
        self.head.store(head, Ordering::Release);
        fence(Ordering::SeqCst);
        match self.wake_mode.load(Ordering::Relaxed) {
            READER_PARKED => self.data.signal(),
            NO_READER => self.background.signal(),
            _ => {}
        }
    }

    /// Reads everything published; returns how many records were new.
    fn drain(&self, read: &mut u64) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let new = head - *read;
        *read = head;
        if self.consumed.fetch_add(new, Ordering::Relaxed) + new == MESSAGES && new > 0 {
            self.done.store(true, Ordering::Release);
            self.background.signal();
        }
        new
    }

    /// Gives up the role, as `Inner::vacate` does with no followers: recheck while
    /// still holding it, then honour a background reader that failed to get it.
    fn vacate<'a>(&'a self, mut guard: loom::sync::MutexGuard<'a, u64>) {
        loop {
            self.set_wake_mode(NO_READER);
            if self.head.load(Ordering::Acquire) != *guard {
                self.set_wake_mode(ACTIVE);
                self.drain(&mut guard);
                continue;
            }
            drop(guard);
            fence(Ordering::SeqCst);
            if !self.background_pending.swap(false, Ordering::SeqCst) {
                return;
            }
            match self.role.try_lock() {
                Ok(again) => {
                    self.set_wake_mode(ACTIVE);
                    guard = again;
                }
                Err(_) => return,
            }
        }
    }

    /// One wake-up of the background reader.
    fn background_turn(&self) {
        self.background_pending.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if let Ok(mut guard) = self.role.try_lock() {
            self.background_pending.store(false, Ordering::SeqCst);
            self.set_wake_mode(ACTIVE);
            self.drain(&mut guard);
            self.vacate(guard);
        }
    }
}

#[test]
fn no_lost_wakeup_between_reader_background_and_producer() {
    // Bounding preemptions keeps the search to seconds; lost wake-ups need only one or
    // two badly placed preemptions, which a bound of 3 covers.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let ring = Arc::new(Ring {
            head: AtomicU64::new(0),
            wake_mode: AtomicU32::new(NO_READER),
            role: Mutex::new(0),
            background_pending: AtomicBool::new(false),
            consumed: AtomicU64::new(0),
            done: AtomicBool::new(false),
            data: EventFd::default(),
            background: EventFd::default(),
        });

        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                for head in 1..=MESSAGES {
                    ring.publish(head);
                }
            })
        };

        // A caller waiting for the first record: leader with zero spin, then vacates.
        let reader = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let Ok(mut guard) = ring.role.try_lock() else {
                    return;
                };
                ring.set_wake_mode(ACTIVE);
                while ring.drain(&mut guard) == 0 && *guard == 0 {
                    ring.set_wake_mode(READER_PARKED);
                    if ring.head.load(Ordering::Acquire) == *guard {
                        ring.data.wait();
                    }
                    ring.set_wake_mode(ACTIVE);
                }
                ring.vacate(guard);
            })
        };

        // The background reader: woken only through its own eventfd.
        let background = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                while !ring.done.load(Ordering::Acquire) {
                    ring.background.wait();
                    ring.background_turn();
                }
            })
        };

        producer.join().unwrap();
        reader.join().unwrap();
        background.join().unwrap();
        assert_eq!(ring.consumed.load(Ordering::Relaxed), MESSAGES);
    });
}

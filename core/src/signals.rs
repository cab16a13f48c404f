//! The validation-interface queue (Core's `ValidationSignals`): chain and mempool events
//! are queued in the node's order and delivered to registered [`Notifications`] on one
//! background thread, so a listener that calls back into the node never deadlocks with it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};

use bitcoin::{Block, BlockHash, Transaction};
use parking_lot::{Condvar, Mutex};

use crate::interfaces::{BlockRef, Handler, Notifications, RemovalReason};

/// One queued event.
#[derive(Debug, Clone)]
pub enum Signal {
    /// `transaction_added_to_mempool`.
    TxAdded(Arc<Transaction>),
    /// `transaction_removed_from_mempool`.
    TxRemoved(Arc<Transaction>, RemovalReason),
    /// `block_connected`.
    BlockConnected(Arc<Block>, BlockHash, u32),
    /// `block_disconnected`.
    BlockDisconnected(Arc<Block>, BlockHash, u32),
    /// `updated_block_tip`.
    UpdatedTip,
    /// `chain_state_flushed` with the tip's locator.
    Flushed(Vec<BlockHash>),
}

impl Signal {
    fn deliver(&self, client: &dyn Notifications) {
        match self {
            Signal::TxAdded(tx) => client.transaction_added_to_mempool(tx),
            Signal::TxRemoved(tx, reason) => client.transaction_removed_from_mempool(tx, *reason),
            Signal::BlockConnected(block, hash, height) => client.block_connected(BlockRef {
                hash: *hash,
                height: *height,
                block,
            }),
            Signal::BlockDisconnected(block, hash, height) => client.block_disconnected(BlockRef {
                hash: *hash,
                height: *height,
                block,
            }),
            Signal::UpdatedTip => client.updated_block_tip(),
            Signal::Flushed(locator) => client.chain_state_flushed(locator),
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Signal>,
    clients: Vec<(u64, Arc<dyn Notifications>)>,
    next_client: u64,
    /// Signals ever queued, and ever fully delivered; `sync` waits for the second to
    /// reach the first.
    queued: u64,
    delivered: u64,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The queue and its delivery thread.
pub struct ValidationSignals {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
    worker_id: ThreadId,
}

impl ValidationSignals {
    /// Starts the delivery thread.
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let for_worker = Arc::clone(&shared);
        let worker = thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || {
                // Its wake-ups must not preempt the thread that queued the signal. With
                // every CPU busy they did, and the queuer finished late: in
                // `hashvive-node` a transaction's notification then overtook the node's
                // answer to the wallet's broadcast, and the wallet, waiting for that
                // answer, had to hand the notification to another thread first (a
                // wake-up on every send).
                crate::sched::run_behind_wakers();
                deliver_loop(&for_worker)
            })
            .expect("spawning the notification thread");
        let worker_id = worker.thread().id();
        ValidationSignals {
            shared,
            worker: Mutex::new(Some(worker)),
            worker_id,
        }
    }

    /// Whether anyone listens; producers skip building signals otherwise.
    pub fn has_clients(&self) -> bool {
        !self.shared.state.lock().clients.is_empty()
    }

    /// Queues signals, in order, for every current listener.
    pub fn push(&self, signals: impl IntoIterator<Item = Signal>) {
        let mut state = self.shared.state.lock();
        if state.clients.is_empty() || state.stopping {
            return;
        }
        let before = state.queue.len();
        state.queue.extend(signals);
        let added = state.queue.len() - before;
        if added > 0 {
            state.queued += added as u64;
            self.shared.changed.notify_all();
        }
    }

    /// Registers a listener; it hears about events queued from now on until the
    /// returned handle is dropped.
    pub fn register(&self, client: Arc<dyn Notifications>) -> Handler {
        let id = {
            let mut state = self.shared.state.lock();
            let id = state.next_client;
            state.next_client += 1;
            state.clients.push((id, client));
            id
        };
        let shared = Arc::clone(&self.shared);
        Handler::new(move || shared.state.lock().clients.retain(|(c, _)| *c != id))
    }

    /// Waits until everything queued so far has been delivered (Core's
    /// `SyncWithValidationInterfaceQueue`). From a listener itself it returns at once,
    /// since waiting there would wait for itself.
    pub fn sync(&self) {
        if thread::current().id() == self.worker_id {
            return;
        }
        let mut state = self.shared.state.lock();
        let target = state.queued;
        while state.delivered < target && !state.stopping {
            self.shared.changed.wait(&mut state);
        }
    }

    /// Delivers what is queued, then stops the thread; later signals are dropped.
    pub fn stop(&self) {
        self.sync();
        self.shared.state.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(worker) = self.worker.lock().take() {
            let _ = worker.join();
        }
    }
}

impl Default for ValidationSignals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ValidationSignals {
    fn drop(&mut self) {
        self.stop();
    }
}

fn deliver_loop(shared: &Shared) {
    let mut state = shared.state.lock();
    loop {
        if let Some(signal) = state.queue.pop_front() {
            let clients: Vec<Arc<dyn Notifications>> =
                state.clients.iter().map(|(_, c)| Arc::clone(c)).collect();
            drop(state);
            for client in &clients {
                // A panicking listener must not stop delivery to the others.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    signal.deliver(client.as_ref())
                }));
            }
            state = shared.state.lock();
            state.delivered += 1;
            shared.changed.notify_all();
        } else if state.stopping {
            return;
        } else {
            shared.changed.wait(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
    }

    impl Notifications for Recorder {
        fn block_connected(&self, block: BlockRef<'_>) {
            // Slow enough that an unsynchronised reader would see a partial list.
            thread::sleep(Duration::from_millis(2));
            self.seen.lock().push(format!("connected {}", block.height));
        }
        fn updated_block_tip(&self) {
            self.seen.lock().push("tip".into());
        }
    }

    fn genesis() -> Arc<Block> {
        Arc::new(bitcoin::constants::genesis_block(bitcoin::Network::Regtest))
    }

    #[test]
    fn delivers_in_order_and_sync_waits_for_delivery() {
        let signals = ValidationSignals::new();
        let rec = Arc::new(Recorder::default());
        let _handle = signals.register(rec.clone());
        let block = genesis();
        let hash = block.block_hash();
        signals.push((1..=20).map(|h| Signal::BlockConnected(block.clone(), hash, h)));
        signals.push([Signal::UpdatedTip]);
        signals.sync();
        let seen = rec.seen.lock().clone();
        let mut expected: Vec<String> = (1..=20).map(|h| format!("connected {h}")).collect();
        expected.push("tip".into());
        assert_eq!(seen, expected);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn listeners_run_on_a_batch_thread() {
        struct Policy(Mutex<Option<i32>>);
        impl Notifications for Policy {
            fn updated_block_tip(&self) {
                // SAFETY: a plain system call about the calling thread.
                *self.0.lock() = Some(unsafe { libc::sched_getscheduler(0) });
            }
        }
        let signals = ValidationSignals::new();
        let policy = Arc::new(Policy(Mutex::new(None)));
        let _handle = signals.register(policy.clone());
        signals.push([Signal::UpdatedTip]);
        signals.sync();
        assert_eq!(*policy.0.lock(), Some(libc::SCHED_BATCH));
    }

    #[test]
    fn dropping_the_handle_unregisters() {
        let signals = ValidationSignals::new();
        let rec = Arc::new(Recorder::default());
        let handle = signals.register(rec.clone());
        signals.push([Signal::UpdatedTip]);
        signals.sync();
        drop(handle);
        assert!(!signals.has_clients());
        signals.push([Signal::UpdatedTip]);
        signals.sync();
        assert_eq!(rec.seen.lock().len(), 1);
    }

    #[test]
    fn sync_from_a_listener_does_not_deadlock() {
        struct Syncer(Mutex<Option<Arc<ValidationSignals>>>, Mutex<bool>);
        impl Notifications for Syncer {
            fn updated_block_tip(&self) {
                if let Some(s) = self.0.lock().as_ref() {
                    s.sync();
                }
                *self.1.lock() = true;
            }
        }
        let signals = Arc::new(ValidationSignals::new());
        let syncer = Arc::new(Syncer(Mutex::new(Some(signals.clone())), Mutex::new(false)));
        let _handle = signals.register(syncer.clone());
        signals.push([Signal::UpdatedTip]);
        signals.sync();
        assert!(*syncer.1.lock());
        // Break the cycle so the queue is dropped.
        *syncer.0.lock() = None;
    }
}

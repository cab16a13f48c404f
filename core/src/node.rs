//! The node: owns the chainstate and offers the operations RPC (and later the
//! `interfaces` traits) use, with tip-change notifications and shutdown signalling.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Amount, Block, BlockHash, ScriptBuf};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::chainparams::ChainParams;
use crate::chainstate::{ChainError, ChainEvent, ChainState};
use crate::fees::FeeEstimator;
use crate::mempool::{Accepted, Mempool, PoolEvent, Reject, RemovalReason};
use crate::mining::{assemble_block, solve};
use crate::signals::{Signal, ValidationSignals};
use crate::time;

/// Weight available to mempool transactions in a mined block: the consensus limit minus
/// Core's reserve for the header and coinbase (`DEFAULT_BLOCK_MAX_WEIGHT` minus 4000).
const MAX_TEMPLATE_WEIGHT: u64 = 4_000_000 - 4_000;

/// `fee_estimates.dat` older than this is not used (Core's `MAX_FILE_AGE`, 60 hours).
pub const MAX_FEE_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(60 * 3600);

/// What [`Node::load_mempool`] did with `mempool.dat`'s transactions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadedMempool {
    /// Entered the pool.
    pub accepted: usize,
    /// Refused (spent, invalid now, or below the fee floor).
    pub failed: usize,
    /// Older than `-mempoolexpiry`, not offered.
    pub expired: usize,
}

/// Hash and height of the active tip, as seen by waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipInfo {
    /// Tip hash.
    pub hash: BlockHash,
    /// Tip height.
    pub height: u32,
}

/// Something that happened in the node, for subscribers such as the P2P layer.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// The active tip moved.
    TipChanged(TipInfo),
    /// A transaction entered the mempool (not through `testmempoolaccept`).
    TxAdded {
        /// Its txid.
        txid: bitcoin::Txid,
        /// Its wtxid.
        wtxid: bitcoin::Wtxid,
        /// Its fee rate in sat/kvB.
        fee_rate: u64,
    },
}

/// A subscriber to [`NodeEvent`]s. It runs with the chainstate locked, so it must only
/// hand the event over (e.g. to a channel).
pub type EventHandler = Box<dyn Fn(&NodeEvent) + Send + Sync>;

/// A running node.
pub struct Node {
    params: ChainParams,
    data_dir: PathBuf,
    /// Lock order: `chain` before `mempool`.
    chain: Mutex<ChainState>,
    mempool: Mutex<Mempool>,
    /// Locked after `mempool` when both are held.
    fees: Mutex<FeeEstimator>,
    tip: Mutex<TipInfo>,
    tip_changed: Condvar,
    shutdown: AtomicBool,
    shutdown_lock: Mutex<()>,
    shutdown_cv: Condvar,
    started: Instant,
    signals: ValidationSignals,
    subscribers: Mutex<Vec<EventHandler>>,
}

impl Node {
    /// Opens the chainstate in `data_dir` (the chain's directory, e.g. `<datadir>/regtest`),
    /// with an empty mempool relaying at `min_relay_fee` sat/kvB.
    pub fn open(
        params: ChainParams,
        data_dir: &Path,
        min_relay_fee: u64,
    ) -> Result<Node, ChainError> {
        let chain = ChainState::open(params.clone(), data_dir)?;
        let tip = TipInfo {
            hash: chain.tip().hash,
            height: chain.height(),
        };
        Ok(Node {
            params,
            data_dir: data_dir.to_path_buf(),
            chain: Mutex::new(chain),
            mempool: Mutex::new(Mempool::new(min_relay_fee)),
            fees: Mutex::new(FeeEstimator::new()),
            tip: Mutex::new(tip),
            tip_changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            shutdown_lock: Mutex::new(()),
            shutdown_cv: Condvar::new(),
            started: Instant::now(),
            signals: ValidationSignals::new(),
            subscribers: Mutex::new(Vec::new()),
        })
    }

    /// Chain parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The chain's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Locks the chainstate for reading or changing it.
    pub fn chain(&self) -> MutexGuard<'_, ChainState> {
        self.chain.lock()
    }

    /// The notification queue (`Chain::handle_notifications`).
    pub fn signals(&self) -> &ValidationSignals {
        &self.signals
    }

    /// A block locator for the active tip: the last 10 blocks, then exponentially
    /// sparser back to genesis.
    pub fn locator(&self) -> Vec<BlockHash> {
        let chain = self.chain.lock();
        let mut out = Vec::new();
        let mut height = i64::from(chain.height());
        let mut step = 1;
        while height >= 0 {
            out.extend(chain.hash_at(height as u32));
            if out.len() >= 10 {
                step *= 2;
            }
            height -= step;
        }
        if out.last() != chain.hash_at(0).as_ref() {
            out.extend(chain.hash_at(0));
        }
        out
    }

    /// Seconds since the node started.
    pub fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn publish_tip(&self, chain: &ChainState) {
        let info = TipInfo {
            hash: chain.tip().hash,
            height: chain.height(),
        };
        let mut tip = self.tip.lock();
        if *tip != info {
            *tip = info;
            self.tip_changed.notify_all();
            drop(tip);
            self.notify(&NodeEvent::TipChanged(info));
        }
    }

    /// Registers `f` to receive every [`NodeEvent`].
    pub fn subscribe(&self, f: EventHandler) {
        self.subscribers.lock().push(f);
    }

    fn notify(&self, ev: &NodeEvent) {
        for f in self.subscribers.lock().iter() {
            f(ev);
        }
    }

    /// Locks the mempool. Callers that also lock the chainstate must lock it first.
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock()
    }

    /// Runs `f` on the chainstate, brings the mempool up to date with the chain changes,
    /// and wakes tip waiters if the tip moved.
    fn modify<T>(&self, f: impl FnOnce(&mut ChainState) -> T) -> T {
        let mut chain = self.chain.lock();
        let out = f(&mut chain);
        let events = chain.take_events();
        if !events.is_empty() {
            self.update_mempool(&chain, events);
            self.signals.push([Signal::UpdatedTip]);
        }
        self.publish_tip(&chain);
        out
    }

    /// Removes confirmed and conflicting transactions; after a reorganisation, offers the
    /// disconnected blocks' transactions and the old pool to the mempool again. Listeners
    /// hear about every change in this order.
    fn update_mempool(&self, chain: &ChainState, events: Vec<ChainEvent>) {
        let mut pool = self.mempool.lock();
        let notify = self.signals.has_clients();
        if notify {
            pool.record_events();
        }
        let mut signals = Vec::new();
        let mut resurrect: Vec<bitcoin::Transaction> = Vec::new();
        for event in events {
            match event {
                ChainEvent::Connected(block) => {
                    pool.remove_for_block(&block.txdata);
                    // Regtest blocks always carry BIP34 heights; one without is no sample.
                    if let Ok(height) = block.bip34_block_height() {
                        let txids: Vec<_> =
                            block.txdata.iter().map(|tx| tx.compute_txid()).collect();
                        self.fees
                            .lock()
                            .process_block(height as u32, &txids, |t| pool.get(t).is_some());
                    }
                    if notify {
                        pool_signals(&mut pool, &mut signals, None);
                        let hash = block.block_hash();
                        let height = chain.entry(&hash).map_or(0, |e| e.height);
                        signals.push(Signal::BlockConnected(Arc::new(block), hash, height));
                    }
                }
                // Blocks are disconnected tip first; keep older blocks' transactions first.
                ChainEvent::Disconnected(block) => {
                    resurrect.splice(0..0, block.txdata.iter().skip(1).cloned());
                    if notify {
                        let hash = block.block_hash();
                        let height = chain.entry(&hash).map_or(0, |e| e.height);
                        signals.push(Signal::BlockDisconnected(Arc::new(block), hash, height));
                    }
                }
            }
        }
        if !resurrect.is_empty() {
            let old = pool.drain();
            let mut was_pooled: std::collections::HashMap<bitcoin::Txid, bitcoin::Transaction> =
                old.iter()
                    .map(|tx| (tx.compute_txid(), tx.clone()))
                    .collect();
            for tx in resurrect.into_iter().chain(old) {
                // Transactions confirmed again or now invalid are simply dropped.
                let _ = pool.accept_bypassing_limits(chain, &tx);
            }
            pool.limit_size();
            if notify {
                pool_signals(&mut pool, &mut signals, Some(&mut was_pooled));
                // Pooled before the reorganisation but not valid after it.
                for tx in was_pooled.into_values() {
                    signals.push(Signal::TxRemoved(Arc::new(tx), RemovalReason::Reorg));
                }
            }
        }
        self.signals.push(signals);
    }

    /// Offers a transaction to the mempool (`sendrawtransaction`, `testmempoolaccept`).
    pub fn accept_to_mempool(
        &self,
        tx: &bitcoin::Transaction,
        test_only: bool,
        max_fee_rate: Option<u64>,
    ) -> Result<Accepted, Reject> {
        let chain = self.chain.lock();
        let mut pool = self.mempool.lock();
        if !test_only && self.signals.has_clients() {
            pool.record_events();
        }
        let result = pool.accept(&chain, tx, test_only, max_fee_rate);
        if let Ok(a) = &result {
            if !test_only && pool.parents(tx).is_empty() {
                let feerate = a.fee as f64 * 1000.0 / a.vsize as f64;
                self.fees.lock().track(a.txid, feerate, chain.height());
            }
            if !test_only {
                self.notify(&NodeEvent::TxAdded {
                    txid: a.txid,
                    wtxid: a.wtxid,
                    fee_rate: a.fee * 1000 / a.vsize.max(1),
                });
            }
        }
        let mut signals = Vec::new();
        pool_signals(&mut pool, &mut signals, None);
        self.signals.push(signals);
        result
    }

    /// `estimatesmartfee`: the feerate (sat/kvB, at least `-minrelaytxfee`) to confirm
    /// within `target` blocks, and the target the answer is for.
    pub fn estimate_smart_fee(&self, target: usize, conservative: bool) -> (Option<u64>, usize) {
        let floor = self.mempool.lock().min_relay_fee;
        self.fees
            .lock()
            .estimate_smart_fee(target, conservative, floor)
    }

    /// Path of `fee_estimates.dat`.
    pub fn fee_estimates_path(&self) -> PathBuf {
        self.data_dir.join("fee_estimates.dat")
    }

    /// Writes the fee estimator's averages to `fee_estimates.dat`.
    pub fn save_fee_estimates(&self) -> std::io::Result<()> {
        let bytes = self.fees.lock().to_file_bytes();
        crate::storage::write_atomically(&self.fee_estimates_path(), &bytes)
    }

    /// Reads `fee_estimates.dat` into the estimator. A file older than
    /// [`MAX_FEE_FILE_AGE`] is skipped unless `accept_stale`, as in Core. Returns
    /// whether data was loaded; a missing file is `Ok(false)`.
    pub fn load_fee_estimates(&self, accept_stale: bool) -> Result<bool, String> {
        let path = self.fee_estimates_path();
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(false);
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        if age > MAX_FEE_FILE_AGE && !accept_stale {
            return Err(format!(
                "Fee estimation file {} too old (age={} > {} hours) and will not be used to avoid serving stale estimates.",
                path.display(),
                age.as_secs() / 3600,
                MAX_FEE_FILE_AGE.as_secs() / 3600
            ));
        }
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let est = FeeEstimator::from_file_bytes(&data)
            .map_err(|e| format!("Failed to read fee estimates from {}: {e}", path.display()))?;
        *self.fees.lock() = est;
        Ok(true)
    }

    /// Path of `mempool.dat`.
    pub fn mempool_path(&self) -> PathBuf {
        self.data_dir.join("mempool.dat")
    }

    /// Writes the mempool to `mempool.dat`; returns how many transactions were saved.
    pub fn save_mempool(&self) -> std::io::Result<usize> {
        crate::mempool_persist::save(&self.mempool.lock(), &self.mempool_path())
    }

    /// Re-accepts the transactions of `mempool.dat`; returns (accepted, refused).
    pub fn load_mempool(&self) -> Result<LoadedMempool, String> {
        let txs = crate::mempool_persist::load(&self.mempool_path())?;
        let chain = self.chain.lock();
        let mut pool = self.mempool.lock();
        if self.signals.has_clients() {
            pool.record_events();
        }
        let cutoff = crate::time::now() - pool.options().expiry_secs;
        let mut loaded = LoadedMempool::default();
        for (tx, time) in &txs {
            if *time <= cutoff {
                loaded.expired += 1;
                continue;
            }
            match pool.accept(&chain, tx, false, None) {
                Ok(a) => {
                    pool.set_entry_time(&a.txid, *time);
                    loaded.accepted += 1;
                }
                Err(_) => loaded.failed += 1,
            }
        }
        let mut signals = Vec::new();
        pool_signals(&mut pool, &mut signals, None);
        self.signals.push(signals);
        Ok(loaded)
    }

    /// Checks a block on the current tip without storing it (`generateblock`).
    pub fn test_block_validity(&self, block: &Block) -> Result<(), ChainError> {
        self.chain.lock().test_block_validity(block)
    }

    /// Mines `count` blocks paying to `script`, filled from the mempool; returns their
    /// hashes. Stops early (with the blocks found so far) when `max_tries` nonces are
    /// exhausted or shutdown starts.
    pub fn generate(
        &self,
        script: &ScriptBuf,
        count: u32,
        mut max_tries: u64,
    ) -> Result<Vec<BlockHash>, ChainError> {
        let mut hashes = Vec::with_capacity(count.min(10_000) as usize);
        while hashes.len() < count as usize && !self.shutdown_requested() {
            // Assemble, solve and connect under one lock so concurrent callers never
            // build competing blocks on the same parent.
            let mined = self.modify(|chain| {
                let (txs, fees) = self.mempool.lock().select_for_block(MAX_TEMPLATE_WEIGHT);
                let ctx = chain.next_block_context(time::now());
                let mut block = assemble_block(
                    &self.params,
                    ctx,
                    script.clone(),
                    txs,
                    Amount::from_sat(fees),
                );
                if !solve(&mut block, &self.params, &mut max_tries) {
                    return Ok(None);
                }
                // The same template in the same second as a block we already have (for
                // example one invalidated earlier) would be a duplicate: move time on.
                while chain.entry(&block.block_hash()).is_some() {
                    block.header.time += 1;
                    if !solve(&mut block, &self.params, &mut max_tries) {
                        return Ok(None);
                    }
                }
                chain
                    .process_block(&block)
                    .map(|()| Some(block.block_hash()))
            })?;
            match mined {
                Some(hash) => hashes.push(hash),
                None => break,
            }
        }
        Ok(hashes)
    }

    /// Accepts a block from `submitblock`.
    pub fn submit_block(&self, block: &Block) -> Result<(), ChainError> {
        self.modify(|c| c.process_block(block))
    }

    /// Records a header from `submitheader`.
    pub fn submit_header(&self, header: &bitcoin::block::Header) -> Result<(), ChainError> {
        self.modify(|c| c.process_header(header))
    }

    /// `invalidateblock`.
    pub fn invalidate_block(&self, hash: &BlockHash) -> Result<(), ChainError> {
        self.modify(|c| c.invalidate_block(hash))
    }

    /// `preciousblock`.
    pub fn precious_block(&self, hash: &BlockHash) -> Result<(), ChainError> {
        self.modify(|c| c.precious_block(hash))
    }

    /// `reconsiderblock`.
    pub fn reconsider_block(&self, hash: &BlockHash) -> Result<(), ChainError> {
        self.modify(|c| c.reconsider_block(hash))
    }

    /// The current tip without locking the chainstate.
    pub fn tip(&self) -> TipInfo {
        *self.tip.lock()
    }

    /// Waits until `done(tip)` holds, `timeout` passes (`None`: no limit) or shutdown
    /// starts; returns the tip at that moment.
    pub fn wait_for_tip(
        &self,
        timeout: Option<Duration>,
        done: impl Fn(&TipInfo) -> bool,
    ) -> TipInfo {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut tip = self.tip.lock();
        loop {
            if done(&tip) || self.shutdown_requested() {
                return *tip;
            }
            // Wake up periodically to notice shutdown.
            let mut until = Instant::now() + Duration::from_millis(200);
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return *tip;
                }
                until = until.min(d);
            }
            self.tip_changed.wait_until(&mut tip, until);
        }
    }

    /// Asks the node to stop (RPC `stop`, SIGTERM).
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _guard = self.shutdown_lock.lock();
        self.shutdown_cv.notify_all();
    }

    /// Whether shutdown was requested.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Blocks for up to `timeout` or until shutdown is requested.
    pub fn wait_shutdown(&self, timeout: Duration) -> bool {
        let mut guard = self.shutdown_lock.lock();
        if !self.shutdown_requested() {
            self.shutdown_cv.wait_for(&mut guard, timeout);
        }
        self.shutdown_requested()
    }
}

/// Turns the pool's recorded changes into signals. Core does not signal removals of
/// transactions confirmed in a block (listeners see the block). With `was_pooled` (after a
/// reorganisation) re-additions of transactions listeners already knew are dropped, and
/// each re-added one is taken out of the map.
fn pool_signals(
    pool: &mut Mempool,
    out: &mut Vec<Signal>,
    mut was_pooled: Option<&mut std::collections::HashMap<bitcoin::Txid, bitcoin::Transaction>>,
) {
    for event in pool.take_events() {
        match event {
            PoolEvent::Added(tx) => {
                if let Some(known) = was_pooled.as_deref_mut() {
                    if known.remove(&tx.compute_txid()).is_some() {
                        continue;
                    }
                }
                out.push(Signal::TxAdded(Arc::new(tx)));
            }
            PoolEvent::Removed(_, RemovalReason::Block) => {}
            PoolEvent::Removed(tx, reason) => out.push(Signal::TxRemoved(Arc::new(tx), reason)),
        }
    }
}

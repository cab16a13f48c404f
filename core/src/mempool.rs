//! The transaction memory pool: acceptance with Core's reject reasons (standardness,
//! fees, full RBF, ancestor and descendant limits), removal on block connect, the size
//! limit with its rolling minimum fee, expiry, and selection of transactions for new
//! blocks by ancestor fee rate.

use std::collections::{BTreeSet, HashMap, HashSet};

use bitcoin::hashes::Hash;

use bitcoin::{OutPoint, Transaction, TxOut, Txid, Wtxid};

use crate::chainstate::{check_tx_inputs, ChainError, ChainState};
use crate::policy::{self, fee_for};
use crate::storage::Coin;
use crate::time;
use crate::validation::checks::{check_transaction, is_final_tx, sequence_locks_ok};
use crate::validation::script::{block_script_flags, verify_scripts};

/// Core's default ancestor and descendant count limit (`-limitancestorcount`...).
pub const MAX_CHAIN_COUNT: usize = 25;
/// Core's default ancestor and descendant size limit, in virtual bytes.
pub const MAX_CHAIN_VSIZE: u64 = 101_000;
/// Consensus limit on a block's signature operation cost.
const MAX_BLOCK_SIGOPS_COST: u64 = 80_000;
/// Sigop cost the block assembler keeps for the coinbase.
const BLOCK_SIGOPS_RESERVED: u64 = 400;
/// Most transactions one replacement may evict.
const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// The transaction version that opts in to TRUC policy (Core's `TRUC_VERSION`).
const TRUC_VERSION: i32 = 3;
/// Largest TRUC transaction, in virtual bytes.
const TRUC_MAX_VSIZE: u64 = 10_000;
/// Largest TRUC transaction with an unconfirmed parent, in virtual bytes.
const TRUC_CHILD_MAX_VSIZE: u64 = 1_000;
/// Core's `DEFAULT_MAX_MEMPOOL_SIZE_MB` (`-maxmempool`).
pub const DEFAULT_MAX_MEMPOOL_MB: u64 = 300;
/// Core's `DEFAULT_MEMPOOL_EXPIRY_HOURS` (`-mempoolexpiry`).
pub const DEFAULT_MEMPOOL_EXPIRY_HOURS: i64 = 336;
/// Core's `ROLLING_FEE_HALFLIFE`, in seconds.
const ROLLING_FEE_HALFLIFE: f64 = 12.0 * 3600.0;

/// The mempool's settings: `-maxmempool`, `-mempoolexpiry`, `-acceptnonstdtxn`,
/// `-datacarrier`/`-datacarriersize` and the package limits (`-limitancestorcount`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Most memory the pool may use, in bytes (as [`Mempool::usage`] counts it).
    pub max_bytes: u64,
    /// Transactions older than this many seconds are dropped.
    pub expiry_secs: i64,
    /// Refuse non-standard transactions (`-acceptnonstdtxn=0`, the default).
    pub require_standard: bool,
    /// Largest standard OP_RETURN script; `None` relays no data outputs.
    pub max_datacarrier_bytes: Option<usize>,
    /// Most in-pool ancestors of a transaction, itself included.
    pub ancestor_count: usize,
    /// Most virtual bytes of a transaction with its in-pool ancestors.
    pub ancestor_size: u64,
    /// Most in-pool descendants of a transaction, itself included.
    pub descendant_count: usize,
    /// Most virtual bytes of a transaction with its in-pool descendants.
    pub descendant_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_bytes: DEFAULT_MAX_MEMPOOL_MB * 1_000_000,
            expiry_secs: DEFAULT_MEMPOOL_EXPIRY_HOURS * 3600,
            require_standard: true,
            max_datacarrier_bytes: Some(policy::MAX_OP_RETURN_RELAY),
            ancestor_count: MAX_CHAIN_COUNT,
            ancestor_size: MAX_CHAIN_VSIZE,
            descendant_count: MAX_CHAIN_COUNT,
            descendant_size: MAX_CHAIN_VSIZE,
        }
    }
}

impl Options {
    /// The smallest `-maxmempool` Core accepts, in MB: room for 40 maximal packages.
    pub fn min_max_mempool_mb(&self) -> u64 {
        (self.descendant_size * 40).div_ceil(1_000_000)
    }
}

/// One transaction in the pool.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Fee in satoshis.
    pub fee: u64,
    /// Virtual size (sigop-adjusted).
    pub vsize: u64,
    /// Weight units.
    pub weight: u64,
    /// Signature operation cost (BIP141 units).
    pub sigops: u64,
    /// Time it entered the pool.
    pub time: i64,
    /// Chain height when it entered.
    pub height: u32,
}

impl Entry {
    /// Estimated memory the entry takes, counted against `-maxmempool`.
    pub fn usage(&self) -> u64 {
        self.weight + 200
    }
}

/// Why a transaction was refused: Core's reason, details, and whether inputs were missing
/// (which `testmempoolaccept` reports as `missing-inputs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Core's reject reason.
    pub reason: String,
    /// Extra detail, may be empty.
    pub details: String,
    /// Inputs were missing or spent.
    pub missing_inputs: bool,
}

impl Reject {
    fn new(reason: impl Into<String>, details: impl Into<String>) -> Self {
        Reject {
            reason: reason.into(),
            details: details.into(),
            missing_inputs: false,
        }
    }

    /// `reason, details`, as Core's `ValidationState::ToString`.
    pub fn message(&self) -> String {
        if self.details.is_empty() {
            self.reason.clone()
        } else {
            format!("{}, {}", self.reason, self.details)
        }
    }
}

/// What a replacement would replace: the directly conflicting transactions, everything
/// evicted with them, the new transaction's ancestors, and whether a TRUC sibling was
/// added to the conflicts.
#[derive(Clone, Copy)]
struct Replacing<'a> {
    conflicts: &'a [Txid],
    evict: &'a HashSet<Txid>,
    ancestors: &'a HashSet<Txid>,
    sibling_eviction: bool,
}

/// The package `trim_to_size` would evict next: the score it is ranked by (the better
/// of its root's own and the package's fee rate, as fee and size), the root's entry
/// time, and the package with its total fee and size.
struct Eviction {
    score: (u64, u64),
    time: i64,
    package: HashSet<Txid>,
    fee: u64,
    size: u64,
}

/// The outcome of a successful acceptance.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Txid.
    pub txid: Txid,
    /// Wtxid.
    pub wtxid: Wtxid,
    /// Virtual size.
    pub vsize: u64,
    /// Fee in satoshis.
    pub fee: u64,
    /// Transactions evicted by replacement.
    pub replaced: Vec<Txid>,
}

/// Why a transaction left the mempool (Core's `MemPoolRemovalReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// Expired from the mempool.
    Expiry,
    /// Evicted by the size limit.
    SizeLimit,
    /// Removed for a reorganisation (no longer valid on the new chain).
    Reorg,
    /// Confirmed in a block.
    Block,
    /// Conflicted with a transaction in a block.
    Conflict,
    /// Replaced by a higher-fee transaction.
    Replaced,
}

impl RemovalReason {
    /// Core's name for the reason, as in its logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Expiry => "expiry",
            RemovalReason::SizeLimit => "sizelimit",
            RemovalReason::Reorg => "reorg",
            RemovalReason::Block => "block",
            RemovalReason::Conflict => "conflict",
            RemovalReason::Replaced => "replaced",
        }
    }
}

/// A change of the pool, kept for the node to pass on as notifications.
#[derive(Debug, Clone)]
pub enum PoolEvent {
    /// A transaction entered the pool.
    Added(Transaction),
    /// A transaction left the pool.
    Removed(Transaction, RemovalReason),
}

/// The memory pool.
#[derive(Debug, Default, Clone)]
pub struct Mempool {
    entries: HashMap<Txid, Entry>,
    /// Entries by entry time, so that expiry looks only at the old ones.
    by_time: BTreeSet<(i64, Txid)>,
    spenders: HashMap<OutPoint, Txid>,
    /// Counts additions and removals (`getrawmempool` `mempool_sequence`).
    sequence: u64,
    /// Changes not yet taken by [`Mempool::take_events`]; recorded only when enabled.
    events: Option<Vec<PoolEvent>>,
    /// `-minrelaytxfee` in sat/kvB.
    pub min_relay_fee: u64,
    options: Options,
    /// Sum of [`Entry::usage`].
    usage: u64,
    /// Core's `rollingMinimumFeeRate`, sat/kvB: raised by size-limit evictions, decaying.
    rolling_min_fee: f64,
    last_rolling_update: i64,
    /// The rolling fee decays only once a block has come since it was last raised.
    block_since_bump: bool,
}

impl Mempool {
    /// An empty pool with the given minimum relay fee rate (sat/kvB).
    pub fn new(min_relay_fee: u64) -> Self {
        Mempool {
            entries: HashMap::new(),
            by_time: BTreeSet::new(),
            spenders: HashMap::new(),
            sequence: 0,
            events: None,
            min_relay_fee,
            options: Options::default(),
            usage: 0,
            rolling_min_fee: 0.0,
            last_rolling_update: 0,
            block_since_bump: false,
        }
    }

    /// Sets the mempool's options.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// The options in force.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Estimated memory used by the entries (`getmempoolinfo` `usage`).
    pub fn usage(&self) -> u64 {
        self.usage
    }

    /// Core's `GetMinFee`: the fee rate (sat/kvB) a transaction needs to enter a pool
    /// that has evicted for size; 0 when it has not. Decays with a 12 hour half-life
    /// (faster while the pool is well below its limit) once a block has been connected.
    pub fn min_fee_rate(&mut self) -> u64 {
        if !self.block_since_bump || self.rolling_min_fee == 0.0 {
            return self.rolling_min_fee.round() as u64;
        }
        let now = time::now();
        if now > self.last_rolling_update + 10 {
            let mut halflife = ROLLING_FEE_HALFLIFE;
            if self.usage < self.options.max_bytes / 4 {
                halflife /= 4.0;
            } else if self.usage < self.options.max_bytes / 2 {
                halflife /= 2.0;
            }
            let elapsed = (now - self.last_rolling_update) as f64;
            self.rolling_min_fee /= 2f64.powf(elapsed / halflife);
            self.last_rolling_update = now;
            if self.rolling_min_fee < policy::INCREMENTAL_RELAY_FEE as f64 / 2.0 {
                self.rolling_min_fee = 0.0;
                return 0;
            }
        }
        (self.rolling_min_fee.round() as u64).max(policy::INCREMENTAL_RELAY_FEE)
    }

    /// Core's `LimitMempoolSize`: drops expired transactions, then evicts the packages
    /// with the lowest descendant score until the pool fits `-maxmempool`. Returns how
    /// many transactions were expired and evicted.
    pub fn limit_size(&mut self) -> (usize, usize) {
        let expired = self.expire(time::now() - self.options.expiry_secs);
        let evicted = self.trim_to_size(self.options.max_bytes);
        (expired, evicted)
    }

    /// Core's `Expire`: removes transactions that entered before `cutoff`, with their
    /// descendants.
    fn expire(&mut self, cutoff: i64) -> usize {
        let old: Vec<Txid> = self
            .by_time
            .range(..(cutoff, Txid::all_zeros()))
            .map(|(_, txid)| *txid)
            .collect();
        let mut gone: HashSet<Txid> = HashSet::new();
        for txid in &old {
            gone.insert(*txid);
            gone.extend(self.descendants(txid));
        }
        for txid in &gone {
            self.remove_one(txid, RemovalReason::Expiry);
        }
        gone.len()
    }

    /// Core's `TrimToSize`: evicts the package of the transaction with the lowest
    /// descendant score (the better of its own and its package's fee rate) until usage
    /// is at most `max_bytes`, raising the rolling minimum fee past each evicted package.
    fn trim_to_size(&mut self, max_bytes: u64) -> usize {
        let mut evicted = 0;
        while !self.entries.is_empty() && self.usage > max_bytes {
            let mut worst: Option<Eviction> = None;
            for e in self.entries.values() {
                let desc = self.descendants(&e.txid);
                let fee = e.fee + desc.iter().map(|d| self.entries[d].fee).sum::<u64>();
                let size = e.vsize + desc.iter().map(|d| self.entries[d].vsize).sum::<u64>();
                // The higher of the two rates, as a fraction.
                let (f, s) = if u128::from(fee) * u128::from(e.vsize)
                    > u128::from(e.fee) * u128::from(size)
                {
                    (fee, size)
                } else {
                    (e.fee, e.vsize)
                };
                let lower = match &worst {
                    None => true,
                    Some(w) => {
                        let (wf, ws) = w.score;
                        let (a, b) = (
                            u128::from(f) * u128::from(ws),
                            u128::from(wf) * u128::from(s),
                        );
                        // Among equals the newest goes first.
                        a < b || (a == b && e.time > w.time)
                    }
                };
                if lower {
                    let mut package = desc;
                    package.insert(e.txid);
                    worst = Some(Eviction {
                        score: (f, s),
                        time: e.time,
                        package,
                        fee,
                        size,
                    });
                }
            }
            let Some(Eviction {
                package, fee, size, ..
            }) = worst
            else {
                break;
            };
            // Core's `CFeeRate(fee, size)` truncates.
            let removed_rate = ((fee * 1000) / size.max(1) + policy::INCREMENTAL_RELAY_FEE) as f64;
            if removed_rate > self.rolling_min_fee {
                self.rolling_min_fee = removed_rate;
                self.block_since_bump = false;
            }
            for t in &package {
                self.remove_one(t, RemovalReason::SizeLimit);
            }
            evicted += package.len();
        }
        evicted
    }

    /// Starts recording [`PoolEvent`]s (the node does once it has listeners).
    pub fn record_events(&mut self) {
        self.events.get_or_insert_with(Vec::new);
    }

    /// Takes the changes recorded since the last call.
    pub fn take_events(&mut self) -> Vec<PoolEvent> {
        self.events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A transaction's entry.
    pub fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.entries.get(txid)
    }

    /// All entries, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// In-pool parents of a transaction.
    pub fn parents(&self, tx: &Transaction) -> Vec<Txid> {
        let mut out: Vec<Txid> = tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// In-pool children of a transaction.
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = (0..e.tx.output.len() as u32)
            .filter_map(|vout| self.spenders.get(&OutPoint { txid: *txid, vout }).copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn closure(&self, start: Vec<Txid>, next: impl Fn(&Txid) -> Vec<Txid>) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack = start;
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                stack.extend(next(&t));
            }
        }
        seen
    }

    /// All in-pool ancestors of a transaction (not itself).
    pub fn ancestors_of_tx(&self, tx: &Transaction) -> HashSet<Txid> {
        self.closure(self.parents(tx), |t| self.parents(&self.entries[t].tx))
    }

    /// All in-pool ancestors of a pooled transaction (not itself).
    pub fn ancestors(&self, txid: &Txid) -> HashSet<Txid> {
        self.entries
            .get(txid)
            .map(|e| self.ancestors_of_tx(&e.tx))
            .unwrap_or_default()
    }

    /// All in-pool descendants of a pooled transaction (not itself).
    pub fn descendants(&self, txid: &Txid) -> HashSet<Txid> {
        self.closure(self.children(txid), |t| self.children(t))
    }

    /// Sets when a transaction entered the pool (`mempool.dat` keeps it across restarts).
    pub fn set_entry_time(&mut self, txid: &Txid, time: i64) {
        if let Some(e) = self.entries.get_mut(txid) {
            self.by_time.remove(&(e.time, *txid));
            self.by_time.insert((time, *txid));
            e.time = time;
        }
    }

    /// Which pooled transaction spends `op`, if any.
    pub fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spenders.get(op).copied()
    }

    /// The mempool sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    fn insert(&mut self, entry: Entry) {
        self.sequence += 1;
        if let Some(events) = &mut self.events {
            events.push(PoolEvent::Added(entry.tx.clone()));
        }
        for input in &entry.tx.input {
            self.spenders.insert(input.previous_output, entry.txid);
        }
        self.usage += entry.usage();
        self.by_time.insert((entry.time, entry.txid));
        self.entries.insert(entry.txid, entry);
    }

    fn remove_one(&mut self, txid: &Txid, reason: RemovalReason) -> Option<Entry> {
        let e = self.entries.remove(txid)?;
        self.by_time.remove(&(e.time, *txid));
        self.usage -= e.usage();
        self.sequence += 1;
        if let Some(events) = &mut self.events {
            events.push(PoolEvent::Removed(e.tx.clone(), reason));
        }
        for input in &e.tx.input {
            if self.spenders.get(&input.previous_output) == Some(txid) {
                self.spenders.remove(&input.previous_output);
            }
        }
        Some(e)
    }

    /// Removes a transaction and everything that depends on it.
    pub fn remove_recursive(&mut self, txid: &Txid, reason: RemovalReason) {
        let mut all = self.descendants(txid);
        all.insert(*txid);
        for t in all {
            self.remove_one(&t, reason);
        }
    }

    /// Core's `removeForBlock`: drops the block's transactions and anything conflicting
    /// with them (with descendants).
    pub fn remove_for_block(&mut self, txs: &[Transaction]) {
        self.last_rolling_update = time::now();
        self.block_since_bump = true;
        for tx in txs {
            let txid = tx.compute_txid();
            self.remove_one(&txid, RemovalReason::Block);
            for input in &tx.input {
                if let Some(conflict) = self.spenders.get(&input.previous_output).copied() {
                    if conflict != txid {
                        self.remove_recursive(&conflict, RemovalReason::Conflict);
                    }
                }
            }
        }
    }

    /// Empties the pool, returning its transactions parents first, then oldest first (for
    /// re-acceptance after a reorganisation).
    pub fn drain(&mut self) -> Vec<Transaction> {
        // A parent always has fewer in-pool ancestors than its child.
        let mut keyed: Vec<(usize, i64, Transaction)> = self
            .entries
            .values()
            .map(|e| (self.ancestors(&e.txid).len(), e.time, e.tx.clone()))
            .collect();
        self.sequence += keyed.len() as u64;
        self.entries.clear();
        self.by_time.clear();
        self.spenders.clear();
        self.usage = 0;
        keyed.sort_by_key(|(depth, time, _)| (*depth, *time));
        keyed.into_iter().map(|(_, _, tx)| tx).collect()
    }

    /// Core's `AcceptToMemoryPool` for one transaction. With `test_only` nothing changes.
    /// `max_fee_rate` (sat/kvB) rejects absurd fees as `max-fee-exceeded`. Accepting may
    /// expire old transactions and evict others for size; if the new one is evicted
    /// itself, the answer is `mempool full`.
    pub fn accept(
        &mut self,
        chain: &ChainState,
        tx: &Transaction,
        test_only: bool,
        max_fee_rate: Option<u64>,
    ) -> Result<Accepted, Reject> {
        let accepted = self.accept_inner(chain, tx, test_only, max_fee_rate, false)?;
        if !test_only {
            self.limit_size();
            if !self.entries.contains_key(&accepted.txid) {
                // Nobody heard of it yet: it never entered, as far as listeners go.
                if let Some(events) = &mut self.events {
                    events.retain(|ev| match ev {
                        PoolEvent::Added(t) | PoolEvent::Removed(t, _) => {
                            t.compute_txid() != accepted.txid
                        }
                    });
                }
                return Err(Reject::new("mempool full", ""));
            }
        }
        Ok(accepted)
    }

    /// Re-accepts a transaction from a disconnected block or an emptied pool, as Core's
    /// `bypass_limits`: neither the mempool minimum fee nor the size limit apply (the
    /// caller runs [`Mempool::limit_size`] once it is done).
    pub fn accept_bypassing_limits(
        &mut self,
        chain: &ChainState,
        tx: &Transaction,
    ) -> Result<Accepted, Reject> {
        self.accept_inner(chain, tx, false, None, true)
    }

    fn accept_inner(
        &mut self,
        chain: &ChainState,
        tx: &Transaction,
        test_only: bool,
        max_fee_rate: Option<u64>,
        bypass_limits: bool,
    ) -> Result<Accepted, Reject> {
        let txid = tx.compute_txid();
        let wtxid = tx.compute_wtxid();
        check_transaction(tx).map_err(|e| Reject::new(e.reason, ""))?;
        if tx.is_coinbase() {
            return Err(Reject::new("coinbase", ""));
        }
        let opts = self.options;
        if opts.require_standard {
            policy::check_standard(tx, opts.max_datacarrier_bytes)
                .map_err(|r| Reject::new(r, ""))?;
        }
        if bitcoin::consensus::encode::serialize(&strip(tx)).len()
            < policy::MIN_STANDARD_TX_NONWITNESS_SIZE
        {
            return Err(Reject::new("tx-size-small", ""));
        }
        let tip = chain.tip().clone();
        let next_height = tip.height + 1;
        let tip_mtp = chain.median_time_past(&tip.hash);
        if !is_final_tx(tx, next_height, tip_mtp) {
            return Err(Reject::new("non-final", ""));
        }
        if let Some(e) = self.entries.get(&txid) {
            return Err(Reject::new(
                if e.wtxid == wtxid {
                    "txn-already-in-mempool"
                } else {
                    "txn-same-nonwitness-data-in-mempool"
                },
                "",
            ));
        }
        let mut conflicts: Vec<Txid> = tx
            .input
            .iter()
            .filter_map(|i| self.spenders.get(&i.previous_output).copied())
            .collect();
        conflicts.sort();
        conflicts.dedup();

        let mut coins: Vec<Coin> = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            let op = input.previous_output;
            let from_pool = self
                .entries
                .get(&op.txid)
                .and_then(|e| e.tx.output.get(op.vout as usize))
                .map(|o| Coin {
                    output: o.clone(),
                    height: next_height,
                    is_coinbase: false,
                });
            let coin = match from_pool {
                Some(c) => Some(c),
                None => chain.coin(&op).map_err(storage_reject)?,
            };
            match coin {
                Some(c) => coins.push(c),
                None => {
                    for vout in 0..tx.output.len() as u32 {
                        if chain
                            .coin(&OutPoint { txid, vout })
                            .map_err(storage_reject)?
                            .is_some()
                        {
                            return Err(Reject::new("txn-already-known", ""));
                        }
                    }
                    return Err(Reject {
                        missing_inputs: true,
                        ..Reject::new("bad-txns-inputs-missingorspent", "")
                    });
                }
            }
        }
        let fee = check_tx_inputs(tx, &coins, next_height, chain.params().coinbase_maturity)
            .map_err(|e| Reject::new(e.reason, e.debug))?;
        let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
        let mtp_at = |h: u32| {
            chain
                .hash_at(h)
                .map(|hash| chain.median_time_past(&hash))
                .unwrap_or(tip_mtp)
        };
        if !sequence_locks_ok(tx, &heights, next_height, tip_mtp, mtp_at) {
            return Err(Reject::new("non-BIP68-final", ""));
        }
        let spent_outs: Vec<TxOut> = coins.iter().map(|c| c.output.clone()).collect();
        if opts.require_standard {
            policy::check_inputs_standard(tx, &spent_outs).map_err(|r| Reject::new(r, ""))?;
            policy::check_witness_standard(tx, &spent_outs).map_err(|r| Reject::new(r, ""))?;
        }
        let sigops = tx.total_sigop_cost(|op| {
            tx.input
                .iter()
                .position(|i| i.previous_output == *op)
                .and_then(|k| spent_outs.get(k).cloned())
        });
        if sigops > policy::MAX_STANDARD_TX_SIGOPS_COST {
            return Err(Reject::new("bad-txns-too-many-sigops", sigops.to_string()));
        }
        let weight = tx.weight().to_wu();
        let vsize = policy::virtual_size(weight, sigops);
        if let Some(max) = max_fee_rate {
            if max > 0 && fee > fee_for(max, vsize) {
                return Err(Reject::new(
                    "max-fee-exceeded",
                    format!("{fee} > {}", fee_for(max, vsize)),
                ));
            }
        }
        if !bypass_limits {
            let pool_min_fee = fee_for(self.min_fee_rate(), vsize);
            if pool_min_fee > 0 && fee < pool_min_fee {
                return Err(Reject::new(
                    "mempool min fee not met",
                    format!("{fee} < {pool_min_fee}"),
                ));
            }
            let min_fee = fee_for(self.min_relay_fee, vsize);
            if fee < min_fee {
                return Err(Reject::new(
                    "min relay fee not met",
                    format!("{fee} < {min_fee}"),
                ));
            }
        }

        // Package limits, ignoring the transactions a replacement would evict.
        let mut evict: HashSet<Txid> = HashSet::new();
        for c in &conflicts {
            evict.insert(*c);
            evict.extend(self.descendants(c));
        }
        let ancestors: HashSet<Txid> = self
            .ancestors_of_tx(tx)
            .into_iter()
            .filter(|a| !evict.contains(a))
            .collect();
        if ancestors.len() + 1 > opts.ancestor_count {
            return Err(Reject::new(
                "too-long-mempool-chain",
                format!(
                    "too many unconfirmed ancestors [limit: {}]",
                    opts.ancestor_count
                ),
            ));
        }
        let anc_size: u64 = ancestors.iter().map(|a| self.entries[a].vsize).sum::<u64>() + vsize;
        if anc_size > opts.ancestor_size {
            return Err(Reject::new(
                "too-long-mempool-chain",
                format!(
                    "exceeds ancestor size limit [limit: {}]",
                    opts.ancestor_size
                ),
            ));
        }
        for a in &ancestors {
            let desc: Vec<Txid> = self
                .descendants(a)
                .into_iter()
                .filter(|d| !evict.contains(d))
                .collect();
            // The ancestor's package with the new transaction added to it.
            if desc.len() + 2 > opts.descendant_count {
                return Err(Reject::new(
                    "too-long-mempool-chain",
                    format!(
                        "too many descendants for tx {a} [limit: {}]",
                        opts.descendant_count
                    ),
                ));
            }
            let size: u64 = desc.iter().map(|d| self.entries[d].vsize).sum::<u64>()
                + self.entries[a].vsize
                + vsize;
            if size > opts.descendant_size {
                return Err(Reject::new(
                    "too-long-mempool-chain",
                    format!(
                        "exceeds descendant size limit for tx {a} [limit: {}]",
                        opts.descendant_size
                    ),
                ));
            }
        }
        // TRUC (version 3): a child that would give its parent a second child may replace
        // the first one instead, under the replacement rules (Core's sibling eviction).
        let mut sibling_eviction = false;
        if let Err((message, sibling)) = self.truc_checks(tx, vsize, &ancestors, &conflicts) {
            let Some(sibling) = sibling else {
                return Err(Reject::new("TRUC-violation", message));
            };
            conflicts.push(sibling);
            evict.insert(sibling);
            evict.extend(self.descendants(&sibling));
            sibling_eviction = true;
        }
        if !conflicts.is_empty() {
            let replacing = Replacing {
                conflicts: &conflicts,
                evict: &evict,
                ancestors: &ancestors,
                sibling_eviction,
            };
            self.check_replacement(tx, &txid, fee, vsize, &replacing)?;
        }
        verify_scripts(tx, &spent_outs, block_script_flags(next_height))
            .map_err(|e| Reject::new(e.reason, ""))?;

        let replaced: Vec<Txid> = evict.into_iter().collect();
        if !test_only {
            for r in &replaced {
                self.remove_one(r, RemovalReason::Replaced);
            }
            self.insert(Entry {
                tx: tx.clone(),
                txid,
                wtxid,
                fee,
                vsize,
                weight,
                sigops: sigops as u64,
                time: time::now(),
                height: tip.height,
            });
        }
        Ok(Accepted {
            txid,
            wtxid,
            vsize,
            fee,
            replaced,
        })
    }

    /// Core's `SingleTRUCChecks`: version 3 transactions spend only version 3 parents
    /// (and the reverse), weigh at most 10,000 vB (1,000 vB as a child) and form
    /// packages of at most one parent and one child. The error is Core's message, with
    /// the existing child when replacing it may be considered instead.
    fn truc_checks(
        &self,
        tx: &Transaction,
        vsize: u64,
        ancestors: &HashSet<Txid>,
        direct_conflicts: &[Txid],
    ) -> Result<(), (String, Option<Txid>)> {
        let name = |t: &Transaction| format!("{} (wtxid={})", t.compute_txid(), t.compute_wtxid());
        let is_truc = tx.version.0 == TRUC_VERSION;
        for a in ancestors {
            let parent = &self.entries[a].tx;
            if (parent.version.0 == TRUC_VERSION) != is_truc {
                let (this, other) = if is_truc {
                    ("version=3", "non-version=3")
                } else {
                    ("non-version=3", "version=3")
                };
                return Err((
                    format!(
                        "{this} tx {} cannot spend from {other} tx {}",
                        name(tx),
                        name(parent)
                    ),
                    None,
                ));
            }
        }
        if !is_truc {
            return Ok(());
        }
        if vsize > TRUC_MAX_VSIZE {
            return Err((
                format!(
                    "version=3 tx {} is too big: {vsize} > {TRUC_MAX_VSIZE} virtual bytes",
                    name(tx)
                ),
                None,
            ));
        }
        if ancestors.len() + 1 > 2 {
            return Err((
                format!("tx {} would have too many ancestors", name(tx)),
                None,
            ));
        }
        let Some(parent) = ancestors.iter().next() else {
            return Ok(());
        };
        if vsize > TRUC_CHILD_MAX_VSIZE {
            return Err((
                format!(
                    "version=3 child tx {} is too big: {vsize} > {TRUC_CHILD_MAX_VSIZE} virtual bytes",
                    name(tx)
                ),
                None,
            ));
        }
        let children = self.children(parent);
        let with_descendants = self.descendants(parent).len() + 1;
        let child_replaced = children.iter().any(|c| direct_conflicts.contains(c));
        if with_descendants + 1 > 2 && !child_replaced {
            let sibling = (with_descendants == 2 && children.len() == 1)
                .then(|| children[0])
                .filter(|c| self.ancestors(c).len() == 1);
            return Err((
                format!(
                    "tx {} would exceed descendant count limit",
                    name(&self.entries[parent].tx)
                ),
                sibling,
            ));
        }
        Ok(())
    }

    /// Full-RBF rules (BIP125 without signalling), with Core's messages.
    fn check_replacement(
        &self,
        tx: &Transaction,
        txid: &Txid,
        fee: u64,
        vsize: u64,
        replacing: &Replacing<'_>,
    ) -> Result<(), Reject> {
        let Replacing {
            conflicts,
            evict,
            ancestors,
            sibling_eviction,
        } = *replacing;
        let insufficient = if sibling_eviction {
            "insufficient fee (including sibling eviction)"
        } else {
            "insufficient fee"
        };
        if evict.len() > MAX_REPLACEMENT_CANDIDATES {
            return Err(Reject::new("too many potential replacements", format!("rejecting replacement {txid}; too many potential replacements ({} > {MAX_REPLACEMENT_CANDIDATES})", evict.len())));
        }
        // BIP125 rule 2: no new unconfirmed inputs, beyond the parents of what it replaces.
        let parents_of_conflicts: HashSet<Txid> = conflicts
            .iter()
            .flat_map(|c| self.entries[c].tx.input.iter())
            .map(|i| i.previous_output.txid)
            .collect();
        if let Some(j) = tx.input.iter().position(|i| {
            let parent = i.previous_output.txid;
            !parents_of_conflicts.contains(&parent) && self.entries.contains_key(&parent)
        }) {
            return Err(Reject::new(
                "replacement-adds-unconfirmed",
                format!("replacement {txid} adds unconfirmed input, idx {j}"),
            ));
        }
        if let Some(a) = ancestors.iter().find(|a| evict.contains(*a)) {
            return Err(Reject::new(
                "bad-txns-spends-conflicting-tx",
                format!("{txid} spends conflicting transaction {a}"),
            ));
        }
        for c in conflicts {
            let e = &self.entries[c];
            // Compare fee rates without rounding: fee / vsize > e.fee / e.vsize.
            if u128::from(fee) * u128::from(e.vsize) <= u128::from(e.fee) * u128::from(vsize) {
                return Err(Reject::new(
                    insufficient,
                    format!(
                        "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                        rate_str(fee, vsize),
                        rate_str(e.fee, e.vsize)
                    ),
                ));
            }
        }
        let evicted_fees: u64 = evict.iter().map(|t| self.entries[t].fee).sum();
        if fee < evicted_fees {
            return Err(Reject::new(
                insufficient,
                format!(
                    "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                    btc(fee),
                    btc(evicted_fees)
                ),
            ));
        }
        let extra = fee - evicted_fees;
        let needed = fee_for(policy::INCREMENTAL_RELAY_FEE, vsize);
        if extra < needed {
            return Err(Reject::new(
                insufficient,
                format!(
                    "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                    btc(extra),
                    btc(needed)
                ),
            ));
        }
        Ok(())
    }

    /// Core's `BlockAssembler::addPackageTxs`: picks packages by ancestor fee rate until
    /// `max_weight` or the sigop budget is reached. Returns the transactions in a valid
    /// order and their fees.
    pub fn select_for_block(&self, max_weight: u64) -> (Vec<Transaction>, u64) {
        let mut included: HashSet<Txid> = HashSet::new();
        let mut order: Vec<Txid> = Vec::new();
        let (mut weight, mut fees) = (0u64, 0u64);
        // Core starts the count at 400, reserved for the coinbase.
        let mut sigops = BLOCK_SIGOPS_RESERVED;
        let mut skipped: HashSet<Txid> = HashSet::new();
        loop {
            let mut best: Option<(Vec<Txid>, u64, u64, u64)> = None;
            for e in self.entries.values() {
                if included.contains(&e.txid) || skipped.contains(&e.txid) {
                    continue;
                }
                let mut pkg: Vec<Txid> = self
                    .ancestors(&e.txid)
                    .into_iter()
                    .filter(|a| !included.contains(a))
                    .collect();
                pkg.push(e.txid);
                let pf: u64 = pkg.iter().map(|t| self.entries[t].fee).sum();
                let pv: u64 = pkg.iter().map(|t| self.entries[t].vsize).sum();
                let pw: u64 = pkg.iter().map(|t| self.entries[t].weight).sum();
                let better = match &best {
                    None => true,
                    Some((_, bf, bv, _)) => {
                        u128::from(pf) * u128::from(*bv) > u128::from(*bf) * u128::from(pv)
                    }
                };
                if better {
                    best = Some((pkg, pf, pv, pw));
                }
            }
            let Some((mut pkg, pf, _, pw)) = best else {
                break;
            };
            let ps: u64 = pkg.iter().map(|t| self.entries[t].sigops).sum();
            if weight + pw > max_weight || sigops + ps >= MAX_BLOCK_SIGOPS_COST {
                skipped.insert(*pkg.last().expect("package has its tx"));
                continue;
            }
            // Ancestors first: fewer in-pool ancestors means earlier in a valid order.
            pkg.sort_by_key(|t| self.ancestors(t).len());
            for t in pkg {
                included.insert(t);
                order.push(t);
            }
            weight += pw;
            sigops += ps;
            fees += pf;
        }
        (
            order.iter().map(|t| self.entries[t].tx.clone()).collect(),
            fees,
        )
    }
}

fn strip(tx: &Transaction) -> Transaction {
    let mut t = tx.clone();
    t.input.iter_mut().for_each(|i| i.witness.clear());
    t
}

fn storage_reject(e: ChainError) -> Reject {
    Reject::new("storage-error", e.to_string())
}

fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

/// A fee rate as Core prints `CFeeRate::ToString()`: `0.00001000 BTC/kvB`.
fn rate_str(fee: u64, vsize: u64) -> String {
    let per_kvb = (fee * 1000).checked_div(vsize).unwrap_or(0);
    format!("{} BTC/kvB", btc(per_kvb))
}

//! The wallet itself: its descriptors, transactions, address book and locked coins, kept
//! in memory and written through to the database; transaction tracking from the node's
//! notifications; balances, depths and coin availability as Core computes them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use parking_lot::{Mutex, MutexGuard};
use serde_json::{json, Value};

use super::db::{WalletDb, Write};
use super::encryption::{self, MasterKey};
use super::keys::{OutputType, WalletDescriptor};
use crate::interfaces::{
    BlockBytes, BlockRef, Chain, FeeEstimate, FoundBlock, Handler, Notifications, RemovalReason,
};

/// How often a rescan asks the node whether it is shutting down: often enough for a
/// prompt shutdown, rarely enough that a short rescan never asks (in `hashvive-wallet`
/// each question is a round trip to the node).
const SHUTDOWN_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// What a rescan's fetching thread hands the scanning one.
enum Fetched {
    /// The next stretch of blocks, in chain order.
    Blocks(Vec<FoundBlock>),
    /// The node is shutting down: the scan stops where it is.
    ShutdownRequested,
}

/// Blocks in a rescan's first stretch (one `find_blocks` call, one database write).
/// Stretches double from there up to `SCAN_BATCH_MAX`: the first ones are small so
/// that processing starts at once, and the later ones large so that a long rescan
/// crosses to the node rarely when the wallet runs in its own process.
const SCAN_BATCH_FIRST: u32 = 16;
/// Most blocks in a rescan's stretch (their bytes are bounded by `find_blocks` too).
const SCAN_BATCH_MAX: u32 = 512;

/// Blocks before a coinbase output can be spent (Core's `COINBASE_MATURITY`).
pub const COINBASE_MATURITY: u32 = 100;

/// Where a wallet transaction stands (Core's `TxState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxState {
    /// In a block of the active chain.
    Confirmed {
        /// Block hash.
        block: BlockHash,
        /// Block height.
        height: u32,
        /// Position in the block.
        index: usize,
        /// Block time.
        time: i64,
    },
    /// In the node's mempool.
    InMempool,
    /// Neither (evicted, reorged out, or never accepted); `abandoned` if the user gave up.
    Inactive {
        /// Set by `abandontransaction`.
        abandoned: bool,
    },
    /// An input is spent by a transaction in block `block` of the active chain.
    Conflicted {
        /// The conflicting block.
        block: BlockHash,
        /// Its height.
        height: u32,
    },
}

/// A transaction the wallet tracks (Core's `CWalletTx`).
#[derive(Debug, Clone)]
pub struct WalletTx {
    /// The transaction.
    pub tx: Transaction,
    /// Its state.
    pub state: TxState,
    /// When the wallet first saw it.
    pub time_received: i64,
    /// Insertion order, for `listtransactions`.
    pub order: u64,
    /// `comment` given to `sendtoaddress`.
    pub comment: Option<String>,
    /// `comment_to` given to `sendtoaddress`.
    pub comment_to: Option<String>,
    /// The transaction this one replaced (bumpfee).
    pub replaces: Option<Txid>,
    /// The transaction that replaced this one (bumpfee).
    pub replaced_by: Option<Txid>,
}

impl WalletTx {
    fn to_json(&self) -> Value {
        let state = match &self.state {
            TxState::Confirmed {
                block,
                height,
                index,
                time,
            } => json!({"confirmed": [block.to_string(), height, index, time]}),
            TxState::InMempool => json!("mempool"),
            TxState::Inactive { abandoned } => json!({"inactive": abandoned}),
            TxState::Conflicted { block, height } => {
                json!({"conflicted": [block.to_string(), height]})
            }
        };
        json!({
            "hex": serialize_hex(&self.tx),
            "state": state,
            "time_received": self.time_received,
            "order": self.order,
            "comment": self.comment,
            "comment_to": self.comment_to,
            "replaces": self.replaces.map(|t| t.to_string()),
            "replaced_by": self.replaced_by.map(|t| t.to_string()),
        })
    }

    fn from_json(v: &Value) -> Option<Self> {
        let tx: Transaction = deserialize_hex(v["hex"].as_str()?).ok()?;
        let s = &v["state"];
        let state = if let Some(c) = s.get("confirmed").and_then(Value::as_array) {
            TxState::Confirmed {
                block: c.first()?.as_str()?.parse().ok()?,
                height: u32::try_from(c.get(1)?.as_u64()?).ok()?,
                index: usize::try_from(c.get(2)?.as_u64()?).ok()?,
                time: c.get(3)?.as_i64()?,
            }
        } else if let Some(c) = s.get("conflicted").and_then(Value::as_array) {
            TxState::Conflicted {
                block: c.first()?.as_str()?.parse().ok()?,
                height: u32::try_from(c.get(1)?.as_u64()?).ok()?,
            }
        } else if let Some(a) = s.get("inactive") {
            TxState::Inactive {
                abandoned: a.as_bool().unwrap_or(false),
            }
        } else {
            // A mempool state is stale after a restart; the node re-announces its mempool.
            TxState::Inactive { abandoned: false }
        };
        let txid = |k: &str| v[k].as_str().and_then(|s| s.parse().ok());
        Some(WalletTx {
            tx,
            state,
            time_received: v["time_received"].as_i64().unwrap_or(0),
            order: v["order"].as_u64().unwrap_or(0),
            comment: v["comment"].as_str().map(str::to_string),
            comment_to: v["comment_to"].as_str().map(str::to_string),
            replaces: txid("replaces"),
            replaced_by: txid("replaced_by"),
        })
    }

    /// Whether `abandontransaction` was used on it.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.state, TxState::Inactive { abandoned: true })
    }

    /// The txid.
    pub fn txid(&self) -> Txid {
        self.tx.compute_txid()
    }
}

/// An address book entry (Core's `CAddressBookData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBookEntry {
    /// The label (may be empty).
    pub label: String,
    /// `receive` or `send`.
    pub purpose: String,
}

/// A spendable output the wallet owns.
#[derive(Debug, Clone)]
pub struct Coin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// The output.
    pub txout: TxOut,
    /// Confirmations (0 in the mempool).
    pub depth: i64,
    /// Whether it is safe to spend (confirmed, or our own unconfirmed change).
    pub safe: bool,
    /// Whether it is from a coinbase.
    pub coinbase: bool,
}

/// The balances of `getbalances` (Core's `Balance`), in satoshis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Trusted and spendable.
    pub trusted: u64,
    /// Unconfirmed from others (or untrusted change).
    pub untrusted_pending: u64,
    /// Immature coinbase.
    pub immature: u64,
}

/// Wallet flags chosen at creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalletFlags {
    /// Created without descriptors.
    pub blank: bool,
    /// Can hold no private keys.
    pub disable_private_keys: bool,
    /// Avoid reusing addresses (accepted and reported only).
    pub avoid_reuse: bool,
}

/// Everything behind the wallet lock.
pub struct State {
    /// All descriptors.
    pub descs: Vec<WalletDescriptor>,
    /// Every derived script: descriptor position and derivation index.
    pub spks: HashMap<ScriptBuf, (usize, u32)>,
    /// The transactions.
    pub txs: HashMap<Txid, WalletTx>,
    /// Which wallet transactions spend each outpoint.
    pub spends: HashMap<OutPoint, BTreeSet<Txid>>,
    /// Address book, by address string.
    pub book: BTreeMap<String, AddressBookEntry>,
    /// Coins locked by `lockunspent`, and whether the lock is persistent.
    pub locked: HashMap<OutPoint, bool>,
    /// Last block processed and its height.
    pub last_block: Option<(BlockHash, u32)>,
    /// Flags.
    pub flags: WalletFlags,
    /// The encrypted master key, for encrypted wallets.
    pub master_key: Option<MasterKey>,
    /// The unlocked master key and when it locks again.
    pub unlocked: Option<([u8; 32], Option<Instant>, i64)>,
    /// Next insertion order.
    pub next_order: u64,
    /// Birth time (earliest key time).
    pub birth_time: i64,
    /// Lookahead window (`-keypool`).
    pub keypool: u32,
    /// Descriptors whose next index moved for change only; written with the next write
    /// (losing such a move in a crash merely reuses an index no transaction used).
    pub pending_descs: BTreeSet<usize>,
}

/// `walletpassphrase` was given the wrong passphrase (or the wallet is not encrypted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongPassphrase;

/// Progress of a running rescan, for `getwalletinfo.scanning`.
#[derive(Debug, Clone, Copy)]
pub struct ScanProgress {
    /// When it started.
    pub started: Instant,
    /// Fraction done, 0 to 1.
    pub progress: f64,
}

/// A loaded wallet.
pub struct Wallet {
    /// Its name (the directory name under the wallets directory, "" for the default).
    pub name: String,
    /// Node services.
    pub chain: Arc<dyn Chain>,
    /// The database.
    pub db: WalletDb,
    state: Mutex<State>,
    /// Set while a rescan runs.
    pub scanning: Mutex<Option<ScanProgress>>,
    /// Serialises rescans (Core's `WalletRescanReserver`).
    pub rescan_lock: Mutex<()>,
    /// Asks a running rescan to stop.
    pub abort_rescan: AtomicBool,
    /// Serialises sends so coin selection never picks the same coin twice.
    pub send_lock: Mutex<()>,
    /// `settxfee` for this wallet, sat/kvB (overrides `-paytxfee`; 0 unsets it).
    pub pay_tx_fee: Mutex<Option<u64>>,
    /// Smart fee estimates asked at the tip the wallet last processed, by target and
    /// mode. The node's estimator changes only when it processes a block, so they hold
    /// until the next one; a send then needs no round trip for its fee.
    fee_estimates: Mutex<FeeEstimates>,
    handler: Mutex<Option<Handler>>,
}

/// Estimates by target and mode, and the tip they were asked at.
type FeeEstimates = (Option<BlockHash>, HashMap<(u32, bool), FeeEstimate>);

fn now() -> i64 {
    crate::time::now()
}

impl State {
    /// Registers the scripts of descriptor `pos` over `[from, to]`.
    fn cache_range(&mut self, pos: usize, from: u32, to: u32) -> Result<(), String> {
        let d = &self.descs[pos];
        if !d.is_range() {
            for s in d.scripts_at(0)? {
                self.spks.insert(s, (pos, 0));
            }
            return Ok(());
        }
        let mut new = Vec::new();
        for i in from..=to {
            for s in d.scripts_at(i)? {
                new.push((s, i));
            }
        }
        for (s, i) in new {
            self.spks.insert(s, (pos, i));
        }
        Ok(())
    }

    /// Extends descriptor `pos` so `keypool` unused indexes follow `next_index`
    /// (Core's `TopUp`); returns whether the range changed.
    pub fn top_up(&mut self, pos: usize) -> Result<bool, String> {
        let keypool = self.keypool.max(1);
        let d = &self.descs[pos];
        let Some((start, end)) = d.range else {
            return Ok(false);
        };
        let want = d.next_index.saturating_add(keypool - 1).max(end);
        if want == end && !self.spks.is_empty() {
            return Ok(false);
        }
        self.cache_range(pos, end.saturating_add(1).min(want), want)?;
        self.descs[pos].range = Some((start, want));
        Ok(want != end)
    }

    /// Whether `script` belongs to the wallet.
    pub fn is_mine(&self, script: &bitcoin::Script) -> bool {
        self.spks.contains_key(script)
    }

    /// The wallet's output of `outpoint`, if it has it and it is ours.
    pub fn my_prevout(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        let out = self
            .txs
            .get(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)?;
        self.is_mine(&out.script_pubkey).then_some(out)
    }

    /// Sum of our inputs (Core's `GetDebit`).
    pub fn debit(&self, tx: &Transaction) -> u64 {
        tx.input
            .iter()
            .filter_map(|i| self.my_prevout(&i.previous_output))
            .map(|o| o.value.to_sat())
            .sum()
    }

    /// Sum of outputs to us (Core's `GetCredit`).
    pub fn credit(&self, tx: &Transaction) -> u64 {
        tx.output
            .iter()
            .filter(|o| self.is_mine(&o.script_pubkey))
            .map(|o| o.value.to_sat())
            .sum()
    }

    /// Whether every input is ours (the fee is then known).
    pub fn all_inputs_mine(&self, tx: &Transaction) -> bool {
        !tx.is_coinbase()
            && tx
                .input
                .iter()
                .all(|i| self.my_prevout(&i.previous_output).is_some())
    }

    /// Whether an output is change: ours and not in the address book (Core's `OutputIsChange`).
    pub fn is_change(&self, out: &TxOut) -> bool {
        self.is_mine(&out.script_pubkey)
            && match bitcoin::Address::from_script(&out.script_pubkey, bitcoin::Network::Regtest) {
                Ok(a) => !self.book.contains_key(&a.to_string()),
                Err(_) => true,
            }
    }

    /// Height of the last processed block (-1 before any).
    pub fn tip_height(&self) -> i64 {
        self.last_block.map_or(-1, |(_, h)| i64::from(h))
    }

    /// Confirmations: positive in a block, 0 unconfirmed, negative when conflicted.
    pub fn depth(&self, wtx: &WalletTx) -> i64 {
        match &wtx.state {
            TxState::Confirmed { height, .. } => self.tip_height() - i64::from(*height) + 1,
            TxState::Conflicted { height, .. } => -(self.tip_height() - i64::from(*height) + 1),
            _ => 0,
        }
    }

    /// Blocks until a coinbase matures (0 for other transactions).
    pub fn blocks_to_maturity(&self, wtx: &WalletTx) -> i64 {
        if !wtx.tx.is_coinbase() {
            return 0;
        }
        (i64::from(COINBASE_MATURITY) + 1 - self.depth(wtx)).max(0)
    }

    /// Whether a coinbase is still immature and on the active chain.
    pub fn is_immature(&self, wtx: &WalletTx) -> bool {
        wtx.tx.is_coinbase() && self.depth(wtx) > 0 && self.blocks_to_maturity(wtx) > 0
    }

    /// Core's `CachedTxIsTrusted`.
    pub fn is_trusted(&self, wtx: &WalletTx, spend_zero_conf_change: bool) -> bool {
        self.is_trusted_inner(wtx, spend_zero_conf_change, &mut HashSet::new())
    }

    fn is_trusted_inner(&self, wtx: &WalletTx, zero_conf: bool, seen: &mut HashSet<Txid>) -> bool {
        let depth = self.depth(wtx);
        if depth >= 1 {
            return true;
        }
        if depth < 0 || !zero_conf || wtx.state != TxState::InMempool {
            return false;
        }
        if self.debit(&wtx.tx) == 0 {
            return false;
        }
        for input in &wtx.tx.input {
            let Some(parent) = self.txs.get(&input.previous_output.txid) else {
                return false;
            };
            if self.my_prevout(&input.previous_output).is_none() {
                return false;
            }
            if !seen.insert(input.previous_output.txid) {
                continue;
            }
            if !self.is_trusted_inner(parent, zero_conf, seen) {
                return false;
            }
        }
        true
    }

    /// Whether a wallet transaction that is not abandoned and not conflicted spends it.
    pub fn is_spent(&self, outpoint: &OutPoint) -> bool {
        self.spends.get(outpoint).is_some_and(|set| {
            set.iter().any(|t| {
                self.txs
                    .get(t)
                    .is_some_and(|w| self.depth(w) >= 0 && !w.is_abandoned())
            })
        })
    }

    /// Core's `GetBalance`.
    pub fn balance(&self, min_depth: i64, zero_conf: bool) -> Balance {
        let mut b = Balance::default();
        for (txid, wtx) in &self.txs {
            let depth = self.depth(wtx);
            let trusted = self.is_trusted(wtx, zero_conf);
            let immature = self.is_immature(wtx);
            for (vout, out) in wtx.tx.output.iter().enumerate() {
                if !self.is_mine(&out.script_pubkey) {
                    continue;
                }
                let op = OutPoint::new(*txid, vout as u32);
                if self.is_spent(&op) {
                    continue;
                }
                let v = out.value.to_sat();
                if immature {
                    b.immature += v;
                } else if wtx.tx.is_coinbase() && depth < 1 {
                    continue;
                } else if trusted && depth >= min_depth {
                    b.trusted += v;
                } else if !trusted && depth == 0 && wtx.state == TxState::InMempool {
                    b.untrusted_pending += v;
                }
            }
        }
        b
    }

    /// Core's `AvailableCoins`: unspent, mature outputs within the depth bounds; locked
    /// coins only with `include_locked`, unsafe ones only with `include_unsafe`.
    pub fn available_coins(
        &self,
        min_depth: i64,
        max_depth: i64,
        include_unsafe: bool,
        include_locked: bool,
        zero_conf: bool,
    ) -> Vec<Coin> {
        let mut out = Vec::new();
        for (txid, wtx) in &self.txs {
            if self.is_immature(wtx) {
                continue;
            }
            let depth = self.depth(wtx);
            if depth < 0 || (wtx.tx.is_coinbase() && depth < 1) {
                continue;
            }
            if depth == 0 && wtx.state != TxState::InMempool {
                continue;
            }
            let safe = self.is_trusted(wtx, zero_conf);
            if !safe && !include_unsafe {
                continue;
            }
            if depth < min_depth || depth > max_depth {
                continue;
            }
            for (vout, o) in wtx.tx.output.iter().enumerate() {
                let op = OutPoint::new(*txid, vout as u32);
                if !self.is_mine(&o.script_pubkey) || self.is_spent(&op) {
                    continue;
                }
                if !include_locked && self.locked.contains_key(&op) {
                    continue;
                }
                out.push(Coin {
                    outpoint: op,
                    txout: o.clone(),
                    depth,
                    safe,
                    coinbase: wtx.tx.is_coinbase(),
                });
            }
        }
        out.sort_by_key(|c| (c.outpoint.txid, c.outpoint.vout));
        out
    }

    /// The descriptor and index a script comes from.
    pub fn script_origin(&self, script: &bitcoin::Script) -> Option<(&WalletDescriptor, u32)> {
        let (pos, idx) = self.spks.get(script)?;
        Some((&self.descs[*pos], *idx))
    }

    /// The active descriptor for an output type.
    pub fn active_pos(&self, t: OutputType, internal: bool) -> Option<usize> {
        self.descs
            .iter()
            .position(|d| d.active == Some((t, internal)))
    }

    /// Whether the wallet is encrypted.
    pub fn is_crypted(&self) -> bool {
        self.master_key.is_some()
    }

    /// Whether the wallet is encrypted and locked.
    pub fn is_locked(&self) -> bool {
        self.is_crypted() && self.unlocked.is_none()
    }

    /// The txids conflicting with `txid` (other wallet transactions spending one of its inputs).
    pub fn conflicts(&self, txid: &Txid) -> Vec<Txid> {
        let Some(wtx) = self.txs.get(txid) else {
            return Vec::new();
        };
        let mut out = BTreeSet::new();
        for i in &wtx.tx.input {
            if let Some(set) = self.spends.get(&i.previous_output) {
                out.extend(set.iter().filter(|t| *t != txid));
            }
        }
        out.into_iter().collect()
    }
}

/// Marks that must be written after a state change.
#[derive(Default)]
struct Dirty {
    txs: BTreeSet<Txid>,
    descs: BTreeSet<usize>,
    best_block: bool,
    extra: Vec<Write>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        self.txs.is_empty() && self.descs.is_empty() && !self.best_block && self.extra.is_empty()
    }
}

/// The state as stored: "in the mempool" is not kept (the node re-announces its mempool
/// after a restart), so flipping between it and inactive needs no write.
fn stored_state(state: &TxState) -> TxState {
    match state {
        TxState::InMempool => TxState::Inactive { abandoned: false },
        other => other.clone(),
    }
}

impl Wallet {
    /// Wraps an opened database and its loaded state.
    pub fn new(name: &str, chain: Arc<dyn Chain>, db: WalletDb, state: State) -> Arc<Self> {
        Arc::new(Wallet {
            name: name.to_string(),
            chain,
            db,
            state: Mutex::new(state),
            scanning: Mutex::new(None),
            rescan_lock: Mutex::new(()),
            abort_rescan: AtomicBool::new(false),
            send_lock: Mutex::new(()),
            pay_tx_fee: Mutex::new(None),
            fee_estimates: Mutex::new((None, HashMap::new())),
            handler: Mutex::new(None),
        })
    }

    /// Locks and returns the state, relocking an unlocked wallet whose timeout passed.
    pub fn state(&self) -> MutexGuard<'_, State> {
        let mut s = self.state.lock();
        if let Some((_, Some(until), _)) = s.unlocked {
            if Instant::now() >= until {
                lock_keys(&mut s);
            }
        }
        s
    }

    /// Starts receiving notifications.
    pub fn connect(self: &Arc<Self>) {
        let handler = self.chain.handle_notifications(self.clone());
        *self.handler.lock() = Some(handler);
    }

    /// Stops receiving notifications (before unloading).
    pub fn disconnect(&self) {
        if let Some(mut h) = self.handler.lock().take() {
            h.disconnect();
        }
    }

    /// Asks a running rescan to stop at its next block (Core's `AbortRescan`); false when
    /// none is running.
    pub fn request_rescan_abort(&self) -> bool {
        let scanning = self.scanning.lock();
        if scanning.is_some() {
            self.abort_rescan.store(true, Ordering::SeqCst);
        }
        scanning.is_some()
    }

    /// `Chain::estimate_fee`, answered from the cache while the wallet's tip stays the
    /// same (see `fee_estimates`).
    pub fn estimate_fee(&self, target: u32, conservative: bool) -> FeeEstimate {
        let Some((tip, _)) = self.state().last_block else {
            return self.chain.estimate_fee(target, conservative);
        };
        {
            let mut cache = self.fee_estimates.lock();
            if cache.0 != Some(tip) {
                *cache = (Some(tip), HashMap::new());
            }
            if let Some(hit) = cache.1.get(&(target, conservative)) {
                return *hit;
            }
        }
        let answer = self.chain.estimate_fee(target, conservative);
        let mut cache = self.fee_estimates.lock();
        if cache.0 == Some(tip) {
            cache.1.insert((target, conservative), answer);
        }
        answer
    }

    /// The script of output `op`, when the wallet has its transaction.
    pub fn output_script(&self, op: &OutPoint) -> Option<ScriptBuf> {
        let s = self.state();
        let tx = &s.txs.get(&op.txid)?.tx;
        Some(tx.output.get(op.vout as usize)?.script_pubkey.clone())
    }

    /// Core's `BlockUntilSyncedToCurrentChain`. `known_tip` is the node's tip as a
    /// forwarded RPC carries it: when the wallet has processed that block already, the
    /// answer is known without asking the node.
    pub fn sync_with_chain(&self, known_tip: Option<BlockHash>) {
        // With no block processed yet, the zero hash never equals the tip, so this waits.
        let last = self
            .state()
            .last_block
            .map_or_else(BlockHash::from_byte_array_zero, |(h, _)| h);
        if known_tip == Some(last) {
            return;
        }
        self.chain.wait_for_notifications_if_tip_changed(&last);
    }

    /// Runs `f` on the state and writes what it changed in one transaction.
    fn update<R>(&self, f: impl FnOnce(&mut State, &mut Dirty) -> R) -> R {
        let mut s = self.state();
        let mut dirty = Dirty::default();
        let r = f(&mut s, &mut dirty);
        if dirty.is_empty() {
            return r;
        }
        dirty.descs.extend(std::mem::take(&mut s.pending_descs));
        if let Err(e) = self.persist(&s, &dirty) {
            crate::log_info!(
                "[{}] Error writing wallet database: {e}",
                self.display_name()
            );
        }
        r
    }

    fn persist(&self, s: &State, dirty: &Dirty) -> Result<(), String> {
        let mut w = Vec::new();
        for t in &dirty.txs {
            match s.txs.get(t) {
                Some(wtx) => w.push(Write::Put(format!("tx/{t}"), wtx.to_json())),
                None => w.push(Write::Erase(format!("tx/{t}"))),
            }
        }
        for &p in &dirty.descs {
            let d = &s.descs[p];
            w.push(Write::Put(format!("desc/{}", d.id), d.to_json()));
        }
        w.extend(dirty.extra.iter().cloned());
        if dirty.best_block {
            if let Some((h, height)) = s.last_block {
                w.push(Write::Put(
                    "bestblock".into(),
                    json!({"hash": h.to_string(), "height": height}),
                ));
            }
        }
        self.db.write_batch(&w)
    }

    /// Writes deferred descriptor indexes (at flush and unload).
    pub fn flush_pending(&self) {
        self.update(|s, d| {
            d.descs.extend(std::mem::take(&mut s.pending_descs));
        });
        self.db.checkpoint();
    }

    /// Writes arbitrary records atomically (address book, flags, keys).
    pub fn write(&self, writes: &[Write]) -> Result<(), String> {
        self.db.write_batch(writes)
    }

    /// The name as Core logs it.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            "default wallet".into()
        } else {
            self.name.clone()
        }
    }

    /// Adds or updates a transaction if it involves the wallet (Core's
    /// `AddToWalletIfInvolvingMe`); returns whether it did.
    pub fn add_if_involving_me(&self, tx: &Transaction, state: TxState, update_only: bool) -> bool {
        self.update(|s, d| add_tx(s, d, tx, state, update_only, None))
    }

    /// Adds a transaction the wallet created, before it is broadcast (Core's `CommitTransaction`).
    pub fn add_own(
        &self,
        tx: &Transaction,
        comment: Option<String>,
        comment_to: Option<String>,
        replaces: Option<Txid>,
    ) -> Result<(), String> {
        let mut s = self.state();
        let mut d = Dirty::default();
        add_tx(
            &mut s,
            &mut d,
            tx,
            TxState::Inactive { abandoned: false },
            false,
            Some((comment, comment_to, replaces)),
        );
        if let Some(old) = replaces {
            if let Some(o) = s.txs.get_mut(&old) {
                o.replaced_by = Some(tx.compute_txid());
                d.txs.insert(old);
            }
        }
        d.descs.extend(std::mem::take(&mut s.pending_descs));
        self.persist(&s, &d)
    }

    /// Sets a transaction's state when its current one passes `cond` (e.g. in the mempool
    /// after a successful broadcast, unless a block already confirmed it).
    pub fn update_state_if(&self, txid: &Txid, cond: impl Fn(&TxState) -> bool, state: TxState) {
        self.update(|s, d| {
            if let Some(w) = s.txs.get_mut(txid) {
                if cond(&w.state) {
                    if stored_state(&w.state) != stored_state(&state) {
                        d.txs.insert(*txid);
                    }
                    w.state = state;
                }
            }
        });
    }

    /// Core's `AbandonTransaction`: marks it and its wallet descendants abandoned.
    pub fn abandon(&self, txid: &Txid) -> Result<(), crate::rpc::error::RpcError> {
        use crate::rpc::error::RpcError;
        let in_mempool = self.chain.is_in_mempool(txid);
        self.update(|s, d| {
            let Some(w) = s.txs.get(txid) else {
                return Err(RpcError::new(-5, "Invalid or non-wallet transaction id"));
            };
            // The node's mempool is authoritative: our InMempool state may trail a
            // replacement whose removal notification is still queued.
            if s.depth(w) != 0 || in_mempool {
                return Err(RpcError::new(
                    -5,
                    "Transaction not eligible for abandonment",
                ));
            }
            let mut todo = vec![*txid];
            while let Some(t) = todo.pop() {
                let Some(w) = s.txs.get_mut(&t) else { continue };
                if s_depth_zero(&w.state) {
                    w.state = TxState::Inactive { abandoned: true };
                    d.txs.insert(t);
                }
                let n = s.txs[&t].tx.output.len();
                for v in 0..n {
                    if let Some(set) = s.spends.get(&OutPoint::new(t, v as u32)) {
                        todo.extend(set.iter().copied());
                    }
                }
            }
            Ok(())
        })
    }

    /// Sets the lookahead to at least `size` and derives up to it (`keypoolrefill`).
    pub fn refill(&self, size: u32) -> Result<(), String> {
        self.update(|s, d| {
            s.keypool = s.keypool.max(size);
            for pos in 0..s.descs.len() {
                if s.descs[pos].active.is_some() && s.top_up(pos)? {
                    d.descs.insert(pos);
                }
            }
            Ok(())
        })
    }

    /// Derives the next unused script of the active descriptor; `Err` has Core's message.
    pub fn new_script(&self, t: OutputType, internal: bool) -> Result<ScriptBuf, String> {
        self.derive_next(t, internal, None, false)
    }

    /// A receive address with its address-book entry, written in one transaction.
    pub fn new_receive_script(&self, t: OutputType, label: &str) -> Result<ScriptBuf, String> {
        self.derive_next(t, false, Some(label), false)
    }

    /// A change script for a transaction being built; the index is written with the
    /// transaction (or the next write), saving a disk sync per send.
    pub fn new_change_script(&self, t: OutputType) -> Result<ScriptBuf, String> {
        self.derive_next(t, true, None, true)
    }

    fn derive_next(
        &self,
        t: OutputType,
        internal: bool,
        label: Option<&str>,
        defer: bool,
    ) -> Result<ScriptBuf, String> {
        self.update(|s, d| {
            let pos = s
                .active_pos(t, internal)
                .ok_or_else(|| format!("Error: No {} addresses available.", t.as_str()))?;
            let idx = s.descs[pos].next_index;
            let script = s.descs[pos]
                .scripts_at(idx)?
                .into_iter()
                .next()
                .ok_or("no script")?;
            s.descs[pos].next_index = idx + 1;
            s.top_up(pos)?;
            s.spks.insert(script.clone(), (pos, idx));
            if defer {
                s.pending_descs.insert(pos);
            } else {
                d.descs.insert(pos);
            }
            if let Some(label) = label {
                let addr = bitcoin::Address::from_script(&script, bitcoin::Network::Regtest)
                    .map_err(|e| e.to_string())?
                    .to_string();
                d.extra.push(Write::Put(
                    format!("name/{addr}"),
                    json!({"label": label, "purpose": "receive"}),
                ));
                s.book.insert(
                    addr,
                    AddressBookEntry {
                        label: label.to_string(),
                        purpose: "receive".into(),
                    },
                );
            }
            Ok(script)
        })
    }

    /// Processes one block's transactions (used by notifications and rescans).
    fn process_block(
        &self,
        hash: BlockHash,
        height: u32,
        block: &bitcoin::Block,
        update_tip: bool,
    ) {
        self.update(|s, d| {
            apply_block(s, d, hash, height, block);
            if update_tip {
                s.last_block = Some((hash, height));
                d.best_block = true;
            }
        });
    }

    /// Processes several rescanned blocks in one write: a rescan that dies midway is
    /// simply redone, so it needs no sync per block.
    fn process_blocks(&self, blocks: &[(BlockHash, u32, bitcoin::Block)]) {
        self.update(|s, d| {
            for (hash, height, block) in blocks {
                apply_block(s, d, *hash, *height, block);
            }
        });
    }

    /// Sends the active chain's blocks from `start` (whose hash is `start_hash`) to `end`
    /// (heights) to `out`, a stretch per `find_blocks` call, until done, the receiver
    /// hangs up, the node is shutting down, or the chain changes under the walk (a
    /// stretch that does not start where the last one ended). The shutdown check is made
    /// between stretches, every `SHUTDOWN_CHECK_INTERVAL` from `started` (when the scan
    /// began), here where its round trip to the node never holds up the scanning thread.
    fn fetch_stretches(
        &self,
        start: u32,
        start_hash: Option<BlockHash>,
        end: u32,
        started: Instant,
        out: std::sync::mpsc::SyncSender<Fetched>,
    ) {
        let mut h = start;
        let mut next = start_hash;
        let mut batch = SCAN_BATCH_FIRST;
        let mut last_shutdown_check = started;
        while let Some(hash) = next.filter(|_| h <= end) {
            if last_shutdown_check.elapsed() >= SHUTDOWN_CHECK_INTERVAL {
                last_shutdown_check = Instant::now();
                if self.chain.shutdown_requested() {
                    let _ = out.send(Fetched::ShutdownRequested);
                    return;
                }
            }
            let stretch = self.chain.find_blocks(&hash, batch.min(end - h + 1), true);
            batch = (batch * 2).min(SCAN_BATCH_MAX);
            if stretch.first().is_none_or(|f| f.hash != hash) {
                return;
            }
            h += stretch.len() as u32;
            next = match stretch.last().and_then(|f| f.next_block) {
                Some(next) => Some(next),
                // Not on the active chain any more (a reorganisation under way): ask.
                None if h <= end => self.chain.get_block_hash(h),
                None => None,
            };
            if out.send(Fetched::Blocks(stretch)).is_err() {
                return;
            }
        }
    }

    /// Applies the stretches from `received`, the first of them starting at `start_height`,
    /// until they end, the node shuts down or the rescan is aborted; returns the last
    /// block scanned, or `Err` with the height reached when stopped early. Dropping
    /// `received` on return ends the fetching side.
    fn scan_stretches(
        &self,
        received: std::sync::mpsc::Receiver<Fetched>,
        start_height: u32,
        end: u32,
    ) -> Result<Option<(BlockHash, u32)>, u32> {
        // Each stretch comes with a wake-up from the fetching thread, which then asks the
        // node for the next at once unless this thread preempts it.
        crate::sched::run_behind_wakers();
        let mut last = None;
        let mut last_log = Instant::now();
        let mut h = start_height;
        let log_aborted = |h: u32| {
            crate::log_info!(
                "[{}] Rescan aborted at block {h}. Progress={:.6}",
                self.display_name(),
                f64::from(h - start_height) / f64::from(end - start_height + 1)
            )
        };
        for fetched in received {
            let stretch = match fetched {
                Fetched::Blocks(stretch) => stretch,
                Fetched::ShutdownRequested => {
                    log_aborted(h);
                    return Err(h);
                }
            };
            let mut batch = Vec::with_capacity(stretch.len());
            for found in stretch {
                if self.abort_rescan.load(Ordering::SeqCst) {
                    log_aborted(h);
                    self.process_blocks(&batch);
                    return Err(h);
                }
                match found.data.as_ref().map(BlockBytes::decode) {
                    Some(Ok(block)) => batch.push((found.hash, h, block)),
                    Some(Err(e)) => crate::log_info!(
                        "[{}] Rescan skipped block {}: it does not decode ({e})",
                        self.display_name(),
                        found.hash
                    ),
                    None => {}
                }
                last = Some((found.hash, h));
                h += 1;
            }
            self.process_blocks(&batch);
            let progress = f64::from(h - start_height) / f64::from(end - start_height + 1);
            if let Some(p) = self.scanning.lock().as_mut() {
                p.progress = progress;
            }
            if last_log.elapsed().as_secs() >= 60 {
                crate::log_info!(
                    "[{}] Still rescanning. At block {h}. Progress={progress:.6}",
                    self.display_name()
                );
                last_log = Instant::now();
            }
        }
        Ok(last)
    }

    /// Scans active-chain blocks from `start` up to the tip (or `stop_height`), as Core's
    /// `ScanForWalletTransactions`; returns the last block scanned, or `Err` with the height
    /// reached when aborted.
    pub fn scan(
        &self,
        start_height: u32,
        stop_height: Option<u32>,
    ) -> Result<Option<(BlockHash, u32)>, u32> {
        let _guard = self.rescan_lock.lock();
        self.abort_rescan.store(false, Ordering::SeqCst);
        let started = Instant::now();
        *self.scanning.lock() = Some(ScanProgress {
            started,
            progress: 0.0,
        });
        let tip = self.chain.get_height().unwrap_or(0);
        let end = stop_height.unwrap_or(tip).min(tip);
        let start_hash = self.chain.get_block_hash(start_height);
        crate::log_info!(
            "[{}] Rescan started from block {} (height {start_height})",
            self.display_name(),
            start_hash.map(|h| h.to_string()).unwrap_or_default()
        );
        self.chain
            .show_progress(&format!("[{}] Rescanning…", self.display_name()), 0, false);
        // Blocks come in stretches (`find_blocks`), one call to the node each: a round
        // trip per stretch when the wallet runs in its own process. This thread fetches
        // them and a second one applies them, so that the round trips (and the node's
        // disk reads) overlap the wallet's own work. It is this thread that fetches
        // because in a wallet process its calls go to the node thread that waits for this
        // RPC's result, which is awake; another thread's calls would go to a node server
        // thread, woken for each, and on two CPUs the four threads then starved each
        // other (a 1000-block rescan took 1.27 ms this way, 1.50 ms the other).
        let (stretches, received) = std::sync::mpsc::sync_channel(1);
        let result = std::thread::scope(|scope| {
            let scanner = scope.spawn(|| self.scan_stretches(received, start_height, end));
            self.fetch_stretches(start_height, start_hash, end, started, stretches);
            scanner
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        self.chain.show_progress(
            &format!("[{}] Rescanning…", self.display_name()),
            100,
            false,
        );
        *self.scanning.lock() = None;
        crate::log_info!(
            "[{}] Rescan completed in {:>15}ms",
            self.display_name(),
            started.elapsed().as_millis()
        );
        result
    }

    /// Brings the wallet to the node's tip after loading: forgets blocks that left the
    /// active chain and scans those it missed (Core's `AttachChain`).
    pub fn attach_chain(&self, rescan_from: Option<u32>) {
        let last = self.state().last_block;
        let tip = self.chain.get_height();
        // Confirmations in blocks no longer on the active chain are void.
        let stale: Vec<(Txid, BlockHash)> = self
            .state()
            .txs
            .iter()
            .filter_map(|(t, w)| match &w.state {
                TxState::Confirmed { block, .. } | TxState::Conflicted { block, .. } => {
                    Some((*t, *block))
                }
                _ => None,
            })
            .collect();
        let mut void = Vec::new();
        for (t, b) in stale {
            if !self
                .chain
                .find_block(&b, false)
                .is_some_and(|f| f.in_active_chain)
            {
                void.push(t);
            }
        }
        if !void.is_empty() {
            self.update(|s, d| {
                for t in void {
                    if let Some(w) = s.txs.get_mut(&t) {
                        w.state = TxState::Inactive { abandoned: false };
                        d.txs.insert(t);
                    }
                }
            });
        }
        let Some(tip) = tip else { return };
        let start = match (rescan_from, last) {
            (Some(h), _) => Some(h),
            (None, Some((hash, height))) => match self.chain.find_block(&hash, false) {
                Some(f) if f.in_active_chain => (height < tip).then_some(height + 1),
                _ => {
                    let tip_hash = self.chain.get_block_hash(tip);
                    tip_hash
                        .and_then(|t| self.chain.find_common_ancestor(&hash, &t))
                        .map(|a| a.height + 1)
                        .or(Some(0))
                }
            },
            (None, None) => None,
        };
        if let Some(start) = start {
            if start <= tip {
                let _ = self.scan(start, None);
            }
        }
        // Record the tip unless notifications already moved the wallet onto it.
        if let Some(tip_hash) = self.chain.get_block_hash(tip) {
            let last = self.state().last_block;
            let stale = last.is_none_or(|(h, height)| {
                height < tip
                    || !self
                        .chain
                        .find_block(&h, false)
                        .is_some_and(|f| f.in_active_chain)
            });
            if stale {
                self.update(|s, d| {
                    s.last_block = Some((tip_hash, tip));
                    d.best_block = true;
                });
            }
        }
    }

    /// Unlocks with `passphrase` for `timeout` seconds.
    pub fn unlock(&self, passphrase: &str, timeout: i64) -> Result<(), WrongPassphrase> {
        let mut s = self.state();
        let mk = s.master_key.clone().ok_or(WrongPassphrase)?;
        let master = mk.unlock(passphrase).ok_or(WrongPassphrase)?;
        let mut privs = Vec::new();
        for d in &s.descs {
            privs.push(match &d.sealed {
                Some(sealed) => Some(encryption::open(&master, sealed).ok_or(WrongPassphrase)?),
                None => d.private.clone(),
            });
        }
        for (d, p) in s.descs.iter_mut().zip(privs) {
            d.private = p;
        }
        // As in Core, a zero timeout relocks at once.
        let until = Instant::now() + std::time::Duration::from_secs(timeout.max(0) as u64);
        s.unlocked = Some((master, Some(until), now() + timeout));
        Ok(())
    }

    /// Forgets the decrypted keys (`walletlock`).
    pub fn lock(&self) {
        lock_keys(&mut self.state.lock());
    }
}

fn lock_keys(s: &mut State) {
    if s.master_key.is_none() {
        return;
    }
    s.unlocked = None;
    for d in &mut s.descs {
        if d.sealed.is_some() {
            d.private = None;
        }
    }
}

fn s_depth_zero(state: &TxState) -> bool {
    matches!(state, TxState::Inactive { .. } | TxState::InMempool)
}

/// Adds a block's relevant transactions as confirmed and marks what they conflict with.
fn apply_block(s: &mut State, d: &mut Dirty, hash: BlockHash, height: u32, block: &bitcoin::Block) {
    for (index, tx) in block.txdata.iter().enumerate() {
        let state = TxState::Confirmed {
            block: hash,
            height,
            index,
            time: i64::from(block.header.time),
        };
        add_tx(s, d, tx, state, false, None);
        mark_conflicts(s, d, tx, hash, height);
    }
}

/// `AddToWalletIfInvolvingMe` on the locked state.
fn add_tx(
    s: &mut State,
    d: &mut Dirty,
    tx: &Transaction,
    state: TxState,
    update_only: bool,
    own: Option<(Option<String>, Option<String>, Option<Txid>)>,
) -> bool {
    let txid = tx.compute_txid();
    if let Some(w) = s.txs.get_mut(&txid) {
        // An abandoned transaction stays abandoned unless it shows up in a block or mempool.
        let changed =
            w.state != state && !(matches!(state, TxState::Inactive { .. }) && w.is_abandoned());
        if changed {
            if stored_state(&w.state) != stored_state(&state) {
                d.txs.insert(txid);
            }
            w.state = state;
        }
        return true;
    }
    if update_only {
        return false;
    }
    let mut used = Vec::new();
    for o in &tx.output {
        if let Some(&(pos, idx)) = s.spks.get(&o.script_pubkey) {
            used.push((pos, idx));
        }
    }
    let from_me = tx
        .input
        .iter()
        .any(|i| s.my_prevout(&i.previous_output).is_some());
    if used.is_empty() && !from_me && own.is_none() {
        return false;
    }
    // A script seen on chain is used: move the keypool past it (Core's `MarkUnusedAddresses`).
    for (pos, idx) in used {
        if s.descs[pos].range.is_some() && idx >= s.descs[pos].next_index {
            s.descs[pos].next_index = idx + 1;
            let _ = s.top_up(pos);
            d.descs.insert(pos);
        }
    }
    let (comment, comment_to, replaces) = own.unwrap_or_default();
    let order = s.next_order;
    s.next_order += 1;
    s.txs.insert(
        txid,
        WalletTx {
            tx: tx.clone(),
            state,
            time_received: now(),
            order,
            comment,
            comment_to,
            replaces,
            replaced_by: None,
        },
    );
    if !tx.is_coinbase() {
        for i in &tx.input {
            s.spends.entry(i.previous_output).or_default().insert(txid);
        }
    }
    d.txs.insert(txid);
    true
}

/// Marks wallet transactions that conflict with block transaction `tx` (and their
/// descendants) as conflicted (Core's `MarkConflicted`).
fn mark_conflicts(s: &mut State, d: &mut Dirty, tx: &Transaction, block: BlockHash, height: u32) {
    if tx.is_coinbase() {
        return;
    }
    let txid = tx.compute_txid();
    let mut todo = Vec::new();
    for i in &tx.input {
        if let Some(set) = s.spends.get(&i.previous_output) {
            todo.extend(set.iter().filter(|t| **t != txid).copied());
        }
    }
    let mut seen = HashSet::new();
    while let Some(t) = todo.pop() {
        if !seen.insert(t) {
            continue;
        }
        let Some(w) = s.txs.get_mut(&t) else { continue };
        if matches!(w.state, TxState::Confirmed { .. }) {
            continue;
        }
        w.state = TxState::Conflicted { block, height };
        d.txs.insert(t);
        let n = w.tx.output.len();
        for v in 0..n {
            if let Some(set) = s.spends.get(&OutPoint::new(t, v as u32)) {
                todo.extend(set.iter().copied());
            }
        }
    }
}

impl Notifications for Wallet {
    fn transaction_added_to_mempool(&self, tx: &Transaction) {
        self.add_if_involving_me(tx, TxState::InMempool, false);
    }

    fn transaction_removed_from_mempool(&self, tx: &Transaction, reason: RemovalReason) {
        if reason == RemovalReason::Block {
            return;
        }
        let txid = tx.compute_txid();
        self.update(|s, _| {
            if let Some(w) = s.txs.get_mut(&txid) {
                if w.state == TxState::InMempool {
                    // Stored as inactive already: nothing to write.
                    w.state = TxState::Inactive { abandoned: false };
                }
            }
        });
    }

    fn block_connected(&self, block: BlockRef<'_>) {
        self.process_block(block.hash, block.height, block.block, true);
    }

    fn block_disconnected(&self, block: BlockRef<'_>) {
        let hash = block.hash;
        self.update(|s, d| {
            let affected: Vec<Txid> = s
                .txs
                .iter()
                .filter(|(_, w)| match &w.state {
                    TxState::Confirmed { block, .. } | TxState::Conflicted { block, .. } => {
                        *block == hash
                    }
                    _ => false,
                })
                .map(|(t, _)| *t)
                .collect();
            for t in affected {
                if let Some(w) = s.txs.get_mut(&t) {
                    w.state = TxState::Inactive { abandoned: false };
                    d.txs.insert(t);
                }
            }
            let prev = block.block.header.prev_blockhash;
            s.last_block = Some((prev, block.height.saturating_sub(1)));
            d.best_block = true;
        });
    }
}

/// Creates the state of a wallet loaded from `db`.
pub fn load_state(db: &WalletDb, keypool: u32) -> Result<State, String> {
    let mut s = State {
        descs: Vec::new(),
        spks: HashMap::new(),
        txs: HashMap::new(),
        spends: HashMap::new(),
        book: BTreeMap::new(),
        locked: HashMap::new(),
        last_block: None,
        flags: WalletFlags::default(),
        master_key: None,
        unlocked: None,
        next_order: 0,
        birth_time: i64::MAX,
        keypool,
        pending_descs: BTreeSet::new(),
    };
    if let Some(f) = db.read("flags")? {
        s.flags = WalletFlags {
            blank: f["blank"].as_bool().unwrap_or(false),
            disable_private_keys: f["disable_private_keys"].as_bool().unwrap_or(false),
            avoid_reuse: f["avoid_reuse"].as_bool().unwrap_or(false),
        };
    }
    if let Some(m) = db.read("mkey")? {
        s.master_key = Some(MasterKey::from_json(&m).ok_or("corrupt master key record")?);
    }
    for (_, v) in db.read_prefix("desc/")? {
        let d = WalletDescriptor::from_json(&v)?;
        s.birth_time = s.birth_time.min(d.timestamp);
        s.descs.push(d);
    }
    // Active descriptors first, in a stable order, so derived-script lookups are stable.
    s.descs
        .sort_by_key(|d| (d.active.is_none(), d.active, d.timestamp));
    for pos in 0..s.descs.len() {
        let (start, end) = s.descs[pos].range.unwrap_or((0, 0));
        s.cache_range(pos, start, end)?;
        s.top_up(pos)?;
    }
    for (k, v) in db.read_prefix("tx/")? {
        let w = WalletTx::from_json(&v).ok_or_else(|| format!("corrupt record {k}"))?;
        let txid = w.txid();
        if !w.tx.is_coinbase() {
            for i in &w.tx.input {
                s.spends.entry(i.previous_output).or_default().insert(txid);
            }
        }
        s.next_order = s.next_order.max(w.order + 1);
        s.txs.insert(txid, w);
    }
    for (k, v) in db.read_prefix("name/")? {
        s.book.insert(
            k["name/".len()..].to_string(),
            AddressBookEntry {
                label: v["label"].as_str().unwrap_or("").to_string(),
                purpose: v["purpose"].as_str().unwrap_or("receive").to_string(),
            },
        );
    }
    for (k, _) in db.read_prefix("locked/")? {
        if let Ok(op) = k["locked/".len()..].parse::<OutPoint>() {
            s.locked.insert(op, true);
        }
    }
    if let Some(b) = db.read("bestblock")? {
        if let (Some(h), Some(height)) = (
            b["hash"].as_str().and_then(|h| h.parse().ok()),
            b["height"].as_u64(),
        ) {
            s.last_block = Some((h, height as u32));
        }
    }
    if s.birth_time == i64::MAX {
        s.birth_time = 0;
    }
    Ok(s)
}

/// Helper for the zero hash, used as "no block yet".
trait ZeroHash {
    fn from_byte_array_zero() -> Self;
}

impl ZeroHash for BlockHash {
    fn from_byte_array_zero() -> Self {
        use bitcoin::hashes::Hash;
        BlockHash::all_zeros()
    }
}

/// Amount helper.
pub fn sat(a: u64) -> Amount {
    Amount::from_sat(a)
}

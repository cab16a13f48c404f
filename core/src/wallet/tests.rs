//! The wallet model against an in-test `Chain`: tracking from notifications, coinbase
//! maturity, conflicts and abandoning, persistence across a reload, and funding plus
//! signing for every output type checked by libbitcoinconsensus.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use parking_lot::Mutex;
use serde_json::Value;

use super::db::{WalletDb, Write};
use super::keys::{generate_active, OutputType};
use super::model::{load_state, TxState, Wallet};
use super::spend::{FundOptions, Recipient};
use crate::interfaces::{
    BlockRef, Chain, FeeEstimate, FoundBlock, Handler, Notifications, RemovalReason, RpcCommand,
};
use crate::validation::script::block_script_flags;

/// A chain of made-up block hashes; enough `Chain` for the wallet model.
#[derive(Default)]
struct FakeChain {
    hashes: Mutex<Vec<BlockHash>>,
    broadcast: Mutex<Vec<Transaction>>,
    /// Held by a test to stall `find_block`, so a rescan is caught midway.
    stall: Mutex<()>,
    /// Calls of `estimate_fee`.
    estimates: Mutex<u32>,
    /// What `shutdown_requested` answers.
    shutting_down: std::sync::atomic::AtomicBool,
    /// `-walletbroadcast=0` when set.
    no_broadcast: std::sync::atomic::AtomicBool,
    /// `prepare_broadcast` and `broadcast_transaction` calls, in order.
    broadcast_calls: Mutex<Vec<&'static str>>,
    /// The threads that called `find_block`.
    find_block_threads: Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

impl Chain for FakeChain {
    fn get_height(&self) -> Option<u32> {
        (self.hashes.lock().len() as u32).checked_sub(1)
    }
    fn get_block_hash(&self, height: u32) -> Option<BlockHash> {
        self.hashes.lock().get(height as usize).copied()
    }
    fn find_block(&self, hash: &BlockHash, _with_data: bool) -> Option<FoundBlock> {
        drop(self.stall.lock());
        self.find_block_threads
            .lock()
            .insert(std::thread::current().id());
        let h = self.hashes.lock();
        let height = h.iter().position(|x| x == hash)?;
        Some(FoundBlock {
            hash: *hash,
            height: height as u32,
            time: 0,
            max_time: 0,
            median_time_past: 0,
            in_active_chain: true,
            next_block: h.get(height + 1).copied(),
            data: None,
        })
    }
    fn find_first_block_with_time_and_height(&self, _t: i64, _h: u32) -> Option<FoundBlock> {
        None
    }
    fn find_ancestor_by_height(&self, _b: &BlockHash, _h: u32) -> Option<FoundBlock> {
        None
    }
    fn find_common_ancestor(&self, _a: &BlockHash, _b: &BlockHash) -> Option<FoundBlock> {
        None
    }
    fn is_in_mempool(&self, _txid: &Txid) -> bool {
        false
    }
    fn has_descendants_in_mempool(&self, _txid: &Txid) -> bool {
        false
    }
    fn broadcast_transaction(
        &self,
        tx: &Transaction,
        _max: Option<u64>,
        _relay: bool,
    ) -> Result<(), String> {
        self.broadcast.lock().push(tx.clone());
        self.broadcast_calls.lock().push("broadcast");
        Ok(())
    }
    fn prepare_broadcast(&self) {
        self.broadcast_calls.lock().push("prepare");
    }
    fn get_transaction_ancestry(&self, _txid: &Txid) -> (u64, u64) {
        (0, 0)
    }
    fn estimate_fee(&self, _target: u32, _conservative: bool) -> FeeEstimate {
        *self.estimates.lock() += 1;
        FeeEstimate {
            fee_rate: Some(2000),
            returned_target: 2,
        }
    }
    fn relay_min_fee(&self) -> u64 {
        1000
    }
    fn relay_incremental_fee(&self) -> u64 {
        1000
    }
    fn relay_dust_fee(&self) -> u64 {
        3000
    }
    fn is_initial_block_download(&self) -> bool {
        false
    }
    fn shutdown_requested(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
    fn get_settings_list(&self, name: &str) -> Vec<String> {
        match name {
            "walletbroadcast" if self.no_broadcast.load(Ordering::Relaxed) => vec!["0".into()],
            _ => Vec::new(),
        }
    }
    fn get_rw_setting(&self, _name: &str) -> Option<Value> {
        None
    }
    fn update_rw_setting(&self, _name: &str, _value: Option<Value>) -> Result<(), String> {
        Ok(())
    }
    fn request_mempool_transactions(&self, _client: Arc<dyn Notifications>) {}
    fn handle_notifications(&self, _client: Arc<dyn Notifications>) -> Handler {
        Handler::new(|| {})
    }
    fn wait_for_notifications_if_tip_changed(&self, _old_tip: &BlockHash) {}
    fn handle_rpc(&self, _command: RpcCommand) -> Handler {
        Handler::new(|| {})
    }
    fn init_message(&self, _message: &str) {}
    fn show_progress(&self, _title: &str, _progress: i32, _resume_possible: bool) {}
}

struct Fixture {
    chain: Arc<FakeChain>,
    wallet: Arc<Wallet>,
    dir: std::path::PathBuf,
    other: ScriptBuf,
}

fn fixture(tag: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("hv-wallet-model-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = WalletDb::open(&dir.join("wallet.dat"), true).unwrap();
    let writes: Vec<Write> = generate_active(&[9u8; 32], 0)
        .iter()
        .map(|d| Write::Put(format!("desc/{}", d.id), d.to_json()))
        .collect();
    db.write_batch(&writes).unwrap();
    let state = load_state(&db, 20).unwrap();
    let chain = Arc::new(FakeChain::default());
    let wallet = Wallet::new("t", chain.clone(), db, state);
    Fixture {
        chain,
        wallet,
        dir,
        other: ScriptBuf::new_op_return([1u8; 4]),
    }
}

impl Fixture {
    /// Connects a block with a coinbase paying `to` and the given transactions.
    fn connect(&self, to: &ScriptBuf, txs: Vec<Transaction>) -> BlockHash {
        let height = self.chain.hashes.lock().len() as u32;
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: bitcoin::script::Builder::new()
                    .push_int(i64::from(height) + 1)
                    .into_script(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(50 * 100_000_000),
                script_pubkey: to.clone(),
            }],
        };
        let mut txdata = vec![coinbase];
        txdata.extend(txs);
        let prev = self.chain.hashes.lock().last().copied();
        let block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: prev.unwrap_or_else(BlockHash::all_zeros),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height,
                bits: CompactTarget::from_consensus(0x207fffff),
                nonce: height,
            },
            txdata,
        };
        let hash = block.block_hash();
        self.chain.hashes.lock().push(hash);
        self.wallet.block_connected(BlockRef {
            hash,
            height,
            block: &block,
        });
        hash
    }

    fn disconnect_tip(&self, block_txs: Vec<Transaction>) {
        let hash = self.chain.hashes.lock().pop().unwrap();
        let height = self.chain.hashes.lock().len() as u32;
        let prev = self.chain.hashes.lock().last().copied().unwrap();
        let block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 0,
                bits: CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata: block_txs,
        };
        self.wallet.block_disconnected(BlockRef {
            hash,
            height,
            block: &block,
        });
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spend(prev: OutPoint, value: u64, to: &ScriptBuf) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: to.clone(),
        }],
    }
}

#[test]
fn abortrescan_stops_a_running_rescan() {
    let f = fixture("abort");
    for _ in 0..200 {
        f.connect(&f.other, Vec::new());
    }
    assert!(!f.wallet.request_rescan_abort(), "no rescan running");
    let stalled = f.chain.stall.lock();
    let scan = {
        let wallet = Arc::clone(&f.wallet);
        std::thread::spawn(move || wallet.scan(0, None))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.wallet.scanning.lock().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rescan never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(f.wallet.request_rescan_abort());
    drop(stalled);
    let stopped_at = scan.join().unwrap().expect_err("the rescan was aborted");
    assert!(stopped_at < 200, "aborted at block {stopped_at}");
    assert!(f.wallet.scanning.lock().is_none());
    assert!(!f.wallet.request_rescan_abort());
    // The next rescan starts afresh and runs to the tip.
    assert_eq!(f.wallet.scan(0, None).unwrap().map(|(_, h)| h), Some(199));
}

/// In a wallet process, the calls of the thread running a rescan go to the node thread
/// already awake for that RPC; another thread's would each wake a node server thread.
#[test]
fn a_rescan_fetches_blocks_on_its_own_thread() {
    let f = fixture("fetch-thread");
    for _ in 0..200 {
        f.connect(&f.other, Vec::new());
    }
    f.chain.find_block_threads.lock().clear();
    assert_eq!(f.wallet.scan(0, None).unwrap().map(|(_, h)| h), Some(199));
    let threads = f.chain.find_block_threads.lock();
    assert_eq!(
        *threads,
        std::collections::HashSet::from([std::thread::current().id()])
    );
}

#[test]
fn a_node_shutting_down_stops_a_rescan() {
    let f = fixture("shutdown");
    for _ in 0..200 {
        f.connect(&f.other, Vec::new());
    }
    f.chain.shutting_down.store(true, Ordering::SeqCst);
    // A short rescan does not ask (each question is a round trip to the node)...
    assert_eq!(f.wallet.scan(0, None).unwrap().map(|(_, h)| h), Some(199));
    // ...a long one does, and stops: here the first stretch takes past the interval.
    let stalled = f.chain.stall.lock();
    let scan = {
        let wallet = Arc::clone(&f.wallet);
        std::thread::spawn(move || wallet.scan(0, None))
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    drop(stalled);
    let stopped_at = scan.join().unwrap().expect_err("the rescan stopped");
    assert!(stopped_at < 200, "stopped at block {stopped_at}");
    assert!(f.wallet.scanning.lock().is_none());
    f.chain.shutting_down.store(false, Ordering::SeqCst);
    assert_eq!(f.wallet.scan(0, None).unwrap().map(|(_, h)| h), Some(199));
}

#[test]
fn fee_estimates_are_asked_once_per_tip_target_and_mode() {
    let f = fixture("estimates");
    let asked = || *f.chain.estimates.lock();
    // Before the wallet has processed a block, every call goes to the chain.
    f.wallet.estimate_fee(6, false);
    f.wallet.estimate_fee(6, false);
    assert_eq!(asked(), 2);
    f.connect(&f.other, vec![]);
    for _ in 0..3 {
        assert_eq!(f.wallet.estimate_fee(6, false).fee_rate, Some(2000));
    }
    f.wallet.estimate_fee(6, true);
    f.wallet.estimate_fee(2, true);
    assert_eq!(asked(), 5, "one call per target and mode at a tip");
    f.connect(&f.other, vec![]);
    f.wallet.estimate_fee(6, false);
    assert_eq!(asked(), 6, "a new block asks again");
}

#[test]
fn wallet_tracks_maturity_conflicts_and_abandon() {
    let f = fixture("track");
    let mine = f.wallet.new_script(OutputType::Bech32, false).unwrap();
    let cb_block = f.connect(&mine, vec![]);
    let bal = f.wallet.state().balance(0, true);
    assert_eq!((bal.trusted, bal.immature), (0, 50 * 100_000_000));
    for _ in 0..99 {
        f.connect(&f.other, vec![]);
    }
    assert_eq!(f.wallet.state().balance(0, true).trusted, 0);
    f.connect(&f.other, vec![]);
    assert_eq!(
        f.wallet.state().balance(0, true).trusted,
        50 * 100_000_000,
        "mature after 100 confirmations on top"
    );
    let coinbase_txid = {
        let s = f.wallet.state();
        *s.txs
            .iter()
            .find(|(_, w)| w.tx.is_coinbase())
            .map(|(t, _)| t)
            .unwrap()
    };
    let _ = cb_block;

    // A wallet spend enters the mempool, then a block confirms a double spend.
    let coin = OutPoint::new(coinbase_txid, 0);
    let ours = spend(coin, 49 * 100_000_000, &f.other);
    f.wallet.transaction_added_to_mempool(&ours);
    assert_eq!(f.wallet.state().balance(0, true).trusted, 0);
    let theirs = spend(coin, 48 * 100_000_000, &f.other);
    f.wallet
        .transaction_removed_from_mempool(&ours, RemovalReason::Conflict);
    f.connect(&f.other, vec![theirs.clone()]);
    {
        let s = f.wallet.state();
        let w = &s.txs[&ours.compute_txid()];
        assert!(matches!(w.state, TxState::Conflicted { .. }));
        assert_eq!(s.depth(w), -1);
        assert_eq!(
            s.conflicts(&ours.compute_txid()),
            vec![theirs.compute_txid()]
        );
    }
    // The double spend leaves with its block: ours is merely inactive and can be abandoned.
    let theirs_txid = theirs.compute_txid();
    f.disconnect_tip(vec![theirs]);
    assert!(matches!(
        f.wallet.state().txs[&ours.compute_txid()].state,
        TxState::Inactive { abandoned: false }
    ));
    // Still counted as spending the coin until abandoned.
    assert_eq!(f.wallet.state().balance(0, true).trusted, 0);
    f.wallet.abandon(&ours.compute_txid()).unwrap();
    // The double spend also spends our coin, so it is a wallet transaction too.
    assert_eq!(f.wallet.state().balance(0, true).trusted, 0);
    f.wallet.abandon(&theirs_txid).unwrap();
    assert_eq!(f.wallet.state().balance(0, true).trusted, 50 * 100_000_000);
    assert!(f.wallet.abandon(&Txid::all_zeros()).is_err());

    // Everything survives a reload from the database.
    let before = f.wallet.state().balance(0, true);
    let last = f.wallet.state().last_block;
    f.wallet.db.checkpoint();
    let copy = f.dir.join("copy.dat");
    f.wallet.db.backup(&copy).unwrap();
    let db = WalletDb::open(&copy, false).unwrap();
    let s = load_state(&db, 20).unwrap();
    assert_eq!(s.last_block, last);
    assert_eq!(s.txs.len(), f.wallet.state().txs.len());
    assert!(s.txs[&ours.compute_txid()].is_abandoned());
    assert_eq!(s.balance(0, true), before);
    assert!(s.is_mine(&mine));
}

/// Verifies input `index` of `tx` with libbitcoinconsensus.
fn verify(tx: &Transaction, spent: &[TxOut], index: usize) -> Result<(), String> {
    let raw = bitcoin::consensus::encode::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    bitcoinconsensus::verify_with_flags(
        spent[index].script_pubkey.as_bytes(),
        spent[index].value.to_sat(),
        &raw,
        Some(&utxos),
        index,
        block_script_flags(1000),
    )
    .map_err(|e| format!("{e:?}"))
}

#[test]
fn wallet_funds_and_signs_every_output_type() {
    let f = fixture("sign");
    // One mature coinbase per output type.
    let mut scripts = Vec::new();
    for t in OutputType::ALL {
        let s = f.wallet.new_script(t, false).unwrap();
        f.connect(&s, vec![]);
        scripts.push(s);
    }
    for _ in 0..100 {
        f.connect(&f.other, vec![]);
    }
    assert_eq!(
        f.wallet.state().balance(0, true).trusted,
        4 * 50 * 100_000_000
    );
    // 180 BTC needs all four coins, so every input type is signed.
    let recipients = [Recipient {
        script: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
        amount: 180 * 100_000_000,
        subtract_fee: false,
    }];
    let opts = FundOptions {
        add_inputs: true,
        ..Default::default()
    };
    let funded = f.wallet.fund(None, &recipients, &opts).unwrap();
    assert_eq!(funded.tx.input.len(), 4);
    assert_eq!(funded.fee_rate, 2000);
    let (signed, complete) = f.wallet.sign_transaction(&funded.tx);
    assert!(complete);
    let spent: Vec<TxOut> = {
        let s = f.wallet.state();
        signed
            .input
            .iter()
            .map(|i| s.txs[&i.previous_output.txid].tx.output[0].clone())
            .collect()
    };
    for i in 0..signed.input.len() {
        verify(&signed, &spent, i).unwrap_or_else(|e| panic!("input {i}: {e}"));
    }
    // The fee pays the feerate for the real size, within the signature-size slack.
    let vsize = signed.vsize() as u64;
    assert!(
        funded.fee >= 2 * vsize && funded.fee <= 2 * vsize + 20,
        "{} {vsize}",
        funded.fee
    );
    // Committing stores before broadcasting, and warns the node first, so a node in
    // another process wakes up during the database write.
    f.wallet.commit(&signed, None, None, None).unwrap();
    assert_eq!(f.chain.broadcast.lock().len(), 1);
    assert_eq!(*f.chain.broadcast_calls.lock(), ["prepare", "broadcast"]);
    assert_eq!(
        f.wallet.state().txs[&signed.compute_txid()].state,
        TxState::InMempool
    );
    // A locked-out amount fails with Core's message.
    let too_much = [Recipient {
        script: f.other.clone(),
        amount: 1000 * 100_000_000,
        subtract_fee: false,
    }];
    let err = f.wallet.fund(None, &too_much, &opts).unwrap_err();
    assert_eq!(err.message(), "Insufficient funds");
}

#[test]
fn walletbroadcast_0_keeps_a_transaction_to_itself() {
    let f = fixture("nobroadcast");
    let mine = f.wallet.new_script(OutputType::Bech32, false).unwrap();
    f.connect(&mine, vec![]);
    let coinbase = f.wallet.state().txs.keys().next().copied().unwrap();
    f.chain.no_broadcast.store(true, Ordering::Relaxed);
    let tx = spend(OutPoint::new(coinbase, 0), 1000, &f.other);
    f.wallet.commit(&tx, None, None, None).unwrap();
    assert!(f.wallet.state().txs.contains_key(&tx.compute_txid()));
    assert!(f.chain.broadcast_calls.lock().is_empty());
}

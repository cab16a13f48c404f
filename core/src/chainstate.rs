//! The block tree and active chain: accepting blocks, connecting and disconnecting them
//! against the UTXO set, choosing the most-work valid chain, and invalidation.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use bitcoin::block::Header;
use bitcoin::{Block, BlockHash, OutPoint, Transaction, TxOut, Work};

use crate::chainparams::ChainParams;
use crate::mining::BlockContext;
use crate::storage::chaindb::StorageError;
use crate::storage::{BlockFiles, ChainDb, Coin, DiskPos, IndexRecord, WriteBatch};
use crate::validation::checks::{self, contextual_check_block, contextual_check_header};
use crate::validation::script::{block_script_flags, verify_scripts};
use crate::validation::ValidationError as VErr;
use crate::versionbits;
use crate::{log_debug, log_info, time};

/// Block status flags kept in the index.
pub mod status {
    /// The block itself failed validation.
    pub const FAILED: u8 = 1;
    /// An ancestor failed validation.
    pub const FAILED_CHILD: u8 = 2;
    /// The block was fully connected at least once (its scripts passed).
    pub const VALID_SCRIPTS: u8 = 4;
    /// Either failure flag.
    pub const FAILED_MASK: u8 = FAILED | FAILED_CHILD;
    /// Only the header is known (`submitheader`); the block data has not arrived.
    pub const HEADER_ONLY: u8 = 8;
}

/// Core's maximum block sigop cost.
const MAX_BLOCK_SIGOPS_COST: usize = 80_000;
/// Blocks whose header times make a median time past (Core's `nMedianTimeSpan`).
pub const MEDIAN_TIME_SPAN: usize = 11;

/// The median of up to [`MEDIAN_TIME_SPAN`] header times, as Core's
/// `GetMedianTimePast` takes it (the upper middle of an even count). There must be one.
pub fn median_time(times: impl IntoIterator<Item = i64>) -> i64 {
    let mut sorted = [0i64; MEDIAN_TIME_SPAN];
    let mut n = 0;
    for (slot, time) in sorted.iter_mut().zip(times) {
        *slot = time;
        n += 1;
    }
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    sorted[n / 2]
}

/// One block in the tree.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The block hash.
    pub hash: BlockHash,
    /// The header.
    pub header: Header,
    /// Height in its chain.
    pub height: u32,
    /// Total work of the chain ending here.
    pub chain_work: Work,
    /// [`status`] flags.
    pub status: u8,
    /// Location of the block data.
    pub pos: DiskPos,
    /// Transaction count.
    pub n_tx: u32,
    /// Largest header time of this block and its ancestors (Core's `nTimeMax`).
    pub time_max: u32,
    /// Core's `nSequenceId`, the tie-breaker between chains of equal work (the lowest
    /// wins), kept in memory only: blocks loaded at start are 0, blocks whose data arrives
    /// later count up from 1, and `preciousblock` gives negative values (the latest call
    /// the most negative).
    pub sequence_id: i64,
}

impl Entry {
    fn record(&self) -> IndexRecord {
        IndexRecord {
            header: self.header,
            height: self.height,
            status: self.status,
            pos: self.pos,
            n_tx: self.n_tx,
        }
    }

    /// Whether the block's data is stored (not just its header).
    pub fn has_data(&self) -> bool {
        self.status & status::HEADER_ONLY == 0
    }

    /// Whether this block or an ancestor is known invalid.
    pub fn is_failed(&self) -> bool {
        self.status & status::FAILED_MASK != 0
    }
}

/// An error from the chainstate: a consensus failure or a storage failure.
#[derive(Debug, Clone)]
pub enum ChainError {
    /// The block is invalid (or a duplicate, etc.), with Core's reject reason.
    Invalid(VErr),
    /// The disk failed; the node cannot continue safely.
    Storage(String),
}

impl From<StorageError> for ChainError {
    fn from(e: StorageError) -> Self {
        ChainError::Storage(e.0)
    }
}

impl From<std::io::Error> for ChainError {
    fn from(e: std::io::Error) -> Self {
        ChainError::Storage(format!("block file: {e}"))
    }
}

impl From<VErr> for ChainError {
    fn from(e: VErr) -> Self {
        ChainError::Invalid(e)
    }
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::Invalid(e) => write!(f, "{e}"),
            ChainError::Storage(e) => write!(f, "storage failure: {e}"),
        }
    }
}

/// A tip of the block tree, for `getchaintips`.
#[derive(Debug, Clone)]
pub struct ChainTip {
    /// Tip block.
    pub entry: Entry,
    /// Blocks between the tip and the active chain.
    pub branch_len: u32,
    /// Core's status string: active, valid-fork, valid-headers, invalid.
    pub status: &'static str,
}

/// A change of the active chain, for the mempool and later the wallet.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A block was connected to the tip.
    Connected(Block),
    /// The tip block was disconnected.
    Disconnected(Block),
}

/// The chain state: block tree in memory (persisted in the index), active chain, UTXO db.
pub struct ChainState {
    params: ChainParams,
    db: ChainDb,
    files: BlockFiles,
    /// Seeded foldhash instead of SipHash: a rescan or a median-time lookup makes a
    /// dozen index lookups per block, and SipHash was a tenth of a rescan's time.
    index: HashMap<BlockHash, Entry, foldhash::fast::RandomState>,
    active: Vec<BlockHash>,
    /// Index entries changed since the last database commit.
    dirty: Vec<BlockHash>,
    /// Active-chain changes not yet taken by [`ChainState::take_events`].
    events: Vec<ChainEvent>,
    /// Last value handed out to a `preciousblock` entry.
    precious_counter: i64,
    /// Last [`Entry::sequence_id`] given to a block whose data arrived.
    next_sequence_id: i64,
    /// Whether `-txindex` is maintained.
    txindex: bool,
    /// Set once any block or header is stored off the tip; from then on every connect
    /// also looks for a better chain (otherwise extending the tip is all there is to do).
    side_blocks: bool,
}

impl ChainState {
    /// Opens the chainstate in `dir` (the chain's data directory), writing the genesis
    /// block on first start.
    pub fn open(params: ChainParams, dir: &Path) -> Result<Self, ChainError> {
        std::fs::create_dir_all(dir.join("chainstate"))?;
        let db = ChainDb::open(&dir.join("chainstate").join("chainstate.redb"))?;
        let (tip, (file, len)) = db.load_meta()?;
        let files = BlockFiles::open(&dir.join("blocks"), params.magic, file, len)?;
        let mut records = db.load_index()?;
        records.sort_by_key(|r| r.height);
        let mut cs = ChainState {
            params,
            db,
            files,
            index: HashMap::default(),
            active: Vec::new(),
            dirty: Vec::new(),
            events: Vec::new(),
            precious_counter: 0,
            next_sequence_id: 0,
            txindex: false,
            side_blocks: false,
        };
        for rec in records {
            let hash = rec.header.block_hash();
            let (prev_work, prev_time_max) = if rec.height == 0 {
                (Work::from_be_bytes([0; 32]), 0)
            } else {
                let prev = cs.index.get(&rec.header.prev_blockhash).ok_or_else(|| {
                    ChainError::Storage(format!("block index: missing parent of {hash}"))
                })?;
                (prev.chain_work, prev.time_max)
            };
            let entry = Entry {
                hash,
                header: rec.header,
                height: rec.height,
                chain_work: prev_work + rec.header.work(),
                status: rec.status,
                pos: rec.pos,
                n_tx: rec.n_tx,
                time_max: prev_time_max.max(rec.header.time),
                sequence_id: 0,
            };
            cs.index.insert(hash, entry);
        }
        match tip {
            Some(tip) => {
                let mut cur = cs
                    .index
                    .get(&tip)
                    .ok_or_else(|| ChainError::Storage("tip missing from index".into()))?;
                let mut chain = vec![cur.hash];
                while cur.height > 0 {
                    cur = &cs.index[&cur.header.prev_blockhash];
                    chain.push(cur.hash);
                }
                chain.reverse();
                cs.active = chain;
                cs.side_blocks = cs.index.len() > cs.active.len();
            }
            None => cs.write_genesis()?,
        }
        // A crash in the middle of a reorganisation leaves a valid but not best tip.
        if cs.side_blocks {
            cs.activate_best_chain()?;
        }
        Ok(cs)
    }

    fn write_genesis(&mut self) -> Result<(), ChainError> {
        let genesis = self.params.genesis();
        let pos = self.files.append(&genesis)?;
        let hash = genesis.block_hash();
        let entry = Entry {
            hash,
            header: genesis.header,
            height: 0,
            chain_work: genesis.header.work(),
            status: status::VALID_SCRIPTS,
            pos,
            n_tx: 1,
            time_max: genesis.header.time,
            sequence_id: 0,
        };
        let batch = WriteBatch {
            index: vec![entry.record()],
            tip: Some(hash),
            block_file: Some(self.files.position()),
            ..Default::default()
        };
        self.db.apply(&batch)?;
        self.index.insert(hash, entry);
        self.active = vec![hash];
        Ok(())
    }

    /// Turns the transaction index on (building it for the active chain if it is not
    /// complete) or off (dropping it).
    pub fn set_txindex(&mut self, enabled: bool) -> Result<(), ChainError> {
        let complete = self.db.txindex_complete()?;
        if enabled && !complete {
            let mut entries = Vec::new();
            // The genesis coinbase is not spendable and Core does not index it.
            for hash in self.active.iter().skip(1) {
                let block = self.read_block(&self.index[hash])?;
                entries.extend(block.txdata.iter().map(|t| (t.compute_txid(), *hash)));
            }
            self.db.txindex_reset(Some(&entries))?;
            log_info!(
                "txindex: indexed {} transactions up to height {}",
                entries.len(),
                self.height()
            );
        } else if !enabled && complete {
            self.db.txindex_reset(None)?;
        }
        self.txindex = enabled;
        Ok(())
    }

    /// Whether `-txindex` is on.
    pub fn has_txindex(&self) -> bool {
        self.txindex
    }

    /// The block of a confirmed transaction, from the transaction index.
    pub fn txindex_lookup(&self, txid: &bitcoin::Txid) -> Result<Option<BlockHash>, ChainError> {
        Ok(self.db.txindex_get(txid)?)
    }

    /// Chain parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    /// The active tip.
    pub fn tip(&self) -> &Entry {
        &self.index[self.active.last().expect("genesis is always active")]
    }

    /// Hash of the active block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Index entry for a block we know.
    pub fn entry(&self, hash: &BlockHash) -> Option<&Entry> {
        self.index.get(hash)
    }

    /// Whether the block is on the active chain.
    pub fn is_active(&self, e: &Entry) -> bool {
        self.hash_at(e.height) == Some(e.hash)
    }

    /// Reads a stored block.
    pub fn read_block(&self, e: &Entry) -> Result<Block, ChainError> {
        self.require_data(e)?;
        Ok(self.files.read(e.pos)?)
    }

    /// Reads a stored block's consensus bytes, not decoded.
    pub fn read_block_bytes(&self, e: &Entry) -> Result<Vec<u8>, ChainError> {
        self.require_data(e)?;
        Ok(self.files.read_bytes(e.pos)?)
    }

    /// Reads stored blocks' consensus bytes as [`read_block_bytes`](Self::read_block_bytes)
    /// does, for blocks read in the order they were stored (a rescan's stretch): a few
    /// large reads instead of two per block.
    pub fn block_bytes_in_order(&self) -> impl FnMut(&Entry) -> Result<Vec<u8>, ChainError> + '_ {
        let mut reader = self.files.in_order();
        move |e| {
            self.require_data(e)?;
            Ok(reader.read_bytes(e.pos)?)
        }
    }

    fn require_data(&self, e: &Entry) -> Result<(), ChainError> {
        if e.has_data() {
            Ok(())
        } else {
            Err(ChainError::Storage(format!(
                "block {} has no data (header only)",
                e.hash
            )))
        }
    }

    /// Looks up an unspent output in the committed UTXO set.
    pub fn coin(&self, op: &OutPoint) -> Result<Option<Coin>, ChainError> {
        Ok(self.db.get_coin(op)?)
    }

    /// Walks the UTXO set.
    pub fn for_each_coin(&self, f: impl FnMut(OutPoint, Coin)) -> Result<(), ChainError> {
        Ok(self.db.for_each_coin(f)?)
    }

    /// The coins a connected block spent (for fees in `getblock`).
    pub fn undo(&self, hash: &BlockHash) -> Result<Option<Vec<Coin>>, ChainError> {
        Ok(self.db.get_undo(hash)?)
    }

    /// Median of the last 11 block times ending at `hash` (Core's `GetMedianTimePast`).
    pub fn median_time_past(&self, hash: &BlockHash) -> i64 {
        median_time(self.header_times(hash, MEDIAN_TIME_SPAN))
    }

    /// The header times of `hash` and its ancestors, at most `count` of them (fewer
    /// near genesis), oldest first.
    pub fn header_times(&self, hash: &BlockHash, count: usize) -> VecDeque<i64> {
        let mut times = VecDeque::with_capacity(MEDIAN_TIME_SPAN);
        let mut cur = self.index.get(hash);
        while let Some(e) = cur.filter(|_| times.len() < count) {
            times.push_front(i64::from(e.header.time));
            cur = self
                .index
                .get(&e.header.prev_blockhash)
                .filter(|_| e.height > 0);
        }
        times
    }

    /// Total size of blk files and the database, for `size_on_disk`.
    pub fn size_on_disk(&self, dir: &Path) -> u64 {
        let mut total = 0;
        for sub in ["blocks", "chainstate"] {
            if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                total += rd
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>();
            }
        }
        total
    }

    /// Ancestor of `e` at `height` (walking the tree, so it works off the active chain).
    pub fn ancestor(&self, e: &Entry, height: u32) -> Option<Entry> {
        if height > e.height {
            return None;
        }
        if self.is_active(e) {
            return self.hash_at(height).map(|h| self.index[&h].clone());
        }
        let mut cur = e;
        while cur.height > height {
            cur = self.index.get(&cur.header.prev_blockhash)?;
        }
        Some(cur.clone())
    }

    /// Active-chain changes since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<ChainEvent> {
        std::mem::take(&mut self.events)
    }

    /// Core's `TestBlockValidity`: every check of a block on the tip, without storing it.
    pub fn test_block_validity(&self, block: &Block) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        if block.header.prev_blockhash != tip.hash {
            return Err(VErr::new("inconclusive-not-best-prevblk").into());
        }
        checks::check_block(block, &self.params)?;
        let prev_mtp = self.median_time_past(&tip.hash);
        contextual_check_header(block, prev_mtp, time::now())?;
        contextual_check_block(block, tip.height + 1, prev_mtp)?;
        let entry = Entry {
            hash: block.block_hash(),
            header: block.header,
            height: tip.height + 1,
            chain_work: tip.chain_work + block.header.work(),
            status: 0,
            pos: DiskPos { file: 0, pos: 0 },
            n_tx: block.txdata.len() as u32,
            time_max: tip.time_max.max(block.header.time),
            sequence_id: 0,
        };
        self.connect_block(&entry, block).map(|_| ())
    }

    /// Core's `AcceptBlockHeader` for `submitheader`: checks a header and records it
    /// without data. Known valid headers are accepted again silently.
    pub fn process_header(&mut self, header: &Header) -> Result<(), ChainError> {
        let hash = header.block_hash();
        if let Some(e) = self.index.get(&hash) {
            return if e.is_failed() {
                Err(VErr::new("duplicate").into())
            } else {
                Ok(())
            };
        }
        let prev = self
            .index
            .get(&header.prev_blockhash)
            .ok_or_else(|| {
                VErr::new(format!(
                    "Must submit previous header ({}) first",
                    header.prev_blockhash
                ))
            })?
            .clone();
        if prev.is_failed() {
            return Err(VErr::with_debug("bad-prevblk", "previous block is invalid").into());
        }
        let as_block = Block {
            header: *header,
            txdata: Vec::new(),
        };
        checks::check_proof_of_work(&as_block, &self.params)?;
        contextual_check_header(&as_block, self.median_time_past(&prev.hash), time::now())?;
        let entry = Entry {
            hash,
            header: *header,
            height: prev.height + 1,
            chain_work: prev.chain_work + header.work(),
            status: status::HEADER_ONLY,
            pos: DiskPos { file: 0, pos: 0 },
            n_tx: 0,
            time_max: prev.time_max.max(header.time),
            sequence_id: 0,
        };
        self.index.insert(hash, entry);
        self.dirty.push(hash);
        self.side_blocks = true;
        self.flush_dirty()
    }

    /// Whether every block from `e` back to the active chain has its data, so the chain
    /// ending at `e` could be connected.
    fn connectable(&self, e: &Entry) -> bool {
        let mut cur = e;
        loop {
            if !cur.has_data() {
                return false;
            }
            if self.is_active(cur) {
                return true;
            }
            match self.index.get(&cur.header.prev_blockhash) {
                Some(prev) => cur = prev,
                None => return false,
            }
        }
    }

    /// Accepts a block (checks, stores) and makes the most-work valid chain active.
    /// Errors carry Core's reject reasons, including `duplicate` and `duplicate-invalid`.
    pub fn process_block(&mut self, block: &Block) -> Result<(), ChainError> {
        let hash = block.block_hash();
        if let Some(e) = self.index.get(&hash) {
            if e.is_failed() {
                return Err(VErr::new("duplicate-invalid").into());
            }
            if e.has_data() {
                return Err(VErr::new("duplicate").into());
            }
        }
        let prev = self
            .index
            .get(&block.header.prev_blockhash)
            .ok_or_else(|| VErr::with_debug("prev-blk-not-found", "previous block is unknown"))?
            .clone();
        if prev.is_failed() {
            return Err(VErr::with_debug("bad-prevblk", "previous block is invalid").into());
        }
        checks::check_block(block, &self.params)?;
        let prev_mtp = self.median_time_past(&prev.hash);
        contextual_check_header(block, prev_mtp, time::now())?;
        contextual_check_block(block, prev.height + 1, prev_mtp)?;

        let pos = self.files.append(block)?;
        let entry = Entry {
            hash,
            header: block.header,
            height: prev.height + 1,
            chain_work: prev.chain_work + block.header.work(),
            status: 0,
            pos,
            n_tx: block.txdata.len() as u32,
            time_max: prev.time_max.max(block.header.time),
            sequence_id: {
                self.next_sequence_id += 1;
                self.next_sequence_id
            },
        };
        self.index.insert(hash, entry);
        self.dirty.push(hash);
        if prev.hash == self.tip().hash {
            // The common case: extend the tip with the block already in memory.
            match self.connect_tip(&hash, block) {
                // Stored descendants of this block (sent before it) may now win.
                Ok(()) if self.side_blocks => self.activate_best_chain()?,
                Ok(()) => {}
                Err(ChainError::Invalid(e)) => {
                    self.mark_failed(&hash);
                    self.flush_dirty()?;
                    return Err(ChainError::Invalid(e));
                }
                Err(e) => return Err(e),
            }
        } else {
            self.side_blocks = true;
            self.activate_best_chain()?;
            if self.index[&hash].is_failed() {
                self.flush_dirty()?;
                return Err(VErr::new("invalid").into());
            }
        }
        self.flush_dirty()
    }

    fn flush_dirty(&mut self) -> Result<(), ChainError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let batch = WriteBatch {
            index: self.take_dirty(),
            block_file: Some(self.files.position()),
            ..Default::default()
        };
        Ok(self.db.apply(&batch)?)
    }

    fn take_dirty(&mut self) -> Vec<IndexRecord> {
        let mut hashes = std::mem::take(&mut self.dirty);
        hashes.sort();
        hashes.dedup();
        hashes.iter().map(|h| self.index[h].record()).collect()
    }

    /// Marks `hash` failed and all its descendants failed-child.
    fn mark_failed(&mut self, hash: &BlockHash) {
        let Some(target) = self.index.get_mut(hash) else {
            return;
        };
        target.status |= status::FAILED;
        let target = target.clone();
        self.dirty.push(*hash);
        let descendants: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| {
                e.height > target.height
                    && self
                        .ancestor(e, target.height)
                        .is_some_and(|a| a.hash == target.hash)
            })
            .map(|e| e.hash)
            .collect();
        for d in descendants {
            self.index.get_mut(&d).expect("exists").status |= status::FAILED_CHILD;
            self.dirty.push(d);
        }
    }

    /// Connects `block` (whose parent is the tip) in one database transaction.
    fn connect_tip(&mut self, hash: &BlockHash, block: &Block) -> Result<(), ChainError> {
        let entry = self.index[hash].clone();
        let (mut batch, undo) = self.connect_block(&entry, block)?;
        self.index.get_mut(hash).expect("exists").status |= status::VALID_SCRIPTS;
        self.dirty.push(*hash);
        batch.index = self.take_dirty();
        batch.put_undo = Some((*hash, undo));
        if self.txindex {
            batch.txindex_put = block
                .txdata
                .iter()
                .map(|t| (t.compute_txid(), *hash))
                .collect();
        }
        batch.tip = Some(*hash);
        batch.block_file = Some(self.files.position());
        self.db.apply(&batch)?;
        self.active.push(*hash);
        self.events.push(ChainEvent::Connected(block.clone()));
        log_info!(
            "UpdateTip: new best={} height={} version=0x{:08x} tx={} date='{}'",
            hash,
            entry.height,
            block.header.version.to_consensus(),
            block.txdata.len(),
            time::format_iso8601(i64::from(block.header.time), None)
        );
        Ok(())
    }

    /// Core's `ConnectBlock`: spends inputs, checks amounts, maturity, relative locks,
    /// sigops, scripts and the coinbase amount. Returns the UTXO changes and undo data.
    fn connect_block(
        &self,
        entry: &Entry,
        block: &Block,
    ) -> Result<(WriteBatch, Vec<Coin>), ChainError> {
        self.connect_block_on(entry, block, |op| Ok(self.db.get_coin(op)?))
    }

    /// [`ChainState::connect_block`] against the UTXO view `coin`, which `verifychain`
    /// layers over the database.
    fn connect_block_on(
        &self,
        entry: &Entry,
        block: &Block,
        coin: impl Fn(&OutPoint) -> Result<Option<Coin>, ChainError>,
    ) -> Result<(WriteBatch, Vec<Coin>), ChainError> {
        let height = entry.height;
        let prev_mtp = self.median_time_past(&entry.header.prev_blockhash);
        let flags = block_script_flags(height);
        let mut created: HashMap<OutPoint, Coin> = HashMap::new();
        let mut spent_db: Vec<OutPoint> = Vec::new();
        let mut spent_set: HashSet<OutPoint> = HashSet::new();
        let mut undo = Vec::new();
        let mut fees = 0u64;
        let mut sigops = 0usize;
        for (i, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let mut spent_coins = Vec::with_capacity(tx.input.len());
            if i > 0 {
                for input in &tx.input {
                    let op = input.previous_output;
                    let coin = match created.remove(&op) {
                        Some(c) => c,
                        None if !spent_set.contains(&op) => match coin(&op)? {
                            Some(c) => {
                                spent_db.push(op);
                                c
                            }
                            None => return Err(missing(tx)),
                        },
                        None => return Err(missing(tx)),
                    };
                    spent_set.insert(op);
                    spent_coins.push(coin);
                }
                fees += check_tx_inputs(tx, &spent_coins, height, self.params.coinbase_maturity)?;
                let coin_heights: Vec<u32> = spent_coins.iter().map(|c| c.height).collect();
                let mtp_at = |h: u32| self.median_time_past(&self.active[h as usize]);
                if !checks::sequence_locks_ok(tx, &coin_heights, height, prev_mtp, mtp_at) {
                    return Err(VErr::with_debug(
                        "bad-txns-nonfinal",
                        "contains a non-BIP68-final transaction",
                    )
                    .into());
                }
            }
            let spent_outs: Vec<TxOut> = spent_coins.iter().map(|c| c.output.clone()).collect();
            sigops += tx.total_sigop_cost(|op| {
                tx.input
                    .iter()
                    .position(|inp| inp.previous_output == *op)
                    .and_then(|k| spent_outs.get(k).cloned())
            });
            if sigops > MAX_BLOCK_SIGOPS_COST {
                return Err(VErr::with_debug("bad-blk-sigops", "too many sigops").into());
            }
            if i > 0 {
                verify_scripts(tx, &spent_outs, flags)?;
            }
            undo.extend(spent_coins);
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() || out.script_pubkey.len() > 10_000 {
                    continue;
                }
                let coin = Coin {
                    output: out.clone(),
                    height,
                    is_coinbase: i == 0,
                };
                created.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    coin,
                );
            }
        }
        let reward = checks::output_total(&block.txdata[0]).to_sat();
        let limit = fees + self.params.subsidy(height).to_sat();
        if reward > limit {
            return Err(VErr::with_debug(
                "bad-cb-amount",
                format!("coinbase pays too much (actual={reward} vs limit={limit})"),
            )
            .into());
        }
        let batch = WriteBatch {
            add_coins: created.into_iter().collect(),
            spend_coins: spent_db,
            ..Default::default()
        };
        Ok((batch, undo))
    }

    /// Disconnects the tip, restoring the coins it spent.
    fn disconnect_tip(&mut self) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        if tip.height == 0 {
            return Err(ChainError::Storage(
                "cannot disconnect the genesis block".into(),
            ));
        }
        let block = self.read_block(&tip)?;
        let undo = self
            .db
            .get_undo(&tip.hash)?
            .ok_or_else(|| ChainError::Storage(format!("no undo data for {}", tip.hash)))?;
        let own: HashSet<_> = block.txdata.iter().map(Transaction::compute_txid).collect();
        let mut batch = WriteBatch::default();
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            batch
                .spend_coins
                .extend((0..tx.output.len() as u32).map(|vout| OutPoint { txid, vout }));
        }
        let inputs = block
            .txdata
            .iter()
            .skip(1)
            .flat_map(|tx| tx.input.iter().map(|i| i.previous_output));
        for (op, coin) in inputs.zip(undo) {
            if !own.contains(&op.txid) {
                batch.add_coins.push((op, coin));
            }
        }
        batch.drop_undo = Some(tip.hash);
        if self.txindex {
            batch.txindex_del = block.txdata.iter().map(Transaction::compute_txid).collect();
        }
        batch.tip = Some(tip.header.prev_blockhash);
        batch.index = self.take_dirty();
        batch.block_file = Some(self.files.position());
        self.db.apply(&batch)?;
        self.active.pop();
        self.events.push(ChainEvent::Disconnected(block));
        log_debug!(
            "validation",
            "Disconnected block {} at height {}",
            tip.hash,
            tip.height
        );
        Ok(())
    }

    /// The valid block with the most work; among equal work the lowest sequence id (the
    /// first received, or the latest `preciousblock`), and the tip among equals.
    fn best_candidate(&self) -> BlockHash {
        let tip = self.tip();
        let mut best = tip;
        for e in self.index.values() {
            let better = e.chain_work > best.chain_work
                || (e.chain_work == best.chain_work && e.sequence_id < best.sequence_id);
            if !e.is_failed() && better && self.connectable(e) {
                best = e;
            }
        }
        best.hash
    }

    /// Core's `ActivateBestChain`: reorganises onto the most-work valid chain, marking
    /// blocks that fail to connect as invalid and trying again.
    pub fn activate_best_chain(&mut self) -> Result<(), ChainError> {
        loop {
            let best = self.best_candidate();
            if best == self.tip().hash {
                return self.flush_dirty();
            }
            let target = self.index[&best].clone();
            let mut path = Vec::new();
            let mut cur = target.clone();
            while !self.is_active(&cur) {
                path.push(cur.hash);
                cur = self.index[&cur.header.prev_blockhash].clone();
            }
            while self.tip().hash != cur.hash {
                self.disconnect_tip()?;
            }
            for hash in path.into_iter().rev() {
                let entry = self.index[&hash].clone();
                let block = self.read_block(&entry)?;
                match self.connect_tip(&hash, &block) {
                    Ok(()) => {}
                    Err(ChainError::Invalid(e)) => {
                        log_info!("ERROR: ConnectBlock {hash} failed, {e}");
                        self.mark_failed(&hash);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// `preciousblock`: prefers this block over others of equal work, as if it had arrived
    /// first, and reorganises to it if that makes it the best chain.
    pub fn precious_block(&mut self, hash: &BlockHash) -> Result<(), ChainError> {
        let work = self
            .index
            .get(hash)
            .map(|e| e.chain_work)
            .ok_or_else(|| VErr::new("Block not found"))?;
        if work < self.tip().chain_work {
            return Ok(());
        }
        self.precious_counter -= 1;
        let order = self.precious_counter;
        self.index.get_mut(hash).expect("exists").sequence_id = order;
        self.activate_best_chain()
    }

    /// Core's `VerifyDB` over the top `depth` blocks (all of them when `depth` is 0 or
    /// less) at `level` (clamped to 0..=4): 0 reads each block, 1 checks it, 2 checks its
    /// undo data, 3 disconnects the blocks in memory and checks the UTXO set agrees, 4
    /// connects them again in memory with full validation. Nothing on disk changes.
    pub fn verify_chain(&self, level: i64, depth: i64) -> Result<bool, ChainError> {
        let level = level.clamp(0, 4);
        let top = self.height();
        let depth = match u32::try_from(depth) {
            Ok(d) if d > 0 => d.min(top),
            _ => top,
        };
        log_info!("Verifying last {depth} blocks at level {level}");
        let bottom = top.saturating_sub(depth.saturating_sub(1)).max(1);
        // Coins as they are after disconnecting down to the current block: `None` spent.
        let mut view: HashMap<OutPoint, Option<Coin>> = HashMap::new();
        let mut blocks = Vec::new();
        for h in (bottom..=top).rev() {
            let e = &self.index[&self.active[h as usize]];
            let Ok(block) = self.read_block(e) else {
                log_info!(
                    "Verification error: ReadBlockFromDisk failed at {h}, hash={}",
                    e.hash
                );
                return Ok(false);
            };
            if block.block_hash() != e.hash
                || (level >= 1 && checks::check_block(&block, &self.params).is_err())
            {
                log_info!(
                    "Verification error: found bad block at {h}, hash={}",
                    e.hash
                );
                return Ok(false);
            }
            if level >= 2 {
                let inputs: usize = block.txdata.iter().skip(1).map(|t| t.input.len()).sum();
                match self.db.get_undo(&e.hash)? {
                    Some(undo) if undo.len() == inputs => {
                        if level >= 3 && !self.disconnect_in_view(&block, h, undo, &mut view)? {
                            log_info!(
                                "Verification error: coin database inconsistencies found at {h}, hash={}",
                                e.hash
                            );
                            return Ok(false);
                        }
                    }
                    _ => {
                        log_info!(
                            "Verification error: found bad undo data at {h}, hash={}",
                            e.hash
                        );
                        return Ok(false);
                    }
                }
            }
            if level >= 4 {
                blocks.push((e.clone(), block));
            }
        }
        for (e, block) in blocks.into_iter().rev() {
            let lookup = |op: &OutPoint| self.view_coin(&view, op);
            let batch = match self.connect_block_on(&e, &block, lookup) {
                Ok((batch, _)) => batch,
                Err(ChainError::Invalid(err)) => {
                    log_info!(
                        "Verification error: found unconnectable block at {}, hash={} ({})",
                        e.height,
                        e.hash,
                        err.reason
                    );
                    return Ok(false);
                }
                Err(other) => return Err(other),
            };
            for op in batch.spend_coins {
                view.insert(op, None);
            }
            for (op, coin) in batch.add_coins {
                view.insert(op, Some(coin));
            }
        }
        Ok(true)
    }

    /// The coin at `op` in `view`, a layer of changes (`None`: spent) over the database.
    fn view_coin(
        &self,
        view: &HashMap<OutPoint, Option<Coin>>,
        op: &OutPoint,
    ) -> Result<Option<Coin>, ChainError> {
        match view.get(op) {
            Some(c) => Ok(c.clone()),
            None => Ok(self.db.get_coin(op)?),
        }
    }

    /// Undoes `block` in `view` (over the database), last transaction first as Core's
    /// `DisconnectBlock`: each one's outputs must be there and are removed, then the
    /// coins it spent come back from `undo`. False if the coins disagree (Core's
    /// `DISCONNECT_UNCLEAN`).
    fn disconnect_in_view(
        &self,
        block: &Block,
        height: u32,
        undo: Vec<Coin>,
        view: &mut HashMap<OutPoint, Option<Coin>>,
    ) -> Result<bool, ChainError> {
        let mut clean = true;
        let mut undo = undo.into_iter().rev();
        for (i, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() || out.script_pubkey.len() > 10_000 {
                    continue;
                }
                let op = OutPoint {
                    txid,
                    vout: vout as u32,
                };
                let current = self.view_coin(view, &op)?;
                clean &= current.is_some_and(|c| {
                    c.output == *out && c.height == height && c.is_coinbase == (i == 0)
                });
                view.insert(op, None);
            }
            if i == 0 {
                continue;
            }
            for input in tx.input.iter().rev() {
                let Some(coin) = undo.next() else {
                    return Ok(false);
                };
                let op = input.previous_output;
                clean &= self.view_coin(view, &op)?.is_none();
                view.insert(op, Some(coin));
            }
        }
        Ok(clean && undo.next().is_none())
    }

    /// `invalidateblock`: marks the block invalid, disconnects it if active, and moves to
    /// the best remaining chain.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<(), ChainError> {
        let entry = self
            .index
            .get(hash)
            .cloned()
            .ok_or_else(|| VErr::new("Block not found"))?;
        if entry.height == 0 {
            return Err(VErr::new("genesis block cannot be invalidated").into());
        }
        if self.is_active(&entry) {
            while self.tip().height >= entry.height {
                self.disconnect_tip()?;
            }
        }
        self.mark_failed(hash);
        self.activate_best_chain()
    }

    /// `reconsiderblock`: clears failure flags on the block, its ancestors and descendants.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<(), ChainError> {
        let entry = self
            .index
            .get(hash)
            .cloned()
            .ok_or_else(|| VErr::new("Block not found"))?;
        let affected: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| e.is_failed())
            .filter(|e| {
                let is_desc = self
                    .ancestor(e, entry.height)
                    .is_some_and(|a| a.hash == entry.hash);
                let is_anc = self
                    .ancestor(&entry, e.height)
                    .is_some_and(|a| a.hash == e.hash);
                is_desc || is_anc
            })
            .map(|e| e.hash)
            .collect();
        for h in affected {
            self.index.get_mut(&h).expect("exists").status &= !status::FAILED_MASK;
            self.dirty.push(h);
        }
        self.activate_best_chain()
    }

    /// All tips of the block tree (Core's `getchaintips`).
    pub fn chain_tips(&self) -> Vec<ChainTip> {
        let parents: HashSet<BlockHash> = self
            .index
            .values()
            .map(|e| e.header.prev_blockhash)
            .collect();
        let mut tips: Vec<ChainTip> = self
            .index
            .values()
            .filter(|e| !parents.contains(&e.hash) || e.hash == self.tip().hash)
            .map(|e| {
                let mut fork = e.clone();
                while !self.is_active(&fork) {
                    fork = self.index[&fork.header.prev_blockhash].clone();
                }
                let status = if e.hash == self.tip().hash {
                    "active"
                } else if e.is_failed() {
                    "invalid"
                } else if !e.has_data() {
                    "headers-only"
                } else if e.status & status::VALID_SCRIPTS != 0 {
                    "valid-fork"
                } else {
                    "valid-headers"
                };
                ChainTip {
                    entry: e.clone(),
                    branch_len: e.height - fork.height,
                    status,
                }
            })
            .collect();
        tips.sort_by(|a, b| {
            b.entry
                .height
                .cmp(&a.entry.height)
                .then(a.entry.hash.cmp(&b.entry.hash))
        });
        tips
    }

    /// The next block's height, previous hash and minimum time, for block assembly.
    pub fn next_block_context(&self, now: i64) -> BlockContext {
        let tip = self.tip();
        let height = tip.height + 1;
        let version = versionbits::block_version(height, |h| {
            self.hash_at(h)
                .map(|hash| self.index[&hash].header.version.to_consensus())
                .unwrap_or(0)
        });
        BlockContext {
            height,
            prev: tip.hash,
            min_time: self.median_time_past(&tip.hash) + 1,
            now,
            version,
        }
    }

    /// Number of entries known (all forks), used as the `headers` count.
    pub fn best_header_height(&self) -> u32 {
        self.index
            .values()
            .filter(|e| !e.is_failed())
            .map(|e| e.height)
            .max()
            .unwrap_or(0)
    }
}

fn missing(tx: &Transaction) -> ChainError {
    VErr::with_debug(
        "bad-txns-inputs-missingorspent",
        format!(
            "CheckTxInputs: inputs missing/spent in {}",
            tx.compute_txid()
        ),
    )
    .into()
}

/// Core's `Consensus::CheckTxInputs`: maturity and amounts. Returns the fee.
pub fn check_tx_inputs(
    tx: &Transaction,
    spent: &[Coin],
    height: u32,
    maturity: u32,
) -> Result<u64, VErr> {
    let mut value_in = 0u64;
    for coin in spent {
        if coin.is_coinbase && height - coin.height < maturity {
            return Err(VErr::with_debug(
                "bad-txns-premature-spend-of-coinbase",
                format!("tried to spend coinbase at depth {}", height - coin.height),
            ));
        }
        value_in += coin.output.value.to_sat();
        if !checks::money_range(coin.output.value.to_sat()) || !checks::money_range(value_in) {
            return Err(VErr::new("bad-txns-inputvalues-outofrange"));
        }
    }
    let value_out = checks::output_total(tx).to_sat();
    if value_in < value_out {
        return Err(VErr::with_debug(
            "bad-txns-in-belowout",
            format!("value in ({value_in}) < value out ({value_out})"),
        ));
    }
    Ok(value_in - value_out)
}

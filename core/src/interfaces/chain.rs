//! `Chain` (wallet -> node) and its `Notifications` (node -> wallet), after Core's
//! `interfaces::Chain` and `CValidationInterface`.

use std::sync::Arc;

use bitcoin::{Block, BlockHash, Transaction, Txid};
use serde_json::Value;

pub use crate::mempool::RemovalReason;

use super::{Handler, RpcCommand};

/// Block bytes past which [`Chain::find_blocks`] stops adding blocks: a batch of regtest
/// blocks is tiny, and a batch of full mainnet blocks stays a few of them.
pub const FIND_BLOCKS_MAX_BYTES: usize = 4 << 20;

/// What `find_block` and its relatives report about a block header they know.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundBlock {
    /// Block hash.
    pub hash: BlockHash,
    /// Height.
    pub height: u32,
    /// Header time.
    pub time: u32,
    /// Largest header time of the block and its ancestors (Core's `GetBlockTimeMax`).
    pub max_time: u32,
    /// Median time past.
    pub median_time_past: i64,
    /// Whether the block is on the active chain.
    pub in_active_chain: bool,
    /// The next block on the active chain, if this one is on it and is not the tip.
    pub next_block: Option<BlockHash>,
    /// The whole block, when asked for and stored.
    pub data: Option<BlockBytes>,
}

/// A stored block as its consensus bytes. The node reads them from disk and does not
/// decode them: they cross to a wallet process copied into the ring and out of it, and
/// whoever needs the block decodes it, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockBytes(Vec<u8>);

impl BlockBytes {
    /// Wraps consensus-encoded block bytes (checked when decoded).
    pub fn new(bytes: Vec<u8>) -> Self {
        BlockBytes(bytes)
    }

    /// The consensus bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The consensus bytes, moved out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The decoded block; an error when the bytes are not exactly one block.
    pub fn decode(&self) -> Result<Block, bitcoin::consensus::encode::Error> {
        bitcoin::consensus::deserialize(&self.0)
    }
}

/// A block passed to `block_connected` and `block_disconnected`.
#[derive(Debug, Clone, Copy)]
pub struct BlockRef<'a> {
    /// Block hash.
    pub hash: BlockHash,
    /// Height.
    pub height: u32,
    /// The block.
    pub block: &'a Block,
}

/// A feerate estimate from `estimate_fee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeEstimate {
    /// Feerate in sat/kvB, `None` when there is not enough data.
    pub fee_rate: Option<u64>,
    /// The target the estimate is for (may exceed the one asked for).
    pub returned_target: u32,
}

/// Chain, mempool and node services a client (the wallet) may use. In `hashvived` these
/// are plain calls; in `hashvive-wallet` they cross IPC.
pub trait Chain: Send + Sync {
    /// Height of the active tip, `None` before genesis is connected.
    fn get_height(&self) -> Option<u32>;
    /// Hash of the active-chain block at `height`.
    fn get_block_hash(&self, height: u32) -> Option<BlockHash>;
    /// Looks up a block by hash; `with_data` also reads the block from disk.
    fn find_block(&self, hash: &BlockHash, with_data: bool) -> Option<FoundBlock>;
    /// `hash` and the active-chain blocks after it: at most `count`, and with data
    /// about [`FIND_BLOCKS_MAX_BYTES`] of blocks (always at least one). A rescan's next
    /// stretch in one call, where `find_block` per block was a round trip per block.
    fn find_blocks(&self, hash: &BlockHash, count: u32, with_data: bool) -> Vec<FoundBlock> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut next = Some(*hash);
        while let Some(hash) = next {
            if out.len() >= count as usize || bytes >= FIND_BLOCKS_MAX_BYTES {
                break;
            }
            let Some(found) = self.find_block(&hash, with_data) else {
                break;
            };
            bytes += found.data.as_ref().map_or(0, |b| b.as_bytes().len());
            next = found.next_block;
            out.push(found);
        }
        out
    }
    /// The first active-chain block with `max_time >= min_time` and `height >= min_height`
    /// (where a timestamped rescan starts).
    fn find_first_block_with_time_and_height(
        &self,
        min_time: i64,
        min_height: u32,
    ) -> Option<FoundBlock>;
    /// The ancestor of `block` at `height`.
    fn find_ancestor_by_height(&self, block: &BlockHash, height: u32) -> Option<FoundBlock>;
    /// The last common ancestor of `a` and `b`.
    fn find_common_ancestor(&self, a: &BlockHash, b: &BlockHash) -> Option<FoundBlock>;
    /// Whether `txid` is in the mempool.
    fn is_in_mempool(&self, txid: &Txid) -> bool;
    /// Whether `txid` has descendants in the mempool.
    fn has_descendants_in_mempool(&self, txid: &Txid) -> bool;
    /// `broadcast_transaction` follows shortly (the wallet is writing the transaction to
    /// its database first): a node in another process wakes up now, so that its wake-up
    /// overlaps the write. Nothing to do in process.
    fn prepare_broadcast(&self) {}
    /// Adds `tx` to the mempool (refusing it above `max_fee_rate` sat/kvB) and relays it
    /// when `relay` is set; the error is Core's reject message.
    fn broadcast_transaction(
        &self,
        tx: &Transaction,
        max_fee_rate: Option<u64>,
        relay: bool,
    ) -> Result<(), String>;
    /// `(ancestors, descendants)` counts of a mempool transaction, itself included;
    /// `(0, 0)` when it is not in the mempool.
    fn get_transaction_ancestry(&self, txid: &Txid) -> (u64, u64);
    /// Smart fee estimate for confirmation within `target` blocks.
    fn estimate_fee(&self, target: u32, conservative: bool) -> FeeEstimate;
    /// `-minrelaytxfee` in sat/kvB.
    fn relay_min_fee(&self) -> u64;
    /// `-incrementalrelayfee` in sat/kvB (the RBF step).
    fn relay_incremental_fee(&self) -> u64;
    /// `-dustrelayfee` in sat/kvB.
    fn relay_dust_fee(&self) -> u64;
    /// Whether the node is still catching up with the network.
    fn is_initial_block_download(&self) -> bool;
    /// Whether the node is shutting down (long operations such as rescans stop early).
    fn shutdown_requested(&self) -> bool;
    /// Values of a command-line or config option (e.g. `wallet`, `fallbackfee`).
    fn get_settings_list(&self, name: &str) -> Vec<String>;
    /// A value kept in `settings.json`.
    fn get_rw_setting(&self, name: &str) -> Option<Value>;
    /// Sets (`Some`) or removes (`None`) a `settings.json` value and writes the file.
    fn update_rw_setting(&self, name: &str, value: Option<Value>) -> Result<(), String>;
    /// Sends `transaction_added_to_mempool` for every mempool transaction to `client`.
    fn request_mempool_transactions(&self, client: Arc<dyn Notifications>);
    /// Registers for notifications, delivered in the node's order on one thread.
    fn handle_notifications(&self, client: Arc<dyn Notifications>) -> Handler;
    /// Returns once notifications up to the current tip were delivered, unless the tip is
    /// still `old_tip` (Core's `waitForNotificationsIfTipChanged`).
    fn wait_for_notifications_if_tip_changed(&self, old_tip: &BlockHash);
    /// Adds a command to the node's RPC table.
    fn handle_rpc(&self, command: RpcCommand) -> Handler;
    /// A progress line shown during init (logged as `init message: ...`).
    fn init_message(&self, message: &str);
    /// Progress of a long task (rescan), `progress` in percent; 100 ends it.
    fn show_progress(&self, title: &str, progress: i32, resume_possible: bool);
}

/// Events a client hears about (Core's `CValidationInterface`). The defaults ignore them.
pub trait Notifications: Send + Sync {
    /// A transaction entered the mempool.
    fn transaction_added_to_mempool(&self, _tx: &Transaction) {}
    /// A transaction left the mempool.
    fn transaction_removed_from_mempool(&self, _tx: &Transaction, _reason: RemovalReason) {}
    /// A block was connected to the active chain; block N always comes before N+1.
    fn block_connected(&self, _block: BlockRef<'_>) {}
    /// A block was disconnected from the active chain (tip first).
    fn block_disconnected(&self, _block: BlockRef<'_>) {}
    /// The active tip changed (after the blocks connected for it).
    fn updated_block_tip(&self) {}
    /// The chainstate was written to disk; `locator` describes its tip.
    fn chain_state_flushed(&self, _locator: &[BlockHash]) {}
}

//! `NodeChain`: the in-process [`Chain`], plain calls into the node (Core's `ChainImpl`
//! in `node/interfaces.cpp`).

use std::path::PathBuf;
use std::sync::Arc;

use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::Value;

use super::{
    BlockBytes, Chain, FeeEstimate, FoundBlock, Handler, Notifications, RpcCommand,
    FIND_BLOCKS_MAX_BYTES,
};
use crate::args::ArgsManager;
use crate::chainstate::{median_time, ChainError, ChainState, Entry, MEDIAN_TIME_SPAN};
use crate::node::Node;
use crate::rpc::dispatch::ClientCommands;
use crate::settings::RwSettings;
use crate::{log_info, policy};

/// The node as seen by the wallet in `hashvived`.
pub struct NodeChain {
    node: Arc<Node>,
    commands: Arc<ClientCommands>,
    args: Arc<ArgsManager>,
    rw_settings: Arc<RwSettings>,
    wallet_dir: PathBuf,
    log_path: Option<PathBuf>,
}

impl NodeChain {
    /// A `Chain` over `node` whose `handle_rpc` adds to `commands`; options come from
    /// `args` and run-time settings from `rw_settings`. Three settings are computed by the
    /// node for a wallet in another process: `walletdir` (the absolute wallets directory),
    /// `chaindir` (`<datadir>/<chain>`) and `debuglogpath` (the absolute `debug.log`
    /// path, none when disabled).
    pub fn new(
        node: Arc<Node>,
        commands: Arc<ClientCommands>,
        args: Arc<ArgsManager>,
        rw_settings: Arc<RwSettings>,
        wallet_dir: PathBuf,
        log_path: Option<PathBuf>,
    ) -> Self {
        NodeChain {
            node,
            commands,
            args,
            rw_settings,
            wallet_dir,
            log_path,
        }
    }
}

fn found(chain: &ChainState, e: &Entry, with_data: bool) -> FoundBlock {
    let read = |e: &Entry| chain.read_block_bytes(e);
    found_with(
        chain,
        e,
        with_data.then_some(read),
        chain.median_time_past(&e.hash),
    )
}

/// What `find_block` reports, given the block's median time past and, when its data is
/// asked for, how to read it.
fn found_with(
    chain: &ChainState,
    e: &Entry,
    read: Option<impl FnOnce(&Entry) -> Result<Vec<u8>, ChainError>>,
    mtp: i64,
) -> FoundBlock {
    let in_active_chain = chain.is_active(e);
    FoundBlock {
        hash: e.hash,
        height: e.height,
        time: e.header.time,
        max_time: e.time_max,
        median_time_past: mtp,
        in_active_chain,
        next_block: if in_active_chain {
            chain.hash_at(e.height + 1)
        } else {
            None
        },
        data: read
            .filter(|_| e.has_data())
            .and_then(|read| read(e).ok())
            .map(BlockBytes::new),
    }
}

impl Chain for NodeChain {
    fn get_height(&self) -> Option<u32> {
        Some(self.node.tip().height)
    }

    fn get_block_hash(&self, height: u32) -> Option<BlockHash> {
        self.node.chain().hash_at(height)
    }

    fn find_block(&self, hash: &BlockHash, with_data: bool) -> Option<FoundBlock> {
        let chain = self.node.chain();
        let e = chain.entry(hash)?;
        Some(found(&chain, e, with_data))
    }

    fn find_blocks(&self, hash: &BlockHash, count: u32, with_data: bool) -> Vec<FoundBlock> {
        // One chain lock for the whole stretch, so it is one chain even mid-reorg.
        let chain = self.node.chain();
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut next = chain.entry(hash);
        let mut read_bytes = chain.block_bytes_in_order();
        // The header times of the block and its ancestors, slid along the stretch: each
        // block's median time past from its parent's window and its own time, not
        // eleven index lookups per block.
        let mut window = match next {
            Some(first) if first.height > 0 => {
                chain.header_times(&first.header.prev_blockhash, MEDIAN_TIME_SPAN - 1)
            }
            _ => Default::default(),
        };
        while let Some(e) = next {
            if out.len() >= count as usize || bytes >= FIND_BLOCKS_MAX_BYTES {
                break;
            }
            window.push_back(i64::from(e.header.time));
            if window.len() > MEDIAN_TIME_SPAN {
                window.pop_front();
            }
            let mtp = median_time(window.iter().copied());
            let found = found_with(&chain, e, with_data.then_some(&mut read_bytes), mtp);
            bytes += found.data.as_ref().map_or(0, |b| b.as_bytes().len());
            next = found.next_block.and_then(|h| chain.entry(&h));
            out.push(found);
        }
        out
    }

    fn find_first_block_with_time_and_height(
        &self,
        min_time: i64,
        min_height: u32,
    ) -> Option<FoundBlock> {
        let chain = self.node.chain();
        let mut running_max = 0u32;
        for height in 0..=chain.height() {
            let e = chain.entry(&chain.hash_at(height)?)?;
            running_max = running_max.max(e.header.time);
            if height >= min_height && i64::from(running_max) >= min_time {
                return Some(found(&chain, e, false));
            }
        }
        None
    }

    fn find_ancestor_by_height(&self, block: &BlockHash, height: u32) -> Option<FoundBlock> {
        let chain = self.node.chain();
        let e = chain.entry(block)?;
        let ancestor = chain.ancestor(e, height)?;
        Some(found(&chain, &ancestor, false))
    }

    fn find_common_ancestor(&self, a: &BlockHash, b: &BlockHash) -> Option<FoundBlock> {
        let chain = self.node.chain();
        let (mut a, mut b) = (chain.entry(a)?.clone(), chain.entry(b)?.clone());
        if a.height > b.height {
            a = chain.ancestor(&a, b.height)?;
        } else if b.height > a.height {
            b = chain.ancestor(&b, a.height)?;
        }
        while a.hash != b.hash {
            a = chain.entry(&a.header.prev_blockhash)?.clone();
            b = chain.entry(&b.header.prev_blockhash)?.clone();
        }
        Some(found(&chain, &a, false))
    }

    fn is_in_mempool(&self, txid: &Txid) -> bool {
        self.node.mempool().get(txid).is_some()
    }

    fn has_descendants_in_mempool(&self, txid: &Txid) -> bool {
        !self.node.mempool().children(txid).is_empty()
    }

    fn broadcast_transaction(
        &self,
        tx: &Transaction,
        max_fee_rate: Option<u64>,
        _relay: bool,
    ) -> Result<(), String> {
        // Core treats a transaction already in the mempool as broadcast.
        if self.is_in_mempool(&tx.compute_txid()) {
            return Ok(());
        }
        self.node
            .accept_to_mempool(tx, false, max_fee_rate)
            .map(|_| ())
            .map_err(|reject| reject.message())
    }

    fn get_transaction_ancestry(&self, txid: &Txid) -> (u64, u64) {
        let pool = self.node.mempool();
        if pool.get(txid).is_none() {
            return (0, 0);
        }
        (
            pool.ancestors(txid).len() as u64 + 1,
            pool.descendants(txid).len() as u64 + 1,
        )
    }

    fn estimate_fee(&self, target: u32, conservative: bool) -> FeeEstimate {
        let (fee_rate, returned) = self
            .node
            .estimate_smart_fee(target.max(1) as usize, conservative);
        FeeEstimate {
            fee_rate,
            returned_target: returned as u32,
        }
    }

    fn relay_min_fee(&self) -> u64 {
        self.node.mempool().min_relay_fee
    }

    fn relay_incremental_fee(&self) -> u64 {
        policy::INCREMENTAL_RELAY_FEE
    }

    fn relay_dust_fee(&self) -> u64 {
        policy::DUST_RELAY_FEE
    }

    fn is_initial_block_download(&self) -> bool {
        crate::rpc::blockchain::is_initial_block_download(&self.node.chain())
    }

    fn shutdown_requested(&self) -> bool {
        self.node.shutdown_requested()
    }

    fn get_settings_list(&self, name: &str) -> Vec<String> {
        match name {
            "walletdir" => vec![self.wallet_dir.to_string_lossy().into_owned()],
            "chaindir" => vec![self.node.data_dir().to_string_lossy().into_owned()],
            "debuglogpath" => self
                .log_path
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            _ => self.args.get_args(name),
        }
    }

    fn get_rw_setting(&self, name: &str) -> Option<Value> {
        self.rw_settings.get(name)
    }

    fn update_rw_setting(&self, name: &str, value: Option<Value>) -> Result<(), String> {
        self.rw_settings.update(name, value)
    }

    fn request_mempool_transactions(&self, client: Arc<dyn Notifications>) {
        // Copied first: the client may call back into the node.
        let txs: Vec<Transaction> = self
            .node
            .mempool()
            .entries()
            .map(|e| e.tx.clone())
            .collect();
        for tx in &txs {
            client.transaction_added_to_mempool(tx);
        }
    }

    fn handle_notifications(&self, client: Arc<dyn Notifications>) -> Handler {
        self.node.signals().register(client)
    }

    fn wait_for_notifications_if_tip_changed(&self, old_tip: &BlockHash) {
        if self.node.tip().hash != *old_tip {
            self.node.signals().sync();
        }
    }

    fn handle_rpc(&self, command: RpcCommand) -> Handler {
        self.commands.add(command)
    }

    fn init_message(&self, message: &str) {
        log_info!("init message: {message}");
    }

    fn show_progress(&self, _title: &str, _progress: i32, _resume_possible: bool) {
        // hashvived has no user interface to show progress on (Core's noui ignores it
        // too); the wallet logs its own progress.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainparams::ChainParams;
    use crate::mining::{assemble_block, solve};

    /// `find_blocks` works out each block's median time past from a sliding window;
    /// `find_block` from the block index. They must agree, around blocks whose times go
    /// back and forth.
    #[test]
    fn find_blocks_agrees_with_find_block() {
        let dir = std::env::temp_dir().join(format!("hashvive-findblocks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let params = ChainParams::regtest();
        let node = Arc::new(Node::open(params.clone(), &dir, 1000).unwrap());
        let script = bitcoin::ScriptBuf::from_bytes(vec![0x51]);
        let base = crate::time::real_now_micros() / 1_000_000 - 86_400;
        for i in 0..40i64 {
            let ctx = node
                .chain()
                .next_block_context(base + (i * 37 % 11) * 600 + i * 60);
            let mut block = assemble_block(
                &params,
                ctx,
                script.clone(),
                Vec::new(),
                bitcoin::Amount::ZERO,
            );
            assert!(solve(&mut block, &params, &mut u64::MAX.clone()));
            node.submit_block(&block).unwrap();
        }
        let args = ArgsManager::parse_command_line(crate::init::DAEMON_ARGS, &[], false).unwrap();
        let chain = NodeChain::new(
            Arc::clone(&node),
            Arc::new(ClientCommands::default()),
            Arc::new(args),
            Arc::new(RwSettings::open(&dir.join("settings.json")).unwrap()),
            dir.join("wallets"),
            None,
        );
        let genesis = chain.get_block_hash(0).unwrap();
        for start in [0, 5, 12, 33] {
            let from = chain.get_block_hash(start).unwrap();
            let stretch = chain.find_blocks(&from, 100, true);
            assert_eq!(stretch.len(), 41 - start as usize);
            for found in &stretch {
                assert_eq!(Some(found), chain.find_block(&found.hash, true).as_ref());
            }
        }
        let times: std::collections::HashSet<i64> = chain
            .find_blocks(&genesis, 100, false)
            .iter()
            .map(|f| f.median_time_past)
            .collect();
        assert!(times.len() > 20, "median times vary: {times:?}");
        drop(chain);
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

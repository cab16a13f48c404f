//! The in-process `Chain` (`NodeChain`) as the wallet sees it: block and mempool
//! notifications in the node's order, chain queries, and RPC commands registered with
//! `handle_rpc` answering through the node's dispatcher, `/wallet/<name>` URLs included.

use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::blockdata::opcodes::OP_TRUE;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use hashvive_core::args::ArgsManager;
use hashvive_core::chainparams::ChainParams;
use hashvive_core::init::DAEMON_ARGS;
use hashvive_core::interfaces::{
    BlockBytes, BlockRef, Chain, JsonRequest, NodeChain, Notifications, RemovalReason, RpcActor,
    RpcCommand,
};
use hashvive_core::node::Node;
use hashvive_core::rpc::dispatch::handle_http_body;
use hashvive_core::rpc::{RpcContext, RpcError};
use hashvive_core::settings::RwSettings;
use parking_lot::Mutex;
use serde_json::{json, Value};

struct Fixture {
    node: Arc<Node>,
    ctx: Arc<RpcContext>,
    chain: NodeChain,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("hv-chain-if-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).unwrap());
    let ctx = Arc::new(RpcContext::new(Arc::clone(&node), dir.join("debug.log")));
    let argv = vec!["-regtest".to_string(), "-fallbackfee=0.0002".to_string()];
    let args = ArgsManager::parse_command_line(DAEMON_ARGS, &argv, false).unwrap();
    let chain = NodeChain::new(
        Arc::clone(&node),
        Arc::clone(&ctx.client_commands),
        Arc::new(args),
        Arc::new(RwSettings::open(&dir.join("settings.json")).unwrap()),
        dir.join("wallets"),
        Some(dir.join("debug.log")),
    );
    Fixture {
        node,
        ctx,
        chain,
        dir,
    }
}

fn op_true_script() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from(vec![OP_TRUE.to_u8()]).wscript_hash())
}

/// A standard spend of a P2WSH(OP_TRUE) output paying `value` back to the same script.
fn spend(prev: OutPoint, value: Amount) -> Transaction {
    let mut witness = Witness::new();
    witness.push([OP_TRUE.to_u8()]);
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness,
        }],
        output: vec![TxOut {
            value,
            script_pubkey: op_true_script(),
        }],
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Notifications for Recorder {
    fn transaction_added_to_mempool(&self, tx: &Transaction) {
        self.events
            .lock()
            .push(format!("added {}", tx.compute_txid()));
    }
    fn transaction_removed_from_mempool(&self, tx: &Transaction, reason: RemovalReason) {
        self.events
            .lock()
            .push(format!("removed {} {}", tx.compute_txid(), reason.as_str()));
    }
    fn block_connected(&self, block: BlockRef<'_>) {
        assert_eq!(block.block.block_hash(), block.hash);
        self.events
            .lock()
            .push(format!("connected {}", block.height));
    }
    fn block_disconnected(&self, block: BlockRef<'_>) {
        self.events
            .lock()
            .push(format!("disconnected {}", block.height));
    }
    fn updated_block_tip(&self) {
        self.events.lock().push("tip".into());
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock())
    }
}

fn coinbase_outpoint(node: &Node, height: u32) -> OutPoint {
    let chain = node.chain();
    let hash = chain.hash_at(height).unwrap();
    let block = chain.read_block(chain.entry(&hash).unwrap()).unwrap();
    OutPoint::new(block.txdata[0].compute_txid(), 0)
}

#[test]
fn notifications_follow_the_nodes_order() {
    let f = fixture("order");
    let rec = Arc::new(Recorder::default());
    let handle = f.chain.handle_notifications(rec.clone());
    f.node.generate(&op_true_script(), 101, u64::MAX).unwrap();
    f.node.signals().sync();
    let mut expected: Vec<String> = Vec::new();
    for h in 1..=101 {
        expected.push(format!("connected {h}"));
        expected.push("tip".into());
    }
    assert_eq!(rec.take(), expected);
    assert_eq!(f.chain.get_height(), Some(101));

    // A mempool spend, its replacement, and the block that confirms the replacement.
    let prev = coinbase_outpoint(&f.node, 1);
    let first = spend(prev, Amount::from_sat(49_0000_0000));
    let replacement = spend(prev, Amount::from_sat(48_0000_0000));
    f.node.accept_to_mempool(&first, false, None).unwrap();
    assert!(f.chain.is_in_mempool(&first.compute_txid()));
    assert_eq!(
        f.chain.get_transaction_ancestry(&first.compute_txid()),
        (1, 1)
    );
    f.node.accept_to_mempool(&replacement, false, None).unwrap();
    f.node.generate(&op_true_script(), 1, u64::MAX).unwrap();
    f.chain
        .wait_for_notifications_if_tip_changed(&BlockHash::from_raw_hash(
            bitcoin::hashes::Hash::all_zeros(),
        ));
    assert_eq!(
        rec.take(),
        vec![
            format!("added {}", first.compute_txid()),
            format!("removed {} replaced", first.compute_txid()),
            format!("added {}", replacement.compute_txid()),
            "connected 102".to_string(),
            "tip".to_string(),
        ]
    );

    // Disconnecting the block returns its transaction to the mempool.
    let tip = f.node.tip().hash;
    f.node.invalidate_block(&tip).unwrap();
    f.node.signals().sync();
    assert_eq!(
        rec.take(),
        vec![
            "disconnected 102".to_string(),
            format!("added {}", replacement.compute_txid()),
            "tip".to_string(),
        ]
    );
    assert!(f.chain.is_in_mempool(&replacement.compute_txid()));

    drop(handle);
    f.node.generate(&op_true_script(), 1, u64::MAX).unwrap();
    f.node.signals().sync();
    assert!(
        rec.take().is_empty(),
        "no events after the handle is dropped"
    );
}

#[test]
fn chain_queries_match_the_block_tree() {
    let f = fixture("queries");
    let hashes = f.node.generate(&op_true_script(), 10, u64::MAX).unwrap();
    let tip = *hashes.last().unwrap();
    let found = f.chain.find_block(&hashes[4], true).unwrap();
    assert_eq!(found.height, 5);
    assert!(found.in_active_chain);
    assert_eq!(found.next_block, Some(hashes[5]));
    assert_eq!(
        found.data.unwrap().decode().unwrap().block_hash(),
        hashes[4]
    );
    assert!(f
        .chain
        .find_block(&hashes[4], false)
        .unwrap()
        .data
        .is_none());
    assert_eq!(f.chain.get_block_hash(7), Some(hashes[6]));
    assert_eq!(
        f.chain.find_ancestor_by_height(&tip, 3).unwrap().hash,
        hashes[2]
    );
    assert!(f.chain.find_ancestor_by_height(&tip, 11).is_none());

    // Stretches follow the active chain from the given block, up to `count` or the tip.
    let stretch = f.chain.find_blocks(&hashes[2], 4, true);
    let heights: Vec<u32> = stretch.iter().map(|b| b.height).collect();
    assert_eq!(heights, vec![3, 4, 5, 6]);
    assert!(stretch.iter().zip(&hashes[2..]).all(|(b, h)| b.hash == *h
        && b.data.as_ref().map(|d| d.decode().unwrap().block_hash()) == Some(*h)));
    assert_eq!(stretch[3].next_block, Some(hashes[6]));
    assert_eq!(f.chain.find_blocks(&hashes[8], 100, false).len(), 2);
    assert!(f.chain.find_blocks(&hashes[8], 100, false)[0]
        .data
        .is_none());
    assert!(f
        .chain
        .find_blocks(&bitcoin::hashes::Hash::all_zeros(), 5, true)
        .is_empty());
    // Blocks cross as bytes; bytes that are not exactly one block do not decode.
    let bytes = stretch[0].data.clone().unwrap();
    let mut longer = bytes.as_bytes().to_vec();
    longer.push(0);
    assert!(BlockBytes::new(longer).decode().is_err());
    assert!(BlockBytes::new(bytes.as_bytes()[..80].to_vec())
        .decode()
        .is_err());

    // A fork from height 5: the common ancestor with the tip is block 5.
    f.node.invalidate_block(&hashes[5]).unwrap();
    let fork = f.node.generate(&op_true_script(), 2, u64::MAX).unwrap();
    assert_eq!(
        f.chain.find_common_ancestor(&tip, &fork[1]).unwrap().hash,
        hashes[4]
    );
    assert!(!f.chain.find_block(&tip, false).unwrap().in_active_chain);
    let stale = f.chain.find_blocks(&hashes[6], 5, false);
    assert_eq!(stale.len(), 1, "a block off the active chain has no next");
    assert_eq!(stale[0].next_block, None);
    let first = f.chain.find_first_block_with_time_and_height(0, 3).unwrap();
    assert_eq!(first.height, 3);
    assert!(f
        .chain
        .find_first_block_with_time_and_height(i64::MAX, 0)
        .is_none());

    assert_eq!(f.chain.get_settings_list("fallbackfee"), vec!["0.0002"]);
    assert_eq!(
        f.chain.get_settings_list("walletdir"),
        vec![f.dir.join("wallets").to_string_lossy().into_owned()]
    );
    f.chain
        .update_rw_setting("wallet", Some(json!(["a"])))
        .unwrap();
    assert_eq!(f.chain.get_rw_setting("wallet"), Some(json!(["a"])));
    assert_eq!(f.chain.relay_min_fee(), 1000);
}

struct EchoActor {
    seen: Mutex<Vec<JsonRequest>>,
}

impl RpcActor for EchoActor {
    fn call(&self, request: &JsonRequest) -> Result<Value, RpcError> {
        self.seen.lock().push(request.clone());
        if request.params.first() == Some(&json!("fail")) {
            return Err(RpcError::new(
                -18,
                "Requested wallet does not exist or is not loaded",
            ));
        }
        Ok(json!({"params": request.params, "wallet": request.wallet_name}))
    }
}

fn call(ctx: &RpcContext, path: &str, body: &str) -> (u16, Value) {
    let reply = handle_http_body(ctx, body.as_bytes(), path);
    (
        reply.status,
        serde_json::from_str(reply.body.as_deref().unwrap_or("null")).unwrap(),
    )
}

#[test]
fn registered_commands_are_served_by_the_dispatcher() {
    let f = fixture("rpc");
    let actor = Arc::new(EchoActor {
        seen: Mutex::new(Vec::new()),
    });
    let handle = f.chain.handle_rpc(RpcCommand {
        category: "wallet".into(),
        name: "getwalletthing".into(),
        params: vec!["*label".into(), "count".into()],
        help: "getwalletthing \"label\" ( count )\n\nReturns a thing.\n".into(),
        hidden: false,
        actor: actor.clone(),
    });

    let (status, v) = call(
        &f.ctx,
        "/wallet/my%20wallet",
        r#"{"method":"getwalletthing","params":{"count":3,"label":"x"},"id":1}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        v["result"],
        json!({"params": ["x", 3], "wallet": "my wallet"})
    );
    let (_, v) = call(
        &f.ctx,
        "/",
        r#"{"method":"getwalletthing","params":["y"],"id":1}"#,
    );
    assert_eq!(v["result"], json!({"params": ["y"], "wallet": null}));

    // Errors keep their code; a wrong argument count answers with the help text.
    let (status, v) = call(
        &f.ctx,
        "/",
        r#"{"method":"getwalletthing","params":["fail"],"id":1}"#,
    );
    assert_eq!(status, 500);
    assert_eq!(v["error"]["code"], -18);
    let (_, v) = call(&f.ctx, "/", r#"{"method":"getwalletthing","id":1}"#);
    assert_eq!(v["error"]["code"], -1);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("getwalletthing \"label\""));
    assert_eq!(actor.seen.lock().len(), 3);
    assert!(actor
        .seen
        .lock()
        .iter()
        .all(|r| r.tip == Some(f.node.tip().hash)));

    let (_, v) = call(&f.ctx, "/", r#"{"method":"help","id":1}"#);
    let help = v["result"].as_str().unwrap();
    assert!(
        help.contains("== Wallet ==\ngetwalletthing \"label\" ( count )"),
        "{help}"
    );
    let (_, v) = call(
        &f.ctx,
        "/",
        r#"{"method":"help","params":["getwalletthing"],"id":1}"#,
    );
    assert_eq!(
        v["result"],
        "getwalletthing \"label\" ( count )\n\nReturns a thing."
    );

    drop(handle);
    let (status, v) = call(
        &f.ctx,
        "/",
        r#"{"method":"getwalletthing","params":["y"],"id":1}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], -32601);
    let (_, v) = call(&f.ctx, "/", r#"{"method":"help","id":1}"#);
    assert!(!v["result"].as_str().unwrap().contains("Wallet"));
}

#[test]
fn broadcast_reports_core_reject_reasons() {
    let f = fixture("broadcast");
    f.node.generate(&op_true_script(), 101, u64::MAX).unwrap();
    let missing = spend(
        OutPoint::new(Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()), 0),
        Amount::from_sat(1000),
    );
    assert_eq!(
        f.chain.broadcast_transaction(&missing, None, true),
        Err("bad-txns-inputs-missingorspent".to_string())
    );
    let ok = spend(
        coinbase_outpoint(&f.node, 1),
        Amount::from_sat(49_0000_0000),
    );
    assert_eq!(f.chain.broadcast_transaction(&ok, None, true), Ok(()));
    // Broadcasting again is not an error.
    assert_eq!(f.chain.broadcast_transaction(&ok, None, true), Ok(()));
}

//! Blockchain RPCs, with Core's parameter names and result fields.

use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Amount, BlockHash, OutPoint, Txid};
use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::encode::{self, amount, core_double, difficulty, script_pubkey_json, tx_to_json};
use super::error::{code, RpcError};
use super::params::{parse_hash, Params};
use crate::chainstate::{ChainError, ChainState, Entry};
use crate::time;

/// The blockchain commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "dumptxoutset",
            category: "Blockchain",
            params: &["*path", "type"],
            hidden: false,
            handler: dumptxoutset,
        },
        Command {
            name: "getdeploymentinfo",
            category: "Blockchain",
            params: &["blockhash"],
            hidden: false,
            handler: getdeploymentinfo,
        },
        Command {
            name: "preciousblock",
            category: "Blockchain",
            params: &["*blockhash"],
            hidden: false,
            handler: preciousblock,
        },
        Command {
            name: "verifychain",
            category: "Blockchain",
            params: &["checklevel", "nblocks"],
            hidden: false,
            handler: verifychain,
        },
        Command {
            name: "scantxoutset",
            category: "Blockchain",
            params: &["*action", "scanobjects"],
            hidden: false,
            handler: scantxoutset,
        },
        Command {
            name: "syncwithvalidationinterfacequeue",
            category: "Hidden",
            params: &[],
            hidden: true,
            handler: syncwithvalidationinterfacequeue,
        },
        Command {
            name: "getblockchaininfo",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getblockchaininfo,
        },
        Command {
            name: "getblockcount",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getblockcount,
        },
        Command {
            name: "getbestblockhash",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getbestblockhash,
        },
        Command {
            name: "getblockhash",
            category: "Blockchain",
            params: &["*height"],
            hidden: false,
            handler: getblockhash,
        },
        Command {
            name: "getblock",
            category: "Blockchain",
            params: &["*blockhash", "verbosity|verbose"],
            hidden: false,
            handler: getblock,
        },
        Command {
            name: "getblockheader",
            category: "Blockchain",
            params: &["*blockhash", "verbose"],
            hidden: false,
            handler: getblockheader,
        },
        Command {
            name: "getchaintips",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getchaintips,
        },
        Command {
            name: "getdifficulty",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getdifficulty,
        },
        Command {
            name: "gettxout",
            category: "Blockchain",
            params: &["*txid", "*n", "include_mempool"],
            hidden: false,
            handler: gettxout,
        },
        Command {
            name: "gettxoutsetinfo",
            category: "Blockchain",
            params: &["hash_type", "hash_or_height", "use_index"],
            hidden: false,
            handler: gettxoutsetinfo,
        },
        Command {
            name: "waitfornewblock",
            category: "Blockchain",
            params: &["timeout", "current_tip"],
            hidden: true,
            handler: waitfornewblock,
        },
        Command {
            name: "waitforblock",
            category: "Blockchain",
            params: &["*blockhash", "timeout"],
            hidden: true,
            handler: waitforblock,
        },
        Command {
            name: "waitforblockheight",
            category: "Blockchain",
            params: &["*height", "timeout"],
            hidden: true,
            handler: waitforblockheight,
        },
        Command {
            name: "invalidateblock",
            category: "Blockchain",
            params: &["*blockhash"],
            hidden: false,
            handler: invalidateblock,
        },
        Command {
            name: "reconsiderblock",
            category: "Blockchain",
            params: &["*blockhash"],
            hidden: false,
            handler: reconsiderblock,
        },
    ]
}

/// Maps a chainstate failure to an RPC error.
pub fn chain_error(e: ChainError) -> RpcError {
    match e {
        ChainError::Invalid(v) if v.reason == "Block not found" => {
            RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found")
        }
        ChainError::Invalid(v) => RpcError::new(code::VERIFY_ERROR, v.to_string()),
        ChainError::Storage(s) => RpcError::new(code::MISC_ERROR, s),
    }
}

fn block_not_found() -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found")
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Core's `blockheaderToJSON`.
fn header_json(chain: &ChainState, e: &Entry) -> Map<String, Value> {
    let active = chain.is_active(e);
    let confirmations: i64 = if active {
        i64::from(chain.height()) - i64::from(e.height) + 1
    } else {
        -1
    };
    let mut o = Map::new();
    o.insert("hash".into(), json!(e.hash.to_string()));
    o.insert("confirmations".into(), json!(confirmations));
    o.insert("height".into(), json!(e.height));
    let version = e.header.version.to_consensus();
    o.insert("version".into(), json!(version));
    o.insert("versionHex".into(), json!(format!("{version:08x}")));
    o.insert("merkleroot".into(), json!(e.header.merkle_root.to_string()));
    o.insert("time".into(), json!(e.header.time));
    o.insert("mediantime".into(), json!(chain.median_time_past(&e.hash)));
    o.insert("nonce".into(), json!(e.header.nonce));
    o.insert(
        "bits".into(),
        json!(format!("{:08x}", e.header.bits.to_consensus())),
    );
    o.insert(
        "difficulty".into(),
        core_double(difficulty(e.header.bits.to_consensus())),
    );
    o.insert(
        "chainwork".into(),
        json!(hex_lower(&e.chain_work.to_be_bytes())),
    );
    o.insert("nTx".into(), json!(e.n_tx));
    if e.height > 0 {
        o.insert(
            "previousblockhash".into(),
            json!(e.header.prev_blockhash.to_string()),
        );
    }
    if active {
        if let Some(next) = chain.hash_at(e.height + 1) {
            o.insert("nextblockhash".into(), json!(next.to_string()));
        }
    }
    o
}

fn getblockchaininfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let chain = ctx.node.chain();
    let tip = chain.tip();
    Ok(json!({
        "chain": ctx.node.params().chain_name,
        "blocks": chain.height(),
        "headers": chain.best_header_height(),
        "bestblockhash": tip.hash.to_string(),
        "difficulty": core_double(difficulty(tip.header.bits.to_consensus())),
        "time": tip.header.time,
        "mediantime": chain.median_time_past(&tip.hash),
        "verificationprogress": core_double(1.0),
        "initialblockdownload": is_initial_block_download(&chain),
        "chainwork": hex_lower(&tip.chain_work.to_be_bytes()),
        "size_on_disk": chain.size_on_disk(ctx.node.data_dir()),
        "pruned": false,
        "warnings": [],
    }))
}

/// Core's rule: in IBD until the tip is less than a day old (by the node's clock).
pub fn is_initial_block_download(chain: &ChainState) -> bool {
    i64::from(chain.tip().header.time) < time::now() - 24 * 60 * 60
}

fn getblockcount(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!(ctx.node.tip().height))
}

fn getbestblockhash(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!(ctx.node.tip().hash.to_string()))
}

fn getblockhash(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let height = p
        .int(0)?
        .ok_or_else(|| RpcError::invalid_parameter("Block height out of range"))?;
    let chain = ctx.node.chain();
    if height < 0 || height > i64::from(chain.height()) {
        return Err(RpcError::invalid_parameter("Block height out of range"));
    }
    Ok(json!(chain
        .hash_at(height as u32)
        .expect("in range")
        .to_string()))
}

fn lookup(chain: &ChainState, hash: &BlockHash) -> Result<Entry, RpcError> {
    chain.entry(hash).cloned().ok_or_else(block_not_found)
}

fn getblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    let verbosity = match p.get(1) {
        None => 1,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(_) => p.int(1)?.unwrap_or(1),
    };
    let chain = ctx.node.chain();
    let e = lookup(&chain, &hash)?;
    if !e.has_data() {
        return Err(RpcError::misc("Block not available (not fully downloaded)"));
    }
    let block = chain
        .read_block(&e)
        .map_err(|_| RpcError::misc("Block not available (pruned data)"))?;
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&block)));
    }
    let network = ctx.node.params().network;
    let mut o = header_json(&chain, &e);
    let stripped = block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
        + 80
        + varint_len(block.txdata.len());
    o.insert("strippedsize".into(), json!(stripped));
    o.insert("size".into(), json!(block.total_size()));
    o.insert("weight".into(), json!(block.weight().to_wu()));
    let txs: Vec<Value> = if verbosity == 1 {
        block
            .txdata
            .iter()
            .map(|t| json!(t.compute_txid().to_string()))
            .collect()
    } else {
        // Undo data gives the spent outputs for fees (and prevouts at verbosity 3).
        let undo = if chain.is_active(&e) {
            chain.undo(&hash).ok().flatten()
        } else {
            None
        };
        let mut spent = undo.into_iter().flatten();
        block
            .txdata
            .iter()
            .map(|tx| {
                let coins: Vec<_> = if tx.is_coinbase() { Vec::new() } else { spent.by_ref().take(tx.input.len()).collect() };
                let have = !tx.is_coinbase() && coins.len() == tx.input.len();
                let fee = have.then(|| {
                    let inv: u64 = coins.iter().map(|c| c.output.value.to_sat()).sum();
                    Amount::from_sat(inv.saturating_sub(tx.output.iter().map(|o| o.value.to_sat()).sum()))
                });
                let mut v = tx_to_json(tx, network, true, fee);
                if verbosity >= 3 && have {
                    if let Some(vin) = v.get_mut("vin").and_then(Value::as_array_mut) {
                        for (input, coin) in vin.iter_mut().zip(&coins) {
                            input.as_object_mut().expect("object").insert(
                                "prevout".into(),
                                json!({"generated": coin.is_coinbase, "height": coin.height, "value": amount(coin.output.value), "scriptPubKey": script_pubkey_json(&coin.output.script_pubkey, network)}),
                            );
                        }
                    }
                }
                v
            })
            .collect()
    };
    o.insert("tx".into(), Value::Array(txs));
    Ok(Value::Object(o))
}

fn varint_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn getblockheader(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    let verbose = p.bool(1)?.unwrap_or(true);
    let chain = ctx.node.chain();
    let e = lookup(&chain, &hash)?;
    if !verbose {
        return Ok(json!(serialize_hex(&e.header)));
    }
    Ok(Value::Object(header_json(&chain, &e)))
}

fn getchaintips(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let chain = ctx.node.chain();
    let tips: Vec<Value> = chain
        .chain_tips()
        .into_iter()
        .map(|t| json!({"height": t.entry.height, "hash": t.entry.hash.to_string(), "branchlen": t.branch_len, "status": t.status}))
        .collect();
    Ok(Value::Array(tips))
}

fn getdifficulty(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(core_double(difficulty(
        ctx.node.chain().tip().header.bits.to_consensus(),
    )))
}

fn gettxout(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash(p.req_str(0)?, "txid")?;
    let n = p.int(1)?.unwrap_or(0);
    let include_mempool = p.bool(2)?.unwrap_or(true);
    let Ok(vout) = u32::try_from(n) else {
        return Ok(Value::Null);
    };
    let op = OutPoint { txid, vout };
    let chain = ctx.node.chain();
    let network = ctx.node.params().network;
    let coin = if include_mempool {
        // Core's view with the mempool: spends hide coins, pool outputs appear with
        // confirmations 0.
        let pool = ctx.node.mempool();
        if pool.spender(&op).is_some() {
            return Ok(Value::Null);
        }
        if let Some(e) = pool.get(&txid) {
            let Some(out) = e.tx.output.get(vout as usize) else {
                return Ok(Value::Null);
            };
            return Ok(json!({
                "bestblock": chain.tip().hash.to_string(),
                "confirmations": 0,
                "value": amount(out.value),
                "scriptPubKey": script_pubkey_json(&out.script_pubkey, network),
                "coinbase": false,
            }));
        }
        chain.coin(&op).map_err(chain_error)?
    } else {
        chain.coin(&op).map_err(chain_error)?
    };
    let Some(coin) = coin else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "bestblock": chain.tip().hash.to_string(),
        "confirmations": chain.height() - coin.height + 1,
        "value": amount(coin.output.value),
        "scriptPubKey": script_pubkey_json(&coin.output.script_pubkey, network),
        "coinbase": coin.is_coinbase,
    }))
}

fn gettxoutsetinfo(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let with_hash = match p.str(0)? {
        None | Some("hash_serialized_3") => true,
        Some("none") => false,
        Some("muhash") => {
            return Err(RpcError::invalid_parameter(
                "hash_type 'muhash' is not supported yet",
            ))
        }
        Some(other) => {
            return Err(RpcError::invalid_parameter(format!(
                "'{other}' is not a valid hash_type"
            )))
        }
    };
    if p.get(1).is_some() {
        return Err(RpcError::invalid_parameter(
            "Querying specific block heights requires coinstatsindex",
        ));
    }
    let chain = ctx.node.chain();
    let mut coins = Vec::new();
    chain
        .for_each_coin(|op, coin| coins.push((op, coin)))
        .map_err(chain_error)?;
    let txouts = coins.len() as u64;
    let total: u64 = coins.iter().map(|(_, c)| c.output.value.to_sat()).sum();
    // Core's bogo size: txid 32, vout 4, height and coinbase 4, amount 8, length 2.
    let bogosize: u64 = coins
        .iter()
        .map(|(_, c)| 50 + c.output.script_pubkey.len() as u64)
        .sum();
    let mut transactions = 0u64;
    let mut last = None;
    for (op, _) in &coins {
        if last != Some(op.txid) {
            transactions += 1;
            last = Some(op.txid);
        }
    }
    let tip = chain.tip();
    let mut o = Map::new();
    o.insert("height".into(), json!(tip.height));
    o.insert("bestblock".into(), json!(tip.hash.to_string()));
    o.insert("txouts".into(), json!(txouts));
    o.insert("bogosize".into(), json!(bogosize));
    if with_hash {
        let hash = crate::storage::snapshot::hash_serialized(&coins);
        o.insert("hash_serialized_3".into(), json!(hash.to_string()));
    }
    o.insert("total_amount".into(), encode::amount_sat(total));
    o.insert("transactions".into(), json!(transactions));
    o.insert(
        "disk_size".into(),
        json!(chain.size_on_disk(ctx.node.data_dir())),
    );
    Ok(Value::Object(o))
}

fn timeout_arg(p: &Params<'_>, i: usize) -> Result<Option<Duration>, RpcError> {
    match p.int(i)?.unwrap_or(0) {
        t if t < 0 => Err(RpcError::invalid_parameter("Negative timeout")),
        0 => Ok(None),
        t => Ok(Some(Duration::from_millis(t as u64))),
    }
}

fn tip_json(t: crate::node::TipInfo) -> Value {
    json!({"hash": t.hash.to_string(), "height": t.height})
}

fn waitfornewblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let timeout = timeout_arg(p, 0)?;
    let start = match p.str(1)? {
        Some(h) => parse_hash::<BlockHash>(h, "current_tip")?,
        None => ctx.node.tip().hash,
    };
    Ok(tip_json(
        ctx.node.wait_for_tip(timeout, |t| t.hash != start),
    ))
}

fn waitforblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    let timeout = timeout_arg(p, 1)?;
    Ok(tip_json(ctx.node.wait_for_tip(timeout, |t| t.hash == hash)))
}

fn waitforblockheight(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let height = p.int(0)?.unwrap_or(0);
    let timeout = timeout_arg(p, 1)?;
    Ok(tip_json(
        ctx.node
            .wait_for_tip(timeout, |t| i64::from(t.height) >= height),
    ))
}

fn invalidateblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    ctx.node.invalidate_block(&hash).map_err(chain_error)?;
    Ok(Value::Null)
}

fn reconsiderblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    ctx.node.reconsider_block(&hash).map_err(chain_error)?;
    Ok(Value::Null)
}

fn preciousblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let hash: BlockHash = p.block_hash(0, "blockhash")?;
    ctx.node.precious_block(&hash).map_err(chain_error)?;
    Ok(Value::Null)
}

fn verifychain(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    // Core clamps the level into 0..=4 rather than refusing it.
    let level = p.int(0)?.unwrap_or(3);
    let depth = p.int(1)?.unwrap_or(6);
    Ok(json!(ctx
        .node
        .chain()
        .verify_chain(level, depth)
        .map_err(chain_error)?))
}

fn syncwithvalidationinterfacequeue(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    ctx.node.signals().sync();
    Ok(Value::Null)
}

fn scantxoutset(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    match p.req_str(0)? {
        // Scans run to completion inside the call, so there is never one to abort or poll.
        "abort" => return Ok(json!(false)),
        "status" => return Ok(Value::Null),
        "start" => {}
        other => {
            return Err(RpcError::invalid_parameter(format!(
                "Invalid action '{other}'"
            )))
        }
    }
    let Some(Value::Array(objects)) = p.get(1) else {
        return Err(RpcError::invalid_parameter(
            "scanobjects argument is required for the start action",
        ));
    };
    let mut wanted: std::collections::HashMap<bitcoin::ScriptBuf, String> =
        std::collections::HashMap::new();
    for obj in objects {
        // Core scans the first 1000 indices of a ranged descriptor unless told otherwise.
        let (desc, mut range) = match obj {
            Value::String(s) => (s.as_str(), (0, 999)),
            Value::Object(o) => {
                let desc = match o.get("desc") {
                    None | Some(Value::Null) => {
                        return Err(RpcError::invalid_parameter(
                            "Descriptor needs to be provided in scan object",
                        ))
                    }
                    Some(Value::String(s)) => s.as_str(),
                    Some(v) => return Err(RpcError::type_error(v, "string")),
                };
                let range = match o.get("range") {
                    None | Some(Value::Null) => (0, 999),
                    Some(r) => super::util::parse_range(r)?,
                };
                (desc, range)
            }
            _ => {
                return Err(RpcError::invalid_parameter(
                    "Scan object needs to be either a string or an object",
                ))
            }
        };
        let parsed = super::util::parse_descriptor(ctx, desc)?;
        if !parsed.is_range() {
            range = (0, 0);
        }
        for i in range.0..=range.1 {
            let scripts = parsed.expand(i).map_err(|_| {
                RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Cannot derive script without private keys: '{desc}'"),
                )
            })?;
            for e in scripts {
                wanted.entry(e.script).or_insert(e.desc);
            }
        }
    }
    let chain = ctx.node.chain();
    let tip = chain.tip().clone();
    let (mut searched, mut total) = (0u64, 0u64);
    let mut found = Vec::new();
    chain
        .for_each_coin(|op, coin| {
            searched += 1;
            if let Some(desc) = wanted.get(&coin.output.script_pubkey) {
                total += coin.output.value.to_sat();
                found.push((op, coin, desc.clone()));
            }
        })
        .map_err(chain_error)?;
    let unspents: Vec<Value> = found
        .into_iter()
        .map(|(op, coin, desc)| {
            json!({
                "txid": op.txid.to_string(),
                "vout": op.vout,
                "scriptPubKey": hex_lower(coin.output.script_pubkey.as_bytes()),
                "desc": desc,
                "amount": amount(coin.output.value),
                "coinbase": coin.is_coinbase,
                "height": coin.height,
                "blockhash": chain.hash_at(coin.height).map(|h| h.to_string()).unwrap_or_default(),
                "confirmations": tip.height - coin.height + 1,
            })
        })
        .collect();
    Ok(json!({
        "success": true,
        "txouts": searched,
        "height": tip.height,
        "bestblock": tip.hash.to_string(),
        "unspents": unspents,
        "total_amount": encode::amount_sat(total),
    }))
}

fn getdeploymentinfo(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    use crate::versionbits::{self, State};
    let chain = ctx.node.chain();
    let entry = match p.get(0) {
        Some(_) => lookup(&chain, &p.block_hash(0, "blockhash")?)?,
        None => chain.tip().clone(),
    };
    let version_at = |h: u32| {
        chain
            .ancestor(&entry, h)
            .map(|e| e.header.version.to_consensus())
            .unwrap_or(0)
    };
    let buried = |height: u32| json!({"type": "buried", "active": true, "height": height});
    let (current, since) = versionbits::testdummy_state_since(entry.height, version_at);
    let (next, _) = versionbits::testdummy_state_since(entry.height + 1, version_at);
    let mut bip9 = Map::new();
    let has_signal = matches!(current, State::Started | State::LockedIn);
    if has_signal {
        bip9.insert("bit".into(), json!(versionbits::TESTDUMMY_BIT));
    }
    bip9.insert("start_time".into(), json!(0));
    bip9.insert("timeout".into(), json!(i64::MAX));
    bip9.insert("min_activation_height".into(), json!(0));
    bip9.insert("status".into(), json!(current.name()));
    bip9.insert("since".into(), json!(since));
    bip9.insert("status_next".into(), json!(next.name()));
    if has_signal {
        let (period, threshold) = versionbits::period_and_threshold();
        let (elapsed, count, pattern) = versionbits::period_statistics(entry.height, version_at);
        let mut stats = Map::new();
        stats.insert("period".into(), json!(period));
        if current == State::Started {
            stats.insert("threshold".into(), json!(threshold));
        }
        stats.insert("elapsed".into(), json!(elapsed));
        stats.insert("count".into(), json!(count));
        if current == State::Started {
            stats.insert(
                "possible".into(),
                json!((period as usize - threshold) >= (elapsed as usize - count)),
            );
        }
        bip9.insert("statistics".into(), Value::Object(stats));
        bip9.insert("signalling".into(), json!(pattern));
    }
    let mut testdummy = Map::new();
    testdummy.insert("type".into(), json!("bip9"));
    if current == State::Active {
        testdummy.insert("height".into(), json!(since));
    }
    testdummy.insert("active".into(), json!(next == State::Active));
    testdummy.insert("bip9".into(), Value::Object(bip9));
    Ok(json!({
        "hash": entry.hash.to_string(),
        "height": entry.height,
        "deployments": {
            "bip34": buried(1),
            "bip66": buried(1),
            "bip65": buried(1),
            "csv": buried(1),
            "segwit": buried(0),
            "testdummy": Value::Object(testdummy),
            "taproot": {
                "type": "bip9",
                "height": 0,
                "active": true,
                "bip9": {"start_time": -1, "timeout": i64::MAX, "min_activation_height": 0, "status": "active", "since": 0, "status_next": "active"},
            },
        },
    }))
}

fn dumptxoutset(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let name = p.req_str(0)?;
    match p.str(1)? {
        None | Some("") | Some("latest") => {}
        Some("rollback") => return Err(RpcError::invalid_parameter("Rolling back to an older snapshot height is not supported yet")),
        Some(other) => return Err(RpcError::invalid_parameter(format!("Invalid snapshot type \"{other}\" specified. Please specify \"rollback\" or \"latest\"")))
    }
    let path = crate::args::abs_path(ctx.node.data_dir(), name);
    if path.exists() {
        return Err(RpcError::invalid_parameter(format!(
            "{} already exists. If you are sure this is what you want, move it out of the way first.",
            path.display()
        )));
    }
    let chain = ctx.node.chain();
    let mut coins = Vec::new();
    chain
        .for_each_coin(|op, coin| coins.push((op, coin)))
        .map_err(chain_error)?;
    let tip = chain.tip().clone();
    let incomplete = std::path::PathBuf::from(format!("{}.incomplete", path.display()));
    let mut file = std::fs::File::create(&incomplete).map_err(|_| {
        RpcError::invalid_parameter(format!(
            "Couldn't open file {} for writing.",
            incomplete.display()
        ))
    })?;
    let written = crate::storage::snapshot::write_snapshot(
        &mut file,
        ctx.node.params().magic,
        &tip.hash,
        &coins,
    )
    .and_then(|n| file.sync_all().map(|()| n))
    .and_then(|n| std::fs::rename(&incomplete, &path).map(|()| n))
    .map_err(|e| RpcError::misc(format!("Unable to write snapshot: {e}")))?;
    let nchaintx: u64 = (0..=tip.height)
        .filter_map(|h| chain.hash_at(h))
        .filter_map(|h| chain.entry(&h))
        .map(|e| u64::from(e.n_tx))
        .sum();
    Ok(json!({
        "coins_written": written,
        "base_hash": tip.hash.to_string(),
        "base_height": tip.height,
        "path": path.display().to_string(),
        "txoutset_hash": crate::storage::snapshot::hash_serialized(&coins).to_string(),
        "nchaintx": nchaintx,
    }))
}

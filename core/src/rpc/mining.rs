//! Mining RPCs: `generatetoaddress`, `generatetodescriptor`, `generateblock`,
//! `submitblock`, `getmininginfo`.

use std::str::FromStr;

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::{Address, Amount, Block, ScriptBuf, Transaction, Txid};
use serde_json::{json, Value};

use super::blockchain::chain_error;
use super::dispatch::{Command, RpcContext};
use super::encode::{core_double, difficulty};
use super::error::{code, RpcError};
use super::params::{parse_hash, parse_hex, Params};
use crate::chainstate::ChainError;
use crate::mining::{assemble_block, solve};
use crate::time;
use crate::validation::checks::has_witness_commitment;

/// Core's default `maxtries`.
const DEFAULT_MAX_TRIES: i64 = 1_000_000;

/// The mining commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "submitheader",
            category: "Mining",
            params: &["*hexdata"],
            hidden: false,
            handler: submitheader,
        },
        Command {
            name: "getblocktemplate",
            category: "Mining",
            params: &["template_request"],
            hidden: false,
            handler: getblocktemplate,
        },
        Command {
            name: "generatetoaddress",
            category: "Generating",
            params: &["*nblocks", "*address", "maxtries"],
            hidden: false,
            handler: generatetoaddress,
        },
        Command {
            name: "generatetodescriptor",
            category: "Generating",
            params: &["*num_blocks", "*descriptor", "maxtries"],
            hidden: false,
            handler: generatetodescriptor,
        },
        Command {
            name: "generateblock",
            category: "Generating",
            params: &["*output", "*transactions", "submit"],
            hidden: false,
            handler: generateblock,
        },
        Command {
            name: "submitblock",
            category: "Mining",
            params: &["*hexdata", "dummy"],
            hidden: false,
            handler: submitblock,
        },
        Command {
            name: "getmininginfo",
            category: "Mining",
            params: &[],
            hidden: false,
            handler: getmininginfo,
        },
    ]
}

fn address_script(ctx: &RpcContext, s: &str) -> Result<ScriptBuf, RpcError> {
    Address::from_str(s)
        .ok()
        .and_then(|a| a.require_network(ctx.node.params().network).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))
}

fn generate(ctx: &RpcContext, p: &Params<'_>, script: ScriptBuf) -> Result<Value, RpcError> {
    let n = p.int(0)?.unwrap_or(0);
    let max_tries = p.int(2)?.unwrap_or(DEFAULT_MAX_TRIES);
    if max_tries < 0 {
        return Err(RpcError::invalid_parameter("maxtries must not be negative"));
    }
    let n = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let hashes = ctx
        .node
        .generate(&script, n, max_tries as u64)
        .map_err(chain_error)?;
    Ok(Value::Array(
        hashes.into_iter().map(|h| json!(h.to_string())).collect(),
    ))
}

fn generatetoaddress(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let script = address_script(ctx, p.req_str(1)?)?;
    generate(ctx, p, script)
}

/// Core's `getScriptFromDescriptor`: one script from a non-ranged descriptor.
fn descriptor_script(ctx: &RpcContext, s: &str) -> Result<ScriptBuf, RpcError> {
    let desc = super::util::parse_descriptor(ctx, s)?;
    if desc.is_range() {
        return Err(RpcError::invalid_parameter(
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
        ));
    }
    desc.coinbase_script()
        .map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))
}

fn generatetodescriptor(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let script = descriptor_script(ctx, p.req_str(1)?)?;
    generate(ctx, p, script)
}

fn generateblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let output = p.req_str(0)?;
    let script = address_script(ctx, output).or_else(|_| {
        descriptor_script(ctx, output).map_err(|e| {
            RpcError::new(
                code::INVALID_ADDRESS_OR_KEY,
                format!("Error: Invalid address or descriptor ({})", e.message),
            )
        })
    })?;
    let Some(Value::Array(items)) = p.get(1) else {
        return Err(RpcError::type_error(
            p.get(1).unwrap_or(&Value::Null),
            "array",
        ));
    };
    let submit = p.bool(2)?.unwrap_or(true);
    let params = ctx.node.params().clone();
    let mut block = {
        let chain = ctx.node.chain();
        let pool = ctx.node.mempool();
        let mut txs: Vec<Transaction> = Vec::new();
        for item in items {
            let s = item
                .as_str()
                .ok_or_else(|| RpcError::type_error(item, "string"))?;
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                let txid: Txid = parse_hash(s, "txid")?;
                let entry = pool.get(&txid).ok_or_else(|| {
                    RpcError::new(
                        code::INVALID_ADDRESS_OR_KEY,
                        format!("Transaction {s} not in mempool."),
                    )
                })?;
                txs.push(entry.tx.clone());
                continue;
            }
            let decode_err = || {
                RpcError::new(code::DESERIALIZATION_ERROR, format!("Transaction decode failed for {s}. Make sure the tx has at least one input."))
            };
            let bytes = parse_hex(s, "transaction").map_err(|_| decode_err())?;
            txs.push(deserialize(&bytes).map_err(|_| decode_err())?);
        }
        // Fees: inputs found earlier in the block or in the UTXO set, minus outputs. A
        // missing input makes the fee 0 here and the block invalid below.
        let mut fees = 0u64;
        for (i, tx) in txs.iter().enumerate() {
            let mut value_in = 0u64;
            for input in &tx.input {
                let op = input.previous_output;
                let earlier = txs[..i]
                    .iter()
                    .find(|t| t.compute_txid() == op.txid)
                    .and_then(|t| t.output.get(op.vout as usize))
                    .map(|o| o.value.to_sat());
                let stored = chain
                    .coin(&op)
                    .ok()
                    .flatten()
                    .map(|c| c.output.value.to_sat());
                value_in += earlier.or(stored).unwrap_or(0);
            }
            fees += value_in.saturating_sub(tx.output.iter().map(|o| o.value.to_sat()).sum());
        }
        let block_ctx = chain.next_block_context(time::now());
        assemble_block(&params, block_ctx, script, txs, Amount::from_sat(fees))
    };
    let mut tries = u64::MAX;
    solve(&mut block, &params, &mut tries);
    let hash = block.block_hash();
    let test = if submit {
        ctx.node.submit_block(&block)
    } else {
        ctx.node.test_block_validity(&block)
    };
    match test {
        Ok(()) if submit => Ok(json!({"hash": hash.to_string()})),
        Ok(()) => Ok(json!({"hash": hash.to_string(), "hex": serialize_hex(&block)})),
        Err(ChainError::Invalid(e)) => Err(RpcError::new(
            code::VERIFY_ERROR,
            format!("TestBlockValidity failed: {}", e.reason),
        )),
        Err(e) => Err(chain_error(e)),
    }
}

fn submitblock(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let bytes = parse_hex(p.req_str(0)?, "hexdata")
        .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    let mut block: Block = deserialize(&bytes)
        .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    if block.txdata.first().is_none_or(|t| !t.is_coinbase()) {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "Block does not start with a coinbase",
        ));
    }
    fill_witness_reserved_value(&mut block);
    let best_before = ctx.node.tip().hash;
    match ctx.node.submit_block(&block) {
        Ok(()) if ctx.node.tip().hash == best_before => Ok(json!("inconclusive")),
        Ok(()) => Ok(Value::Null),
        Err(ChainError::Invalid(e)) => Ok(json!(e.reason)),
        Err(e) => Err(chain_error(e)),
    }
}

/// Core's `UpdateUncommittedBlockStructures`: a block with a witness commitment but no
/// coinbase witness gets the all-zero reserved value (segwit is active from genesis on
/// regtest), so miners may leave it out.
fn fill_witness_reserved_value(block: &mut Block) {
    let Some(coinbase) = block.txdata.first_mut() else {
        return;
    };
    let has_witness = coinbase.input.iter().any(|i| !i.witness.is_empty());
    if has_witness_commitment(coinbase) && !has_witness {
        if let Some(input) = coinbase.input.first_mut() {
            input.witness = bitcoin::Witness::from_slice(&[[0u8; 32]]);
        }
    }
}

fn getmininginfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let chain = ctx.node.chain();
    let tip = chain.tip().clone();
    // Core's getnetworkhashps over the last 120 blocks.
    let lookup = tip.height.min(120);
    let hashps = if lookup == 0 {
        0.0
    } else {
        let base = chain
            .ancestor(&tip, tip.height - lookup)
            .expect("ancestor exists");
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for h in base.height..=tip.height {
            let t = i64::from(
                chain
                    .entry(&chain.hash_at(h).expect("active"))
                    .expect("known")
                    .header
                    .time,
            );
            min_t = min_t.min(t);
            max_t = max_t.max(t);
        }
        if max_t == min_t {
            0.0
        } else {
            let work = tip.chain_work - base.chain_work;
            let w =
                u128::from_be_bytes(work.to_be_bytes()[16..].try_into().expect("16 bytes")) as f64;
            w / (max_t - min_t) as f64
        }
    };
    Ok(json!({
        "blocks": tip.height,
        "difficulty": core_double(difficulty(tip.header.bits.to_consensus())),
        "networkhashps": core_double(hashps),
        "pooledtx": ctx.node.mempool().len(),
        "chain": ctx.node.params().chain_name,
        "warnings": [],
    }))
}

fn getblocktemplate(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let request = match p.get(0) {
        None => serde_json::Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => return Err(RpcError::type_error(other, "object")),
    };
    let mode = match request.get("mode") {
        None => "template",
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(RpcError::invalid_parameter("Invalid mode")),
    };
    if mode == "proposal" {
        let data = request.get("data").and_then(Value::as_str).ok_or_else(|| {
            RpcError::new(code::TYPE_ERROR, "Missing data String key for proposal")
        })?;
        let bytes = parse_hex(data, "data")
            .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
        let block: Block = deserialize(&bytes)
            .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
        if let Some(e) = ctx.node.chain().entry(&block.block_hash()) {
            return Ok(json!(if e.is_failed() {
                "duplicate-invalid"
            } else {
                "duplicate"
            }));
        }
        return match ctx.node.test_block_validity(&block) {
            Ok(()) => Ok(Value::Null),
            Err(ChainError::Invalid(e)) => Ok(json!(e.reason)),
            Err(e) => Err(chain_error(e)),
        };
    }
    if mode != "template" {
        return Err(RpcError::invalid_parameter("Invalid mode"));
    }
    let has_segwit = request
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|v| v.as_str() == Some("segwit")));
    if !has_segwit {
        return Err(RpcError::invalid_parameter("getblocktemplate must be called with the segwit rule set (call with {\"rules\": [\"segwit\"]})"));
    }
    let params = ctx.node.params().clone();
    let chain = ctx.node.chain();
    let pool = ctx.node.mempool();
    let (txs, fees) = pool.select_for_block(4_000_000 - 4_000);
    let block_ctx = chain.next_block_context(time::now());
    let (height, prev, min_time) = (block_ctx.height, block_ctx.prev, block_ctx.min_time);
    let now = block_ctx.now.max(min_time);
    let block = assemble_block(
        &params,
        block_ctx,
        ScriptBuf::new(),
        txs.clone(),
        Amount::from_sat(fees),
    );
    let commitment = block.txdata[0]
        .output
        .last()
        .map(|o| o.script_pubkey.clone())
        .unwrap_or_default();
    let index_of: std::collections::HashMap<Txid, usize> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| (t.compute_txid(), i + 1))
        .collect();
    let mut entries = Vec::with_capacity(txs.len());
    for tx in &txs {
        let txid = tx.compute_txid();
        let e = pool.get(&txid).expect("selected from the pool");
        let mut depends: Vec<usize> = tx
            .input
            .iter()
            .filter_map(|i| index_of.get(&i.previous_output.txid).copied())
            .collect();
        depends.sort_unstable();
        depends.dedup();
        let sigops = tx.total_sigop_cost(|op| {
            pool.get(&op.txid)
                .and_then(|p| p.tx.output.get(op.vout as usize).cloned())
                .or_else(|| chain.coin(op).ok().flatten().map(|c| c.output))
        });
        entries.push(json!({
            "data": serialize_hex(tx),
            "txid": txid.to_string(),
            "hash": tx.compute_wtxid().to_string(),
            "depends": depends,
            "fee": e.fee,
            "sigops": sigops,
            "weight": e.weight,
        }));
    }
    let target = params.pow_limit().to_be_bytes();
    // Deployments being signalled, as Core lists them.
    let mut vbavailable = serde_json::Map::new();
    if block.header.version.to_consensus() & (1 << crate::versionbits::TESTDUMMY_BIT) != 0 {
        vbavailable.insert("testdummy".into(), json!(crate::versionbits::TESTDUMMY_BIT));
    }
    Ok(json!({
        "capabilities": ["proposal"],
        "version": block.header.version.to_consensus(),
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": vbavailable,
        "vbrequired": 0,
        "previousblockhash": prev.to_string(),
        "transactions": entries,
        "coinbaseaux": {},
        "coinbasevalue": params.subsidy(height).to_sat() + fees,
        "longpollid": format!("{prev}{}", pool.sequence()),
        "target": target.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "mintime": min_time,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80_000,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": now,
        "bits": format!("{:08x}", params.pow_limit_bits.to_consensus()),
        "height": height,
        "default_witness_commitment": commitment.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>(),
    }))
}

fn submitheader(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let decode_err = || RpcError::new(code::DESERIALIZATION_ERROR, "Block header decode failed");
    let bytes = parse_hex(p.req_str(0)?, "hexdata").map_err(|_| decode_err())?;
    let header: bitcoin::block::Header = deserialize(&bytes).map_err(|_| decode_err())?;
    match ctx.node.submit_header(&header) {
        Ok(()) => Ok(Value::Null),
        Err(ChainError::Invalid(e)) => Err(RpcError::new(code::VERIFY_ERROR, e.reason)),
        Err(e) => Err(chain_error(e)),
    }
}

//! Mempool RPCs: `getmempoolinfo`, `getrawmempool`, `getmempoolentry`,
//! `getmempoolancestors`, `getmempooldescendants`.

use bitcoin::{Sequence, Txid};
use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::encode::amount_sat;
use super::error::{code, RpcError};
use super::params::{parse_hash, Params};
use crate::mempool::Mempool;
use crate::policy;

/// The mempool commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "savemempool",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: savemempool,
        },
        Command {
            name: "getmempoolinfo",
            category: "Blockchain",
            params: &[],
            hidden: false,
            handler: getmempoolinfo,
        },
        Command {
            name: "getrawmempool",
            category: "Blockchain",
            params: &["verbose", "mempool_sequence"],
            hidden: false,
            handler: getrawmempool,
        },
        Command {
            name: "getmempoolentry",
            category: "Blockchain",
            params: &["*txid"],
            hidden: false,
            handler: getmempoolentry,
        },
        Command {
            name: "getmempoolancestors",
            category: "Blockchain",
            params: &["*txid", "verbose"],
            hidden: false,
            handler: getmempoolancestors,
        },
        Command {
            name: "getmempooldescendants",
            category: "Blockchain",
            params: &["*txid", "verbose"],
            hidden: false,
            handler: getmempooldescendants,
        },
    ]
}

/// Core's `entryToJSON`.
fn entry_json(pool: &Mempool, txid: &Txid) -> Value {
    let e = pool.get(txid).expect("caller checked");
    let anc = pool.ancestors(txid);
    let desc = pool.descendants(txid);
    let sum = |set: &std::collections::HashSet<Txid>,
               f: &dyn Fn(&crate::mempool::Entry) -> u64|
     -> u64 { set.iter().filter_map(|t| pool.get(t)).map(f).sum() };
    let anc_fee = sum(&anc, &|x| x.fee) + e.fee;
    let desc_fee = sum(&desc, &|x| x.fee) + e.fee;
    let signals = |t: &crate::mempool::Entry| {
        t.tx.input
            .iter()
            .any(|i| i.sequence < Sequence::ENABLE_LOCKTIME_NO_RBF)
    };
    let replaceable = signals(e) || anc.iter().filter_map(|t| pool.get(t)).any(signals);
    let depends: Vec<Value> = pool
        .parents(&e.tx)
        .into_iter()
        .map(|t| json!(t.to_string()))
        .collect();
    let spentby: Vec<Value> = pool
        .children(txid)
        .into_iter()
        .map(|t| json!(t.to_string()))
        .collect();
    json!({
        "vsize": e.vsize,
        "weight": e.weight,
        "time": e.time,
        "height": e.height,
        "descendantcount": desc.len() + 1,
        "descendantsize": sum(&desc, &|x| x.vsize) + e.vsize,
        "ancestorcount": anc.len() + 1,
        "ancestorsize": sum(&anc, &|x| x.vsize) + e.vsize,
        "wtxid": e.wtxid.to_string(),
        "fees": {"base": amount_sat(e.fee), "modified": amount_sat(e.fee), "ancestor": amount_sat(anc_fee), "descendant": amount_sat(desc_fee)},
        "depends": depends,
        "spentby": spentby,
        "bip125-replaceable": replaceable,
        "unbroadcast": false,
    })
}

fn getmempoolinfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let mut pool = ctx.node.mempool();
    let bytes: u64 = pool.entries().map(|e| e.vsize).sum();
    let fee: u64 = pool.entries().map(|e| e.fee).sum();
    let min_fee = pool.min_fee_rate().max(pool.min_relay_fee);
    Ok(json!({
        "loaded": true,
        "size": pool.len(),
        "bytes": bytes,
        "usage": pool.usage(),
        "total_fee": amount_sat(fee),
        "maxmempool": pool.options().max_bytes,
        "mempoolminfee": amount_sat(min_fee),
        "minrelaytxfee": amount_sat(pool.min_relay_fee),
        "incrementalrelayfee": amount_sat(policy::INCREMENTAL_RELAY_FEE),
        "unbroadcastcount": 0,
        "fullrbf": true,
    }))
}

fn sorted_txids(pool: &Mempool) -> Vec<Txid> {
    let mut ids: Vec<Txid> = pool.entries().map(|e| e.txid).collect();
    ids.sort();
    ids
}

fn getrawmempool(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let verbose = p.bool(0)?.unwrap_or(false);
    let sequence = p.bool(1)?.unwrap_or(false);
    if verbose && sequence {
        return Err(RpcError::invalid_parameter(
            "Verbose results cannot contain mempool sequence values.",
        ));
    }
    let pool = ctx.node.mempool();
    let ids = sorted_txids(&pool);
    if verbose {
        let mut o = Map::new();
        for id in &ids {
            o.insert(id.to_string(), entry_json(&pool, id));
        }
        return Ok(Value::Object(o));
    }
    let list: Vec<Value> = ids.iter().map(|t| json!(t.to_string())).collect();
    if sequence {
        return Ok(json!({"txids": list, "mempool_sequence": pool.sequence()}));
    }
    Ok(Value::Array(list))
}

fn pooled_txid(ctx: &RpcContext, p: &Params<'_>) -> Result<Txid, RpcError> {
    let txid: Txid = parse_hash(p.req_str(0)?, "txid")?;
    if ctx.node.mempool().get(&txid).is_none() {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Transaction not in mempool",
        ));
    }
    Ok(txid)
}

fn getmempoolentry(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let txid = pooled_txid(ctx, p)?;
    let pool = ctx.node.mempool();
    Ok(entry_json(&pool, &txid))
}

fn related(ctx: &RpcContext, p: &Params<'_>, ancestors: bool) -> Result<Value, RpcError> {
    let txid = pooled_txid(ctx, p)?;
    let verbose = p.bool(1)?.unwrap_or(false);
    let pool = ctx.node.mempool();
    let mut set: Vec<Txid> = if ancestors {
        pool.ancestors(&txid)
    } else {
        pool.descendants(&txid)
    }
    .into_iter()
    .collect();
    set.sort();
    if verbose {
        let mut o = Map::new();
        for id in &set {
            o.insert(id.to_string(), entry_json(&pool, id));
        }
        return Ok(Value::Object(o));
    }
    Ok(Value::Array(
        set.iter().map(|t| json!(t.to_string())).collect(),
    ))
}

fn getmempoolancestors(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    related(ctx, p, true)
}

fn getmempooldescendants(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    related(ctx, p, false)
}

fn savemempool(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    ctx.node
        .save_mempool()
        .map_err(|e| RpcError::misc(format!("Unable to dump mempool to disk: {e}")))?;
    Ok(json!({"filename": ctx.node.mempool_path().display().to_string()}))
}

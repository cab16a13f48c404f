//! Balance and history RPCs: balances, unspent outputs, transaction lists, received
//! amounts, abandoning and locking coins.

use std::collections::{BTreeMap, HashSet};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{BlockHash, OutPoint, Txid};
use serde_json::{json, Map, Value};

use super::addresses::addr_of;
use super::{amount_param, Def, Req};
use crate::rpc::encode::amount_sat;
use crate::rpc::error::RpcError;
use crate::rpc::params::parse_hash;
use crate::wallet::keys;
use crate::wallet::model::{State, TxState, WalletTx};

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "getbalance",
        params: &["dummy", "minconf", "include_watchonly", "avoid_reuse"],
        handler: getbalance,
    },
    Def {
        name: "getbalances",
        params: &[],
        handler: getbalances,
    },
    Def {
        name: "listunspent",
        params: &[
            "minconf",
            "maxconf",
            "addresses",
            "include_unsafe",
            "query_options",
        ],
        handler: listunspent,
    },
    Def {
        name: "listtransactions",
        params: &["label", "count", "skip", "include_watchonly"],
        handler: listtransactions,
    },
    Def {
        name: "listsinceblock",
        params: &[
            "blockhash",
            "target_confirmations",
            "include_watchonly",
            "include_removed",
            "include_change",
            "label",
        ],
        handler: listsinceblock,
    },
    Def {
        name: "gettransaction",
        params: &["*txid", "include_watchonly", "verbose"],
        handler: gettransaction,
    },
    Def {
        name: "getreceivedbyaddress",
        params: &["*address", "minconf", "include_immature_coinbase"],
        handler: getreceivedbyaddress,
    },
    Def {
        name: "listreceivedbyaddress",
        params: &[
            "minconf",
            "include_empty",
            "include_watchonly",
            "address_filter",
            "include_immature_coinbase",
        ],
        handler: listreceivedbyaddress,
    },
    Def {
        name: "getreceivedbylabel",
        params: &["*label", "minconf", "include_immature_coinbase"],
        handler: getreceivedbylabel,
    },
    Def {
        name: "listreceivedbylabel",
        params: &[
            "minconf",
            "include_empty",
            "include_watchonly",
            "include_immature_coinbase",
        ],
        handler: listreceivedbylabel,
    },
    Def {
        name: "abandontransaction",
        params: &["*txid"],
        handler: abandontransaction,
    },
    Def {
        name: "lockunspent",
        params: &["*unlock", "transactions", "persistent"],
        handler: lockunspent,
    },
    Def {
        name: "listlockunspent",
        params: &[],
        handler: listlockunspent,
    },
];

/// A signed amount as Core prints it.
pub fn signed_amount(sat: i64) -> Value {
    let a = sat.unsigned_abs();
    let s = format!(
        "{}{}.{:08}",
        if sat < 0 { "-" } else { "" },
        a / 100_000_000,
        a % 100_000_000
    );
    serde_json::from_str(&s).expect("valid number")
}

fn min_conf(v: Option<i64>, default: i64) -> i64 {
    v.unwrap_or(default)
}

fn getbalance(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    if let Some(d) = r.p.get(0) {
        if d.as_str() != Some("*") {
            return Err(RpcError::new(
                -32,
                "dummy first argument must be excluded or set to \"*\".",
            ));
        }
    }
    let minconf = min_conf(r.p.int(1)?, 0);
    let zc = w.spend_zero_conf_change();
    let trusted = w.state().balance(minconf, zc).trusted;
    Ok(amount_sat(trusted))
}

fn getbalances(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let zc = w.spend_zero_conf_change();
    let s = w.state();
    let b = s.balance(0, zc);
    let mut m = Map::new();
    m.insert(
        "mine".into(),
        json!({
            "trusted": amount_sat(b.trusted),
            "untrusted_pending": amount_sat(b.untrusted_pending),
            "immature": amount_sat(b.immature),
        }),
    );
    if let Some((h, height)) = s.last_block {
        m.insert(
            "lastprocessedblock".into(),
            json!({"hash": h.to_string(), "height": height}),
        );
    }
    Ok(Value::Object(m))
}

fn listunspent(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let minconf = r.p.int(0)?.unwrap_or(1);
    let maxconf = r.p.int(1)?.unwrap_or(9_999_999);
    let mut filter: Option<HashSet<bitcoin::ScriptBuf>> = None;
    if let Some(v) = r.p.get(2) {
        let arr = v
            .as_array()
            .ok_or_else(|| RpcError::type_error(v, "array"))?;
        let mut set = HashSet::new();
        for a in arr {
            let s = a
                .as_str()
                .ok_or_else(|| RpcError::type_error(a, "string"))?;
            let addr = keys::parse_address(s)
                .ok_or_else(|| RpcError::new(-5, format!("Invalid Bitcoin address: {s}")))?;
            if !set.insert(addr.script_pubkey()) {
                return Err(RpcError::invalid_parameter(format!(
                    "Invalid parameter, duplicated address: {s}"
                )));
            }
        }
        filter = Some(set);
    }
    let include_unsafe = r.p.bool(3)?.unwrap_or(true);
    let mut min_amount = 0u64;
    let mut max_amount = u64::MAX;
    let mut max_count = u64::MAX;
    let mut min_sum = u64::MAX;
    let mut include_immature = false;
    if let Some(q) = r.p.get(4) {
        let q = q
            .as_object()
            .ok_or_else(|| RpcError::type_error(q, "object"))?;
        if let Some(v) = q.get("minimumAmount") {
            min_amount = amount_param(v)?.to_sat();
        }
        if let Some(v) = q.get("maximumAmount") {
            max_amount = amount_param(v)?.to_sat();
        }
        if let Some(v) = q.get("minimumSumAmount") {
            min_sum = amount_param(v)?.to_sat();
        }
        if let Some(v) = q.get("maximumCount") {
            max_count = v.as_u64().unwrap_or(u64::MAX);
        }
        include_immature = q
            .get("include_immature_coinbase")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    }
    let zc = w.spend_zero_conf_change();
    let s = w.state();
    let mut coins = s.available_coins(minconf, maxconf, include_unsafe, false, zc);
    if include_immature {
        for (txid, wtx) in &s.txs {
            if s.is_immature(wtx) {
                let depth = s.depth(wtx);
                if depth < minconf || depth > maxconf {
                    continue;
                }
                for (v, o) in wtx.tx.output.iter().enumerate() {
                    let op = OutPoint::new(*txid, v as u32);
                    if s.is_mine(&o.script_pubkey) && !s.is_spent(&op) {
                        coins.push(crate::wallet::model::Coin {
                            outpoint: op,
                            txout: o.clone(),
                            depth,
                            safe: true,
                            coinbase: true,
                        });
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut sum = 0u64;
    for c in coins {
        let v = c.txout.value.to_sat();
        if v < min_amount || v > max_amount {
            continue;
        }
        if filter
            .as_ref()
            .is_some_and(|f| !f.contains(&c.txout.script_pubkey))
        {
            continue;
        }
        let mut m = Map::new();
        m.insert("txid".into(), json!(c.outpoint.txid.to_string()));
        m.insert("vout".into(), json!(c.outpoint.vout));
        if let Some(a) = addr_of(&c.txout.script_pubkey) {
            if let Some(e) = s.book.get(&a) {
                m.insert("address".into(), json!(a));
                m.insert("label".into(), json!(e.label));
            } else {
                m.insert("address".into(), json!(a));
            }
        }
        m.insert(
            "scriptPubKey".into(),
            json!(c.txout.script_pubkey.to_hex_string()),
        );
        m.insert("amount".into(), amount_sat(v));
        m.insert("confirmations".into(), json!(c.depth));
        if c.depth == 0 {
            // Filled in below, once the wallet lock is released.
            m.insert("ancestorcount".into(), Value::Null);
        }
        m.insert("spendable".into(), json!(true));
        m.insert("solvable".into(), json!(true));
        if let Some((d, idx)) = s.script_origin(&c.txout.script_pubkey) {
            if let Ok(list) = d.expanded_at(idx) {
                if let Some(e) = list.into_iter().find(|e| e.script == c.txout.script_pubkey) {
                    m.insert("desc".into(), json!(e.desc));
                }
            }
            m.insert("parent_descs".into(), json!([d.public]));
        }
        m.insert("safe".into(), json!(c.safe));
        out.push(Value::Object(m));
        sum += v;
        if out.len() as u64 >= max_count || sum >= min_sum {
            break;
        }
    }
    drop(s);
    for v in &mut out {
        if v.get("ancestorcount").is_some() {
            let txid: Option<Txid> = v["txid"].as_str().and_then(|t| t.parse().ok());
            if let Some(t) = txid {
                let (anc, _) = w.chain.get_transaction_ancestry(&t);
                v["ancestorcount"] = json!(anc);
            }
        }
    }
    Ok(Value::Array(out))
}

/// Core's `GetTxTime`-like smart time: when first seen, or the block time if earlier.
fn tx_time(w: &WalletTx) -> i64 {
    match &w.state {
        TxState::Confirmed { time, .. } => w.time_received.min(*time),
        _ => w.time_received,
    }
}

/// Core's `WalletTxToJSON`.
fn wallet_tx_fields(s: &State, w: &WalletTx, zc: bool, m: &mut Map<String, Value>) {
    let depth = s.depth(w);
    m.insert("confirmations".into(), json!(depth));
    if w.tx.is_coinbase() {
        m.insert("generated".into(), json!(true));
    }
    if let TxState::Confirmed {
        block,
        height,
        index,
        time,
    } = &w.state
    {
        m.insert("blockhash".into(), json!(block.to_string()));
        m.insert("blockheight".into(), json!(height));
        m.insert("blockindex".into(), json!(index));
        m.insert("blocktime".into(), json!(time));
    } else {
        m.insert("trusted".into(), json!(s.is_trusted(w, zc)));
    }
    let txid = w.txid();
    m.insert("txid".into(), json!(txid.to_string()));
    m.insert("wtxid".into(), json!(w.tx.compute_wtxid().to_string()));
    let conflicts: Vec<String> = s.conflicts(&txid).iter().map(|t| t.to_string()).collect();
    m.insert("walletconflicts".into(), json!(conflicts));
    if let Some(t) = w.replaced_by {
        m.insert("replaced_by_txid".into(), json!(t.to_string()));
    }
    if let Some(t) = w.replaces {
        m.insert("replaces_txid".into(), json!(t.to_string()));
    }
    m.insert("mempoolconflicts".into(), json!([]));
    m.insert("time".into(), json!(tx_time(w)));
    m.insert("timereceived".into(), json!(w.time_received));
    if let Some(c) = &w.comment {
        m.insert("comment".into(), json!(c));
    }
    if let Some(c) = &w.comment_to {
        m.insert("to".into(), json!(c));
    }
    let rbf = if depth != 0 {
        "no"
    } else if w.tx.input.iter().any(|i| i.sequence.is_rbf()) {
        "yes"
    } else {
        "no"
    };
    m.insert("bip125-replaceable".into(), json!(rbf));
}

/// One `details` / `listtransactions` entry before the shared fields.
struct Entry {
    address: Option<String>,
    category: &'static str,
    amount: i64,
    vout: u32,
    fee: Option<i64>,
    send: bool,
}

/// Core's `CachedTxGetAmounts` turned into entries (sent first, then received).
fn entries(s: &State, w: &WalletTx, include_change: bool) -> Vec<Entry> {
    let debit = s.debit(&w.tx);
    let mut out = Vec::new();
    let out_total: u64 = w.tx.output.iter().map(|o| o.value.to_sat()).sum();
    let fee =
        (debit > 0 && s.all_inputs_mine(&w.tx)).then(|| debit.saturating_sub(out_total) as i64);
    let mut received = Vec::new();
    for (vout, o) in w.tx.output.iter().enumerate() {
        let mine = s.is_mine(&o.script_pubkey);
        if debit > 0 {
            if !include_change && s.is_change(o) {
                continue;
            }
        } else if !mine {
            continue;
        }
        let address = addr_of(&o.script_pubkey);
        if debit > 0 {
            out.push(Entry {
                address: address.clone(),
                category: "send",
                amount: -(o.value.to_sat() as i64),
                vout: vout as u32,
                fee: Some(-fee.unwrap_or(0)),
                send: true,
            });
        }
        if mine {
            let category = if w.tx.is_coinbase() {
                if s.depth(w) < 1 {
                    "orphan"
                } else if s.is_immature(w) {
                    "immature"
                } else {
                    "generate"
                }
            } else {
                "receive"
            };
            received.push(Entry {
                address,
                category,
                amount: o.value.to_sat() as i64,
                vout: vout as u32,
                fee: None,
                send: false,
            });
        }
    }
    out.extend(received);
    out
}

fn entry_json(s: &State, w: &WalletTx, e: &Entry, long: bool, zc: bool) -> Value {
    let mut m = Map::new();
    if let Some(a) = &e.address {
        m.insert("address".into(), json!(a));
    }
    m.insert("category".into(), json!(e.category));
    m.insert("amount".into(), signed_amount(e.amount));
    if let Some(a) = &e.address {
        if let Some(b) = s.book.get(a) {
            m.insert("label".into(), json!(b.label));
        }
    }
    m.insert("vout".into(), json!(e.vout));
    if let Some(f) = e.fee {
        m.insert("fee".into(), signed_amount(f));
    }
    if long {
        wallet_tx_fields(s, w, zc, &mut m);
    }
    if e.send {
        m.insert("abandoned".into(), json!(w.is_abandoned()));
    }
    Value::Object(m)
}

fn label_matches(s: &State, e: &Entry, label: Option<&str>) -> bool {
    match label {
        None => true,
        Some(l) => {
            !e.send
                && e.address
                    .as_ref()
                    .and_then(|a| s.book.get(a))
                    .is_some_and(|b| b.label == l)
        }
    }
}

fn listtransactions(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let label = match r.p.str(0)? {
        Some("*") | None => None,
        Some(l) => Some(l.to_string()),
    };
    let count = r.p.int(1)?.unwrap_or(10);
    if count < 0 {
        return Err(RpcError::invalid_parameter("Negative count"));
    }
    let skip = r.p.int(2)?.unwrap_or(0);
    if skip < 0 {
        return Err(RpcError::invalid_parameter("Negative from"));
    }
    let zc = w.spend_zero_conf_change();
    let s = w.state();
    let mut txs: Vec<&WalletTx> = s.txs.values().collect();
    txs.sort_by_key(|t| t.order);
    let mut all = Vec::new();
    for t in txs {
        for e in entries(&s, t, false) {
            if label_matches(&s, &e, label.as_deref()) {
                all.push(entry_json(&s, t, &e, true, zc));
            }
        }
    }
    let end = all.len().saturating_sub(skip as usize);
    let start = end.saturating_sub(count as usize);
    Ok(Value::Array(all[start..end].to_vec()))
}

fn gettransaction(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let txid: Txid = parse_hash(r.p.req_str(0)?, "txid")?;
    let verbose = r.p.bool(2)?.unwrap_or(false);
    let zc = w.spend_zero_conf_change();
    let s = w.state();
    let wtx = s
        .txs
        .get(&txid)
        .ok_or_else(|| RpcError::new(-5, "Invalid or non-wallet transaction id"))?;
    let credit = if s.is_immature(wtx) {
        0
    } else {
        s.credit(&wtx.tx)
    } as i64;
    let debit = s.debit(&wtx.tx) as i64;
    let out_total: i64 = wtx.tx.output.iter().map(|o| o.value.to_sat() as i64).sum();
    let fee = if debit > 0 { out_total - debit } else { 0 };
    let mut m = Map::new();
    m.insert("amount".into(), signed_amount(credit - debit - fee));
    if debit > 0 {
        m.insert("fee".into(), signed_amount(fee));
    }
    wallet_tx_fields(&s, wtx, zc, &mut m);
    let details: Vec<Value> = entries(&s, wtx, false)
        .iter()
        .map(|e| entry_json(&s, wtx, e, false, zc))
        .collect();
    m.insert("details".into(), json!(details));
    m.insert("hex".into(), json!(serialize_hex(&wtx.tx)));
    if verbose {
        m.insert(
            "decoded".into(),
            crate::rpc::encode::tx_to_json(&wtx.tx, bitcoin::Network::Regtest, false, None),
        );
    }
    Ok(Value::Object(m))
}

fn received_filter(s: &State, w: &WalletTx, minconf: i64, immature: bool) -> bool {
    let depth = s.depth(w);
    !(depth < minconf || (w.tx.is_coinbase() && depth < 1) || (s.is_immature(w) && !immature))
}

fn getreceivedbyaddress(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let addr = keys::parse_address(r.p.req_str(0)?)
        .ok_or_else(|| RpcError::new(-5, "Invalid Bitcoin address"))?;
    let script = addr.script_pubkey();
    let minconf = r.p.int(1)?.unwrap_or(1);
    let immature = r.p.bool(2)?.unwrap_or(false);
    let s = w.state();
    if !s.is_mine(&script) {
        return Err(RpcError::new(-4, "Address not found in wallet"));
    }
    let mut total = 0u64;
    for wtx in s.txs.values() {
        if !received_filter(&s, wtx, minconf, immature) {
            continue;
        }
        total += wtx
            .tx
            .output
            .iter()
            .filter(|o| o.script_pubkey == script)
            .map(|o| o.value.to_sat())
            .sum::<u64>();
    }
    Ok(amount_sat(total))
}

fn listreceivedbyaddress(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let minconf = r.p.int(0)?.unwrap_or(1);
    let include_empty = r.p.bool(1)?.unwrap_or(false);
    let filter = match r.p.str(3)? {
        Some(a) => Some(
            keys::parse_address(a)
                .ok_or_else(|| RpcError::new(-4, "address_filter parameter was invalid"))?
                .to_string(),
        ),
        None => None,
    };
    let immature = r.p.bool(4)?.unwrap_or(false);
    let s = w.state();
    let per = received_per_address(&s, minconf, immature);
    let mut out = Vec::new();
    for (a, entry) in &s.book {
        if entry.purpose != "receive" {
            continue;
        }
        if filter.as_ref().is_some_and(|f| f != a) {
            continue;
        }
        let got = per.get(a);
        if got.is_none() && !include_empty {
            continue;
        }
        let got = got.cloned().unwrap_or_default();
        out.push(json!({
            "address": a,
            "amount": amount_sat(got.amount),
            "confirmations": if got.depth == i64::MAX { 0 } else { got.depth },
            "label": entry.label,
            "txids": got.txids,
        }));
    }
    Ok(Value::Array(out))
}

fn listsinceblock(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let target = r.p.int(1)?.unwrap_or(1);
    if target < 1 {
        return Err(RpcError::invalid_parameter("Invalid parameter"));
    }
    let include_removed = r.p.bool(3)?.unwrap_or(true);
    let include_change = r.p.bool(4)?.unwrap_or(false);
    let label = r.p.str(5)?.map(str::to_string);
    let tip = w.state().tip_height();
    let mut depth_limit: i64 = -1;
    let mut removed_blocks: Vec<BlockHash> = Vec::new();
    if let Some(v) = r.p.get(0) {
        let hash: BlockHash = parse_hash(
            v.as_str()
                .ok_or_else(|| RpcError::type_error(v, "string"))?,
            "blockhash",
        )?;
        let found = w
            .chain
            .find_block(&hash, false)
            .ok_or_else(|| RpcError::new(-5, "Block not found"))?;
        let height = if found.in_active_chain {
            found.height
        } else {
            let tip_hash = w
                .chain
                .get_block_hash(tip.max(0) as u32)
                .ok_or_else(|| RpcError::new(-5, "Block not found"))?;
            let anc = w
                .chain
                .find_common_ancestor(&hash, &tip_hash)
                .ok_or_else(|| RpcError::new(-5, "Block not found"))?;
            // Blocks of the stale branch, from `hash` down to the fork point.
            let mut cur = hash;
            while cur != anc.hash {
                let Some(b) = w.chain.find_block(&cur, true) else {
                    break;
                };
                removed_blocks.push(cur);
                match b.data.and_then(|d| d.decode().ok()) {
                    Some(d) => cur = d.header.prev_blockhash,
                    None => break,
                }
            }
            anc.height
        };
        depth_limit = tip + 1 - i64::from(height);
    }
    let zc = w.spend_zero_conf_change();
    let removed_txs: Vec<Txid> = if include_removed {
        removed_blocks
            .iter()
            .filter_map(|bh| {
                w.chain
                    .find_block(bh, true)
                    .and_then(|f| f.data?.decode().ok())
            })
            .flat_map(|b| {
                b.txdata
                    .iter()
                    .map(|t| t.compute_txid())
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        Vec::new()
    };
    let last_height = (tip + 1 - target).max(0) as u32;
    let lastblock = w
        .chain
        .get_block_hash(last_height)
        .map(|h| h.to_string())
        .unwrap_or_default();
    let s = w.state();
    let mut txs: Vec<&WalletTx> = s.txs.values().collect();
    txs.sort_by_key(|t| t.order);
    let mut transactions = Vec::new();
    for t in &txs {
        let d = s.depth(t);
        if depth_limit == -1 || d.abs() < depth_limit {
            for e in entries(&s, t, include_change) {
                if label_matches(&s, &e, label.as_deref()) {
                    transactions.push(entry_json(&s, t, &e, true, zc));
                }
            }
        }
    }
    let mut removed = Vec::new();
    for txid in &removed_txs {
        if let Some(wtx) = s.txs.get(txid) {
            for e in entries(&s, wtx, include_change) {
                if label_matches(&s, &e, label.as_deref()) {
                    removed.push(entry_json(&s, wtx, &e, true, zc));
                }
            }
        }
    }
    let mut m = Map::new();
    m.insert("transactions".into(), json!(transactions));
    if include_removed {
        m.insert("removed".into(), json!(removed));
    }
    m.insert("lastblock".into(), json!(lastblock));
    Ok(Value::Object(m))
}

fn abandontransaction(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let txid: Txid = parse_hash(r.p.req_str(0)?, "txid")?;
    w.abandon(&txid)?;
    Ok(Value::Null)
}

fn parse_outpoints(v: &Value) -> Result<Vec<OutPoint>, RpcError> {
    let arr = v
        .as_array()
        .ok_or_else(|| RpcError::type_error(v, "array"))?;
    let mut out = Vec::new();
    for o in arr {
        let obj = o
            .as_object()
            .ok_or_else(|| RpcError::type_error(o, "object"))?;
        let txid: Txid = parse_hash(
            obj.get("txid").and_then(Value::as_str).ok_or_else(|| {
                RpcError::invalid_parameter("Invalid parameter, missing txid key")
            })?,
            "txid",
        )?;
        let vout = obj
            .get("vout")
            .and_then(Value::as_i64)
            .ok_or_else(|| RpcError::invalid_parameter("Invalid parameter, missing vout key"))?;
        if vout < 0 {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, vout cannot be negative",
            ));
        }
        out.push(OutPoint::new(txid, vout as u32));
    }
    Ok(out)
}

fn lockunspent(r: &Req<'_>) -> Result<Value, RpcError> {
    use crate::wallet::db::Write;
    let w = r.wallet()?;
    let unlock =
        r.p.bool(0)?
            .ok_or_else(|| RpcError::invalid_parameter("unlock"))?;
    let persistent = r.p.bool(2)?.unwrap_or(false);
    let Some(list) = r.p.get(1) else {
        if unlock {
            let mut s = w.state();
            let erase: Vec<Write> = s
                .locked
                .iter()
                .filter(|(_, p)| **p)
                .map(|(op, _)| Write::Erase(format!("locked/{op}")))
                .collect();
            w.write(&erase).map_err(super::wallet_error)?;
            s.locked.clear();
        }
        return Ok(json!(true));
    };
    let ops = parse_outpoints(list)?;
    let mut s = w.state();
    for op in &ops {
        let wtx = s
            .txs
            .get(&op.txid)
            .ok_or_else(|| RpcError::invalid_parameter("Invalid parameter, unknown transaction"))?;
        if op.vout as usize >= wtx.tx.output.len() {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, vout index out of bounds",
            ));
        }
        if s.is_spent(op) {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, expected unspent output",
            ));
        }
        let locked = s.locked.contains_key(op);
        if unlock && !locked {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, expected locked output",
            ));
        }
        if !unlock && locked {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, output already locked",
            ));
        }
    }
    let mut writes = Vec::new();
    for op in ops {
        if unlock {
            if s.locked.remove(&op) == Some(true) {
                writes.push(Write::Erase(format!("locked/{op}")));
            }
        } else {
            s.locked.insert(op, persistent);
            if persistent {
                writes.push(Write::Put(format!("locked/{op}"), json!(true)));
            }
        }
    }
    w.write(&writes).map_err(super::wallet_error)?;
    Ok(json!(true))
}

fn listlockunspent(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let s = w.state();
    let mut ops: Vec<&OutPoint> = s.locked.keys().collect();
    ops.sort();
    Ok(json!(ops
        .into_iter()
        .map(|o| json!({"txid": o.txid.to_string(), "vout": o.vout}))
        .collect::<Vec<_>>()))
}

/// What one address of the book received (Core's `tallyitem`).
#[derive(Clone)]
struct Received {
    /// Satoshis.
    amount: u64,
    /// Smallest depth of a paying transaction; `i64::MAX` for none.
    depth: i64,
    /// Paying transactions, in the wallet's order.
    txids: Vec<String>,
}

impl Default for Received {
    fn default() -> Self {
        Received {
            amount: 0,
            depth: i64::MAX,
            txids: Vec::new(),
        }
    }
}

/// What each address of the book received, for the by-address and by-label RPCs.
fn received_per_address(s: &State, minconf: i64, immature: bool) -> BTreeMap<String, Received> {
    let mut per: BTreeMap<String, Received> = BTreeMap::new();
    let mut txs: Vec<&WalletTx> = s.txs.values().collect();
    txs.sort_by_key(|t| t.order);
    for wtx in txs {
        if !received_filter(s, wtx, minconf, immature) {
            continue;
        }
        let depth = s.depth(wtx);
        for o in &wtx.tx.output {
            if !s.is_mine(&o.script_pubkey) {
                continue;
            }
            let Some(a) = addr_of(&o.script_pubkey) else {
                continue;
            };
            if !s.book.contains_key(&a) {
                continue;
            }
            let e = per.entry(a).or_default();
            e.amount += o.value.to_sat();
            e.depth = e.depth.min(depth);
            let t = wtx.txid().to_string();
            if !e.txids.contains(&t) {
                e.txids.push(t);
            }
        }
    }
    per
}

fn getreceivedbylabel(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let label = r.p.req_str(0)?;
    let minconf = r.p.int(1)?.unwrap_or(1);
    let immature = r.p.bool(2)?.unwrap_or(false);
    let s = w.state();
    if !s.book.values().any(|e| e.label == label) {
        return Err(RpcError::new(-4, "Label not found in wallet"));
    }
    let total: u64 = received_per_address(&s, minconf, immature)
        .iter()
        .filter(|(a, _)| s.book.get(*a).is_some_and(|e| e.label == label))
        .map(|(_, got)| got.amount)
        .sum();
    Ok(amount_sat(total))
}

fn listreceivedbylabel(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let minconf = r.p.int(0)?.unwrap_or(1);
    let include_empty = r.p.bool(1)?.unwrap_or(false);
    let immature = r.p.bool(3)?.unwrap_or(false);
    let s = w.state();
    let per = received_per_address(&s, minconf, immature);
    let mut labels: BTreeMap<String, (u64, i64, bool)> = BTreeMap::new();
    for (a, e) in &s.book {
        if e.purpose != "receive" {
            continue;
        }
        let entry = labels
            .entry(e.label.clone())
            .or_insert((0, i64::MAX, false));
        if let Some(got) = per.get(a) {
            entry.0 += got.amount;
            entry.1 = entry.1.min(got.depth);
            entry.2 = true;
        }
    }
    let out: Vec<Value> = labels
        .into_iter()
        .filter(|(_, (_, _, got))| *got || include_empty)
        .map(|(label, (amount, conf, _))| {
            json!({
                "amount": amount_sat(amount),
                "confirmations": if conf == i64::MAX { 0 } else { conf },
                "label": label,
            })
        })
        .collect();
    Ok(Value::Array(out))
}

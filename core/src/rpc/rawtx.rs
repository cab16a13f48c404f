//! Raw transaction RPCs: `createrawtransaction`, `decoderawtransaction`, `decodescript`,
//! `getrawtransaction`, `sendrawtransaction`, `testmempoolaccept`.

use std::str::FromStr;

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::{
    absolute, transaction, Address, Amount, BlockHash, OutPoint, PubkeyHash, Script, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Txid, WPubkeyHash, Witness,
};
use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::encode::{
    amount_sat, infer_descriptor, script_address, script_asm, script_pubkey_json, script_type,
    tx_to_json,
};
use super::error::{code, RpcError};
use super::params::{parse_hash, parse_hex, Params};

/// Core's default `maxfeerate`: 0.10 BTC/kvB, in sat/kvB.
const DEFAULT_MAX_FEE_RATE: u64 = 10_000_000;

/// The raw transaction commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "getindexinfo",
            category: "Util",
            params: &["index_name"],
            hidden: false,
            handler: getindexinfo,
        },
        Command {
            name: "createrawtransaction",
            category: "Rawtransactions",
            params: &["*inputs", "*outputs", "locktime", "replaceable"],
            hidden: false,
            handler: createrawtransaction,
        },
        Command {
            name: "getrawtransaction",
            category: "Rawtransactions",
            params: &["*txid", "verbosity|verbose", "blockhash"],
            hidden: false,
            handler: getrawtransaction,
        },
        Command {
            name: "sendrawtransaction",
            category: "Rawtransactions",
            params: &["*hexstring", "maxfeerate", "maxburnamount"],
            hidden: false,
            handler: sendrawtransaction,
        },
        Command {
            name: "testmempoolaccept",
            category: "Rawtransactions",
            params: &["*rawtxs", "maxfeerate"],
            hidden: false,
            handler: testmempoolaccept,
        },
        Command {
            name: "decoderawtransaction",
            category: "Rawtransactions",
            params: &["*hexstring", "iswitness"],
            hidden: false,
            handler: decoderawtransaction,
        },
        Command {
            name: "decodescript",
            category: "Rawtransactions",
            params: &["*hexstring"],
            hidden: false,
            handler: decodescript,
        },
    ]
}

fn decoderawtransaction(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let bytes = parse_hex(p.req_str(0)?, "hexstring")
        .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed"))?;
    p.bool(1)?;
    let tx: Transaction = deserialize(&bytes)
        .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed"))?;
    Ok(tx_to_json(&tx, ctx.node.params().network, false, None))
}

fn has_uncompressed_key(script: &Script) -> bool {
    script
        .instructions()
        .filter_map(Result::ok)
        .filter_map(|i| i.push_bytes().map(|p| p.len()))
        .any(|l| l == 65)
}

fn decodescript(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let network = ctx.node.params().network;
    let bytes = parse_hex(p.req_str(0)?, "argument")
        .map_err(|e| RpcError::new(code::INVALID_PARAMETER, e.message))?;
    let script = ScriptBuf::from_bytes(bytes);
    let mut o = Map::new();
    o.insert("asm".into(), json!(script_asm(&script, false)));
    o.insert("desc".into(), json!(infer_descriptor(&script, network)));
    if let Some(a) = script_address(&script, network) {
        o.insert("address".into(), json!(a));
    }
    let kind = script_type(&script);
    o.insert("type".into(), json!(kind));
    let can_wrap = matches!(
        kind,
        "multisig"
            | "nonstandard"
            | "pubkey"
            | "pubkeyhash"
            | "witness_v0_keyhash"
            | "witness_v0_scripthash"
    );
    if can_wrap {
        let p2sh = Address::p2sh(&script, network)
            .map(|a| a.to_string())
            .unwrap_or_default();
        o.insert("p2sh".into(), json!(p2sh));
        let can_wrap_wsh = match kind {
            "multisig" | "pubkey" => !has_uncompressed_key(&script),
            "nonstandard" | "pubkeyhash" => true,
            _ => false,
        };
        if can_wrap_wsh {
            let b = script.as_bytes();
            let segwit = match kind {
                "pubkey" => ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(
                    hash160::Hash::hash(&b[1..b.len() - 1]),
                )),
                "pubkeyhash" => ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(
                    PubkeyHash::from_slice(&b[3..23])
                        .expect("20 bytes")
                        .to_raw_hash(),
                )),
                _ => ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_raw_hash(
                    sha256::Hash::hash(b),
                )),
            };
            let mut sr = script_pubkey_json(&segwit, network);
            let p2sh_segwit = Address::p2sh(&segwit, network)
                .map(|a| a.to_string())
                .unwrap_or_default();
            sr.as_object_mut()
                .expect("object")
                .insert("p2sh-segwit".into(), json!(p2sh_segwit));
            o.insert("segwit".into(), sr);
        }
    }
    Ok(Value::Object(o))
}

/// Core's `AmountFromValue`: a JSON number or string in BTC with at most 8 decimals.
pub fn amount_from_value(v: &Value) -> Result<Amount, RpcError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(RpcError::type_error(other, "number")),
    };
    if text.starts_with('-') {
        return Err(RpcError::new(code::TYPE_ERROR, "Amount out of range"));
    }
    let normal = if text.contains(['e', 'E']) {
        format!("{:.8}", text.parse::<f64>().unwrap_or(-1.0))
    } else {
        text.clone()
    };
    let amount = Amount::from_str_in(&normal, bitcoin::Denomination::Bitcoin)
        .map_err(|_| RpcError::new(code::TYPE_ERROR, "Invalid amount"))?;
    if amount > Amount::MAX_MONEY {
        return Err(RpcError::new(code::TYPE_ERROR, "Amount out of range"));
    }
    Ok(amount)
}

fn fee_rate_param(p: &Params<'_>, i: usize) -> Result<u64, RpcError> {
    match p.get(i) {
        None => Ok(DEFAULT_MAX_FEE_RATE),
        Some(v) => Ok(amount_from_value(v)?.to_sat()),
    }
}

fn decode_tx(hex: &str) -> Result<Transaction, RpcError> {
    let err = || {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    };
    let bytes = parse_hex(hex, "hexstring").map_err(|_| err())?;
    deserialize(&bytes).map_err(|_| err())
}

fn sendrawtransaction(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let tx = decode_tx(p.req_str(0)?)?;
    let max_rate = fee_rate_param(p, 1)?;
    let max_burn = match p.get(2) {
        None => Amount::ZERO,
        Some(v) => amount_from_value(v)?,
    };
    if tx.output.iter().any(|o| {
        (o.script_pubkey.is_op_return() || o.script_pubkey.len() > 10_000) && o.value > max_burn
    }) {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            "Unspendable output exceeds maximum configured by user (maxburnamount)",
        ));
    }
    let txid = tx.compute_txid();
    {
        let chain = ctx.node.chain();
        for vout in 0..tx.output.len() as u32 {
            if chain
                .coin(&OutPoint { txid, vout })
                .map_err(super::blockchain::chain_error)?
                .is_some()
            {
                return Err(RpcError::new(
                    code::VERIFY_ALREADY_IN_UTXO_SET,
                    "Transaction outputs already in utxo set",
                ));
            }
        }
        if ctx
            .node
            .mempool()
            .get(&txid)
            .is_some_and(|e| e.wtxid == tx.compute_wtxid())
        {
            return Ok(json!(txid.to_string()));
        }
    }
    match ctx.node.accept_to_mempool(&tx, false, Some(max_rate)) {
        Ok(a) => {
            // As Core's BroadcastTransaction with wait_callback: wallets have seen the
            // transaction before the caller's next call.
            ctx.node.signals().sync();
            Ok(json!(a.txid.to_string()))
        }
        Err(r) if r.missing_inputs => Err(RpcError::new(
            code::VERIFY_ERROR,
            "bad-txns-inputs-missingorspent",
        )),
        Err(r) if r.reason == "max-fee-exceeded" => Err(RpcError::new(
            code::VERIFY_ERROR,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
        )),
        Err(r) => Err(RpcError::new(code::VERIFY_REJECTED, r.message())),
    }
}

fn testmempoolaccept(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let Some(Value::Array(raw)) = p.get(0) else {
        return Err(RpcError::type_error(
            p.get(0).unwrap_or(&Value::Null),
            "array",
        ));
    };
    if raw.is_empty() || raw.len() > 25 {
        return Err(RpcError::invalid_parameter(
            "Array must contain between 1 and 25 transactions.",
        ));
    }
    let max_rate = fee_rate_param(p, 1)?;
    let txs: Vec<Transaction> = raw
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| RpcError::type_error(v, "string"))
                .and_then(decode_tx)
        })
        .collect::<Result<_, _>>()?;
    let chain = ctx.node.chain();
    // Evaluate on a scratch copy so later transactions may spend earlier ones.
    let mut scratch = ctx.node.mempool().clone();
    let mut out = Vec::with_capacity(txs.len());
    for tx in &txs {
        let mut o = Map::new();
        o.insert("txid".into(), json!(tx.compute_txid().to_string()));
        o.insert("wtxid".into(), json!(tx.compute_wtxid().to_string()));
        match scratch.accept(&chain, tx, false, Some(max_rate)) {
            Ok(a) => {
                o.insert("allowed".into(), json!(true));
                o.insert("vsize".into(), json!(a.vsize));
                o.insert(
                    "fees".into(),
                    json!({"base": amount_sat(a.fee), "effective-feerate": amount_sat(a.fee * 1000 / a.vsize.max(1)), "effective-includes": [a.wtxid.to_string()]}),
                );
            }
            Err(r) => {
                o.insert("allowed".into(), json!(false));
                let reason = if r.missing_inputs {
                    "missing-inputs".to_string()
                } else {
                    r.reason.clone()
                };
                o.insert("reject-reason".into(), json!(reason));
                // Core adds the full state for every failure but missing inputs.
                if !r.missing_inputs {
                    o.insert("reject-details".into(), json!(r.message()));
                }
            }
        }
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}

fn getrawtransaction(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash(p.req_str(0)?, "parameter 1")?;
    let verbosity = match p.get(1) {
        None => 0,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(_) => p.int(1)?.unwrap_or(0),
    };
    let network = ctx.node.params().network;
    let chain = ctx.node.chain();
    if txid == chain.params().genesis().txdata[0].compute_txid() {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved"));
    }
    let (tx, block) = match p.str(2)? {
        Some(h) => {
            let hash: BlockHash = parse_hash(h, "parameter 3")?;
            let entry = chain.entry(&hash).cloned().ok_or_else(|| {
                RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found")
            })?;
            let block = chain
                .read_block(&entry)
                .map_err(super::blockchain::chain_error)?;
            let tx = block.txdata.iter().find(|t| t.compute_txid() == txid).cloned().ok_or_else(|| {
                RpcError::new(code::INVALID_ADDRESS_OR_KEY, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
            })?;
            (tx, Some(entry))
        }
        None => {
            let in_pool = ctx.node.mempool().get(&txid).map(|e| e.tx.clone());
            match in_pool {
                Some(tx) => (tx, None),
                None if chain.has_txindex() => {
                    let not_found = || RpcError::new(code::INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.");
                    let hash = chain.txindex_lookup(&txid).map_err(super::blockchain::chain_error)?.ok_or_else(not_found)?;
                    let entry = chain.entry(&hash).cloned().ok_or_else(not_found)?;
                    let block = chain.read_block(&entry).map_err(super::blockchain::chain_error)?;
                    let tx = block.txdata.into_iter().find(|t| t.compute_txid() == txid).ok_or_else(not_found)?;
                    (tx, Some(entry))
                }
                None => {
                    return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."))
                }
            }
        }
    };
    let block_given = p.get(2).is_some();
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&tx)));
    }
    let mut o = Map::new();
    if let Some(e) = block.as_ref().filter(|_| block_given) {
        o.insert("in_active_chain".into(), json!(chain.is_active(e)));
    }
    if let Value::Object(body) = tx_to_json(&tx, network, true, None) {
        o.extend(body);
    }
    if let Some(e) = &block {
        o.insert("blockhash".into(), json!(e.hash.to_string()));
        let active = chain.is_active(e);
        o.insert(
            "confirmations".into(),
            json!(if active {
                chain.height() - e.height + 1
            } else {
                0
            }),
        );
        o.insert("time".into(), json!(e.header.time));
        o.insert("blocktime".into(), json!(e.header.time));
    }
    Ok(Value::Object(o))
}

fn createrawtransaction(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let network = ctx.node.params().network;
    let Some(Value::Array(inputs)) = p.get(0) else {
        return Err(RpcError::type_error(
            p.get(0).unwrap_or(&Value::Null),
            "array",
        ));
    };
    let locktime = p.int(2)?.unwrap_or(0);
    if !(0..=i64::from(u32::MAX)).contains(&locktime) {
        return Err(RpcError::invalid_parameter(
            "Invalid parameter, locktime out of range",
        ));
    }
    let replaceable = p.bool(3)?.unwrap_or(false);
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_consensus(locktime as u32),
        input: Vec::new(),
        output: Vec::new(),
    };
    for input in inputs {
        let o = input
            .as_object()
            .ok_or_else(|| RpcError::type_error(input, "object"))?;
        let txid: Txid = parse_hash(o.get("txid").and_then(Value::as_str).unwrap_or(""), "txid")?;
        let vout = match o.get("vout") {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                RpcError::invalid_parameter("Invalid parameter, missing vout key")
            })?,
            _ => {
                return Err(RpcError::invalid_parameter(
                    "Invalid parameter, missing vout key",
                ))
            }
        };
        if vout < 0 {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, vout cannot be negative",
            ));
        }
        let default_seq = if replaceable {
            Sequence::ENABLE_RBF_NO_LOCKTIME
        } else if locktime != 0 {
            Sequence::ENABLE_LOCKTIME_NO_RBF
        } else {
            Sequence::MAX
        };
        let sequence = match o.get("sequence") {
            None => default_seq,
            Some(v) => match v.as_i64() {
                Some(s) if (0..=i64::from(u32::MAX)).contains(&s) => {
                    Sequence::from_consensus(s as u32)
                }
                _ => {
                    return Err(RpcError::invalid_parameter(
                        "Invalid parameter, sequence number is out of range",
                    ))
                }
            },
        };
        tx.input.push(TxIn {
            previous_output: OutPoint {
                txid,
                vout: vout as u32,
            },
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        });
    }
    tx.output = parse_outputs(p.required(1)?, network)?;
    Ok(json!(serialize_hex(&tx)))
}

/// Core's `ParseOutputs`: `{address: amount, "data": hex}` or an array of one-key objects,
/// in order, with Core's errors for duplicates and bad addresses.
pub fn parse_outputs(outputs: &Value, network: bitcoin::Network) -> Result<Vec<TxOut>, RpcError> {
    let pairs: Vec<(String, Value)> = match outputs {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(list) => {
            let mut pairs = Vec::new();
            for item in list {
                let m = item.as_object().ok_or_else(|| {
                    RpcError::invalid_parameter(
                        "Invalid parameter, key-value pair not an object as expected",
                    )
                })?;
                if m.len() != 1 {
                    return Err(RpcError::invalid_parameter(
                        "Invalid parameter, key-value pair must contain exactly one key",
                    ));
                }
                pairs.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            pairs
        }
        other => return Err(RpcError::type_error(other, "object")),
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (key, value) in pairs {
        if !seen.insert(key.clone()) {
            let what = if key == "data" {
                "Invalid parameter, duplicate key: data".to_string()
            } else {
                format!("Invalid parameter, duplicated address: {key}")
            };
            return Err(RpcError::invalid_parameter(what));
        }
        if key == "data" {
            let data = parse_hex(value.as_str().unwrap_or(""), "Data")?;
            let push = bitcoin::script::PushBytesBuf::try_from(data)
                .map_err(|_| RpcError::invalid_parameter("Data too large"))?;
            out.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(push),
            });
            continue;
        }
        let addr = Address::from_str(&key)
            .ok()
            .and_then(|a| a.require_network(network).ok())
            .ok_or_else(|| {
                RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Invalid Bitcoin address: {key}"),
                )
            })?;
        out.push(TxOut {
            value: amount_from_value(&value)?,
            script_pubkey: addr.script_pubkey(),
        });
    }
    Ok(out)
}

fn getindexinfo(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let name = p.str(0)?;
    let chain = ctx.node.chain();
    let mut o = Map::new();
    if chain.has_txindex() && name.is_none_or(|n| n == "txindex") {
        o.insert(
            "txindex".into(),
            json!({"synced": true, "best_block_height": chain.height()}),
        );
    }
    Ok(Value::Object(o))
}

//! Sending RPCs: `sendtoaddress`, `sendmany`, `send`, `fundrawtransaction`,
//! `signrawtransactionwithwallet`, `walletcreatefundedpsbt`, `walletprocesspsbt`, `bumpfee`.

use std::collections::{HashMap, HashSet};

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxOut, Txid};
use serde_json::{json, Map, Value};

use super::{
    amount_param, codes, ensure_unlocked, estimate_mode_param, fee_rate_param, wallet_error, Def,
    Req,
};
use crate::rpc::auth::{base64_decode, base64_encode};
use crate::rpc::encode::amount_sat;
use crate::rpc::error::{code, RpcError};
use crate::rpc::params::{parse_hash, parse_hex};
use crate::rpc::sign;
use crate::wallet::keys::{self, OutputType};
use crate::wallet::model::{TxState, Wallet};
use crate::wallet::spend::{FundError, FundOptions, Recipient};

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "sendtoaddress",
        params: &[
            "*address",
            "*amount",
            "comment",
            "comment_to",
            "subtractfeefromamount",
            "replaceable",
            "conf_target",
            "estimate_mode",
            "avoid_reuse",
            "fee_rate",
            "verbose",
        ],
        handler: sendtoaddress,
    },
    Def {
        name: "sendmany",
        params: &[
            "dummy",
            "*amounts",
            "minconf",
            "comment",
            "subtractfeefrom",
            "replaceable",
            "conf_target",
            "estimate_mode",
            "fee_rate",
            "verbose",
        ],
        handler: sendmany,
    },
    Def {
        name: "send",
        params: &[
            "*outputs",
            "conf_target",
            "estimate_mode",
            "fee_rate",
            "options",
        ],
        handler: send,
    },
    Def {
        name: "fundrawtransaction",
        params: &["*hexstring", "options", "iswitness"],
        handler: fundrawtransaction,
    },
    Def {
        name: "signrawtransactionwithwallet",
        params: &["*hexstring", "prevtxs", "sighashtype"],
        handler: signrawtransactionwithwallet,
    },
    Def {
        name: "walletcreatefundedpsbt",
        params: &["inputs", "*outputs", "locktime", "options", "bip32derivs"],
        handler: walletcreatefundedpsbt,
    },
    Def {
        name: "walletprocesspsbt",
        params: &["*psbt", "sign", "sighashtype", "bip32derivs", "finalize"],
        handler: walletprocesspsbt,
    },
    Def {
        name: "bumpfee",
        params: &["*txid", "options"],
        handler: bumpfee,
    },
];

fn parse_dest(s: &str) -> Result<ScriptBuf, RpcError> {
    keys::parse_address(s)
        .map(|a| a.script_pubkey())
        .ok_or_else(|| RpcError::new(-5, format!("Invalid Bitcoin address: {s}")))
}

/// Fee options shared by the send RPCs: `conf_target`, `estimate_mode`, `fee_rate`.
fn fee_options(
    opts: &mut FundOptions,
    conf_target: Option<&Value>,
    estimate_mode: Option<&Value>,
    fee_rate: Option<&Value>,
) -> Result<(), RpcError> {
    if let Some(f) = fee_rate {
        if conf_target.is_some() {
            return Err(RpcError::invalid_parameter(
                "Cannot specify both conf_target and fee_rate. Please provide either a confirmation target in blocks for automatic fee estimation, or an explicit fee rate.",
            ));
        }
        if estimate_mode.is_some_and(|m| m.as_str().is_some_and(|s| s != "unset")) {
            return Err(RpcError::invalid_parameter(
                "Cannot specify both estimate_mode and fee_rate",
            ));
        }
        opts.fee_rate = Some(fee_rate_param(f)?);
    }
    if let Some(t) = conf_target {
        let t = t
            .as_i64()
            .ok_or_else(|| RpcError::type_error(t, "number"))?;
        if !(1..=1008).contains(&t) {
            return Err(RpcError::invalid_parameter(
                "Invalid conf_target, must be between 1 and 1008",
            ));
        }
        opts.conf_target = Some(t as u32);
    }
    opts.conservative = estimate_mode_param(estimate_mode)?;
    Ok(())
}

fn fund_error(e: FundError, send_rpc: bool) -> RpcError {
    match e {
        FundError::InsufficientFunds(m) => RpcError::new(
            if send_rpc {
                codes::INSUFFICIENT_FUNDS
            } else {
                codes::WALLET_ERROR
            },
            m,
        ),
        FundError::Other(m) => RpcError::new(
            if send_rpc {
                codes::INSUFFICIENT_FUNDS
            } else {
                codes::WALLET_ERROR
            },
            m,
        ),
    }
}

/// Core's `SendMoney`: fund, sign, commit; returns the txid and fee.
fn send_money(
    w: &Wallet,
    recipients: &[Recipient],
    opts: &FundOptions,
    comment: Option<String>,
    comment_to: Option<String>,
) -> Result<(Txid, u64), RpcError> {
    let _guard = w.send_lock.lock();
    ensure_unlocked(w)?;
    let funded = w
        .fund(None, recipients, opts)
        .map_err(|e| fund_error(e, true))?;
    let (tx, complete) = w.sign_transaction(&funded.tx);
    if !complete {
        return Err(wallet_error("Signing transaction failed"));
    }
    w.commit(&tx, comment, comment_to, None)
        .map_err(wallet_error)?;
    Ok((tx.compute_txid(), funded.fee))
}

fn check_amount(a: Amount) -> Result<u64, RpcError> {
    if a.to_sat() == 0 {
        return Err(RpcError::new(code::TYPE_ERROR, "Invalid amount for send"));
    }
    Ok(a.to_sat())
}

fn opt_string(r: &Req<'_>, i: usize) -> Result<Option<String>, RpcError> {
    Ok(r.p.str(i)?.filter(|s| !s.is_empty()).map(str::to_string))
}

fn sendtoaddress(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let script = parse_dest(r.p.req_str(0)?)?;
    let amount = check_amount(amount_param(r.p.required(1)?)?)?;
    let subtract = r.p.bool(4)?.unwrap_or(false);
    let mut opts = FundOptions {
        replaceable: r.p.bool(5)?,
        add_inputs: true,
        min_conf: 0,
        ..Default::default()
    };
    fee_options(&mut opts, r.p.get(6), r.p.get(7), r.p.get(9))?;
    let (txid, _) = send_money(
        &w,
        &[Recipient {
            script,
            amount,
            subtract_fee: subtract,
        }],
        &opts,
        opt_string(r, 2)?,
        opt_string(r, 3)?,
    )?;
    if r.p.bool(10)?.unwrap_or(false) {
        return Ok(json!({"txid": txid.to_string(), "fee_reason": "Fallback fee"}));
    }
    Ok(json!(txid.to_string()))
}

fn sendmany(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    if let Some(d) = r.p.get(0) {
        if d.as_str() != Some("") {
            return Err(RpcError::invalid_parameter(
                "Dummy value must be set to \"\"",
            ));
        }
    }
    let amounts = match r.p.required(1)? {
        Value::Object(m) => m.clone(),
        v => return Err(RpcError::type_error(v, "object")),
    };
    let subtract_from: Vec<String> = match r.p.get(4) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        Some(v) => return Err(RpcError::type_error(v, "array")),
        None => Vec::new(),
    };
    let mut recipients = Vec::new();
    let mut seen = HashSet::new();
    for (addr, amt) in &amounts {
        let script = parse_dest(addr)?;
        if !seen.insert(script.clone()) {
            return Err(RpcError::invalid_parameter(format!(
                "Invalid parameter, duplicated address: {addr}"
            )));
        }
        recipients.push(Recipient {
            script,
            amount: check_amount(amount_param(amt)?)?,
            subtract_fee: subtract_from.contains(addr),
        });
    }
    if recipients.is_empty() {
        return Err(RpcError::invalid_parameter(
            "Invalid parameter, must have at least one output",
        ));
    }
    let mut opts = FundOptions {
        replaceable: r.p.bool(5)?,
        add_inputs: true,
        min_conf: 0,
        ..Default::default()
    };
    fee_options(&mut opts, r.p.get(6), r.p.get(7), r.p.get(8))?;
    let (txid, _) = send_money(&w, &recipients, &opts, opt_string(r, 3)?, None)?;
    if r.p.bool(9)?.unwrap_or(false) {
        return Ok(json!({"txid": txid.to_string(), "fee_reason": "Fallback fee"}));
    }
    Ok(json!(txid.to_string()))
}

/// Core's `ParseOutputs`, shared with `createrawtransaction`.
fn parse_outputs(v: &Value) -> Result<Vec<TxOut>, RpcError> {
    crate::rpc::rawtx::parse_outputs(v, bitcoin::Network::Regtest)
}

/// The transaction `walletcreatefundedpsbt` and `send` start funding from: the given
/// inputs (signalling RBF unless they set a sequence or `rbf` is off) and outputs.
fn unfunded_tx(
    inputs: &[(OutPoint, Option<Sequence>)],
    outputs: Vec<TxOut>,
    rbf: bool,
) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|(op, seq)| bitcoin::TxIn {
                previous_output: *op,
                sequence: seq.unwrap_or(if rbf {
                    Sequence::ENABLE_RBF_NO_LOCKTIME
                } else {
                    Sequence::ENABLE_LOCKTIME_NO_RBF
                }),
                ..Default::default()
            })
            .collect(),
        output: outputs,
    }
}

fn parse_inputs(v: Option<&Value>) -> Result<Vec<(OutPoint, Option<Sequence>)>, RpcError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let arr = v
        .as_array()
        .ok_or_else(|| RpcError::type_error(v, "array"))?;
    let mut out = Vec::new();
    for i in arr {
        let o = i
            .as_object()
            .ok_or_else(|| RpcError::type_error(i, "object"))?;
        let txid: Txid = parse_hash(o.get("txid").and_then(Value::as_str).unwrap_or(""), "txid")?;
        let vout = o
            .get("vout")
            .and_then(Value::as_i64)
            .ok_or_else(|| RpcError::invalid_parameter("Invalid parameter, missing vout key"))?;
        if vout < 0 {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, vout cannot be negative",
            ));
        }
        let seq = match o.get("sequence") {
            None => None,
            Some(s) => Some(Sequence::from_consensus(
                s.as_u64()
                    .filter(|x| *x <= u64::from(u32::MAX))
                    .ok_or_else(|| {
                        RpcError::invalid_parameter(
                            "Invalid parameter, sequence number is out of range",
                        )
                    })? as u32,
            )),
        };
        out.push((OutPoint::new(txid, vout as u32), seq));
    }
    Ok(out)
}

/// Reads the funding options object shared by `fundrawtransaction`,
/// `walletcreatefundedpsbt` and `send`; returns the `subtractFeeFromOutputs` indexes.
fn funding_options(
    w: &Wallet,
    opts: &mut FundOptions,
    o: Option<&Value>,
    snake_case: bool,
) -> Result<Vec<usize>, RpcError> {
    let Some(o) = o else { return Ok(Vec::new()) };
    let m = o
        .as_object()
        .ok_or_else(|| RpcError::type_error(o, "object"))?;
    let key = |camel: &'static str, snake: &'static str| if snake_case { snake } else { camel };
    if let Some(v) = m.get("add_inputs") {
        opts.add_inputs = v.as_bool().ok_or_else(|| RpcError::type_error(v, "bool"))?;
    }
    if let Some(v) = m.get("include_unsafe") {
        opts.include_unsafe = v.as_bool().unwrap_or(false);
    }
    if let Some(v) = m.get("minconf") {
        opts.min_conf = v.as_i64().unwrap_or(0);
    }
    if let Some(v) = m.get(key("changeAddress", "change_address")) {
        let s = v
            .as_str()
            .ok_or_else(|| RpcError::type_error(v, "string"))?;
        opts.change_script = Some(
            keys::parse_address(s)
                .map(|a| a.script_pubkey())
                .ok_or_else(|| {
                    RpcError::new(-5, "Change address must be a valid bitcoin address")
                })?,
        );
    }
    if let Some(v) = m.get(key("changePosition", "change_position")) {
        opts.change_position = Some(
            v.as_u64()
                .ok_or_else(|| RpcError::type_error(v, "number"))? as usize,
        );
    }
    if let Some(v) = m.get("change_type") {
        if opts.change_script.is_some() {
            return Err(RpcError::invalid_parameter(
                "Cannot specify both changeAddress and address_type options",
            ));
        }
        let s = v.as_str().unwrap_or_default();
        opts.change_type = Some(
            OutputType::parse(s)
                .ok_or_else(|| RpcError::new(-5, format!("Unknown change type '{s}'")))?,
        );
    }
    if let Some(v) = m.get(key("lockUnspents", "lock_unspents")) {
        opts.lock_unspents = v.as_bool().unwrap_or(false);
    }
    if let Some(v) = m.get("replaceable") {
        opts.replaceable = v.as_bool();
    }
    if let Some(v) = m.get("feeRate") {
        if m.contains_key("fee_rate") {
            return Err(RpcError::invalid_parameter(
                "Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)",
            ));
        }
        opts.fee_rate = Some(amount_param(v)?.to_sat());
    }
    fee_options(
        opts,
        m.get("conf_target"),
        m.get("estimate_mode"),
        m.get("fee_rate"),
    )?;
    if let Some(v) = m.get("locktime") {
        opts.locktime = Some(
            v.as_u64()
                .filter(|l| *l <= u64::from(u32::MAX))
                .ok_or_else(|| {
                    RpcError::invalid_parameter("Invalid parameter, locktime out of range")
                })? as u32,
        );
    }
    let _ = w;
    let mut subtract = Vec::new();
    if let Some(v) = m.get(key("subtractFeeFromOutputs", "subtract_fee_from_outputs")) {
        let arr = v
            .as_array()
            .ok_or_else(|| RpcError::type_error(v, "array"))?;
        for i in arr {
            let n = i
                .as_i64()
                .ok_or_else(|| RpcError::type_error(i, "number"))?;
            if n < 0 {
                return Err(RpcError::invalid_parameter(format!(
                    "Invalid parameter, value can't be negative: {n}"
                )));
            }
            if subtract.contains(&(n as usize)) {
                return Err(RpcError::invalid_parameter(format!(
                    "Invalid parameter, duplicated position: {n}"
                )));
            }
            subtract.push(n as usize);
        }
    }
    Ok(subtract)
}

/// Funds `tx` (its inputs preset, its outputs the recipients) as `fundrawtransaction` does.
fn fund_tx(
    w: &Wallet,
    tx: &Transaction,
    opts: &mut FundOptions,
    subtract: &[usize],
) -> Result<crate::wallet::spend::Funded, RpcError> {
    if tx.output.is_empty() {
        return Err(RpcError::invalid_parameter(
            "TX must have at least one output",
        ));
    }
    for &i in subtract {
        if i >= tx.output.len() {
            return Err(RpcError::invalid_parameter(format!(
                "Invalid parameter, value out of range: {i}"
            )));
        }
    }
    opts.preset_inputs = tx
        .input
        .iter()
        .map(|i| (i.previous_output, Some(i.sequence)))
        .collect();
    let recipients: Vec<Recipient> = tx
        .output
        .iter()
        .enumerate()
        .map(|(i, o)| Recipient {
            script: o.script_pubkey.clone(),
            amount: o.value.to_sat(),
            subtract_fee: subtract.contains(&i),
        })
        .collect();
    let mut base = tx.clone();
    base.output.clear();
    if opts.locktime.is_none() && tx.lock_time.to_consensus_u32() != 0 {
        opts.locktime = Some(tx.lock_time.to_consensus_u32());
    }
    let _guard = w.send_lock.lock();
    w.fund(Some(&base), &recipients, opts)
        .map_err(|e| fund_error(e, false))
}

fn decode_tx(hex: &str) -> Result<Transaction, RpcError> {
    let err = || RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed");
    let bytes = parse_hex(hex, "hexstring").map_err(|_| err())?;
    deserialize(&bytes).map_err(|_| err())
}

fn fundrawtransaction(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let tx = decode_tx(r.p.req_str(0)?)?;
    let mut opts = FundOptions {
        add_inputs: true,
        min_conf: 0,
        ..Default::default()
    };
    let subtract = funding_options(&w, &mut opts, r.p.get(1), false)?;
    let funded = fund_tx(&w, &tx, &mut opts, &subtract)?;
    Ok(json!({
        "hex": serialize_hex(&funded.tx),
        "fee": amount_sat(funded.fee),
        "changepos": funded.change_pos.map_or(-1, |p| p as i64),
    }))
}

fn signrawtransactionwithwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let tx = decode_tx(r.p.req_str(0)?)?;
    let prevtxs = sign::parse_prevtxs(r.p.get(1))?;
    // DEFAULT is no sighash byte at all for Taproot, ALL for the others.
    let sighash = match r.p.str(2)? {
        None | Some("DEFAULT") => None,
        given => Some(sign::parse_sighash(given)?),
    };
    let mut prevouts = HashMap::new();
    let mut missing_amount = HashSet::new();
    for (op, prev) in prevtxs {
        if let Some(known) = w.output_script(&op) {
            if known != prev.script_pubkey {
                return Err(RpcError::new(
                    code::DESERIALIZATION_ERROR,
                    format!(
                        "Previous output scriptPubKey mismatch:\n{}\nvs:\n{}",
                        known.to_asm_string(),
                        prev.script_pubkey.to_asm_string()
                    ),
                ));
            }
        }
        // A witness signature commits to the amount: without it, there is none to make.
        let value = match prev.amount {
            Some(amount) => amount,
            None if prev.script_pubkey.is_witness_program() => {
                missing_amount.insert(op);
                continue;
            }
            None => Amount::ZERO,
        };
        prevouts.insert(
            op,
            TxOut {
                value,
                script_pubkey: prev.script_pubkey,
            },
        );
    }
    ensure_unlocked(&w)?;
    let (signed, complete) = w.sign_transaction_with(&tx, &prevouts, sighash);
    let mut m = Map::new();
    m.insert("hex".into(), json!(serialize_hex(&signed)));
    m.insert("complete".into(), json!(complete));
    if !complete {
        let errors: Vec<Value> = signed
            .input
            .iter()
            .filter(|i| i.script_sig.is_empty() && i.witness.is_empty())
            .map(|i| {
                let error = if missing_amount.contains(&i.previous_output) {
                    "Missing amount"
                } else {
                    "Unable to sign input, invalid stack size (possibly missing key)"
                };
                json!({
                    "txid": i.previous_output.txid.to_string(),
                    "vout": i.previous_output.vout,
                    "witness": [],
                    "scriptSig": "",
                    "sequence": i.sequence.0,
                    "error": error,
                })
            })
            .collect();
        m.insert("errors".into(), json!(errors));
    }
    Ok(Value::Object(m))
}

fn psbt_to_string(p: &Psbt) -> String {
    base64_encode(&p.serialize())
}

fn walletcreatefundedpsbt(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let inputs = parse_inputs(r.p.get(0))?;
    let outputs = parse_outputs(r.p.required(1)?)?;
    let mut opts = FundOptions {
        add_inputs: inputs.is_empty(),
        min_conf: 0,
        ..Default::default()
    };
    let subtract = funding_options(&w, &mut opts, r.p.get(3), false)?;
    if let Some(l) = r.p.int(2)? {
        if !(0..=i64::from(u32::MAX)).contains(&l) {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, locktime out of range",
            ));
        }
        opts.locktime = Some(l as u32);
    }
    let rbf = opts.replaceable.unwrap_or_else(|| w.default_rbf());
    let tx = unfunded_tx(&inputs, outputs, rbf);
    let funded = fund_tx(&w, &tx, &mut opts, &subtract)?;
    let mut psbt =
        Psbt::from_unsigned_tx(funded.tx.clone()).map_err(|e| wallet_error(e.to_string()))?;
    w.fill_psbt(&mut psbt, false, false);
    Ok(json!({
        "psbt": psbt_to_string(&psbt),
        "fee": amount_sat(funded.fee),
        "changepos": funded.change_pos.map_or(-1, |p| p as i64),
    }))
}

fn decode_psbt(s: &str) -> Result<Psbt, RpcError> {
    let bytes = base64_decode(s).ok_or_else(|| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed invalid base64",
        )
    })?;
    Psbt::deserialize(&bytes)
        .map_err(|e| RpcError::new(code::DESERIALIZATION_ERROR, format!("TX decode failed {e}")))
}

fn walletprocesspsbt(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let mut psbt = decode_psbt(r.p.req_str(0)?)?;
    let sign = r.p.bool(1)?.unwrap_or(true);
    if let Some(s) = r.p.str(2)? {
        if !matches!(s, "DEFAULT" | "ALL") {
            return Err(RpcError::invalid_parameter(format!(
                "{s} is not a valid sighash parameter."
            )));
        }
    }
    let finalize = r.p.bool(4)?.unwrap_or(true);
    if sign {
        ensure_unlocked(&w)?;
    }
    let complete = w.fill_psbt(&mut psbt, sign, finalize);
    let mut m = Map::new();
    m.insert("psbt".into(), json!(psbt_to_string(&psbt)));
    m.insert("complete".into(), json!(complete));
    if complete && finalize {
        if let Ok(tx) = psbt.clone().extract_tx_unchecked_fee_rate().into_result() {
            m.insert("hex".into(), json!(serialize_hex(&tx)));
        }
    }
    Ok(Value::Object(m))
}

/// `Result`-like access for rust-bitcoin's infallible extraction.
trait IntoResult {
    fn into_result(self) -> Result<Transaction, ()>;
}

impl IntoResult for Transaction {
    fn into_result(self) -> Result<Transaction, ()> {
        Ok(self)
    }
}

fn send(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let outputs = parse_outputs(r.p.required(0)?)?;
    let options = r.p.get(4);
    let om = options.and_then(Value::as_object);
    let inputs = parse_inputs(om.and_then(|m| m.get("inputs")))?;
    let mut opts = FundOptions {
        add_inputs: inputs.is_empty(),
        min_conf: 0,
        ..Default::default()
    };
    let has_top_fee = r.p.get(1).is_some() || r.p.get(2).is_some() || r.p.get(3).is_some();
    if has_top_fee
        && om.is_some_and(|m| {
            m.contains_key("conf_target")
                || m.contains_key("estimate_mode")
                || m.contains_key("fee_rate")
        })
    {
        return Err(RpcError::invalid_parameter(
            "Pass conf_target, estimate_mode and fee_rate either as arguments or in the options object, not both",
        ));
    }
    let subtract = funding_options(&w, &mut opts, options, true)?;
    if has_top_fee {
        fee_options(&mut opts, r.p.get(1), r.p.get(2), r.p.get(3))?;
    }
    let add_to_wallet = om
        .and_then(|m| m.get("add_to_wallet"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let want_psbt = om
        .and_then(|m| m.get("psbt"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let rbf = opts.replaceable.unwrap_or_else(|| w.default_rbf());
    let tx = unfunded_tx(&inputs, outputs, rbf);
    let funded = fund_tx(&w, &tx, &mut opts, &subtract)?;
    let mut psbt =
        Psbt::from_unsigned_tx(funded.tx.clone()).map_err(|e| wallet_error(e.to_string()))?;
    let can_sign = !w.state().is_locked();
    let complete = w.fill_psbt(&mut psbt, can_sign, true);
    let mut m = Map::new();
    if complete {
        let tx = psbt.clone().extract_tx_unchecked_fee_rate();
        let txid = tx.compute_txid();
        if add_to_wallet && !want_psbt {
            w.commit(&tx, None, None, None).map_err(wallet_error)?;
        } else {
            m.insert("hex".into(), json!(serialize_hex(&tx)));
        }
        m.insert("txid".into(), json!(txid.to_string()));
    }
    if !complete || want_psbt {
        m.insert("psbt".into(), json!(psbt_to_string(&psbt)));
    }
    m.insert("complete".into(), json!(complete));
    Ok(Value::Object(m))
}

fn bumpfee(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let txid: Txid = parse_hash(r.p.req_str(0)?, "txid")?;
    let mut opts = FundOptions {
        add_inputs: true,
        min_conf: 0,
        replaceable: Some(true),
        ..Default::default()
    };
    if let Some(o) = r.p.get(1) {
        let m = o
            .as_object()
            .ok_or_else(|| RpcError::type_error(o, "object"))?;
        fee_options(
            &mut opts,
            m.get("conf_target"),
            m.get("estimate_mode"),
            m.get("fee_rate"),
        )?;
        if let Some(v) = m.get("replaceable") {
            opts.replaceable = v.as_bool();
        }
    }
    ensure_unlocked(&w)?;
    let _guard = w.send_lock.lock();
    let has_mempool_descendants = w.chain.has_descendants_in_mempool(&txid);
    let (orig, old_fee, recipients, inputs) = {
        let s = w.state();
        let wtx = s
            .txs
            .get(&txid)
            .ok_or_else(|| RpcError::new(-5, "Invalid or non-wallet transaction id"))?;
        let out_spent = (0..wtx.tx.output.len()).any(|v| {
            s.spends
                .get(&OutPoint::new(txid, v as u32))
                .is_some_and(|set| !set.is_empty())
        });
        if out_spent {
            return Err(wallet_error("Transaction has descendants in the wallet"));
        }
        if has_mempool_descendants {
            return Err(wallet_error("Transaction has descendants in the mempool"));
        }
        if s.depth(wtx) != 0 {
            return Err(wallet_error(
                "Transaction has been mined, or is conflicted with a mined transaction",
            ));
        }
        if !wtx.tx.input.iter().any(|i| i.sequence.is_rbf()) {
            return Err(wallet_error("Transaction is not BIP 125 replaceable"));
        }
        if let Some(by) = wtx.replaced_by {
            return Err(wallet_error(format!(
                "Cannot bump transaction {txid} which was already bumped by transaction {by}"
            )));
        }
        if !s.all_inputs_mine(&wtx.tx) {
            return Err(wallet_error(
                "Transaction contains inputs that don't belong to this wallet",
            ));
        }
        let debit = s.debit(&wtx.tx);
        let out_total: u64 = wtx.tx.output.iter().map(|o| o.value.to_sat()).sum();
        let recipients: Vec<Recipient> = wtx
            .tx
            .output
            .iter()
            .filter(|o| !s.is_change(o))
            .map(|o| Recipient {
                script: o.script_pubkey.clone(),
                amount: o.value.to_sat(),
                subtract_fee: false,
            })
            .collect();
        let inputs: Vec<(OutPoint, Option<Sequence>)> = wtx
            .tx
            .input
            .iter()
            .map(|i| (i.previous_output, Some(Sequence::ENABLE_RBF_NO_LOCKTIME)))
            .collect();
        (
            wtx.tx.clone(),
            debit.saturating_sub(out_total),
            recipients,
            inputs,
        )
    };
    let old_vsize = {
        let (signed_like, _) = (orig.clone(), ());
        signed_like.vsize() as u64
    };
    let old_rate = old_fee * 1000 / old_vsize.max(1);
    let incremental = w.chain.relay_incremental_fee();
    let min_rate = old_rate + incremental;
    match opts.fee_rate {
        Some(rate) if rate < min_rate => {
            return Err(RpcError::invalid_parameter(format!(
                "Insufficient total fee {}, must be at least {} (oldFee {} + incrementalFee {})",
                fmt_btc(rate.saturating_mul(old_vsize) / 1000),
                fmt_btc(old_fee + incremental * old_vsize / 1000),
                fmt_btc(old_fee),
                fmt_btc(incremental * old_vsize / 1000),
            )))
        }
        Some(_) => {}
        None => {
            let est = w.fee_rate(&opts).unwrap_or(min_rate);
            opts.fee_rate = Some(est.max(min_rate));
        }
    }
    opts.preset_inputs = inputs;
    opts.locktime = Some(orig.lock_time.to_consensus_u32());
    let funded = w
        .fund(None, &recipients, &opts)
        .map_err(|e| fund_error(e, false))?;
    let (tx, complete) = w.sign_transaction(&funded.tx);
    if !complete {
        return Err(wallet_error("Can't sign transaction."));
    }
    let new_txid = tx.compute_txid();
    w.commit(&tx, None, None, Some(txid))
        .map_err(wallet_error)?;
    // The replacement may have been refused; then the original stays valid.
    if !w.state().txs.get(&new_txid).is_some_and(|t| {
        t.state == TxState::InMempool || matches!(t.state, TxState::Confirmed { .. })
    }) {
        crate::log_info!(
            "[{}] bumpfee: replacement {new_txid} not accepted",
            w.display_name()
        );
    }
    Ok(json!({
        "txid": new_txid.to_string(),
        "origfee": amount_sat(old_fee),
        "fee": amount_sat(funded.fee),
        "errors": [],
    }))
}

fn fmt_btc(sat: u64) -> String {
    format!("{}.{:08} BTC", sat / 100_000_000, sat % 100_000_000)
}

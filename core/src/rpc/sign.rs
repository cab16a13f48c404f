//! `signrawtransactionwithkey` and `combinerawtransaction`. The signer signs P2PK, P2PKH, P2WPKH, P2SH-P2WPKH and (with a
//! `witnessScript`/`redeemScript` in `prevtxs`) single-key and multisig P2SH/P2WSH
//! inputs, like Core's signer with a plain key store. Taproot inputs are not signed,
//! as in Core without descriptor data.

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, Instruction, PushBytesBuf};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    Amount, NetworkKind, OutPoint, PrivateKey, PublicKey, Script, ScriptBuf, Transaction, TxOut,
    Txid, Witness,
};
use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::error::{code, RpcError};
use super::params::{parse_hash, parse_hex, Params};
use super::rawtx::amount_from_value;
use crate::validation::script::block_script_flags;

/// The signing command.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "combinerawtransaction",
            category: "Rawtransactions",
            params: &["*txs"],
            hidden: false,
            handler: combinerawtransaction,
        },
        Command {
            name: "signrawtransactionwithkey",
            category: "Rawtransactions",
            params: &["*hexstring", "*privkeys", "prevtxs", "sighashtype"],
            hidden: false,
            handler: signrawtransactionwithkey,
        },
    ]
}

/// What a `prevtxs` entry or the UTXO set tells about one spent output.
pub struct Prevout {
    /// The output's script.
    pub script_pubkey: ScriptBuf,
    /// Its value, when given.
    pub amount: Option<Amount>,
    /// P2SH redeem script, when given.
    pub redeem_script: Option<ScriptBuf>,
    /// P2WSH witness script, when given.
    pub witness_script: Option<ScriptBuf>,
}

/// Core's `sighashtype` argument of the signing RPCs (`DEFAULT` is `ALL` for ECDSA).
pub fn parse_sighash(s: Option<&str>) -> Result<EcdsaSighashType, RpcError> {
    Ok(match s.unwrap_or("DEFAULT") {
        "DEFAULT" | "ALL" => EcdsaSighashType::All,
        "NONE" => EcdsaSighashType::None,
        "SINGLE" => EcdsaSighashType::Single,
        "ALL|ANYONECANPAY" => EcdsaSighashType::AllPlusAnyoneCanPay,
        "NONE|ANYONECANPAY" => EcdsaSighashType::NonePlusAnyoneCanPay,
        "SINGLE|ANYONECANPAY" => EcdsaSighashType::SinglePlusAnyoneCanPay,
        other => {
            return Err(RpcError::invalid_parameter(format!(
                "'{other}' is not a valid sighash parameter."
            )))
        }
    })
}

fn opt_script(o: &Map<String, Value>, key: &str) -> Result<Option<ScriptBuf>, RpcError> {
    match o.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(h) => Ok(Some(ScriptBuf::from_bytes(parse_hex(h, key)?))),
    }
}

/// Core's `prevtxs` argument of the signing RPCs, with its errors.
pub fn parse_prevtxs(v: Option<&Value>) -> Result<HashMap<OutPoint, Prevout>, RpcError> {
    let mut out = HashMap::new();
    let Some(v) = v else { return Ok(out) };
    let list = v
        .as_array()
        .ok_or_else(|| RpcError::type_error(v, "array"))?;
    for item in list {
        let o = item
            .as_object()
            .ok_or_else(|| RpcError::type_error(item, "object"))?;
        let txid: Txid = parse_hash(
            o.get("txid")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Missing txid"))?,
            "txid",
        )?;
        let vout = o
            .get("vout")
            .and_then(Value::as_i64)
            .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Missing vout"))?;
        if vout < 0 {
            return Err(RpcError::new(
                code::DESERIALIZATION_ERROR,
                "vout cannot be negative",
            ));
        }
        let spk = opt_script(o, "scriptPubKey")?
            .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Missing scriptPubKey"))?;
        let amount = o.get("amount").map(amount_from_value).transpose()?;
        let prev = Prevout {
            script_pubkey: spk,
            amount,
            redeem_script: opt_script(o, "redeemScript")?,
            witness_script: opt_script(o, "witnessScript")?,
        };
        out.insert(
            OutPoint {
                txid,
                vout: vout as u32,
            },
            prev,
        );
    }
    Ok(out)
}

/// Keys by their hash160, for P2PKH/P2WPKH lookups, and by full public key.
struct KeyStore {
    secp: Secp256k1<All>,
    keys: Vec<(PublicKey, PrivateKey)>,
}

impl KeyStore {
    fn by_pubkey(&self, pk: &[u8]) -> Option<&PrivateKey> {
        self.keys
            .iter()
            .find(|(p, _)| p.to_bytes() == pk)
            .map(|(_, k)| k)
    }

    fn by_hash(&self, hash: &[u8]) -> Option<(&PublicKey, &PrivateKey)> {
        self.keys
            .iter()
            .find(|(p, _)| p.pubkey_hash().as_byte_array() == hash)
            .map(|(p, k)| (p, k))
    }

    fn sign(&self, digest: [u8; 32], key: &PrivateKey, ty: EcdsaSighashType) -> Vec<u8> {
        // Low-R grinding, as Core does, gives the same signatures as Core.
        let sig = self
            .secp
            .sign_ecdsa_low_r(&Message::from_digest(digest), &key.inner);
        bitcoin::ecdsa::Signature {
            signature: sig,
            sighash_type: ty,
        }
        .serialize()
        .to_vec()
    }
}

fn push(bytes: &[u8]) -> PushBytesBuf {
    PushBytesBuf::try_from(bytes.to_vec()).expect("script items are small")
}

/// Keys of a `k <keys> n OP_CHECKMULTISIG` script, or of `<key> OP_CHECKSIG`.
fn script_keys(script: &Script) -> Option<(usize, Vec<Vec<u8>>)> {
    let ins: Vec<Instruction<'_>> = script.instructions().collect::<Result<_, _>>().ok()?;
    if script.is_p2pk() {
        return Some((1, vec![ins[0].push_bytes()?.as_bytes().to_vec()]));
    }
    if !script.is_multisig() {
        return None;
    }
    let k = (ins.first()?.opcode()?.to_u8() - 0x50) as usize;
    Some((
        k,
        ins.iter()
            .filter_map(|i| i.push_bytes())
            .map(|p| p.as_bytes().to_vec())
            .collect(),
    ))
}

/// Signatures (in key order) for a P2PK or multisig script; the bool says whether enough.
fn sign_script(
    ks: &KeyStore,
    script: &Script,
    digest: [u8; 32],
    ty: EcdsaSighashType,
) -> (Vec<Vec<u8>>, bool) {
    let Some((k, keys)) = script_keys(script) else {
        return (Vec::new(), false);
    };
    let sigs: Vec<Vec<u8>> = keys
        .iter()
        .filter_map(|pk| ks.by_pubkey(pk))
        .take(k)
        .map(|key| ks.sign(digest, key, ty))
        .collect();
    let complete = sigs.len() == k;
    (sigs, complete)
}

/// Signs input `i` in place; returns whether it is fully signed.
fn sign_input(
    ks: &KeyStore,
    tx: &mut Transaction,
    i: usize,
    prev: &Prevout,
    ty: EcdsaSighashType,
) -> Result<bool, &'static str> {
    let spk = &prev.script_pubkey;
    let legacy = |tx: &Transaction, code: &Script| -> [u8; 32] {
        SighashCache::new(tx)
            .legacy_signature_hash(i, code, ty.to_u32())
            .expect("index in range")
            .to_byte_array()
    };
    if spk.is_p2pkh() {
        let Some((pk, key)) = ks.by_hash(&spk.as_bytes()[3..23]) else {
            return Ok(false);
        };
        let sig = ks.sign(legacy(tx, spk), key, ty);
        tx.input[i].script_sig = Builder::new()
            .push_slice(push(&sig))
            .push_key(pk)
            .into_script();
        return Ok(true);
    }
    if spk.is_p2pk() || spk.is_multisig() {
        let (sigs, complete) = sign_script(ks, spk, legacy(tx, spk), ty);
        let mut b = if spk.is_multisig() {
            Builder::new().push_opcode(bitcoin::opcodes::OP_0)
        } else {
            Builder::new()
        };
        for s in &sigs {
            b = b.push_slice(push(s));
        }
        if !sigs.is_empty() {
            tx.input[i].script_sig = b.into_script();
        }
        return Ok(complete);
    }
    let mut inner = spk.clone();
    let mut redeem_push = None;
    if spk.is_p2sh() {
        let redeem = match &prev.redeem_script {
            Some(r) => r.clone(),
            // Core's key store knows the P2SH-P2WPKH script of every compressed key.
            None => match ks.keys.iter().find_map(|(pk, _)| {
                let w = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash().ok()?);
                (ScriptBuf::new_p2sh(&w.script_hash()) == *spk).then_some(w)
            }) {
                Some(w) => w,
                None => return Ok(false),
            },
        };
        if ScriptBuf::new_p2sh(&redeem.script_hash()) != *spk {
            return Err("Redeem script does not match scriptPubKey");
        }
        redeem_push = Some(redeem.clone());
        inner = redeem;
    }
    let with_redeem = |tx: &mut Transaction, items: Vec<Vec<u8>>| {
        let mut b = Builder::new();
        for it in items {
            b = b.push_slice(push(&it));
        }
        if let Some(r) = &redeem_push {
            b = b.push_slice(push(r.as_bytes()));
        }
        tx.input[i].script_sig = b.into_script();
    };
    if inner.is_p2wpkh() || inner.is_p2wsh() {
        let amount = prev.amount.ok_or("Missing amount")?;
        if inner.is_p2wpkh() {
            let Some((pk, key)) = ks.by_hash(&inner.as_bytes()[2..22]) else {
                return Ok(false);
            };
            let digest = SighashCache::new(&*tx)
                .p2wpkh_signature_hash(i, &inner, amount, ty)
                .map_err(|_| "Unable to compute signature hash")?;
            let sig = ks.sign(digest.to_byte_array(), key, ty);
            tx.input[i].witness = Witness::from_slice(&[sig, pk.to_bytes()]);
        } else {
            let Some(ws) = &prev.witness_script else {
                return Ok(false);
            };
            if ScriptBuf::new_p2wsh(&ws.wscript_hash()) != inner {
                return Err("Witness script does not match scriptPubKey");
            }
            let digest = SighashCache::new(&*tx)
                .p2wsh_signature_hash(i, ws, amount, ty)
                .map_err(|_| "Unable to compute signature hash")?;
            let (sigs, complete) = sign_script(ks, ws, digest.to_byte_array(), ty);
            let mut stack: Vec<Vec<u8>> = if ws.is_multisig() {
                vec![Vec::new()]
            } else {
                Vec::new()
            };
            stack.extend(sigs);
            stack.push(ws.to_bytes());
            tx.input[i].witness = Witness::from_slice(&stack);
            if redeem_push.is_some() {
                with_redeem(tx, Vec::new());
            }
            return Ok(complete);
        }
        if redeem_push.is_some() {
            with_redeem(tx, Vec::new());
        }
        return Ok(true);
    }
    if redeem_push.is_some() && (inner.is_p2pk() || inner.is_multisig()) {
        let digest = legacy(tx, &inner);
        let (sigs, complete) = sign_script(ks, &inner, digest, ty);
        let mut items = if inner.is_multisig() {
            vec![Vec::new()]
        } else {
            Vec::new()
        };
        items.extend(sigs);
        with_redeem(tx, items);
        return Ok(complete);
    }
    Ok(false)
}

fn signrawtransactionwithkey(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let bytes = parse_hex(p.req_str(0)?, "hexstring").map_err(|_| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let mut tx: Transaction = bitcoin::consensus::deserialize(&bytes).map_err(|_| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let Some(Value::Array(wifs)) = p.get(1) else {
        return Err(RpcError::type_error(
            p.get(1).unwrap_or(&Value::Null),
            "array",
        ));
    };
    let secp = Secp256k1::new();
    let mut keys = Vec::new();
    for w in wifs {
        let s = w
            .as_str()
            .ok_or_else(|| RpcError::type_error(w, "string"))?;
        let key = PrivateKey::from_str(s)
            .ok()
            .filter(|k| k.network == NetworkKind::Test)
            .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid private key"))?;
        keys.push((key.public_key(&secp), key));
    }
    let ks = KeyStore { secp, keys };
    let prevtxs = parse_prevtxs(p.get(2))?;
    let ty = parse_sighash(p.str(3)?)?;

    // Spent outputs: prevtxs first, then the mempool and the UTXO set.
    let mut prevs: Vec<Option<Prevout>> = Vec::with_capacity(tx.input.len());
    {
        let chain = ctx.node.chain();
        let pool = ctx.node.mempool();
        for input in &tx.input {
            let op = input.previous_output;
            if let Some(prev) = prevtxs.get(&op) {
                prevs.push(Some(Prevout {
                    script_pubkey: prev.script_pubkey.clone(),
                    amount: prev.amount,
                    redeem_script: prev.redeem_script.clone(),
                    witness_script: prev.witness_script.clone(),
                }));
                continue;
            }
            let out: Option<TxOut> = pool
                .get(&op.txid)
                .and_then(|e| e.tx.output.get(op.vout as usize).cloned())
                .or_else(|| chain.coin(&op).ok().flatten().map(|c| c.output));
            prevs.push(out.map(|o| Prevout {
                script_pubkey: o.script_pubkey,
                amount: Some(o.value),
                redeem_script: None,
                witness_script: None,
            }));
        }
    }
    let mut errors = Vec::new();
    let mut results: Vec<Result<bool, &'static str>> = Vec::with_capacity(tx.input.len());
    for (i, prev) in prevs.iter().enumerate() {
        results.push(match prev {
            None => Err("Input not found or already spent"),
            Some(prev) => sign_input(&ks, &mut tx, i, prev, ty),
        });
    }
    // Check every input against the final transaction (later signatures may commit to
    // earlier inputs' data, so this runs after all signing).
    let all_known = prevs
        .iter()
        .all(|p| p.as_ref().is_some_and(|p| p.amount.is_some()));
    for (i, result) in results.into_iter().enumerate() {
        let error = match result {
            Err(e) => Some(e.to_string()),
            Ok(false) => Some(
                if prevs[i].as_ref().is_some_and(|p| {
                    p.script_pubkey.is_multisig()
                        || p.witness_script.as_ref().is_some_and(|w| w.is_multisig())
                }) {
                    "CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)".to_string()
                } else {
                    "Unable to sign input, invalid stack size (possibly missing key)".to_string()
                },
            ),
            Ok(true) if all_known => {
                let spent: Vec<TxOut> = prevs
                    .iter()
                    .flatten()
                    .map(|p| TxOut {
                        value: p.amount.unwrap_or(Amount::ZERO),
                        script_pubkey: p.script_pubkey.clone(),
                    })
                    .collect();
                // Only this input is checked: the others may still be unsigned.
                (!verify_one(&tx, &spent, i)).then(|| "Script evaluation failed".to_string())
            }
            Ok(true) => None,
        };
        if let Some(error) = error {
            let input = &tx.input[i];
            errors.push(json!({
                "txid": input.previous_output.txid.to_string(),
                "vout": input.previous_output.vout,
                "witness": input.witness.iter().map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>()).collect::<Vec<_>>(),
                "scriptSig": input.script_sig.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "sequence": input.sequence.to_consensus_u32(),
                "error": error,
            }));
        }
    }
    let mut out = Map::new();
    out.insert("hex".into(), json!(serialize_hex(&tx)));
    out.insert("complete".into(), json!(errors.is_empty()));
    if !errors.is_empty() {
        out.insert("errors".into(), Value::Array(errors));
    }
    Ok(Value::Object(out))
}

/// Verifies one input with the consensus flags of the next block.
fn verify_one(tx: &Transaction, spent: &[TxOut], index: usize) -> bool {
    let raw = bitcoin::consensus::encode::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    let out = &spent[index];
    bitcoinconsensus::verify_with_flags(
        out.script_pubkey.as_bytes(),
        out.value.to_sat(),
        &raw,
        Some(&utxos),
        index,
        block_script_flags(1),
    )
    .is_ok()
}

/// The multisig script an input spends through, with where its data lives.
enum MultisigSpend {
    /// Bare multisig: signatures in the scriptSig.
    Bare(ScriptBuf),
    /// P2SH multisig: signatures then the redeem script in the scriptSig.
    P2sh(ScriptBuf),
    /// P2WSH (possibly P2SH-wrapped) multisig: signatures then the script in the witness.
    P2wsh(ScriptBuf, ScriptBuf),
}

/// Data pushes of a scriptSig.
fn pushes(script: &Script) -> Vec<Vec<u8>> {
    script
        .instructions()
        .filter_map(Result::ok)
        .filter_map(|i| i.push_bytes().map(|p| p.as_bytes().to_vec()))
        .collect()
}

fn multisig_spend(spk: &Script, variants: &[(ScriptBuf, Witness)]) -> Option<MultisigSpend> {
    if spk.is_multisig() {
        return Some(MultisigSpend::Bare(spk.to_owned()));
    }
    for (script_sig, witness) in variants {
        if let Some(ws) = witness
            .last()
            .map(|w| ScriptBuf::from_bytes(w.to_vec()))
            .filter(|w| w.is_multisig())
        {
            let sh = pushes(script_sig)
                .last()
                .cloned()
                .map(ScriptBuf::from_bytes)
                .unwrap_or_default();
            return Some(MultisigSpend::P2wsh(ws, sh));
        }
        if spk.is_p2sh() {
            if let Some(rs) = pushes(script_sig)
                .last()
                .cloned()
                .map(ScriptBuf::from_bytes)
                .filter(|r| r.is_multisig())
            {
                return Some(MultisigSpend::P2sh(rs));
            }
        }
    }
    None
}

/// Merges the signatures all variants hold for a multisig input, in key order.
fn merge_multisig(
    tx: &mut Transaction,
    i: usize,
    spent: &TxOut,
    spend: &MultisigSpend,
    variants: &[(ScriptBuf, Witness)],
) {
    let script = match spend {
        MultisigSpend::Bare(s) | MultisigSpend::P2sh(s) | MultisigSpend::P2wsh(s, _) => s.clone(),
    };
    let Some((k, keys)) = script_keys(&script) else {
        return;
    };
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for (script_sig, witness) in variants {
        candidates.extend(pushes(script_sig));
        candidates.extend(witness.iter().map(<[u8]>::to_vec));
    }
    let secp = Secp256k1::verification_only();
    let mut sigs = Vec::new();
    for key in &keys {
        let Ok(pk) = PublicKey::from_slice(key) else {
            continue;
        };
        let found = candidates.iter().find(|c| {
            let Ok(sig) = bitcoin::ecdsa::Signature::from_slice(c) else {
                return false;
            };
            let digest = match spend {
                MultisigSpend::P2wsh(ws, _) => SighashCache::new(&*tx)
                    .p2wsh_signature_hash(i, ws, spent.value, sig.sighash_type)
                    .map(|h| h.to_byte_array())
                    .ok(),
                _ => SighashCache::new(&*tx)
                    .legacy_signature_hash(i, &script, sig.sighash_type.to_u32())
                    .map(|h| h.to_byte_array())
                    .ok(),
            };
            digest.is_some_and(|d| {
                secp.verify_ecdsa(&Message::from_digest(d), &sig.signature, &pk.inner)
                    .is_ok()
            })
        });
        if let Some(sig) = found {
            sigs.push(sig.clone());
        }
        if sigs.len() == k {
            break;
        }
    }
    let mut items = vec![Vec::new()];
    items.extend(sigs);
    match spend {
        MultisigSpend::Bare(_) | MultisigSpend::P2sh(_) => {
            if let MultisigSpend::P2sh(rs) = spend {
                items.push(rs.to_bytes());
            }
            let mut b = Builder::new();
            for it in &items {
                b = if it.is_empty() {
                    b.push_opcode(bitcoin::opcodes::OP_0)
                } else {
                    b.push_slice(push(it))
                };
            }
            tx.input[i].script_sig = b.into_script();
        }
        MultisigSpend::P2wsh(ws, sh) => {
            items.push(ws.to_bytes());
            tx.input[i].witness = Witness::from_slice(&items);
            tx.input[i].script_sig = if sh.is_empty() {
                ScriptBuf::new()
            } else {
                Builder::new().push_slice(push(sh.as_bytes())).into_script()
            };
        }
    }
}

fn combinerawtransaction(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let Some(Value::Array(list)) = p.get(0) else {
        return Err(RpcError::type_error(
            p.get(0).unwrap_or(&Value::Null),
            "array",
        ));
    };
    if list.is_empty() {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "Missing transactions",
        ));
    }
    let mut txs: Vec<Transaction> = Vec::with_capacity(list.len());
    for (n, v) in list.iter().enumerate() {
        let err = || {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!("TX decode failed for tx {n}. Make sure the tx has at least one input."),
            )
        };
        let bytes = parse_hex(v.as_str().ok_or_else(err)?, "tx").map_err(|_| err())?;
        txs.push(bitcoin::consensus::deserialize(&bytes).map_err(|_| err())?);
    }
    let mut merged = txs[0].clone();
    let spent: Vec<TxOut> = {
        let chain = ctx.node.chain();
        let pool = ctx.node.mempool();
        merged
            .input
            .iter()
            .map(|input| {
                let op = input.previous_output;
                pool.get(&op.txid)
                    .and_then(|e| e.tx.output.get(op.vout as usize).cloned())
                    .or_else(|| chain.coin(&op).ok().flatten().map(|c| c.output))
                    .ok_or_else(|| {
                        RpcError::new(code::VERIFY_ERROR, "Input not found or already spent")
                    })
            })
            .collect::<Result<_, _>>()?
    };
    for i in 0..merged.input.len() {
        let variants: Vec<(ScriptBuf, Witness)> = txs
            .iter()
            .filter_map(|t| t.input.get(i))
            .map(|inp| (inp.script_sig.clone(), inp.witness.clone()))
            .collect();
        // A variant that is already complete for this input wins.
        let complete = variants.iter().find(|(ss, w)| {
            let mut candidate = merged.clone();
            candidate.input[i].script_sig = ss.clone();
            candidate.input[i].witness = w.clone();
            verify_one(&candidate, &spent, i)
        });
        if let Some((ss, w)) = complete {
            merged.input[i].script_sig = ss.clone();
            merged.input[i].witness = w.clone();
            continue;
        }
        if let Some(spend) = multisig_spend(&spent[i].script_pubkey, &variants) {
            merge_multisig(&mut merged, i, &spent[i], &spend, &variants);
            continue;
        }
        if let Some((ss, w)) = variants
            .iter()
            .find(|(ss, w)| !ss.is_empty() || !w.is_empty())
        {
            merged.input[i].script_sig = ss.clone();
            merged.input[i].witness = w.clone();
        }
    }
    Ok(json!(serialize_hex(&merged)))
}

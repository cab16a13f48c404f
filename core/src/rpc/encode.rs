//! JSON renderings shared by RPCs, matching Core's `core_write.cpp`: amounts, script asm,
//! script types, inferred descriptors, transactions and block headers.

use bitcoin::blockdata::script::Instruction;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::opcodes::all as op;
use bitcoin::{Address, Amount, Network, Script, Transaction};
use serde_json::{json, Map, Value};

use crate::descriptor::with_checksum;

/// An amount as Core prints it: a JSON number with exactly eight decimals.
pub fn amount(a: Amount) -> Value {
    let sat = a.to_sat();
    serde_json::from_str(&format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000))
        .expect("valid number")
}

/// A signed satoshi value (fees can be computed negative only on bad data).
pub fn amount_sat(sat: u64) -> Value {
    amount(Amount::from_sat(sat))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes a minimal-or-not little-endian sign-magnitude script number (`CScriptNum`).
fn script_num(b: &[u8]) -> i64 {
    if b.is_empty() {
        return 0;
    }
    let mut v: i64 = 0;
    for (i, byte) in b.iter().enumerate() {
        v |= i64::from(*byte) << (8 * i);
    }
    let last = b[b.len() - 1];
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (b.len() - 1))))
    } else {
        v
    }
}

/// Core's opcode names (`GetOpName`) where rust-bitcoin's differ.
fn op_name(o: bitcoin::Opcode) -> String {
    let b = o.to_u8();
    match b {
        0x00 => "0".into(),
        0x4f => "-1".into(),
        0x51..=0x60 => (b - 0x50).to_string(),
        _ if o == op::OP_CLTV => "OP_CHECKLOCKTIMEVERIFY".into(),
        _ if o == op::OP_CSV => "OP_CHECKSEQUENCEVERIFY".into(),
        0xbb..=0xff => "OP_UNKNOWN".into(),
        _ => o.to_string(),
    }
}

/// Core's `ScriptToAsmStr`; with `sighash_decode`, signatures show as `<hex>[ALL]`.
pub fn script_asm(script: &Script, sighash_decode: bool) -> String {
    let mut parts = Vec::new();
    for ins in script.instructions() {
        match ins {
            Ok(Instruction::PushBytes(p)) => {
                let b = p.as_bytes();
                if b.len() <= 4 {
                    parts.push(script_num(b).to_string());
                } else if sighash_decode && !script.is_p2sh() {
                    match bitcoin::ecdsa::Signature::from_slice(b) {
                        Ok(sig) => {
                            let name = sig.sighash_type.to_string();
                            let name = name.replace("SIGHASH_", "");
                            parts.push(format!(
                                "{}[{}]",
                                hex(&sig.signature.serialize_der()),
                                name
                            ));
                        }
                        Err(_) => parts.push(hex(b)),
                    }
                } else {
                    parts.push(hex(b));
                }
            }
            Ok(Instruction::Op(o)) => parts.push(op_name(o)),
            Err(_) => {
                parts.push("[error]".into());
                break;
            }
        }
    }
    parts.join(" ")
}

fn is_push_only_after_return(script: &Script) -> bool {
    script.instructions().skip(1).all(|i| {
        matches!(i, Ok(Instruction::PushBytes(_)))
            || matches!(i, Ok(Instruction::Op(o)) if o.to_u8() <= 0x60)
    })
}

/// Core's `GetTxnOutputType` of a script's `Solver` result.
pub fn script_type(script: &Script) -> &'static str {
    let b = script.as_bytes();
    if script.is_p2pk() {
        "pubkey"
    } else if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if b == [0x51, 0x02, 0x4e, 0x73] {
        "anchor"
    } else if script.is_witness_program() {
        "witness_unknown"
    } else if script.is_multisig() {
        "multisig"
    } else if !b.is_empty() && b[0] == 0x6a && is_push_only_after_return(script) {
        "nulldata"
    } else {
        "nonstandard"
    }
}

/// The address of a script, if it has one.
pub fn script_address(script: &Script, network: Network) -> Option<String> {
    Address::from_script(script, network)
        .ok()
        .map(|a| a.to_string())
}

/// Core's `InferDescriptor` without key information: `pk()`, `multi()` and `rawtr()` where
/// the keys are in the script, `addr()` for scripts with an address, otherwise `raw()`.
pub fn infer_descriptor(script: &Script, network: Network) -> String {
    let b = script.as_bytes();
    let desc = if script.is_p2pk() {
        let key_len = b.len() - 2;
        format!("pk({})", hex(&b[1..1 + key_len]))
    } else if script.is_multisig() {
        let ins: Vec<_> = script.instructions().filter_map(Result::ok).collect();
        let k = ins
            .first()
            .and_then(|i| i.opcode())
            .map(|o| o.to_u8() - 0x50)
            .unwrap_or(0);
        let keys: Vec<String> = ins
            .iter()
            .filter_map(|i| i.push_bytes())
            .map(|p| hex(p.as_bytes()))
            .collect();
        format!("multi({},{})", k, keys.join(","))
    } else if script.is_p2tr() {
        format!("rawtr({})", hex(&b[2..34]))
    } else if let Some(a) = script_address(script, network) {
        format!("addr({a})")
    } else {
        format!("raw({})", hex(b))
    };
    with_checksum(&desc)
}

/// Core's `ScriptToUniv` for an output script: asm, desc, hex, address, type.
pub fn script_pubkey_json(script: &Script, network: Network) -> Value {
    let mut o = Map::new();
    o.insert("asm".into(), json!(script_asm(script, false)));
    o.insert("desc".into(), json!(infer_descriptor(script, network)));
    o.insert("hex".into(), json!(hex(script.as_bytes())));
    if let Some(a) = script_address(script, network) {
        o.insert("address".into(), json!(a));
    }
    o.insert("type".into(), json!(script_type(script)));
    Value::Object(o)
}

/// Core's `TxToUniv`. `fee` is added for verbosity-2 blocks, `hex` when asked.
pub fn tx_to_json(
    tx: &Transaction,
    network: Network,
    include_hex: bool,
    fee: Option<Amount>,
) -> Value {
    let mut o = Map::new();
    o.insert("txid".into(), json!(tx.compute_txid().to_string()));
    o.insert("hash".into(), json!(tx.compute_wtxid().to_string()));
    o.insert("version".into(), json!(tx.version.0));
    o.insert("size".into(), json!(tx.total_size()));
    o.insert("vsize".into(), json!(tx.vsize()));
    o.insert("weight".into(), json!(tx.weight().to_wu()));
    o.insert("locktime".into(), json!(tx.lock_time.to_consensus_u32()));
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            let mut v = Map::new();
            if tx.is_coinbase() {
                v.insert("coinbase".into(), json!(hex(i.script_sig.as_bytes())));
            } else {
                v.insert("txid".into(), json!(i.previous_output.txid.to_string()));
                v.insert("vout".into(), json!(i.previous_output.vout));
                v.insert(
                    "scriptSig".into(),
                    json!({"asm": script_asm(&i.script_sig, true), "hex": hex(i.script_sig.as_bytes())}),
                );
            }
            if !i.witness.is_empty() {
                v.insert("txinwitness".into(), Value::Array(i.witness.iter().map(|w| json!(hex(w))).collect()));
            }
            v.insert("sequence".into(), json!(i.sequence.to_consensus_u32()));
            Value::Object(v)
        })
        .collect();
    o.insert("vin".into(), Value::Array(vin));
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, out)| {
            json!({"value": amount(out.value), "n": n, "scriptPubKey": script_pubkey_json(&out.script_pubkey, network)})
        })
        .collect();
    o.insert("vout".into(), Value::Array(vout));
    if let Some(f) = fee {
        o.insert("fee".into(), amount(f));
    }
    if include_hex {
        o.insert("hex".into(), json!(serialize_hex(tx)));
    }
    Value::Object(o)
}

/// A floating-point number printed as Core's UniValue does (`%.16g`).
pub fn core_double(x: f64) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    if x == 0.0 {
        return json!(0);
    }
    let exp = x.abs().log10().floor() as i32;
    let text = if !(-5..16).contains(&exp) {
        let s = format!("{x:.15e}");
        let (mantissa, e) = s.split_once('e').expect("exponent form");
        let mantissa = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.')
        } else {
            mantissa
        };
        let e: i32 = e.parse().expect("exponent");
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (15 - exp).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Core's `GetDifficulty`: how much harder `bits` is than the minimum difficulty 1.
pub fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffff) / f64::from(bits & 0x00ff_ffff);
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    #[test]
    fn amounts_have_eight_decimals() {
        assert_eq!(
            amount(Amount::from_sat(5_000_000_000)).to_string(),
            "50.00000000"
        );
        assert_eq!(amount(Amount::from_sat(1)).to_string(), "0.00000001");
    }

    #[test]
    fn asm_like_core() {
        let s = ScriptBuf::from_hex("76a914000000000000000000000000000000000000000088ac").unwrap();
        assert_eq!(
            script_asm(&s, false),
            "OP_DUP OP_HASH160 0000000000000000000000000000000000000000 OP_EQUALVERIFY OP_CHECKSIG"
        );
        assert_eq!(script_type(&s), "pubkeyhash");
        let s = ScriptBuf::from_hex("5100b1b2").unwrap();
        assert_eq!(
            script_asm(&s, false),
            "1 0 OP_CHECKLOCKTIMEVERIFY OP_CHECKSEQUENCEVERIFY"
        );
        let s = ScriptBuf::from_hex("0281ff").unwrap();
        assert_eq!(script_asm(&s, false), "-32641");
        assert_eq!(
            script_type(&ScriptBuf::from_hex("6a0401020304").unwrap()),
            "nulldata"
        );
        assert_eq!(
            script_type(&ScriptBuf::from_hex("51").unwrap()),
            "nonstandard"
        );
    }

    #[test]
    fn regtest_difficulty() {
        assert_eq!(
            core_double(difficulty(0x207fffff)).to_string(),
            "4.656542373906925e-10"
        );
        assert_eq!(core_double(difficulty(0x1d00ffff)).to_string(), "1");
        assert_eq!(core_double(0.5).to_string(), "0.5");
        assert_eq!(core_double(123456.25).to_string(), "123456.25");
    }

    #[test]
    fn descriptors_inferred() {
        let s = ScriptBuf::from_hex("51").unwrap();
        assert_eq!(
            infer_descriptor(&s, Network::Regtest),
            with_checksum("raw(51)")
        );
    }
}

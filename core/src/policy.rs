//! Relay policy (Core's `policy/policy.cpp`): standard transactions, dust, fee rates.

use bitcoin::{Transaction, TxOut};

use crate::rpc::encode::script_type;

/// Default `-minrelaytxfee`, in sat per 1000 virtual bytes.
pub const DEFAULT_MIN_RELAY_FEE: u64 = 1000;
/// Fee rate that defines dust outputs, in sat/kvB (Core's `DUST_RELAY_TX_FEE`).
pub const DUST_RELAY_FEE: u64 = 3000;
/// Extra fee rate a replacement must pay, in sat/kvB.
pub const INCREMENTAL_RELAY_FEE: u64 = 1000;
/// Largest standard transaction weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Smallest standard non-witness size (Core's `MIN_STANDARD_TX_NONWITNESS_SIZE`).
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Largest standard sigop cost of one transaction.
pub const MAX_STANDARD_TX_SIGOPS_COST: usize = 16_000;
/// Largest standard OP_RETURN output script (Core's `MAX_OP_RETURN_RELAY`, the default
/// `-datacarriersize`).
pub const MAX_OP_RETURN_RELAY: usize = 83;
/// Largest standard scriptSig.
const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
/// Bytes per sigop when sigops dominate size (Core's `DEFAULT_BYTES_PER_SIGOP`).
const BYTES_PER_SIGOP: u64 = 20;

/// Core's `GetVirtualTransactionSize`: weight (or sigop cost times 20, if larger) / 4.
pub fn virtual_size(weight: u64, sigop_cost: usize) -> u64 {
    weight.max(sigop_cost as u64 * BYTES_PER_SIGOP).div_ceil(4)
}

/// The fee for `vsize` virtual bytes at `rate` sat/kvB (Core's `CFeeRate::GetFee`).
pub fn fee_for(rate: u64, vsize: u64) -> u64 {
    let fee = rate * vsize / 1000;
    if fee == 0 && vsize != 0 && rate > 0 {
        1
    } else {
        fee
    }
}

/// Core's `GetDustThreshold` at the dust relay fee rate.
pub fn dust_threshold(out: &TxOut) -> u64 {
    if out.script_pubkey.is_op_return() {
        return 0;
    }
    let mut size = bitcoin::consensus::encode::serialize(out).len() as u64;
    size += if out.script_pubkey.is_witness_program() {
        32 + 4 + 1 + 107 / 4 + 4
    } else {
        32 + 4 + 1 + 107 + 4
    };
    fee_for(DUST_RELAY_FEE, size)
}

/// Core's `IsStandardTx`, returning the reject reason. Data (OP_RETURN) outputs may be
/// up to `max_datacarrier_bytes`; with `None` they are not standard.
pub fn check_standard(
    tx: &Transaction,
    max_datacarrier_bytes: Option<usize>,
) -> Result<(), &'static str> {
    if !(1..=3).contains(&tx.version.0) {
        return Err("version");
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err("tx-size");
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err("scriptsig-size");
        }
        if !input.script_sig.is_push_only() {
            return Err("scriptsig-not-pushonly");
        }
    }
    let mut data_outputs = 0;
    for out in &tx.output {
        match script_type(&out.script_pubkey) {
            "nonstandard" => return Err("scriptpubkey"),
            "nulldata" => {
                if max_datacarrier_bytes.is_none_or(|max| out.script_pubkey.len() > max) {
                    return Err("scriptpubkey");
                }
                data_outputs += 1;
            }
            "multisig" if !multisig_is_standard(out) => return Err("scriptpubkey"),
            _ => {}
        }
        if out.value.to_sat() < dust_threshold(out) {
            return Err("dust");
        }
    }
    if data_outputs > 1 {
        return Err("multi-op-return");
    }
    Ok(())
}

/// Most sigops a P2SH redeem script may have (Core's `MAX_P2SH_SIGOPS`).
const MAX_P2SH_SIGOPS: usize = 15;
/// Largest standard P2WSH witness script.
const MAX_STANDARD_P2WSH_SCRIPT_SIZE: usize = 3600;
/// Most stack items (besides the script) of a standard P2WSH spend.
const MAX_STANDARD_P2WSH_STACK_ITEMS: usize = 100;
/// Largest standard stack item of a P2WSH or tapscript spend.
const MAX_STANDARD_STACK_ITEM_SIZE: usize = 80;

/// The redeem script of a P2SH spend: the last push of the scriptSig.
fn redeem_script(tx_in: &bitcoin::TxIn) -> Option<bitcoin::ScriptBuf> {
    tx_in
        .script_sig
        .instructions()
        .filter_map(Result::ok)
        .filter_map(|i| {
            i.push_bytes()
                .map(|p| bitcoin::ScriptBuf::from_bytes(p.as_bytes().to_vec()))
        })
        .last()
}

/// Core's `AreInputsStandard`: spent outputs of known types, and P2SH redeem scripts with
/// at most 15 sigops. `spent` is in input order.
pub fn check_inputs_standard(tx: &Transaction, spent: &[TxOut]) -> Result<(), &'static str> {
    for (input, prev) in tx.input.iter().zip(spent) {
        match script_type(&prev.script_pubkey) {
            "nonstandard" | "witness_unknown" => return Err("bad-txns-nonstandard-inputs"),
            "scripthash" => {
                let redeem = redeem_script(input).unwrap_or_default();
                if redeem.count_sigops() > MAX_P2SH_SIGOPS {
                    return Err("bad-txns-nonstandard-inputs");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Core's `IsWitnessStandard`: witness data only for witness programs, P2WSH size limits,
/// no taproot annex, small tapscript stack items.
pub fn check_witness_standard(tx: &Transaction, spent: &[TxOut]) -> Result<(), &'static str> {
    const BAD: &str = "bad-witness-nonstandard";
    for (input, prev) in tx.input.iter().zip(spent) {
        if input.witness.is_empty() {
            continue;
        }
        let mut program = prev.script_pubkey.clone();
        let wrapped = program.is_p2sh();
        if wrapped {
            program = redeem_script(input).unwrap_or_default();
        }
        if !program.is_witness_program() {
            return Err(BAD);
        }
        let items: Vec<&[u8]> = input.witness.iter().collect();
        if program.is_p2wsh() {
            let script_len = items.last().map_or(0, |s| s.len());
            if script_len > MAX_STANDARD_P2WSH_SCRIPT_SIZE
                || items.len() - 1 > MAX_STANDARD_P2WSH_STACK_ITEMS
                || items[..items.len() - 1]
                    .iter()
                    .any(|i| i.len() > MAX_STANDARD_STACK_ITEM_SIZE)
            {
                return Err(BAD);
            }
        }
        if program.is_p2tr() && !wrapped {
            let mut stack = items;
            if stack.len() >= 2 && stack.last().is_some_and(|a| a.first() == Some(&0x50)) {
                return Err(BAD);
            }
            if stack.len() >= 2 {
                let control = stack.pop().expect("two items");
                stack.pop();
                if control.first().is_some_and(|c| c & 0xfe == 0xc0)
                    && stack.iter().any(|i| i.len() > MAX_STANDARD_STACK_ITEM_SIZE)
                {
                    return Err(BAD);
                }
            }
        }
    }
    Ok(())
}

/// Bare multisig is standard with 1 to 3 keys.
fn multisig_is_standard(out: &TxOut) -> bool {
    let keys = out
        .script_pubkey
        .instructions()
        .filter_map(Result::ok)
        .filter(|i| i.push_bytes().is_some())
        .count();
    (1..=3).contains(&keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{Amount, ScriptBuf};

    #[test]
    fn dust_thresholds_match_core() {
        let p2wpkh = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_hex("0014").unwrap(),
        };
        let p2wpkh = TxOut {
            script_pubkey: ScriptBuf::from_bytes([vec![0, 20], vec![0; 20]].concat()),
            ..p2wpkh
        };
        assert_eq!(dust_threshold(&p2wpkh), 294);
        let p2pkh = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(
                [vec![0x76, 0xa9, 20], vec![0; 20], vec![0x88, 0xac]].concat(),
            ),
        };
        assert_eq!(dust_threshold(&p2pkh), 546);
        let p2wsh = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes([vec![0, 32], vec![0; 32]].concat()),
        };
        assert_eq!(dust_threshold(&p2wsh), 330);
    }

    #[test]
    fn vsize_and_fees() {
        assert_eq!(virtual_size(401, 0), 101);
        assert_eq!(virtual_size(400, 100), 500);
        assert_eq!(fee_for(1000, 141), 141);
        assert_eq!(fee_for(1, 10), 1);
    }
}

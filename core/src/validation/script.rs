//! Script verification through libbitcoinconsensus, with the flags in force on regtest.

use bitcoin::consensus::encode::serialize;
use bitcoin::{Transaction, TxOut};
use bitcoinconsensus::{
    verify_with_flags, Utxo, VERIFY_CHECKLOCKTIMEVERIFY, VERIFY_CHECKSEQUENCEVERIFY, VERIFY_DERSIG,
    VERIFY_NULLDUMMY, VERIFY_P2SH, VERIFY_TAPROOT, VERIFY_WITNESS,
};

use super::ValidationError;

/// Script flags for a block at `height` (Core's `GetBlockScriptFlags`): on regtest, P2SH,
/// segwit and taproot are always on, and BIP66/65/112/147 from height 1.
pub fn block_script_flags(height: u32) -> u32 {
    let mut flags = VERIFY_P2SH | VERIFY_WITNESS | VERIFY_TAPROOT;
    if height >= 1 {
        flags |= VERIFY_DERSIG
            | VERIFY_CHECKLOCKTIMEVERIFY
            | VERIFY_CHECKSEQUENCEVERIFY
            | VERIFY_NULLDUMMY;
    }
    flags
}

/// Verifies every input of `tx` against the outputs it spends (in input order).
pub fn verify_scripts(
    tx: &Transaction,
    spent: &[TxOut],
    flags: u32,
) -> Result<(), ValidationError> {
    let raw = serialize(tx);
    // The C API takes raw pointers; `spent` outlives every call below.
    let utxos: Vec<Utxo> = spent
        .iter()
        .map(|o| Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    for (i, out) in spent.iter().enumerate() {
        verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &raw,
            Some(&utxos),
            i,
            flags,
        )
        .map_err(|e| {
            ValidationError::with_debug(
                format!("mandatory-script-verify-flag-failed (script evaluation failed: {e:?})"),
                format!("input {i} of {}", tx.compute_txid()),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute, Amount, OutPoint, ScriptBuf, Sequence, TxIn, Witness};

    fn spend(script_sig: ScriptBuf) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::default(),
                script_sig,
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    #[test]
    fn anyone_can_spend_and_failing_scripts() {
        let op_true = TxOut {
            value: Amount::from_sat(2),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        };
        assert!(
            verify_scripts(&spend(ScriptBuf::new()), &[op_true], block_script_flags(1)).is_ok()
        );
        let op_false = TxOut {
            value: Amount::from_sat(2),
            script_pubkey: ScriptBuf::from_bytes(vec![0x00]),
        };
        let e = verify_scripts(&spend(ScriptBuf::new()), &[op_false], block_script_flags(1))
            .unwrap_err();
        assert!(e.reason.starts_with("mandatory-script-verify-flag-failed"));
    }
}

//! Checks that need no UTXO set (Core's `CheckTransaction`, `CheckBlock`) and the
//! contextual header and block rules (`ContextualCheckBlockHeader`, `ContextualCheckBlock`).

use std::collections::HashSet;

use bitcoin::Weight;

/// Consensus block weight limit (BIP141).
const MAX_BLOCK_WEIGHT: Weight = Weight::MAX_BLOCK;
use bitcoin::consensus::encode::serialize;
use bitcoin::{absolute, Amount, Block, Transaction};

use super::ValidationError as E;
use crate::chainparams::ChainParams;

/// Most a block may be in the future of the node's clock (Core's `MAX_FUTURE_BLOCK_TIME`).
pub const MAX_FUTURE_BLOCK_TIME: i64 = 2 * 60 * 60;

/// Largest value any amount may have: 21 million BTC.
const MAX_MONEY: u64 = 21_000_000 * 100_000_000;

/// Core's `CheckTransaction`: structure, amounts, duplicate inputs, coinbase script size.
pub fn check_transaction(tx: &Transaction) -> Result<(), E> {
    if tx.input.is_empty() {
        return Err(E::new("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(E::new("bad-txns-vout-empty"));
    }
    if tx.base_size() * 4 > MAX_BLOCK_WEIGHT.to_wu() as usize {
        return Err(E::new("bad-txns-oversize"));
    }
    let mut total = 0u64;
    for out in &tx.output {
        let v = out.value.to_sat();
        if v > MAX_MONEY {
            return Err(E::new("bad-txns-vout-toolarge"));
        }
        total += v;
        if total > MAX_MONEY {
            return Err(E::new("bad-txns-txouttotal-toolarge"));
        }
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(E::new("bad-txns-inputs-duplicate"));
        }
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(2..=100).contains(&len) {
            return Err(E::new("bad-cb-length"));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(E::new("bad-txns-prevout-null"));
    }
    Ok(())
}

/// Core's `CheckBlock`: proof of work, merkle root (and its duplicate-transaction
/// mutation), size, coinbase position and each transaction.
pub fn check_block(block: &Block, params: &ChainParams) -> Result<(), E> {
    check_proof_of_work(block, params)?;
    if !block.check_merkle_root() {
        return Err(E::with_debug("bad-txnmrklroot", "hashMerkleRoot mismatch"));
    }
    let mut txids = HashSet::with_capacity(block.txdata.len());
    if !block
        .txdata
        .iter()
        .all(|tx| txids.insert(tx.compute_txid()))
    {
        return Err(E::with_debug("bad-txns-duplicate", "duplicate transaction"));
    }
    if block.txdata.is_empty()
        || block.txdata.len() * 4 > MAX_BLOCK_WEIGHT.to_wu() as usize
        || serialize(&Block {
            header: block.header,
            txdata: strip_witness(&block.txdata),
        })
        .len()
            * 4
            > MAX_BLOCK_WEIGHT.to_wu() as usize
    {
        return Err(E::with_debug("bad-blk-length", "size limits failed"));
    }
    if !block.txdata[0].is_coinbase() {
        return Err(E::with_debug("bad-cb-missing", "first tx is not coinbase"));
    }
    if block.txdata[1..].iter().any(|tx| tx.is_coinbase()) {
        return Err(E::with_debug("bad-cb-multiple", "more than one coinbase"));
    }
    for tx in &block.txdata {
        check_transaction(tx).map_err(|e| {
            E::with_debug(
                e.reason,
                format!("Transaction check failed (tx hash {})", tx.compute_txid()),
            )
        })?;
    }
    Ok(())
}

fn strip_witness(txs: &[Transaction]) -> Vec<Transaction> {
    txs.iter()
        .map(|tx| {
            let mut t = tx.clone();
            t.input.iter_mut().for_each(|i| i.witness.clear());
            t
        })
        .collect()
}

/// The header's hash must meet its target, and the target must be regtest's fixed one.
pub fn check_proof_of_work(block: &Block, params: &ChainParams) -> Result<(), E> {
    if block.header.bits != params.pow_limit_bits {
        return Err(E::with_debug("bad-diffbits", "incorrect proof of work"));
    }
    if block.header.validate_pow(params.pow_limit()).is_err() {
        return Err(E::with_debug("high-hash", "proof of work failed"));
    }
    Ok(())
}

/// Core's `ContextualCheckBlockHeader` for regtest: timestamp against median time past and
/// the clock, and the version floor that BIP34/65/66 (active from height 1) impose.
pub fn contextual_check_header(block: &Block, prev_mtp: i64, now: i64) -> Result<(), E> {
    let time = i64::from(block.header.time);
    if time <= prev_mtp {
        return Err(E::with_debug(
            "time-too-old",
            "block's timestamp is too early",
        ));
    }
    if time > now + MAX_FUTURE_BLOCK_TIME {
        return Err(E::with_debug(
            "time-too-new",
            "block timestamp too far in the future",
        ));
    }
    let version = block.header.version.to_consensus();
    if version < 4 {
        return Err(E::with_debug(
            format!("bad-version(0x{version:08x})"),
            "rejected nVersion block",
        ));
    }
    Ok(())
}

/// Core's `ContextualCheckBlock`: finality by median time past, BIP34 height in the
/// coinbase, the witness commitment and the weight limit.
pub fn contextual_check_block(block: &Block, height: u32, prev_mtp: i64) -> Result<(), E> {
    for tx in &block.txdata {
        if !is_final_tx(tx, height, prev_mtp) {
            return Err(E::with_debug("bad-txns-nonfinal", "non-final transaction"));
        }
    }
    let expect = bitcoin::script::Builder::new()
        .push_int(i64::from(height))
        .into_script();
    if !block.txdata[0].input[0]
        .script_sig
        .as_bytes()
        .starts_with(expect.as_bytes())
    {
        return Err(E::with_debug(
            "bad-cb-height",
            "block height mismatch in coinbase",
        ));
    }
    check_witness_commitment(block)?;
    if block.weight() > MAX_BLOCK_WEIGHT {
        return Err(E::with_debug("bad-blk-weight", "weight limit failed"));
    }
    Ok(())
}

/// The start of a BIP141 witness commitment output: `OP_RETURN`, a 36-byte push, and
/// the commitment header `aa21a9ed`.
pub const WITNESS_COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Whether `coinbase` has a witness commitment output (Core's
/// `GetWitnessCommitmentIndex` finds one).
pub fn has_witness_commitment(coinbase: &Transaction) -> bool {
    coinbase.output.iter().any(|o| {
        let b = o.script_pubkey.as_bytes();
        b.len() >= 38 && b.starts_with(&WITNESS_COMMITMENT_HEADER)
    })
}

/// The witness commitment rules of BIP141, with Core's reject reasons.
fn check_witness_commitment(block: &Block) -> Result<(), E> {
    let coinbase = &block.txdata[0];
    if has_witness_commitment(coinbase) {
        let w = &coinbase.input[0].witness;
        if w.len() != 1 || w.iter().next().map(<[u8]>::len) != Some(32) {
            return Err(E::with_debug(
                "bad-witness-nonce-size",
                "invalid witness reserved value size",
            ));
        }
        if !block.check_witness_commitment() {
            return Err(E::with_debug(
                "bad-witness-merkle-match",
                "witness merkle commitment mismatch",
            ));
        }
        return Ok(());
    }
    if block
        .txdata
        .iter()
        .any(|tx| tx.input.iter().any(|i| !i.witness.is_empty()))
    {
        return Err(E::with_debug(
            "unexpected-witness",
            "unexpected witness data found",
        ));
    }
    Ok(())
}

/// Core's `IsFinalTx`, with the lock time compared to the median time past (BIP113).
pub fn is_final_tx(tx: &Transaction, height: u32, mtp: i64) -> bool {
    let lock = tx.lock_time;
    if lock == absolute::LockTime::ZERO {
        return true;
    }
    let ok = match lock {
        absolute::LockTime::Blocks(h) => h.to_consensus_u32() < height,
        absolute::LockTime::Seconds(t) => i64::from(t.to_consensus_u32()) < mtp,
    };
    ok || tx.input.iter().all(|i| i.sequence.is_final())
}

/// Sum of a transaction's outputs (already range-checked by [`check_transaction`]).
pub fn output_total(tx: &Transaction) -> Amount {
    Amount::from_sat(tx.output.iter().map(|o| o.value.to_sat()).sum())
}

/// Whether an amount is within `0..=21M BTC`.
pub fn money_range(sat: u64) -> bool {
    sat <= MAX_MONEY
}

/// BIP68 relative lock times (Core's `CalculateSequenceLocks` and `EvaluateSequenceLocks`).
/// `coin_heights` are the heights of the spent coins in input order; `mtp_at(h)` is the
/// median time past of the active block at height `h`.
pub fn sequence_locks_ok(
    tx: &Transaction,
    coin_heights: &[u32],
    height: u32,
    prev_mtp: i64,
    mtp_at: impl Fn(u32) -> i64,
) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let (mut min_height, mut min_time) = (-1i64, -1i64);
    for (input, &coin_height) in tx.input.iter().zip(coin_heights) {
        let seq = input.sequence.to_consensus_u32();
        if seq & (1 << 31) != 0 {
            continue;
        }
        let value = i64::from(seq & 0xffff);
        if seq & (1 << 22) != 0 {
            let coin_time = mtp_at(coin_height.saturating_sub(1));
            min_time = min_time.max(coin_time + (value << 9) - 1);
        } else {
            min_height = min_height.max(i64::from(coin_height) + value - 1);
        }
    }
    min_height < i64::from(height) && min_time < prev_mtp
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn tx(inputs: Vec<OutPoint>, value: u64) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: inputs
                .into_iter()
                .map(|o| TxIn {
                    previous_output: o,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    #[test]
    fn transaction_checks() {
        let op = OutPoint {
            txid: ChainParams::regtest().genesis().txdata[0].compute_txid(),
            vout: 0,
        };
        assert!(check_transaction(&tx(vec![op], 1)).is_ok());
        assert_eq!(
            check_transaction(&tx(vec![], 1)).unwrap_err().reason,
            "bad-txns-vin-empty"
        );
        assert_eq!(
            check_transaction(&tx(vec![op, op], 1)).unwrap_err().reason,
            "bad-txns-inputs-duplicate"
        );
        assert_eq!(
            check_transaction(&tx(vec![op], MAX_MONEY + 1))
                .unwrap_err()
                .reason,
            "bad-txns-vout-toolarge"
        );
        // A lone null prevout is a coinbase whose script is too short.
        assert_eq!(
            check_transaction(&tx(vec![OutPoint::null()], 1))
                .unwrap_err()
                .reason,
            "bad-cb-length"
        );
        assert_eq!(
            check_transaction(&tx(vec![op, OutPoint::null()], 1))
                .unwrap_err()
                .reason,
            "bad-txns-prevout-null"
        );
    }

    #[test]
    fn genesis_passes_block_checks_and_tampering_fails() {
        let p = ChainParams::regtest();
        let g = p.genesis();
        assert!(check_block(&g, &p).is_ok());
        let mut bad = g.clone();
        bad.txdata[0].output[0].value = Amount::from_sat(1);
        assert_eq!(check_block(&bad, &p).unwrap_err().reason, "bad-txnmrklroot");
        let mut bad = g;
        bad.header.nonce = bad.header.nonce.wrapping_add(1);
        // Regtest work is easy but not trivial: find a nonce that misses the target.
        while bad.header.validate_pow(p.pow_limit()).is_ok() {
            bad.header.nonce = bad.header.nonce.wrapping_add(1);
        }
        assert_eq!(check_block(&bad, &p).unwrap_err().reason, "high-hash");
    }

    #[test]
    fn relative_locks() {
        let mut t = tx(vec![OutPoint::null()], 1);
        t.input[0].sequence = Sequence::from_height(5);
        assert!(!sequence_locks_ok(&t, &[10], 14, 0, |_| 0));
        assert!(sequence_locks_ok(&t, &[10], 15, 0, |_| 0));
        t.version = bitcoin::transaction::Version::ONE;
        assert!(sequence_locks_ok(&t, &[10], 11, 0, |_| 0));
        t.version = bitcoin::transaction::Version::TWO;
        t.input[0].sequence = Sequence::from_512_second_intervals(2);
        assert!(!sequence_locks_ok(&t, &[10], 20, 1000 + 1023, |_| 1000));
        assert!(sequence_locks_ok(&t, &[10], 20, 1000 + 1024, |_| 1000));
    }

    #[test]
    fn finality_by_height_and_time() {
        let mut t = tx(vec![OutPoint::null()], 1);
        t.input[0].sequence = Sequence::ZERO;
        t.lock_time = absolute::LockTime::from_consensus(10);
        assert!(!is_final_tx(&t, 10, 0));
        assert!(is_final_tx(&t, 11, 0));
        t.lock_time = absolute::LockTime::from_consensus(600_000_000);
        assert!(!is_final_tx(&t, 11, 600_000_000));
        assert!(is_final_tx(&t, 11, 600_000_001));
        t.input[0].sequence = Sequence::MAX;
        assert!(is_final_tx(&t, 1, 0));
    }
}

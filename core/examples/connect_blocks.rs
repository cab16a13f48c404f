//! Measures block connection: 1000 blocks of 100 signed P2WPKH transactions each,
//! connected one by one with full validation, one durable commit per block.
//!
//! `cargo run --release -p hashvive-core --example connect_blocks`

use std::time::Instant;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Amount, Block, CompressedPublicKey, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};
use hashvive_core::chainparams::ChainParams;
use hashvive_core::chainstate::ChainState;
use hashvive_core::mining::{assemble_block, solve, BlockContext};

const BLOCKS: usize = 1000;
const TXS_PER_BLOCK: usize = 100;
const FEE: u64 = 1000;

fn main() {
    let params = ChainParams::regtest();
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[7u8; 32]).expect("valid key");
    let pk = CompressedPublicKey(sk.public_key(&secp));
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());

    // Build the whole chain in memory first, so only connection is timed.
    let genesis = params.genesis();
    let mut prev = genesis.block_hash();
    let mut time = i64::from(genesis.header.time);
    let mut chain: Vec<Block> = Vec::new();
    let mut mine =
        |txs: Vec<Transaction>, fees: u64, prev: &mut bitcoin::BlockHash, height: u32| {
            time += 1;
            let ctx = BlockContext {
                height,
                prev: *prev,
                min_time: time,
                now: time,
                version: hashvive_core::versionbits::TOP_BITS,
            };
            let mut b = assemble_block(&params, ctx, spk.clone(), txs, Amount::from_sat(fees));
            solve(&mut b, &params, &mut u64::MAX.to_owned());
            *prev = b.block_hash();
            b
        };
    let sign = |tx: &mut Transaction, value: Amount| {
        let h = SighashCache::new(&*tx)
            .p2wpkh_signature_hash(0, &spk, value, EcdsaSighashType::All)
            .expect("sighash");
        let sig = secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &sk);
        let sig = bitcoin::ecdsa::Signature {
            signature: sig,
            sighash_type: EcdsaSighashType::All,
        };
        tx.input[0].witness = Witness::p2wpkh(&sig, &pk.0);
    };
    let spend = |prev: OutPoint, outputs: Vec<TxOut>| Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    };
    let setup_start = Instant::now();
    let mut height = 0;
    for _ in 0..101 {
        height += 1;
        chain.push(mine(vec![], 0, &mut prev, height));
    }
    // Fan the first coinbase out into one output per transaction chain.
    let cb = &chain[0].txdata[0];
    let cb_value = cb.output[0].value;
    let each = Amount::from_sat((cb_value.to_sat() - FEE) / TXS_PER_BLOCK as u64);
    let mut fan = spend(
        OutPoint {
            txid: cb.compute_txid(),
            vout: 0,
        },
        vec![
            TxOut {
                value: each,
                script_pubkey: spk.clone()
            };
            TXS_PER_BLOCK
        ],
    );
    sign(&mut fan, cb_value);
    let mut heads: Vec<(OutPoint, Amount)> = (0..TXS_PER_BLOCK as u32)
        .map(|vout| {
            (
                OutPoint {
                    txid: fan.compute_txid(),
                    vout,
                },
                each,
            )
        })
        .collect();
    height += 1;
    chain.push(mine(vec![fan], FEE, &mut prev, height));
    for _ in 0..BLOCKS {
        let mut txs = Vec::with_capacity(TXS_PER_BLOCK);
        for head in heads.iter_mut() {
            let value = head.1 - Amount::from_sat(FEE);
            let mut tx = spend(
                head.0,
                vec![TxOut {
                    value,
                    script_pubkey: spk.clone(),
                }],
            );
            sign(&mut tx, head.1);
            *head = (
                OutPoint {
                    txid: tx.compute_txid(),
                    vout: 0,
                },
                value,
            );
            txs.push(tx);
        }
        height += 1;
        chain.push(mine(txs, FEE * TXS_PER_BLOCK as u64, &mut prev, height));
    }
    println!(
        "built {} blocks in {:.1} s",
        chain.len(),
        setup_start.elapsed().as_secs_f64()
    );

    let dir = std::env::temp_dir().join(format!("hv-connect-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cs = ChainState::open(params.clone(), &dir).expect("open chainstate");
    for b in &chain[..102] {
        cs.process_block(b).expect("setup block connects");
    }
    let start = Instant::now();
    for b in &chain[102..] {
        cs.process_block(b).expect("block connects");
    }
    let secs = start.elapsed().as_secs_f64();
    let txs = BLOCKS * TXS_PER_BLOCK;
    println!(
        "connected {BLOCKS} blocks x {TXS_PER_BLOCK} P2WPKH txs in {secs:.2} s: {:.0} blocks/s, {:.0} tx/s",
        BLOCKS as f64 / secs,
        txs as f64 / secs
    );
    drop(cs);
    let _ = std::fs::remove_dir_all(&dir);
}

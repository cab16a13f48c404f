//! Block assembly and proof-of-work search for the `generate*` RPCs.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness,
};

use crate::chainparams::ChainParams;
use crate::validation::checks::WITNESS_COMMITMENT_HEADER;

/// What a new block builds on.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext {
    /// Height of the new block.
    pub height: u32,
    /// Its parent.
    pub prev: BlockHash,
    /// Smallest valid timestamp (median time past + 1).
    pub min_time: i64,
    /// The node's current (possibly mock) time.
    pub now: i64,
    /// Block version (BIP9 bits, see [`crate::versionbits`]).
    pub version: i32,
}

/// Assembles an unsolved block paying `subsidy + fees` to `script`, with the given
/// transactions and a segwit witness commitment (Core always adds one).
pub fn assemble_block(
    params: &ChainParams,
    ctx: BlockContext,
    script: ScriptBuf,
    txs: Vec<Transaction>,
    fees: Amount,
) -> Block {
    let coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(ctx.height))
                .push_opcode(bitcoin::opcodes::OP_0)
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: params.subsidy(ctx.height) + fees,
            script_pubkey: script,
        }],
    };
    let mut txdata = vec![coinbase];
    txdata.extend(txs);
    let time = ctx.now.max(ctx.min_time);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(ctx.version),
            prev_blockhash: ctx.prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: time as u32,
            bits: params.pow_limit_bits,
            nonce: 0,
        },
        txdata,
    };
    let witness_root = block.witness_root().expect("block has a coinbase");
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut commit_script = WITNESS_COMMITMENT_HEADER.to_vec();
    commit_script.extend_from_slice(commitment.as_byte_array());
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(commit_script),
    });
    block.header.merkle_root = block.compute_merkle_root().expect("block has a coinbase");
    block
}

/// Searches nonces until the header meets its target; `false` after `max_tries` attempts
/// (Core's `generatetoaddress` `maxtries`).
pub fn solve(block: &mut Block, params: &ChainParams, max_tries: &mut u64) -> bool {
    let target = params.pow_limit();
    while *max_tries > 0 {
        if target.is_met_by(block.header.block_hash()) {
            return true;
        }
        *max_tries -= 1;
        block.header.nonce = block.header.nonce.wrapping_add(1);
        if block.header.nonce == 0 {
            block.header.time += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::checks::{check_block, contextual_check_block};

    #[test]
    fn assembled_block_is_valid() {
        let p = ChainParams::regtest();
        let g = p.genesis();
        let ctx = BlockContext {
            height: 1,
            prev: g.block_hash(),
            min_time: i64::from(g.header.time) + 1,
            now: 1_700_000_000,
            version: crate::versionbits::TOP_BITS,
        };
        let mut b = assemble_block(
            &p,
            ctx,
            ScriptBuf::from_bytes(vec![0x51]),
            vec![],
            Amount::ZERO,
        );
        let mut tries = 1_000_000;
        assert!(solve(&mut b, &p, &mut tries));
        check_block(&b, &p).unwrap();
        contextual_check_block(&b, 1, i64::from(g.header.time)).unwrap();
        assert_eq!(b.txdata[0].input[0].script_sig.as_bytes(), &[0x51, 0x00]);
        assert!(b.check_witness_commitment());
    }
}

//! Chainstate reorganisations: disconnecting blocks restores the exact UTXO set, the
//! most-work chain wins, and everything survives reopening (including a torn block file).

use std::collections::BTreeMap;

use bitcoin::{Amount, Block, OutPoint, ScriptBuf};
use hashvive_core::chainparams::ChainParams;
use hashvive_core::chainstate::ChainState;
use hashvive_core::mining::{assemble_block, solve};
use hashvive_core::storage::{ChainDb, Coin, WriteBatch};

fn mine_on(cs: &mut ChainState, script: u8, time_bump: i64) -> Block {
    let mut ctx = cs.next_block_context(0);
    ctx.now = ctx.min_time + time_bump;
    let mut b = assemble_block(
        cs.params(),
        ctx,
        ScriptBuf::from_bytes(vec![script]),
        vec![],
        Amount::ZERO,
    );
    assert!(solve(&mut b, cs.params(), &mut u64::MAX.to_owned()));
    cs.process_block(&b).unwrap();
    b
}

fn utxos(cs: &ChainState) -> BTreeMap<OutPoint, Coin> {
    let mut m = BTreeMap::new();
    cs.for_each_coin(|op, c| {
        m.insert(op, c);
    })
    .unwrap();
    m
}

#[test]
fn reorg_restores_utxo_set_and_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("hv-reorg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cs = ChainState::open(ChainParams::regtest(), &dir).unwrap();
    for _ in 0..5 {
        mine_on(&mut cs, 0x51, 0);
    }
    let fork_point = cs.tip().hash;
    let before = utxos(&cs);
    assert_eq!(before.len(), 5);

    let a1 = mine_on(&mut cs, 0x52, 0);
    let a2 = mine_on(&mut cs, 0x52, 0);
    assert_eq!(utxos(&cs).len(), 7);

    cs.invalidate_block(&a1.block_hash()).unwrap();
    assert_eq!(cs.tip().hash, fork_point);
    assert_eq!(utxos(&cs), before, "disconnecting restores the exact set");

    // A competing branch of three blocks, then reconsidering the shorter one keeps it.
    let b: Vec<Block> = (0..3).map(|_| mine_on(&mut cs, 0x53, 1)).collect();
    cs.reconsider_block(&a1.block_hash()).unwrap();
    assert_eq!(cs.tip().hash, b[2].block_hash());
    let on_b = utxos(&cs);

    // Invalidating the branch's first block moves back to the two-block branch.
    cs.invalidate_block(&b[0].block_hash()).unwrap();
    assert_eq!(cs.tip().hash, a2.block_hash());
    let tips = cs.chain_tips();
    assert_eq!(tips.iter().filter(|t| t.status == "invalid").count(), 1);
    drop(cs);

    // Reopen with junk appended to the block file, as a crash mid-append leaves it.
    let blk = dir.join("blocks").join("blk00000.dat");
    let mut data = std::fs::read(&blk).unwrap();
    data.extend_from_slice(&[0xfa, 0xbf, 0xb5, 0xda, 0xff, 0xff]);
    std::fs::write(&blk, &data).unwrap();
    let mut cs = ChainState::open(ChainParams::regtest(), &dir).unwrap();
    assert_eq!(cs.tip().hash, a2.block_hash());
    assert_eq!(
        std::fs::read(&blk).unwrap().len(),
        data.len() - 6,
        "torn tail cut off"
    );
    cs.reconsider_block(&b[0].block_hash()).unwrap();
    assert_eq!(cs.tip().hash, b[2].block_hash());
    assert_eq!(utxos(&cs), on_b);
    for level in 0..=4 {
        assert!(cs.verify_chain(level, 100).unwrap(), "level {level}");
    }
    let tip_coinbase = OutPoint {
        txid: b[2].txdata[0].compute_txid(),
        vout: 0,
    };
    drop(cs);

    // A coin lost from the UTXO set: blocks and undo data still check out (levels 0 to
    // 2), disconnecting in memory (3) and connecting again (4) find it.
    let db = ChainDb::open(&dir.join("chainstate").join("chainstate.redb")).unwrap();
    db.apply(&WriteBatch {
        spend_coins: vec![tip_coinbase],
        ..Default::default()
    })
    .unwrap();
    drop(db);
    let cs = ChainState::open(ChainParams::regtest(), &dir).unwrap();
    for level in 0..=2 {
        assert!(cs.verify_chain(level, 100).unwrap(), "level {level}");
    }
    assert!(!cs.verify_chain(3, 100).unwrap());
    assert!(!cs.verify_chain(4, 100).unwrap());
    assert!(
        !cs.verify_chain(9, 1).unwrap(),
        "levels above 4 are 4, as in Core"
    );
    drop(cs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn equal_work_goes_to_the_chain_received_first() {
    let dir = std::env::temp_dir().join(format!("hv-first-seen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cs = ChainState::open(ChainParams::regtest(), &dir).unwrap();
    mine_on(&mut cs, 0x51, 0);
    let a = mine_on(&mut cs, 0x52, 0);
    cs.invalidate_block(&a.block_hash()).unwrap();
    let b = mine_on(&mut cs, 0x53, 1);
    assert_eq!(cs.tip().hash, b.block_hash());
    // Both branches have the same work again: Core's nSequenceId prefers the block whose
    // data came first.
    cs.reconsider_block(&a.block_hash()).unwrap();
    assert_eq!(cs.tip().hash, a.block_hash());
    // preciousblock overrides arrival order.
    cs.precious_block(&b.block_hash()).unwrap();
    assert_eq!(cs.tip().hash, b.block_hash());
    drop(cs);
    std::fs::remove_dir_all(&dir).unwrap();
}

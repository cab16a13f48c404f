//! Connects blocks whose transactions spend P2PKH, P2SH-P2WPKH, P2WPKH, P2WSH and P2TR
//! outputs with real signatures, and checks that bad signatures are rejected.

use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{
    absolute, transaction, Amount, Block, CompressedPublicKey, OutPoint, PublicKey, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Witness,
};
use hashvive_core::chainparams::ChainParams;
use hashvive_core::chainstate::{ChainError, ChainState};
use hashvive_core::mining::{assemble_block, solve};
use hashvive_core::time;

struct Keys {
    sk: SecretKey,
    pk: PublicKey,
    cpk: CompressedPublicKey,
}

fn keys(byte: u8) -> Keys {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[byte; 32]).unwrap();
    let inner = sk.public_key(&secp);
    Keys {
        sk,
        pk: PublicKey::new(inner),
        cpk: CompressedPublicKey(inner),
    }
}

fn mine(cs: &mut ChainState, txs: Vec<Transaction>, fees: u64) -> Result<Block, ChainError> {
    let ctx = cs.next_block_context(time::now());
    let mut b = assemble_block(
        cs.params(),
        ctx,
        ScriptBuf::from_bytes(vec![0x51]),
        txs,
        Amount::from_sat(fees),
    );
    assert!(solve(&mut b, cs.params(), &mut u64::MAX.to_owned()));
    cs.process_block(&b).map(|_| b)
}

fn unsigned(prev: OutPoint, outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    }
}

fn ecdsa(k: &Keys, digest: [u8; 32]) -> bitcoin::ecdsa::Signature {
    let secp = Secp256k1::new();
    let sig = secp.sign_ecdsa(&Message::from_digest(digest), &k.sk);
    bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    }
}

fn sign_p2wpkh(tx: &mut Transaction, k: &Keys, spent: &TxOut) {
    let script_code = ScriptBuf::new_p2wpkh(&k.cpk.wpubkey_hash());
    let h = SighashCache::new(&*tx)
        .p2wpkh_signature_hash(0, &script_code, spent.value, EcdsaSighashType::All)
        .unwrap();
    tx.input[0].witness = Witness::p2wpkh(&ecdsa(k, h.to_byte_array()), &k.pk.inner);
}

#[test]
fn signed_spends_of_every_standard_type() {
    let dir = std::env::temp_dir().join(format!("hv-script-spends-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cs = ChainState::open(ChainParams::regtest(), &dir).unwrap();
    let secp = Secp256k1::new();
    let (funder, a, b, c, d, e, wrong) = (
        keys(1),
        keys(2),
        keys(3),
        keys(4),
        keys(5),
        keys(6),
        keys(9),
    );

    // Block 1 pays its coinbase to funder's P2WPKH; 100 more blocks make it mature.
    let ctx = cs.next_block_context(time::now());
    let mut b1 = assemble_block(
        cs.params(),
        ctx,
        ScriptBuf::new_p2wpkh(&funder.cpk.wpubkey_hash()),
        vec![],
        Amount::ZERO,
    );
    assert!(solve(&mut b1, cs.params(), &mut u64::MAX.to_owned()));
    cs.process_block(&b1).unwrap();
    for _ in 0..100 {
        mine(&mut cs, vec![], 0).unwrap();
    }

    // Fan out into one output of each type.
    let value = Amount::from_sat(1_000_000_000);
    let p2pkh = ScriptBuf::new_p2pkh(&a.pk.pubkey_hash());
    let redeem = ScriptBuf::new_p2wpkh(&b.cpk.wpubkey_hash());
    let p2sh_p2wpkh = ScriptBuf::new_p2sh(&redeem.script_hash());
    let p2wpkh = ScriptBuf::new_p2wpkh(&c.cpk.wpubkey_hash());
    let witness_script = bitcoin::script::Builder::new()
        .push_key(&d.pk)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
        .into_script();
    let p2wsh = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
    let keypair = Keypair::from_secret_key(&secp, &e.sk);
    let (xonly, _) = keypair.x_only_public_key();
    let p2tr = ScriptBuf::new_p2tr(&secp, xonly, None);
    let scripts = [
        p2pkh.clone(),
        p2sh_p2wpkh.clone(),
        p2wpkh.clone(),
        p2wsh.clone(),
        p2tr.clone(),
    ];
    let funding_out = b1.txdata[0].output[0].clone();
    let mut fan = unsigned(
        OutPoint {
            txid: b1.txdata[0].compute_txid(),
            vout: 0,
        },
        scripts
            .iter()
            .map(|s| TxOut {
                value,
                script_pubkey: s.clone(),
            })
            .collect(),
    );
    sign_p2wpkh(&mut fan, &funder, &funding_out);
    mine(&mut cs, vec![fan.clone()], 0).unwrap();
    let fan_id = fan.compute_txid();
    let out = |i: u32| {
        (
            OutPoint {
                txid: fan_id,
                vout: i,
            },
            TxOut {
                value,
                script_pubkey: scripts[i as usize].clone(),
            },
        )
    };
    let pay = vec![TxOut {
        value: Amount::from_sat(999_000_000),
        script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
    }];

    // P2PKH: legacy sighash, signature and key in scriptSig.
    let (op, spent) = out(0);
    let mut t_pkh = unsigned(op, pay.clone());
    let h = SighashCache::new(&t_pkh)
        .legacy_signature_hash(0, &spent.script_pubkey, 1)
        .unwrap();
    let sig = ecdsa(&a, h.to_byte_array());
    t_pkh.input[0].script_sig = bitcoin::script::Builder::new()
        .push_slice(sig.serialize())
        .push_key(&a.pk)
        .into_script();

    // P2SH-P2WPKH: redeem script in scriptSig, signature in the witness.
    let (op, spent) = out(1);
    let mut t_sh = unsigned(op, pay.clone());
    sign_p2wpkh(&mut t_sh, &b, &spent);
    let mut push = bitcoin::script::PushBytesBuf::new();
    push.extend_from_slice(redeem.as_bytes()).unwrap();
    t_sh.input[0].script_sig = bitcoin::script::Builder::new()
        .push_slice(push)
        .into_script();

    // P2WPKH.
    let (op, spent) = out(2);
    let mut t_wpkh = unsigned(op, pay.clone());
    sign_p2wpkh(&mut t_wpkh, &c, &spent);

    // P2WSH: <sig> <witness script>.
    let (op, spent) = out(3);
    let mut t_wsh = unsigned(op, pay.clone());
    let h = SighashCache::new(&t_wsh)
        .p2wsh_signature_hash(0, &witness_script, spent.value, EcdsaSighashType::All)
        .unwrap();
    let sig = ecdsa(&d, h.to_byte_array());
    t_wsh.input[0].witness =
        Witness::from_slice(&[sig.serialize().to_vec(), witness_script.to_bytes()]);

    // P2TR key path: BIP341 sighash over all spent outputs, tweaked key.
    let (op, spent) = out(4);
    let mut t_tr = unsigned(op, pay.clone());
    let h = SighashCache::new(&t_tr)
        .taproot_key_spend_signature_hash(
            0,
            &Prevouts::All(std::slice::from_ref(&spent)),
            TapSighashType::Default,
        )
        .unwrap();
    let tweaked = keypair.tap_tweak(&secp, None);
    let sig = secp.sign_schnorr_no_aux_rand(
        &Message::from_digest(h.to_byte_array()),
        &tweaked.to_keypair(),
    );
    t_tr.input[0].witness = Witness::p2tr_key_spend(&bitcoin::taproot::Signature {
        signature: sig,
        sighash_type: TapSighashType::Default,
    });

    // Wrong keys fail, each type on its own.
    let mut bad_wpkh = t_wpkh.clone();
    sign_p2wpkh(&mut bad_wpkh, &wrong, &out(2).1);
    let mut bad_tr = t_tr.clone();
    let other =
        secp.sign_schnorr_no_aux_rand(&Message::from_digest([7u8; 32]), &tweaked.to_keypair());
    bad_tr.input[0].witness = Witness::p2tr_key_spend(&bitcoin::taproot::Signature {
        signature: other,
        sighash_type: TapSighashType::Default,
    });
    let mut bad_pkh = t_pkh.clone();
    bad_pkh.output[0].value = Amount::from_sat(998_000_000);
    for bad in [bad_wpkh, bad_tr, bad_pkh] {
        match mine(&mut cs, vec![bad], 1_000_000) {
            Err(ChainError::Invalid(e)) => assert!(
                e.reason.starts_with("mandatory-script-verify-flag-failed"),
                "{e}"
            ),
            other => panic!(
                "bad signature accepted: {:?}",
                other.map(|b| b.block_hash())
            ),
        }
    }

    let height_before = cs.height();
    let good = vec![t_pkh, t_sh, t_wpkh, t_wsh, t_tr];
    let fees = 5 * 1_000_000;
    mine(&mut cs, good.clone(), fees).unwrap();
    assert_eq!(cs.height(), height_before + 1);
    for tx in &good {
        let spent = tx.input[0].previous_output;
        assert!(cs.coin(&spent).unwrap().is_none(), "input spent");
        assert!(cs
            .coin(&OutPoint {
                txid: tx.compute_txid(),
                vout: 0
            })
            .unwrap()
            .is_some());
    }
    drop(cs);
    std::fs::remove_dir_all(&dir).unwrap();
}

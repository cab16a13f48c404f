//! UTXO snapshots in Bitcoin Core's `dumptxoutset` format (version 2): a header with magic,
//! network and base block, then the coins grouped by txid in Core's compressed encoding.

use std::io::Write;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Script, Txid};

use super::Coin;

/// Core's `VARINT` (MSB base-128 with an offset, order-preserving).
pub fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 10];
    let mut len = 0;
    loop {
        tmp[len] = (n & 0x7f) as u8 | if len > 0 { 0x80 } else { 0 };
        if n <= 0x7f {
            break;
        }
        n = (n >> 7) - 1;
        len += 1;
    }
    out.extend(tmp[..=len].iter().rev());
}

/// Bitcoin's CompactSize.
fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Core's `CompressAmount`.
pub fn compress_amount(mut n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut e = 0;
    while n.is_multiple_of(10) && e < 9 {
        n /= 10;
        e += 1;
    }
    if e < 9 {
        let d = n % 10;
        n /= 10;
        1 + (n * 9 + d - 1) * 10 + e
    } else {
        1 + (n - 1) * 10 + 9
    }
}

/// Core's `ScriptCompression`: P2PKH, P2SH and P2PK in 21 or 33 bytes, others as
/// `VARINT(len + 6)` and the script.
fn write_script(out: &mut Vec<u8>, script: &Script) {
    let b = script.as_bytes();
    if script.is_p2pkh() {
        out.push(0x00);
        out.extend_from_slice(&b[3..23]);
    } else if script.is_p2sh() {
        out.push(0x01);
        out.extend_from_slice(&b[2..22]);
    } else if b.len() == 35 && b[0] == 33 && b[34] == 0xac && (b[1] == 2 || b[1] == 3) {
        out.extend_from_slice(&b[1..34]);
    } else if let Some(x) = uncompressed_p2pk(b) {
        out.extend_from_slice(&x);
    } else {
        write_varint(out, b.len() as u64 + 6);
        out.extend_from_slice(b);
    }
}

/// A P2PK script with a valid uncompressed key, as 0x04/0x05 (by y parity) and x.
fn uncompressed_p2pk(b: &[u8]) -> Option<[u8; 33]> {
    if b.len() != 67 || b[0] != 65 || b[66] != 0xac || b[1] != 4 {
        return None;
    }
    bitcoin::secp256k1::PublicKey::from_slice(&b[1..66]).ok()?;
    let mut out = [0u8; 33];
    out[0] = 0x04 | (b[65] & 1);
    out[1..].copy_from_slice(&b[2..34]);
    Some(out)
}

/// Core's `Coin` serialization: `VARINT(height * 2 + coinbase)`, compressed amount and
/// compressed script.
fn write_coin(out: &mut Vec<u8>, coin: &Coin) {
    write_varint(
        out,
        (u64::from(coin.height) << 1) | u64::from(coin.is_coinbase),
    );
    write_varint(out, compress_amount(coin.output.value.to_sat()));
    write_script(out, &coin.output.script_pubkey);
}

/// Groups coins by txid (they arrive in database order, txid first) with each group in
/// output order, as Core's coins database cursor yields them.
fn grouped(coins: &[(OutPoint, Coin)]) -> Vec<Vec<&(OutPoint, Coin)>> {
    let mut groups: Vec<Vec<&(OutPoint, Coin)>> = Vec::new();
    for c in coins {
        match groups.last_mut() {
            Some(g) if g[0].0.txid == c.0.txid => g.push(c),
            _ => groups.push(vec![c]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|(op, _)| op.vout);
    }
    groups
}

/// Core's `hash_serialized_3` (the `txoutset_hash` of snapshots): SHA256d over each coin's
/// outpoint, `height * 2 + coinbase` and output, in database order.
pub fn hash_serialized(coins: &[(OutPoint, Coin)]) -> bitcoin::hashes::sha256d::Hash {
    use bitcoin::consensus::Encodable;
    let mut engine = bitcoin::hashes::sha256d::Hash::engine();
    for (op, coin) in grouped(coins).into_iter().flatten() {
        let code = (coin.height << 1) | u32::from(coin.is_coinbase);
        op.consensus_encode(&mut engine)
            .expect("hash engines never fail");
        code.consensus_encode(&mut engine)
            .expect("hash engines never fail");
        coin.output
            .consensus_encode(&mut engine)
            .expect("hash engines never fail");
    }
    bitcoin::hashes::sha256d::Hash::from_engine(engine)
}

/// Writes a snapshot of `coins` (in database order, grouped by txid) for `base` to `w`;
/// returns the number of coins written.
pub fn write_snapshot(
    w: &mut impl Write,
    magic: [u8; 4],
    base: &BlockHash,
    coins: &[(OutPoint, Coin)],
) -> std::io::Result<u64> {
    let mut out = Vec::with_capacity(64 + coins.len() * 40);
    out.extend_from_slice(b"utxo\xff");
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&magic);
    out.extend_from_slice(base.as_byte_array());
    out.extend_from_slice(&(coins.len() as u64).to_le_bytes());
    for group in grouped(coins) {
        let txid: Txid = group[0].0.txid;
        out.extend_from_slice(txid.as_byte_array());
        write_compact_size(&mut out, group.len() as u64);
        for (op, coin) in group {
            write_compact_size(&mut out, u64::from(op.vout));
            write_coin(&mut out, coin);
        }
    }
    w.write_all(&out)?;
    Ok(coins.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_amounts_match_core() {
        let enc = |n| {
            let mut v = Vec::new();
            write_varint(&mut v, n);
            v
        };
        // Vectors from Core's serialize_tests (varint) and compress_tests (amounts).
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(0x7f), [0x7f]);
        assert_eq!(enc(0x80), [0x80, 0x00]);
        assert_eq!(enc(0x1234), [0xa3, 0x34]);
        assert_eq!(compress_amount(0), 0);
        assert_eq!(compress_amount(1), 1);
        assert_eq!(compress_amount(1_000_000), 7);
        assert_eq!(compress_amount(100_000_000), 9);
        assert_eq!(compress_amount(5_000_000_000), 50);
        assert_eq!(compress_amount(2_100_000_000_000_000), 21_000_000);
    }
}

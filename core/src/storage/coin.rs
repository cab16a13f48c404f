//! An unspent transaction output with the metadata validation needs.

use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};

/// A UTXO: the output plus the height of its block and whether it came from a coinbase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// The output itself.
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    /// Whether the creating transaction was a coinbase.
    pub is_coinbase: bool,
}

impl Coin {
    /// Serializes as `height | coinbase flag | amount | script`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let script = self.output.script_pubkey.as_bytes();
        let mut out = Vec::with_capacity(13 + script.len());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.push(u8::from(self.is_coinbase));
        out.extend_from_slice(&self.output.value.to_sat().to_le_bytes());
        out.extend_from_slice(script);
        out
    }

    /// Parses [`Coin::to_bytes`] output; `None` when the record is corrupt.
    pub fn from_bytes(b: &[u8]) -> Option<Coin> {
        if b.len() < 13 {
            return None;
        }
        let height = u32::from_le_bytes(b[0..4].try_into().ok()?);
        let is_coinbase = b[4] != 0;
        let value = u64::from_le_bytes(b[5..13].try_into().ok()?);
        Some(Coin {
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(b[13..].to_vec()),
            },
            height,
            is_coinbase,
        })
    }

    /// Serializes a list of coins (block undo data): count, then length-prefixed coins.
    pub fn list_to_bytes(coins: &[Coin]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(coins.len() as u32).to_le_bytes());
        for c in coins {
            let b = c.to_bytes();
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    /// Parses [`Coin::list_to_bytes`] output.
    pub fn list_from_bytes(b: &[u8]) -> Option<Vec<Coin>> {
        let mut pos = 4;
        let n = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
        let mut out = Vec::with_capacity(n.min(100_000));
        for _ in 0..n {
            let len = u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?) as usize;
            pos += 4;
            out.push(Coin::from_bytes(b.get(pos..pos + len)?)?);
            pos += len;
        }
        Some(out)
    }
}

/// Database key of an outpoint: txid then little-endian output index.
pub fn outpoint_key(op: &OutPoint) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(op.txid.as_byte_array());
    k[32..].copy_from_slice(&op.vout.to_le_bytes());
    k
}

/// Inverse of [`outpoint_key`].
pub fn outpoint_from_key(k: &[u8]) -> Option<OutPoint> {
    if k.len() != 36 {
        return None;
    }
    let txid = Txid::from_slice(&k[..32]).ok()?;
    Some(OutPoint {
        txid,
        vout: u32::from_le_bytes(k[32..].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_round_trip() {
        let c = Coin {
            output: TxOut {
                value: Amount::from_sat(5),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            },
            height: 7,
            is_coinbase: true,
        };
        assert_eq!(Coin::from_bytes(&c.to_bytes()), Some(c.clone()));
        let list = vec![c.clone(), c];
        assert_eq!(
            Coin::list_from_bytes(&Coin::list_to_bytes(&list)),
            Some(list)
        );
        assert_eq!(Coin::from_bytes(&[1, 2]), None);
    }
}

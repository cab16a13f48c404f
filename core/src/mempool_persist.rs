//! `mempool.dat`: the mempool saved at shutdown (and by `savemempool`) and reloaded at
//! start, in Bitcoin Core's version 1 format: version, count, then each transaction
//! with its entry time and fee delta, then the (empty) fee-delta map and unbroadcast set.

use std::io::Read;
use std::path::Path;

use bitcoin::consensus::{Decodable, Encodable};
use bitcoin::{Transaction, VarInt};

use crate::mempool::Mempool;

/// Version written by this node (Core's `MEMPOOL_DUMP_VERSION_NO_XOR_KEY`).
const VERSION: u64 = 1;

/// Writes the mempool (oldest and parents first) to `path` via a temporary file, so a
/// crash mid-write leaves the old file intact.
pub fn save(pool: &Mempool, path: &Path) -> std::io::Result<usize> {
    let mut entries: Vec<_> = pool
        .entries()
        .map(|e| (pool.ancestors(&e.txid).len(), e.time, e.tx.clone()))
        .collect();
    entries.sort_by_key(|(depth, time, _)| (*depth, *time));
    let mut out = Vec::new();
    let io = |e: bitcoin::io::Error| std::io::Error::other(e.to_string());
    VERSION.consensus_encode(&mut out).map_err(io)?;
    (entries.len() as u64)
        .consensus_encode(&mut out)
        .map_err(io)?;
    for (_, time, tx) in &entries {
        tx.consensus_encode(&mut out).map_err(io)?;
        time.consensus_encode(&mut out).map_err(io)?;
        0i64.consensus_encode(&mut out).map_err(io)?;
    }
    VarInt(0).consensus_encode(&mut out).map_err(io)?;
    VarInt(0).consensus_encode(&mut out).map_err(io)?;
    crate::storage::write_atomically(path, &out)?;
    Ok(entries.len())
}

/// Reads `path`; returns the transactions with their entry times, in file order. A
/// missing file is empty.
pub fn load(path: &Path) -> Result<Vec<(Transaction, i64)>, String> {
    let mut data = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data).map_err(|e| e.to_string())?,
        Err(_) => return Ok(Vec::new()),
    };
    let mut r = &data[..];
    let bad = |e: bitcoin::consensus::encode::Error| format!("corrupt mempool file: {e}");
    let version = u64::consensus_decode(&mut r).map_err(bad)?;
    if version != VERSION {
        return Err(format!("unsupported mempool file version {version}"));
    }
    let count = u64::consensus_decode(&mut r).map_err(bad)?;
    let mut txs = Vec::new();
    for _ in 0..count {
        let tx = Transaction::consensus_decode(&mut r).map_err(bad)?;
        let time = i64::consensus_decode(&mut r).map_err(bad)?;
        i64::consensus_decode(&mut r).map_err(bad)?;
        txs.push((tx, time));
    }
    Ok(txs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pool_round_trips_and_garbage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("hv-mempool-dat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mempool.dat");
        assert_eq!(load(&path).unwrap(), Vec::new());
        save(&Mempool::new(1000), &path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert!(load(&path).unwrap().is_empty());
        std::fs::write(&path, [2, 0, 0]).unwrap();
        assert!(load(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

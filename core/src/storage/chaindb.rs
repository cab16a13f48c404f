//! The block index, UTXO set, undo data and chain tip in one redb database.
//!
//! Every block connect or disconnect is one write transaction, so the database always
//! holds a chain tip whose UTXO set matches it exactly, whatever instant the process dies.

use std::path::Path;

use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Txid};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::coin::{outpoint_from_key, outpoint_key};
use super::{Coin, DiskPos};

const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("block_index");
const COINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coins");
const UNDO: TableDefinition<&[u8], &[u8]> = TableDefinition::new("undo");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TXINDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txindex");
/// Meta key present while the transaction index is complete for the active chain.
const TXINDEX_FLAG: &str = "txindex";

/// A storage failure, with the operation that failed.
#[derive(Debug, Clone)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StorageError {}

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StorageError {
    move |e| StorageError(format!("{what}: {e}"))
}

/// The persistent part of a block index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    /// The block header.
    pub header: Header,
    /// Height in its chain.
    pub height: u32,
    /// Validity flags (see `chainstate::status`).
    pub status: u8,
    /// Where the block's bytes are.
    pub pos: DiskPos,
    /// Number of transactions.
    pub n_tx: u32,
}

impl IndexRecord {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = serialize(&self.header);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.push(self.status);
        out.extend_from_slice(&self.pos.file.to_le_bytes());
        out.extend_from_slice(&self.pos.pos.to_le_bytes());
        out.extend_from_slice(&self.n_tx.to_le_bytes());
        out
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 97 {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Some(IndexRecord {
            header: deserialize(&b[..80]).ok()?,
            height: u32_at(80),
            status: b[84],
            pos: DiskPos {
                file: u32_at(85),
                pos: u32_at(89),
            },
            n_tx: u32_at(93),
        })
    }
}

/// Changes applied atomically by [`ChainDb::apply`].
#[derive(Debug, Default)]
pub struct WriteBatch {
    /// Index entries to insert or overwrite.
    pub index: Vec<IndexRecord>,
    /// Coins created.
    pub add_coins: Vec<(OutPoint, Coin)>,
    /// Coins spent.
    pub spend_coins: Vec<OutPoint>,
    /// Undo data to store, keyed by block.
    pub put_undo: Option<(BlockHash, Vec<Coin>)>,
    /// Undo data to drop (block disconnected).
    pub drop_undo: Option<BlockHash>,
    /// New active tip.
    pub tip: Option<BlockHash>,
    /// Committed end of the block files (file number, length).
    pub block_file: Option<(u32, u64)>,
    /// Transaction index entries to add (`-txindex`).
    pub txindex_put: Vec<(Txid, BlockHash)>,
    /// Transaction index entries to remove (block disconnected).
    pub txindex_del: Vec<Txid>,
}

/// Handle to the chainstate database.
pub struct ChainDb {
    db: Database,
}

impl ChainDb {
    /// Opens or creates the database file.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(err("opening chainstate database"))?;
        let tx = db.begin_write().map_err(err("starting write"))?;
        tx.open_table(INDEX).map_err(err("creating table"))?;
        tx.open_table(COINS).map_err(err("creating table"))?;
        tx.open_table(UNDO).map_err(err("creating table"))?;
        tx.open_table(META).map_err(err("creating table"))?;
        tx.open_table(TXINDEX).map_err(err("creating table"))?;
        tx.commit().map_err(err("committing"))?;
        Ok(ChainDb { db })
    }

    /// All block index records.
    pub fn load_index(&self) -> Result<Vec<IndexRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(INDEX).map_err(err("opening index"))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(err("reading index"))? {
            let (_, v) = item.map_err(err("reading index"))?;
            out.push(
                IndexRecord::from_bytes(v.value())
                    .ok_or_else(|| StorageError("corrupt block index record".into()))?,
            );
        }
        Ok(out)
    }

    /// The committed tip and block-file position, if any block was ever committed.
    pub fn load_meta(&self) -> Result<(Option<BlockHash>, (u32, u64)), StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(META).map_err(err("opening meta"))?;
        let tip = match table.get("tip").map_err(err("reading tip"))? {
            Some(v) => Some(
                BlockHash::from_slice(v.value()).map_err(|_| StorageError("corrupt tip".into()))?,
            ),
            None => None,
        };
        let file = match table.get("blockfile").map_err(err("reading block file"))? {
            Some(v) if v.value().len() == 12 => {
                let b = v.value();
                (
                    u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
                    u64::from_le_bytes(b[4..].try_into().expect("8 bytes")),
                )
            }
            Some(_) => return Err(StorageError("corrupt block file position".into())),
            None => (0, 0),
        };
        Ok((tip, file))
    }

    /// Looks up an unspent output.
    pub fn get_coin(&self, op: &OutPoint) -> Result<Option<Coin>, StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(COINS).map_err(err("opening coins"))?;
        let v = table
            .get(&outpoint_key(op)[..])
            .map_err(err("reading coin"))?;
        match v {
            Some(v) => Ok(Some(
                Coin::from_bytes(v.value()).ok_or_else(|| StorageError("corrupt coin".into()))?,
            )),
            None => Ok(None),
        }
    }

    /// Calls `f` for every unspent output, in key order.
    pub fn for_each_coin(&self, mut f: impl FnMut(OutPoint, Coin)) -> Result<(), StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(COINS).map_err(err("opening coins"))?;
        for item in table.iter().map_err(err("reading coins"))? {
            let (k, v) = item.map_err(err("reading coins"))?;
            let op = outpoint_from_key(k.value())
                .ok_or_else(|| StorageError("corrupt coin key".into()))?;
            let coin =
                Coin::from_bytes(v.value()).ok_or_else(|| StorageError("corrupt coin".into()))?;
            f(op, coin);
        }
        Ok(())
    }

    /// The coins a block spent, stored when it was connected.
    pub fn get_undo(&self, hash: &BlockHash) -> Result<Option<Vec<Coin>>, StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(UNDO).map_err(err("opening undo"))?;
        let v = table
            .get(&hash.as_byte_array()[..])
            .map_err(err("reading undo"))?;
        match v {
            Some(v) => Ok(Some(
                Coin::list_from_bytes(v.value())
                    .ok_or_else(|| StorageError("corrupt undo data".into()))?,
            )),
            None => Ok(None),
        }
    }

    /// The block holding a transaction, from the transaction index.
    pub fn txindex_get(&self, txid: &Txid) -> Result<Option<BlockHash>, StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(TXINDEX).map_err(err("opening txindex"))?;
        let v = table
            .get(&txid.as_byte_array()[..])
            .map_err(err("reading txindex"))?;
        Ok(v.and_then(|v| BlockHash::from_slice(v.value()).ok()))
    }

    /// Whether the transaction index is complete.
    pub fn txindex_complete(&self) -> Result<bool, StorageError> {
        let tx = self.db.begin_read().map_err(err("starting read"))?;
        let table = tx.open_table(META).map_err(err("opening meta"))?;
        Ok(table
            .get(TXINDEX_FLAG)
            .map_err(err("reading meta"))?
            .is_some())
    }

    /// Replaces the whole transaction index with `entries` and marks it complete, in one
    /// transaction; with `None`, drops it and clears the mark.
    pub fn txindex_reset(&self, entries: Option<&[(Txid, BlockHash)]>) -> Result<(), StorageError> {
        let tx = self.db.begin_write().map_err(err("starting write"))?;
        tx.delete_table(TXINDEX).map_err(err("dropping txindex"))?;
        {
            let mut table = tx.open_table(TXINDEX).map_err(err("creating txindex"))?;
            let mut meta = tx.open_table(META).map_err(err("opening meta"))?;
            match entries {
                Some(list) => {
                    for (txid, block) in list {
                        table
                            .insert(&txid.as_byte_array()[..], &block.as_byte_array()[..])
                            .map_err(err("writing txindex"))?;
                    }
                    meta.insert(TXINDEX_FLAG, &[1u8][..])
                        .map_err(err("writing meta"))?;
                }
                None => {
                    meta.remove(TXINDEX_FLAG).map_err(err("writing meta"))?;
                }
            }
        }
        tx.commit().map_err(err("committing"))
    }

    /// Applies a batch in one durable write transaction.
    pub fn apply(&self, batch: &WriteBatch) -> Result<(), StorageError> {
        let tx = self.db.begin_write().map_err(err("starting write"))?;
        {
            let mut index = tx.open_table(INDEX).map_err(err("opening index"))?;
            for rec in &batch.index {
                let hash = rec.header.block_hash();
                index
                    .insert(&hash.as_byte_array()[..], &rec.to_bytes()[..])
                    .map_err(err("writing index"))?;
            }
            let mut coins = tx.open_table(COINS).map_err(err("opening coins"))?;
            for op in &batch.spend_coins {
                coins
                    .remove(&outpoint_key(op)[..])
                    .map_err(err("spending coin"))?;
            }
            for (op, coin) in &batch.add_coins {
                coins
                    .insert(&outpoint_key(op)[..], &coin.to_bytes()[..])
                    .map_err(err("adding coin"))?;
            }
            let mut undo = tx.open_table(UNDO).map_err(err("opening undo"))?;
            if let Some((hash, spent)) = &batch.put_undo {
                undo.insert(&hash.as_byte_array()[..], &Coin::list_to_bytes(spent)[..])
                    .map_err(err("writing undo"))?;
            }
            if let Some(hash) = &batch.drop_undo {
                undo.remove(&hash.as_byte_array()[..])
                    .map_err(err("dropping undo"))?;
            }
            let mut txindex = tx.open_table(TXINDEX).map_err(err("opening txindex"))?;
            for txid in &batch.txindex_del {
                txindex
                    .remove(&txid.as_byte_array()[..])
                    .map_err(err("writing txindex"))?;
            }
            for (txid, block) in &batch.txindex_put {
                txindex
                    .insert(&txid.as_byte_array()[..], &block.as_byte_array()[..])
                    .map_err(err("writing txindex"))?;
            }
            let mut meta = tx.open_table(META).map_err(err("opening meta"))?;
            if let Some(tip) = &batch.tip {
                meta.insert("tip", &tip.as_byte_array()[..])
                    .map_err(err("writing tip"))?;
            }
            if let Some((file, len)) = batch.block_file {
                let mut b = file.to_le_bytes().to_vec();
                b.extend_from_slice(&len.to_le_bytes());
                meta.insert("blockfile", &b[..])
                    .map_err(err("writing block file position"))?;
            }
        }
        tx.commit().map_err(err("committing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainparams::ChainParams;

    #[test]
    fn index_record_round_trip() {
        let g = ChainParams::regtest().genesis();
        let rec = IndexRecord {
            header: g.header,
            height: 3,
            status: 1,
            pos: DiskPos { file: 2, pos: 8 },
            n_tx: 1,
        };
        assert_eq!(IndexRecord::from_bytes(&rec.to_bytes()), Some(rec));
        assert_eq!(IndexRecord::from_bytes(&[0; 10]), None);
    }
}

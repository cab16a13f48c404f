//! On-disk state: blocks in flat files, block index and UTXO set in a redb database.

pub mod blockfiles;
pub mod chaindb;
pub mod coin;
pub mod snapshot;

pub use blockfiles::{BlockFiles, DiskPos};
pub use chaindb::{ChainDb, IndexRecord, WriteBatch};
pub use coin::Coin;

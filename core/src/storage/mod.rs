//! On-disk state: blocks in flat files, block index and UTXO set in a redb database.

pub mod blockfiles;
pub mod chaindb;
pub mod coin;
pub mod snapshot;

pub use blockfiles::{BlockFiles, DiskPos, InOrderReader};
pub use chaindb::{ChainDb, IndexRecord, WriteBatch};
pub use coin::Coin;

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file:
/// write a temporary beside it, fsync, rename, fsync the folder.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".new");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

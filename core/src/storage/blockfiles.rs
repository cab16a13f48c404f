//! Blocks in flat files `blocks/blkNNNNN.dat`, in Core's record format: magic, size, block.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::Block;

/// Largest block file before a new one is started (Core's `MAX_BLOCKFILE_SIZE`).
const MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// Where a block's serialized data starts: file number and byte offset after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskPos {
    /// The `N` in `blkN.dat`.
    pub file: u32,
    /// Offset of the block bytes (past magic and size).
    pub pos: u32,
}

/// Appends blocks to the current file and reads them back.
pub struct BlockFiles {
    dir: PathBuf,
    magic: [u8; 4],
    current: u32,
    current_len: u64,
    writer: File,
}

fn file_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("blk{n:05}.dat"))
}

impl BlockFiles {
    /// Opens `dir`, continuing file `file` at `len`: bytes past `len` were written by a
    /// process that died before committing them, so they are cut off.
    pub fn open(dir: &Path, magic: [u8; 4], file: u32, len: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let writer = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(file_path(dir, file))?;
        if writer.metadata()?.len() > len {
            writer.set_len(len)?;
        }
        Ok(BlockFiles {
            dir: dir.to_path_buf(),
            magic,
            current: file,
            current_len: len,
            writer,
        })
    }

    /// The file being appended to and its committed length.
    pub fn position(&self) -> (u32, u64) {
        (self.current, self.current_len)
    }

    /// Appends a block and syncs it to disk, so that a database commit that refers to it
    /// can never point at missing bytes.
    pub fn append(&mut self, block: &Block) -> std::io::Result<DiskPos> {
        let data = serialize(block);
        if self.current_len > 0 && self.current_len + data.len() as u64 + 8 > MAX_FILE_SIZE {
            self.writer.sync_all()?;
            self.current += 1;
            self.current_len = 0;
            self.writer = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(file_path(&self.dir, self.current))?;
        }
        let mut record = Vec::with_capacity(data.len() + 8);
        record.extend_from_slice(&self.magic);
        record.extend_from_slice(&(data.len() as u32).to_le_bytes());
        record.extend_from_slice(&data);
        self.writer.seek(SeekFrom::Start(self.current_len))?;
        self.writer.write_all(&record)?;
        self.writer.sync_data()?;
        let pos = DiskPos {
            file: self.current,
            pos: (self.current_len + 8) as u32,
        };
        self.current_len += record.len() as u64;
        Ok(pos)
    }

    /// Reads the block stored at `pos`, checking the record header.
    pub fn read(&self, pos: DiskPos) -> std::io::Result<Block> {
        let data = self.read_bytes(pos)?;
        deserialize(&data).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("corrupt block in file: {e}"),
            )
        })
    }

    /// Reads the consensus bytes of the block stored at `pos`, checking the record header.
    pub fn read_bytes(&self, pos: DiskPos) -> std::io::Result<Vec<u8>> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let start = u64::from(pos.pos)
            .checked_sub(8)
            .ok_or_else(|| bad("bad block position"))?;
        // The file being appended to is already open: a rescan reads it block by block,
        // and positioned reads spare it an open, a seek and a close per block.
        let other;
        let file = if pos.file == self.current {
            &self.writer
        } else {
            other = File::open(file_path(&self.dir, pos.file))?;
            &other
        };
        let mut header = [0u8; 8];
        file.read_exact_at(&mut header, start)?;
        if header[..4] != self.magic {
            return Err(bad("block file record has the wrong magic"));
        }
        let size = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        if size > 8_000_000 {
            return Err(bad("block file record too large"));
        }
        let mut data = vec![0u8; size];
        file.read_exact_at(&mut data, start + 8)?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainparams::ChainParams;

    #[test]
    fn append_read_and_truncate_uncommitted_tail() {
        let dir = std::env::temp_dir().join(format!("hv-blockfiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = ChainParams::regtest();
        let g = p.genesis();
        let mut bf = BlockFiles::open(&dir, p.magic, 0, 0).unwrap();
        let pos = bf.append(&g).unwrap();
        assert_eq!(pos, DiskPos { file: 0, pos: 8 });
        let committed = bf.position().1;
        bf.append(&g).unwrap();
        drop(bf);
        let bf = BlockFiles::open(&dir, p.magic, 0, committed).unwrap();
        assert_eq!(
            std::fs::metadata(dir.join("blk00000.dat")).unwrap().len(),
            committed
        );
        assert_eq!(bf.read(pos).unwrap().block_hash(), g.block_hash());
        assert_eq!(
            &std::fs::read(dir.join("blk00000.dat")).unwrap()[..4],
            &[0xfa, 0xbf, 0xb5, 0xda]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

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
    /// The last [`InOrderReader`]'s window, kept for the next: a fresh megabyte is a
    /// page fault per 4 KiB page, which cost a rescan's fetching thread more than the
    /// reads themselves.
    spare_window: parking_lot::Mutex<Vec<u8>>,
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
            spare_window: parking_lot::Mutex::new(Vec::new()),
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
        let start = record_start(pos)?;
        self.with_file(pos.file, |file| {
            let mut header = [0u8; 8];
            file.read_exact_at(&mut header, start)?;
            let size = self.record_size(&header)?;
            let mut data = vec![0u8; size];
            file.read_exact_at(&mut data, start + 8)?;
            Ok(data)
        })
    }

    /// A reader for blocks read in the order they were stored, as a rescan does.
    pub fn in_order(&self) -> InOrderReader<'_> {
        InOrderReader {
            files: self,
            file: 0,
            start: 0,
            window: std::mem::take(&mut *self.spare_window.lock()),
            filled: 0,
            next_len: FIRST_WINDOW,
        }
    }

    /// Runs `f` on block file `n`. The file being appended to is already open, and
    /// positioned reads on it spare an open and a close per block.
    fn with_file<R>(
        &self,
        n: u32,
        f: impl FnOnce(&File) -> std::io::Result<R>,
    ) -> std::io::Result<R> {
        if n == self.current {
            f(&self.writer)
        } else {
            f(&File::open(file_path(&self.dir, n))?)
        }
    }

    /// The block size a record header gives, once its magic and size are checked.
    fn record_size(&self, header: &[u8; 8]) -> std::io::Result<usize> {
        if header[..4] != self.magic {
            return Err(invalid("block file record has the wrong magic"));
        }
        let size = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        if size > MAX_RECORD_SIZE {
            return Err(invalid("block file record too large"));
        }
        Ok(size)
    }
}

/// Largest block a record may hold.
const MAX_RECORD_SIZE: usize = 8_000_000;
/// An [`InOrderReader`]'s first read; each further one doubles, up to [`MAX_WINDOW`].
const FIRST_WINDOW: usize = 64 << 10;
/// An [`InOrderReader`]'s largest read.
const MAX_WINDOW: usize = 1 << 20;

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

/// Where the record (magic and size, then the block) of the block at `pos` starts.
fn record_start(pos: DiskPos) -> std::io::Result<u64> {
    u64::from(pos.pos)
        .checked_sub(8)
        .ok_or_else(|| invalid("bad block position"))
}

/// Reads blocks stored one after another with one read per window of the file, where
/// [`BlockFiles::read_bytes`] makes two per block: the blocks of a stretch of the chain
/// were mostly stored in order, and a rescan of short blocks was mostly system calls.
pub struct InOrderReader<'a> {
    files: &'a BlockFiles,
    /// The file the window was read from.
    file: u32,
    /// The window's offset in that file.
    start: u64,
    /// The buffer; its first `filled` bytes are the window.
    window: Vec<u8>,
    filled: usize,
    next_len: usize,
}

impl Drop for InOrderReader<'_> {
    fn drop(&mut self) {
        *self.files.spare_window.lock() = std::mem::take(&mut self.window);
    }
}

impl InOrderReader<'_> {
    /// The consensus bytes of the block stored at `pos`, as [`BlockFiles::read_bytes`].
    pub fn read_bytes(&mut self, pos: DiskPos) -> std::io::Result<Vec<u8>> {
        let start = record_start(pos)?;
        if let Some(data) = self.in_window(pos.file, start)? {
            return Ok(data);
        }
        self.fill(pos.file, start)?;
        match self.in_window(pos.file, start)? {
            Some(data) => Ok(data),
            // Larger than a window, or cut short by the end of the file.
            None => self.files.read_bytes(pos),
        }
    }

    /// The block whose record starts at `start`, if the window holds all of it.
    fn in_window(&self, file: u32, start: u64) -> std::io::Result<Option<Vec<u8>>> {
        if file != self.file || start < self.start {
            return Ok(None);
        }
        let Ok(offset) = usize::try_from(start - self.start) else {
            return Ok(None);
        };
        let window = &self.window[..self.filled];
        let Some(header) = window.get(offset..offset + 8) else {
            return Ok(None);
        };
        let size = self
            .files
            .record_size(header.try_into().expect("8 bytes"))?;
        Ok(window
            .get(offset + 8..offset + 8 + size)
            .map(<[u8]>::to_vec))
    }

    /// Reads the next window, from the record at `start`.
    fn fill(&mut self, file: u32, start: u64) -> std::io::Result<()> {
        // A spare buffer is used as it is: only growth is zeroed.
        if self.window.len() < self.next_len {
            self.window.resize(self.next_len, 0);
        }
        let window = &mut self.window[..self.next_len];
        self.next_len = (self.next_len * 2).min(MAX_WINDOW);
        let read = self.files.with_file(file, |f| {
            let mut filled = 0;
            // Short reads end at the end of the file; a record past it is not stored.
            while filled < window.len() {
                match f.read_at(&mut window[filled..], start + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(filled)
        });
        self.filled = *read.as_ref().unwrap_or(&0);
        self.file = file;
        self.start = start;
        read.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainparams::ChainParams;

    /// Genesis with its coinbase output script padded to make the block about `size` bytes.
    fn block_of_size(p: &ChainParams, size: usize) -> Block {
        let mut block = p.genesis();
        block.txdata[0].output[0].script_pubkey = bitcoin::ScriptBuf::from_bytes(vec![0x6a; size]);
        block
    }

    #[test]
    fn in_order_reads_agree_with_single_reads() {
        let dir = std::env::temp_dir().join(format!("hv-blockfiles-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = ChainParams::regtest();
        let mut bf = BlockFiles::open(&dir, p.magic, 0, 0).unwrap();
        // Small blocks, blocks straddling the first window's end, one larger than the
        // first window, and one larger than any window.
        let sizes = [
            100, 300, 30_000, 30_000, 20_000, 70_000, 10, 2_000_000, 500, 40_000,
        ];
        let positions: Vec<DiskPos> = sizes
            .iter()
            .map(|&size| bf.append(&block_of_size(&p, size)).unwrap())
            .collect();
        let single: Vec<Vec<u8>> = positions
            .iter()
            .map(|&pos| bf.read_bytes(pos).unwrap())
            .collect();
        for (bytes, &size) in single.iter().zip(&sizes) {
            assert!(bytes.len() > size);
        }
        let mut reader = bf.in_order();
        for (pos, bytes) in positions.iter().zip(&single) {
            assert_eq!(&reader.read_bytes(*pos).unwrap(), bytes);
        }
        drop(reader);
        // Out of order, and skipping, still reads the right blocks.
        let mut reader = bf.in_order();
        for i in [9, 3, 2, 7, 0, 5, 6, 1] {
            assert_eq!(reader.read_bytes(positions[i]).unwrap(), single[i]);
        }
        // A reader takes over the last one's buffer, not its window: blocks appended
        // since, at the end of the file the last window was cut short by, read whole.
        drop(reader);
        let later = bf.append(&block_of_size(&p, 3_000)).unwrap();
        let mut reader = bf.in_order();
        assert_eq!(reader.read_bytes(positions[8]).unwrap(), single[8]);
        assert_eq!(
            reader.read_bytes(later).unwrap(),
            bf.read_bytes(later).unwrap()
        );
        drop(reader);
        // A position that is not a record's start is an error, as for a single read.
        let bad = DiskPos {
            file: 0,
            pos: positions[1].pos + 1,
        };
        assert!(bf.read_bytes(bad).is_err());
        let mut reader = bf.in_order();
        reader.read_bytes(positions[0]).unwrap();
        let error = reader.read_bytes(bad).unwrap_err();
        assert_eq!(error.to_string(), "block file record has the wrong magic");
        // A record past the end of the file is an error too, not a short block.
        let past = DiskPos {
            file: 0,
            pos: bf.position().1 as u32 + 8,
        };
        assert!(bf.in_order().read_bytes(past).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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

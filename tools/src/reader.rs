//! Streaming reader of `-ipctrace` files: header checks, records in bounded memory,
//! and a time-ordered merge of several files.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use shm_ipc::trace::{TraceHeader, TraceRecord, TRACE_MAGIC, TRACE_VERSION};
use zerocopy::FromBytes;

/// Bytes of the version-1 header.
pub const HEADER_SIZE: usize = std::mem::size_of::<TraceHeader>();
/// Bytes of the version-1 record.
pub const RECORD_SIZE: usize = std::mem::size_of::<TraceRecord>();

/// Why a file could not be read as a trace.
#[derive(Debug)]
pub enum TraceError {
    /// The file could not be opened or read.
    Io(PathBuf, io::Error),
    /// The file does not start with a trace header.
    NotATrace(PathBuf, String),
    /// The file was written by a newer format version than this reader knows.
    NewerVersion(PathBuf, u32),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            TraceError::NotATrace(path, why) => {
                write!(f, "{}: not an IPC trace file ({why})", path.display())
            }
            TraceError::NewerVersion(path, v) => write!(
                f,
                "{}: trace format version {v} is newer than this reader supports \
                 (version {TRACE_VERSION}); use a newer hashvive-ipc-trace",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TraceError {}

/// The checked header of one trace file.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Path the file was opened from.
    pub path: PathBuf,
    /// The raw header.
    pub header: TraceHeader,
    /// Process name from the header, NULs stripped.
    pub process: String,
}

impl FileInfo {
    /// `name[pid]`, how output names the writing process.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.process, self.header.pid)
    }

    /// Wall-clock ns of a record's monotonic time.
    pub fn wall_ns(&self, time_ns: u64) -> u64 {
        (self.header.wall_ns as i128 + time_ns as i128 - self.header.mono_ns as i128).max(0) as u64
    }
}

/// Checks a header read from `path`.
pub fn parse_header(path: &Path, bytes: &[u8]) -> Result<FileInfo, TraceError> {
    let not = |why: String| TraceError::NotATrace(path.to_path_buf(), why);
    if bytes.len() < HEADER_SIZE {
        if !TRACE_MAGIC.starts_with(&bytes[..bytes.len().min(8)]) || bytes.is_empty() {
            return Err(not(format!("{} bytes, no trace header", bytes.len())));
        }
        return Err(not(format!(
            "{} bytes, shorter than the {HEADER_SIZE}-byte header",
            bytes.len()
        )));
    }
    let header = TraceHeader::read_from_bytes(&bytes[..HEADER_SIZE])
        .map_err(|_| not("unreadable header".into()))?;
    if header.magic != TRACE_MAGIC {
        return Err(not("bad magic, expected HVIPCTRC".into()));
    }
    if header.version == 0 {
        return Err(not("format version 0".into()));
    }
    if header.version > TRACE_VERSION {
        return Err(TraceError::NewerVersion(path.to_path_buf(), header.version));
    }
    if (header.header_size as usize) < HEADER_SIZE {
        return Err(not(format!(
            "header_size {} < {HEADER_SIZE}",
            header.header_size
        )));
    }
    if (header.record_size as usize) < RECORD_SIZE {
        return Err(not(format!(
            "record_size {} < {RECORD_SIZE}",
            header.record_size
        )));
    }
    let end = header.process.iter().position(|&b| b == 0).unwrap_or(24);
    let process = String::from_utf8_lossy(&header.process[..end]).into_owned();
    Ok(FileInfo {
        path: path.to_path_buf(),
        header,
        process,
    })
}

/// Why a file's records ended before its last byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The file ends in the middle of a record (`bytes` of it present) at `offset`.
    Truncated {
        /// Byte offset of the partial record.
        offset: u64,
        /// Bytes of it present.
        bytes: u64,
    },
    /// The record at `offset` is not a valid record.
    Corrupt {
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// A warning about where and why reading stopped early.
pub fn stop_warning(info: &FileInfo, complete: u64, stop: &Stop) -> String {
    match stop {
        Stop::Truncated { offset, bytes } => format!(
            "warning: {}: truncated: read {complete} complete records, stopped at byte {offset} \
             (a partial record of {bytes} bytes follows)",
            info.path.display()
        ),
        Stop::Corrupt { offset, reason } => format!(
            "warning: {}: corrupted: read {complete} records, stopped at byte {offset} \
             (record {complete}: {reason})",
            info.path.display()
        ),
    }
}

/// Checks fields every writer sets to known values, so garbage stops the read.
pub fn validate(record: &TraceRecord) -> Result<(), String> {
    if record.direction > 1 {
        return Err(format!("direction {} is not 0 or 1", record.direction));
    }
    if !(1..=5).contains(&record.kind) {
        return Err(format!("kind {} is not 1..=5", record.kind));
    }
    Ok(())
}

const CHUNK: usize = 1 << 20;

/// Reads one file's records in order of the file, in bounded memory.
pub struct FileReader {
    /// The file's header.
    pub info: FileInfo,
    file: File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    stride: usize,
    eof: bool,
    /// Records returned so far.
    pub count: u64,
    /// Set once reading stopped early.
    pub stop: Option<Stop>,
}

impl FileReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<FileReader, TraceError> {
        let io = |e| TraceError::Io(path.to_path_buf(), e);
        let mut file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(TraceError::NotATrace(path.into(), "a directory".into()));
        }
        let mut head = Vec::with_capacity(HEADER_SIZE);
        (&mut file)
            .take(HEADER_SIZE as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        let info = parse_header(path, &head)?;
        let offset = info.header.header_size as u64;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let stride = info.header.record_size as usize;
        Ok(FileReader {
            info,
            file,
            buf: vec![0; CHUNK.max(stride * 2)],
            start: 0,
            end: 0,
            offset,
            stride,
            eof: false,
            count: 0,
            stop: None,
        })
    }

    /// Fills the buffer; false at end of file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let mut got = false;
        while self.end < self.buf.len() {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// The next record, `None` at the end or where the file stops being valid.
    pub fn next_record(&mut self) -> Result<Option<TraceRecord>, TraceError> {
        if self.stop.is_some() {
            return Ok(None);
        }
        if self.end - self.start < self.stride {
            self.fill()
                .map_err(|e| TraceError::Io(self.info.path.clone(), e))?;
            if self.end - self.start < self.stride {
                if self.end > self.start {
                    self.stop = Some(Stop::Truncated {
                        offset: self.offset,
                        bytes: (self.end - self.start) as u64,
                    });
                }
                return Ok(None);
            }
        }
        let bytes = &self.buf[self.start..self.start + RECORD_SIZE];
        let Ok(record) = TraceRecord::read_from_bytes(bytes) else {
            unreachable!("slice has the record's size")
        };
        if let Err(reason) = validate(&record) {
            self.stop = Some(Stop::Corrupt {
                offset: self.offset,
                reason,
            });
            return Ok(None);
        }
        self.start += self.stride;
        self.offset += self.stride as u64;
        self.count += 1;
        Ok(Some(record))
    }

    /// Calls `f` for every record, faster than `next_record` for whole-file passes.
    pub fn for_each(&mut self, mut f: impl FnMut(&TraceRecord)) -> Result<(), TraceError> {
        loop {
            let avail = (self.end - self.start) / self.stride;
            for _ in 0..avail {
                let at = self.start;
                // A copy: the buffer gives no 8-byte alignment for `ref_from_bytes`.
                let record = TraceRecord::read_from_bytes(&self.buf[at..at + RECORD_SIZE])
                    .expect("slice has the record's size");
                if !self.take(&record, &mut f) {
                    return Ok(());
                }
            }
            if self.next_record()?.map(|r| f(&r)).is_none() {
                return Ok(());
            }
        }
    }

    fn take(&mut self, record: &TraceRecord, f: &mut impl FnMut(&TraceRecord)) -> bool {
        if let Err(reason) = validate(record) {
            self.stop = Some(Stop::Corrupt {
                offset: self.offset,
                reason,
            });
            return false;
        }
        self.start += self.stride;
        self.offset += self.stride as u64;
        self.count += 1;
        f(record);
        true
    }

    /// The warning for an early stop, if any.
    pub fn warning(&self) -> Option<String> {
        self.stop
            .as_ref()
            .map(|s| stop_warning(&self.info, self.count, s))
    }
}

/// Records are stamped before they enter the writer's queue, so threads can interleave
/// them slightly out of time order; this many are held back to put them in order.
pub const REORDER_WINDOW: usize = 1 << 16;

/// One file's records in time order (within [`REORDER_WINDOW`]).
pub struct Ordered {
    reader: FileReader,
    pending: VecDeque<TraceRecord>,
    done: bool,
}

impl Ordered {
    fn new(reader: FileReader) -> Ordered {
        Ordered {
            reader,
            pending: VecDeque::new(),
            done: false,
        }
    }

    fn peek(&mut self) -> Result<Option<&TraceRecord>, TraceError> {
        while !self.done && self.pending.len() < REORDER_WINDOW {
            match self.reader.next_record()? {
                Some(r) => {
                    if self.pending.back().is_none_or(|b| b.time_ns <= r.time_ns) {
                        self.pending.push_back(r);
                    } else {
                        let at = self.pending.partition_point(|p| p.time_ns <= r.time_ns);
                        self.pending.insert(at, r);
                    }
                }
                None => self.done = true,
            }
        }
        Ok(self.pending.front())
    }
}

/// Several files merged into one stream in time order.
pub struct Merged {
    files: Vec<Ordered>,
}

impl Merged {
    /// Opens every path; fails on the first that is not a readable trace.
    pub fn open(paths: &[PathBuf]) -> Result<Merged, TraceError> {
        let files = paths
            .iter()
            .map(|p| FileReader::open(p).map(Ordered::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Merged { files })
    }

    /// Headers, in the order the paths were given.
    pub fn infos(&self) -> Vec<FileInfo> {
        self.files.iter().map(|f| f.reader.info.clone()).collect()
    }

    /// The next record of all files and the index of its file.
    pub fn next_record(&mut self) -> Result<Option<(usize, TraceRecord)>, TraceError> {
        let mut best: Option<(usize, u64)> = None;
        for (i, f) in self.files.iter_mut().enumerate() {
            if let Some(r) = f.peek()? {
                if best.is_none_or(|(_, t)| r.time_ns < t) {
                    best = Some((i, r.time_ns));
                }
            }
        }
        Ok(best.map(|(i, _)| (i, self.files[i].pending.pop_front().expect("peeked"))))
    }

    /// Warnings for files that stopped early.
    pub fn warnings(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|f| f.reader.warning())
            .collect()
    }
}

/// The earliest header time of `infos`: relative times count from here.
pub fn start_ns(infos: &[FileInfo]) -> u64 {
    infos.iter().map(|i| i.header.mono_ns).min().unwrap_or(0)
}

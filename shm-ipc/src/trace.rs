//! Binary trace of every frame, for `-ipctrace=<file>`.
//!
//! The hot path pushes a fixed-size [`TraceRecord`] into a bounded lock-free queue and
//! never blocks: when the queue is full the record is counted as dropped. A background
//! thread drains the queue every few milliseconds into the file. The format is
//! documented in `tools/README.md`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::sys;

/// First eight bytes of every trace file.
pub const TRACE_MAGIC: [u8; 8] = *b"HVIPCTRC";
/// Current format version.
pub const TRACE_VERSION: u32 = 1;

/// The file header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TraceHeader {
    /// [`TRACE_MAGIC`].
    pub magic: [u8; 8],
    /// [`TRACE_VERSION`].
    pub version: u32,
    /// Size of this header in bytes (64).
    pub header_size: u16,
    /// Size of each record in bytes (48).
    pub record_size: u16,
    /// Process id of the writer.
    pub pid: u32,
    /// Zero.
    pub reserved: u32,
    /// Wall clock (ns since the Unix epoch) when the file was opened.
    pub wall_ns: u64,
    /// Monotonic clock (ns) at the same instant, to convert record timestamps.
    pub mono_ns: u64,
    /// Process name, NUL-padded.
    pub process: [u8; 24],
}

/// Frame was sent.
pub const DIR_SEND: u8 = 0;
/// Frame was received.
pub const DIR_RECV: u8 = 1;
/// The connection uses shared memory (else the socket fallback).
pub const FLAG_SHM: u8 = 1;

/// One frame.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TraceRecord {
    /// Monotonic clock in ns when the frame was sent or received.
    pub time_ns: u64,
    /// For responses and errors: ns since the matching request was sent (client side)
    /// or received (server side). Zero otherwise.
    pub latency_ns: u64,
    /// Call id from the frame header.
    pub call_id: u64,
    /// Logical thread from the frame header.
    pub thread: u64,
    /// Frame payload size in bytes (frame header plus archive).
    pub size: u32,
    /// Connection id, unique within the process.
    pub conn: u32,
    /// Interface id.
    pub interface: u16,
    /// Method id.
    pub method: u16,
    /// [`DIR_SEND`] or [`DIR_RECV`].
    pub direction: u8,
    /// Frame kind byte.
    pub kind: u8,
    /// [`FLAG_SHM`] or 0.
    pub flags: u8,
    /// Zero.
    pub reserved: u8,
}

const QUEUE_CAPACITY: usize = 1 << 16;

/// A trace file being written.
pub struct Trace {
    queue: ArrayQueue<TraceRecord>,
    dropped: AtomicU64,
    stop: AtomicBool,
    writer: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl Trace {
    /// Creates `path` and starts the writer thread.
    pub fn create(path: &Path, process: &str) -> io::Result<Arc<Trace>> {
        let mut file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let mut name = [0u8; 24];
        let len = process.len().min(name.len());
        name[..len].copy_from_slice(&process.as_bytes()[..len]);
        let header = TraceHeader {
            magic: TRACE_MAGIC,
            version: TRACE_VERSION,
            header_size: std::mem::size_of::<TraceHeader>() as u16,
            record_size: std::mem::size_of::<TraceRecord>() as u16,
            pid: std::process::id(),
            reserved: 0,
            wall_ns: sys::realtime_ns(),
            mono_ns: sys::monotonic_ns(),
            process: name,
        };
        file.write_all(header.as_bytes())?;
        file.flush()?;
        let trace = Arc::new(Trace {
            queue: ArrayQueue::new(QUEUE_CAPACITY),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            writer: Mutex::new(None),
        });
        let worker = Arc::clone(&trace);
        let handle = std::thread::Builder::new()
            .name("ipc-trace".into())
            .spawn(move || worker.run(file, sys::TickScale::start()))?;
        *trace.writer.lock() = Some(handle);
        Ok(trace)
    }

    /// Queues `record` without blocking. Its `time_ns` and `latency_ns` are in
    /// [`sys::ticks`]; the writer converts them to nanoseconds, off the caller's path.
    pub fn record(&self, record: TraceRecord) {
        if self.queue.push(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn run(&self, mut file: BufWriter<File>, mut scale: sys::TickScale) -> io::Result<()> {
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            scale.refit();
            while let Some(mut record) = self.queue.pop() {
                record.time_ns = scale.to_ns(record.time_ns);
                record.latency_ns = scale.span_ns(record.latency_ns);
                file.write_all(record.as_bytes())?;
            }
            file.flush()?;
            if stopping {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Writes out everything queued and closes the file.
    pub fn finish(&self) -> io::Result<()> {
        self.stop.store(true, Ordering::Release);
        match self.writer.lock().take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("trace writer panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_reach_the_file_in_order() {
        let dir = std::env::temp_dir().join(format!("shm-ipc-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.trace");
        let trace = Trace::create(&path, "test").unwrap();
        for i in 0..1000 {
            trace.record(TraceRecord {
                call_id: i,
                ..Default::default()
            });
        }
        trace.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = TraceHeader::read_from_bytes(&bytes[..64]).unwrap();
        assert_eq!(header.magic, TRACE_MAGIC);
        assert_eq!(header.record_size, 48);
        let records = &bytes[64..];
        assert_eq!(records.len(), 1000 * 48);
        for (i, chunk) in records.chunks(48).enumerate() {
            assert_eq!(
                TraceRecord::read_from_bytes(chunk).unwrap().call_id,
                i as u64
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Synthetic traces, for tests and for measuring the read rate without a node run.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use shm_ipc::trace::{
    TraceHeader, TraceRecord, DIR_RECV, DIR_SEND, FLAG_SHM, TRACE_MAGIC, TRACE_VERSION,
};
use zerocopy::IntoBytes;

use crate::names::{KIND_REQUEST, KIND_RESPONSE};
use crate::reader::{HEADER_SIZE, RECORD_SIZE};

/// A version-1 header for `process` with the given ids and clocks.
pub fn header(process: &str, pid: u32, wall_ns: u64, mono_ns: u64) -> TraceHeader {
    let mut name = [0u8; 24];
    let len = process.len().min(24);
    name[..len].copy_from_slice(&process.as_bytes()[..len]);
    TraceHeader {
        magic: TRACE_MAGIC,
        version: TRACE_VERSION,
        header_size: HEADER_SIZE as u16,
        record_size: RECORD_SIZE as u16,
        pid,
        reserved: 0,
        wall_ns,
        mono_ns,
        process: name,
    }
}

/// Writes `header` and `records` to `path`.
pub fn write_trace(path: &Path, header: &TraceHeader, records: &[TraceRecord]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(header.as_bytes())?;
    for r in records {
        out.write_all(r.as_bytes())?;
    }
    out.flush()
}

/// The `i`-th record of the synthetic client trace: calls alternate request and
/// response over a few `Chain` methods, 1 µs apart, with latencies of 5..25 µs.
pub fn synthetic_record(i: u64, start_ns: u64) -> TraceRecord {
    let call = i / 2;
    let response = i % 2 == 1;
    let latency = 5_000 + (call.wrapping_mul(2_654_435_761) % 20_000);
    TraceRecord {
        time_ns: start_ns + i * 1_000,
        latency_ns: if response { latency } else { 0 },
        call_id: call + 1,
        thread: 1 << 63,
        size: if response {
            64
        } else {
            40 + (call % 7) as u32 * 8
        },
        conn: 1 + (call % 2) as u32,
        interface: 3,
        method: (call % 5) as u16,
        direction: if response { DIR_RECV } else { DIR_SEND },
        kind: if response {
            KIND_RESPONSE
        } else {
            KIND_REQUEST
        },
        flags: FLAG_SHM,
        reserved: 0,
    }
}

/// Writes a synthetic trace of `count` records to `path`, streaming.
pub fn write_synthetic(path: &Path, count: u64) -> io::Result<()> {
    let start = 1_000_000_000;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(header("synthetic", 1, 1_700_000_000_000_000_000, start).as_bytes())?;
    for i in 0..count {
        out.write_all(synthetic_record(i, start).as_bytes())?;
    }
    out.flush()
}

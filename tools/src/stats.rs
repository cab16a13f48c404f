//! `stats`: per-method call counts, latency percentiles and bytes, in bounded memory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::path::PathBuf;

use hdrhistogram::Histogram;
use shm_ipc::trace::{TraceRecord, DIR_SEND, FLAG_SHM};

use crate::names::{self, human_ns, Role};
use crate::reader::{FileInfo, FileReader, TraceError};

/// Latencies above this (one hour) are counted at this value.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// Corrupt-but-plausible records could name many methods; past this, rows are lumped.
const MAX_ROWS: usize = 4096;

/// Counts for one method as seen from one side by one process.
#[derive(Debug)]
pub struct Row {
    /// Index of the file (process) in [`Stats::files`].
    pub file: usize,
    /// Whether the process made or served these calls.
    pub role: Role,
    /// `Interface.method`.
    pub method: String,
    /// Requests and callbacks.
    pub calls: u64,
    /// Requests sent with call id 0, which get no response.
    pub one_way: u64,
    /// Error responses.
    pub errors: u64,
    /// Latencies of responses and errors.
    pub latency: Histogram<u64>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// One file's totals.
#[derive(Debug)]
pub struct FileStats {
    /// The file's header.
    pub info: FileInfo,
    /// Records read.
    pub records: u64,
    /// Warning when reading stopped early.
    pub warning: Option<String>,
    /// Transport flags seen per connection: bit 0 socket, bit 1 shm.
    pub conns: HashMap<u32, u8>,
    /// Earliest and latest record time.
    pub span: Option<(u64, u64)>,
}

/// What `stats` reports.
#[derive(Debug, Default)]
pub struct Stats {
    /// Per file, in the order given.
    pub files: Vec<FileStats>,
    /// Per (file, role, method).
    pub rows: Vec<Row>,
}

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

impl Stats {
    /// Reads every file in one streaming pass each.
    pub fn collect(paths: &[PathBuf]) -> Result<Stats, TraceError> {
        let readers = paths
            .iter()
            .map(|p| FileReader::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut stats = Stats::default();
        let mut index: IdMap<usize> = IdMap::default();
        for (file, mut reader) in readers.into_iter().enumerate() {
            let mut fs = FileStats {
                info: reader.info.clone(),
                records: 0,
                warning: None,
                conns: HashMap::new(),
                span: None,
            };
            let mut last_key = u64::MAX;
            let mut last_row = 0usize;
            let mut last_conn: Option<(u32, u8)> = None;
            let (mut first, mut last) = (u64::MAX, 0u64);
            let rows = &mut stats.rows;
            reader.for_each(|r: &TraceRecord| {
                first = first.min(r.time_ns);
                last = last.max(r.time_ns);
                let bit = if r.flags & FLAG_SHM != 0 { 2 } else { 1 };
                if last_conn != Some((r.conn, bit)) {
                    *fs.conns.entry(r.conn).or_insert(0) |= bit;
                    last_conn = Some((r.conn, bit));
                }
                let role = Role::of(r);
                let (iface, method) = if r.kind == names::KIND_CLOSE {
                    (u16::MAX, u16::MAX)
                } else {
                    (r.interface, r.method)
                };
                let key = (file as u64) << 34
                    | (role as u64) << 32
                    | (iface as u64) << 16
                    | method as u64;
                if key != last_key {
                    last_row = match index.get(&key) {
                        Some(&i) => i,
                        None if rows.len() >= MAX_ROWS => {
                            let other =
                                (file as u64) << 34 | (Role::None as u64) << 32 | 0xFFFF_FFFE;
                            *index.entry(other).or_insert_with(|| {
                                rows.push(Row::new(file, Role::None, "(other methods)".into()));
                                rows.len() - 1
                            })
                        }
                        None => {
                            let label = if r.kind == names::KIND_CLOSE {
                                "(close)".to_string()
                            } else {
                                names::method_label(iface, method)
                            };
                            rows.push(Row::new(file, role, label));
                            index.insert(key, rows.len() - 1);
                            rows.len() - 1
                        }
                    };
                    last_key = key;
                }
                rows[last_row].add(r);
            })?;
            fs.records = reader.count;
            fs.warning = reader.warning();
            fs.span = (first <= last).then_some((first, last));
            stats.files.push(fs);
        }
        stats
            .rows
            .sort_by(|a, b| (a.file, a.role, &a.method).cmp(&(b.file, b.role, &b.method)));
        Ok(stats)
    }

    /// `shm`, `socket`, `shm+socket`, or `none`, from a set of connection flags.
    pub fn transport<'a>(conns: impl IntoIterator<Item = &'a u8>) -> &'static str {
        match conns.into_iter().fold(0, |acc, b| acc | b) {
            0 => "none",
            1 => "socket",
            2 => "shm",
            _ => "shm+socket",
        }
    }

    /// Transport of all files together.
    pub fn overall_transport(&self) -> &'static str {
        Self::transport(self.files.iter().flat_map(|f| f.conns.values()))
    }

    /// Total records of all files.
    pub fn records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }

    /// Writes the table.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let head = [
            "process",
            "side",
            "method",
            "calls",
            "errors",
            "p50",
            "p90",
            "p99",
            "max",
            "bytes in",
            "bytes out",
        ];
        let mut lines: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
        let (mut calls, mut errors, mut bin, mut bout) = (0, 0, 0, 0);
        for row in &self.rows {
            let h = &row.latency;
            let q = |p: f64| {
                if h.is_empty() {
                    "-".to_string()
                } else {
                    human_ns(h.value_at_quantile(p))
                }
            };
            lines.push(vec![
                self.files[row.file].info.label(),
                row.role.name().into(),
                row.method.clone(),
                row.calls.to_string(),
                row.errors.to_string(),
                q(0.5),
                q(0.9),
                q(0.99),
                if h.is_empty() {
                    "-".into()
                } else {
                    human_ns(h.max())
                },
                row.bytes_in.to_string(),
                row.bytes_out.to_string(),
            ]);
            calls += row.calls;
            errors += row.errors;
            bin += row.bytes_in;
            bout += row.bytes_out;
        }
        let mut total = vec![String::new(); head.len()];
        total[0] = "total".into();
        total[3] = calls.to_string();
        total[4] = errors.to_string();
        total[9] = bin.to_string();
        total[10] = bout.to_string();
        lines.push(total);
        let widths: Vec<usize> = (0..head.len())
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &lines {
            let mut text = String::new();
            for (c, cell) in line.iter().enumerate() {
                if c < 3 {
                    text.push_str(&format!("{cell:<w$}  ", w = widths[c]));
                } else {
                    text.push_str(&format!("{cell:>w$}  ", w = widths[c]));
                }
            }
            writeln!(out, "{}", text.trim_end())?;
        }
        writeln!(out)?;
        let files: Vec<String> = self
            .files
            .iter()
            .map(|f| format!("{} {}", f.info.label(), f.records))
            .collect();
        writeln!(
            out,
            "records: {} in {} file(s) ({})",
            self.records(),
            self.files.len(),
            files.join(", ")
        )?;
        if let Some((a, b)) = self.span() {
            writeln!(out, "span: {}", human_ns(b - a))?;
        }
        let per: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                format!(
                    "{} {} ({} connection{})",
                    f.info.label(),
                    Self::transport(f.conns.values()),
                    f.conns.len(),
                    if f.conns.len() == 1 { "" } else { "s" }
                )
            })
            .collect();
        writeln!(
            out,
            "transport: {} ({})",
            self.overall_transport(),
            per.join(", ")
        )
    }

    /// Earliest and latest record time across files.
    pub fn span(&self) -> Option<(u64, u64)> {
        self.files
            .iter()
            .filter_map(|f| f.span)
            .fold(None, |acc, (a, b)| match acc {
                None => Some((a, b)),
                Some((x, y)) => Some((x.min(a), y.max(b))),
            })
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let files: Vec<_> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.info.path.display().to_string(),
                    "process": f.info.process,
                    "pid": f.info.header.pid,
                    "records": f.records,
                    "connections": f.conns.len(),
                    "transport": Self::transport(f.conns.values()),
                    "warning": f.warning,
                })
            })
            .collect();
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|r| {
                let h = &r.latency;
                let q = |p: f64| (!h.is_empty()).then(|| h.value_at_quantile(p));
                json!({
                    "process": self.files[r.file].info.process,
                    "pid": self.files[r.file].info.header.pid,
                    "role": r.role.name(),
                    "method": r.method,
                    "calls": r.calls,
                    "one_way": r.one_way,
                    "errors": r.errors,
                    "responses": h.len(),
                    "p50_ns": q(0.5),
                    "p90_ns": q(0.9),
                    "p99_ns": q(0.99),
                    "max_ns": (!h.is_empty()).then(|| h.max()),
                    "bytes_in": r.bytes_in,
                    "bytes_out": r.bytes_out,
                })
            })
            .collect();
        let sum = |f: fn(&Row) -> u64| self.rows.iter().map(f).sum::<u64>();
        json!({
            "files": files,
            "methods": rows,
            "totals": {
                "records": self.records(),
                "calls": sum(|r| r.calls),
                "errors": sum(|r| r.errors),
                "bytes_in": sum(|r| r.bytes_in),
                "bytes_out": sum(|r| r.bytes_out),
                "span_ns": self.span().map(|(a, b)| b - a),
            },
            "transport": self.overall_transport(),
        })
    }
}

impl Row {
    fn new(file: usize, role: Role, method: String) -> Row {
        Row {
            file,
            role,
            method,
            calls: 0,
            one_way: 0,
            errors: 0,
            latency: new_histogram(),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    fn add(&mut self, r: &TraceRecord) {
        if r.direction == DIR_SEND {
            self.bytes_out += r.size as u64;
        } else {
            self.bytes_in += r.size as u64;
        }
        match r.kind {
            names::KIND_REQUEST | names::KIND_CALLBACK => {
                self.calls += 1;
                if r.call_id == 0 {
                    self.one_way += 1;
                }
            }
            names::KIND_RESPONSE | names::KIND_ERROR => {
                if r.kind == names::KIND_ERROR {
                    self.errors += 1;
                }
                self.latency
                    .saturating_record(r.latency_ns.clamp(1, MAX_LATENCY_NS));
            }
            _ => {}
        }
    }
}

//! `dump`: one line (or JSON object) per frame, in time order across files.

use std::collections::HashMap;
use std::io::{self, Write};

use shm_ipc::trace::{TraceRecord, FLAG_SHM};

use crate::filter::Filter;
use crate::names;
use crate::reader::{FileInfo, Merged, TraceError};

/// How `dump` and `follow` print records.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Wall-clock times instead of time since the trace start.
    pub wall: bool,
    /// JSON lines instead of text.
    pub json: bool,
}

/// Formats records of a known set of files.
pub struct Printer {
    style: Style,
    start_ns: u64,
    labels: HashMap<(u16, u16), String>,
    quoted: HashMap<String, String>,
}

impl Printer {
    /// A printer whose relative times count from `start_ns` (monotonic).
    pub fn new(style: Style, start_ns: u64) -> Printer {
        Printer {
            style,
            start_ns,
            labels: HashMap::new(),
            quoted: HashMap::new(),
        }
    }

    /// Writes one record of `info`'s file.
    pub fn print(
        &mut self,
        out: &mut impl Write,
        info: &FileInfo,
        r: &TraceRecord,
    ) -> io::Result<()> {
        let label = self
            .labels
            .entry((r.interface, r.method))
            .or_insert_with(|| names::method_label(r.interface, r.method));
        let method: &str = if r.kind == names::KIND_CLOSE {
            "(close)"
        } else {
            label
        };
        let rel = r.time_ns.saturating_sub(self.start_ns);
        let transport = if r.flags & FLAG_SHM != 0 {
            "shm"
        } else {
            "socket"
        };
        let completion = names::is_completion(r);
        if self.style.json {
            // Written by hand: building a serde_json::Value per record is 5x slower.
            let process = self
                .quoted
                .entry(info.process.clone())
                .or_insert_with(|| serde_json::Value::from(info.process.as_str()).to_string());
            write!(
                out,
                "{{\"time_ns\":{rel},\"wall_ns\":{},\"process\":{process},\"pid\":{},\
                 \"conn\":{},\"direction\":\"{}\",\"kind\":\"{}\",\"role\":\"{}\",\
                 \"method\":\"{method}\",\"interface\":{},\"method_id\":{},\"call_id\":{},\
                 \"thread\":{},\"size\":{},\"latency_ns\":",
                info.wall_ns(r.time_ns),
                info.header.pid,
                r.conn,
                names::direction_name(r.direction),
                names::kind_name(r.kind),
                names::Role::of(r).name(),
                r.interface,
                r.method,
                r.call_id,
                r.thread,
                r.size,
            )?;
            if completion {
                write!(out, "{}", r.latency_ns)?;
            } else {
                write!(out, "null")?;
            }
            return writeln!(out, ",\"transport\":\"{transport}\"}}");
        }
        if self.style.wall {
            write!(out, "{}", names::iso8601_ns(info.wall_ns(r.time_ns)))?;
        } else {
            write!(out, "{:>5}.{:09}", rel / 1_000_000_000, rel % 1_000_000_000)?;
        }
        let who = format!("{}#{}", info.label(), r.conn);
        write!(
            out,
            "  {who:<24} {} {:<8} {method:<34} id={:<6} {:>7}B {transport}",
            names::direction_name(r.direction),
            names::kind_name(r.kind),
            r.call_id,
            r.size,
        )?;
        if completion {
            write!(out, " lat={}", names::human_ns(r.latency_ns))?;
        }
        writeln!(out)
    }
}

/// Prints every record of `merged` that passes `filter`; returns how many were printed.
pub fn dump(
    merged: &mut Merged,
    filter: &mut Filter,
    style: Style,
    out: &mut impl Write,
) -> Result<u64, DumpError> {
    let infos = merged.infos();
    let start = crate::reader::start_ns(&infos);
    let mut printer = Printer::new(style, start);
    let mut printed = 0;
    while let Some((i, r)) = merged.next_record()? {
        if filter.matches(&infos[i], &r, r.time_ns.saturating_sub(start)) {
            printer.print(out, &infos[i], &r)?;
            printed += 1;
        }
    }
    out.flush()?;
    Ok(printed)
}

/// A failure while dumping: the input or the output.
#[derive(Debug)]
pub enum DumpError {
    /// Reading a trace failed.
    Trace(TraceError),
    /// Writing the output failed (a closed pipe among others).
    Output(io::Error),
}

impl From<TraceError> for DumpError {
    fn from(e: TraceError) -> Self {
        DumpError::Trace(e)
    }
}

impl From<io::Error> for DumpError {
    fn from(e: io::Error) -> Self {
        DumpError::Output(e)
    }
}

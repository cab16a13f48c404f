//! `follow`: prints records as writers append them, like `tail -f`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shm_ipc::trace::{TraceRecord, TRACE_MAGIC};
use zerocopy::FromBytes;

use crate::dump::{DumpError, Printer, Style};
use crate::filter::Filter;
use crate::reader::{self, FileInfo, TraceError, HEADER_SIZE, RECORD_SIZE};

/// How to follow.
#[derive(Clone, Debug)]
pub struct Options {
    /// Print what the files already hold before following.
    pub from_start: bool,
    /// Output format.
    pub style: Style,
    /// Polling period.
    pub interval: Duration,
    /// Also follow the `<file>.wallet-<pid>` traces that wallet processes spawned by a
    /// traced node create next to each given file, as they appear.
    pub wallets: bool,
}

enum State {
    /// The file does not exist or its header is not complete yet.
    Waiting,
    Open {
        file: File,
        info: FileInfo,
        ino: u64,
        pos: u64,
    },
    /// Corrupt: stopped following after a warning.
    Stopped,
}

struct Followed {
    path: PathBuf,
    state: State,
}

/// Follows `paths` until `keep_going` returns false (checked once per poll) or the
/// output fails. Files that do not exist yet are waited for; a file that is replaced
/// or shrinks (a restarted process) is followed from its new start.
pub fn follow_until(
    paths: &[PathBuf],
    filter: &mut Filter,
    options: &Options,
    out: &mut impl Write,
    mut keep_going: impl FnMut() -> bool,
) -> Result<(), DumpError> {
    let mut files: Vec<Followed> = paths
        .iter()
        .map(|p| Followed {
            path: p.clone(),
            state: State::Waiting,
        })
        .collect();
    let mut printer: Option<(Printer, u64)> = None;
    let mut first_round = true;
    let mut batch: Vec<(usize, TraceRecord)> = Vec::new();
    loop {
        if options.wallets {
            for path in wallet_siblings(paths) {
                if !files.iter().any(|f| f.path == path) {
                    files.push(Followed {
                        path,
                        state: State::Waiting,
                    });
                }
            }
        }
        let mut more = false;
        for (i, f) in files.iter_mut().enumerate() {
            more |= poll(i, f, options.from_start || !first_round, &mut batch)?;
        }
        first_round = false;
        if !batch.is_empty() {
            // Each poll reads whole flushes of the writers, so sorting a batch orders
            // records from different files and threads.
            batch.sort_by_key(|(_, r)| r.time_ns);
            let (printer, start) = printer.get_or_insert_with(|| {
                let infos: Vec<FileInfo> = files.iter().filter_map(info_of).cloned().collect();
                let start = reader::start_ns(&infos);
                (Printer::new(options.style, start), start)
            });
            for (i, r) in batch.drain(..) {
                let Some(info) = info_of(&files[i]) else {
                    continue;
                };
                if filter.matches(info, &r, r.time_ns.saturating_sub(*start)) {
                    printer.print(out, info, &r)?;
                }
            }
            out.flush()?;
        }
        if !keep_going() {
            return Ok(());
        }
        if !more {
            std::thread::sleep(options.interval);
        }
    }
}

/// Follows `paths` until the output is closed.
pub fn follow(
    paths: &[PathBuf],
    filter: &mut Filter,
    options: &Options,
    out: &mut impl Write,
) -> Result<(), DumpError> {
    follow_until(paths, filter, options, out, || true)
}

/// The `<file>.wallet-<pid>` files next to each of `paths`, sorted.
fn wallet_siblings(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let prefix = format!("{name}.wallet-");
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            if file.to_str().is_some_and(|f| f.starts_with(&prefix)) {
                found.push(path.with_file_name(file));
            }
        }
    }
    found.sort();
    found
}

fn info_of(f: &Followed) -> Option<&FileInfo> {
    match &f.state {
        State::Open { info, .. } => Some(info),
        _ => None,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TraceError + '_ {
    move |e| TraceError::Io(path.to_path_buf(), e)
}

/// Records read per file per poll at most, so memory stays bounded on a large backlog.
const MAX_BATCH: u64 = 1 << 16;

/// Appends `f`'s new records to `batch`; true when more are already waiting.
fn poll(
    index: usize,
    f: &mut Followed,
    from_start: bool,
    batch: &mut Vec<(usize, TraceRecord)>,
) -> Result<bool, TraceError> {
    if let State::Waiting = f.state {
        let Ok(mut file) = File::open(&f.path) else {
            return Ok(false);
        };
        let meta = file.metadata().map_err(io_err(&f.path))?;
        if meta.len() < HEADER_SIZE as u64 {
            // A writer may be between creating the file and writing its header; bytes
            // that cannot start a header mean it is not a trace.
            let mut head = Vec::new();
            (&mut file)
                .take(8)
                .read_to_end(&mut head)
                .map_err(io_err(&f.path))?;
            if !TRACE_MAGIC.starts_with(&head) {
                reader::parse_header(&f.path, &head)?;
            }
            return Ok(false);
        }
        let mut head = [0u8; HEADER_SIZE];
        file.read_exact(&mut head).map_err(io_err(&f.path))?;
        let info = reader::parse_header(&f.path, &head)?;
        let header_end = info.header.header_size as u64;
        let stride = info.header.record_size as u64;
        let pos = if from_start || meta.len() <= header_end {
            header_end
        } else {
            header_end + (meta.len() - header_end) / stride * stride
        };
        f.state = State::Open {
            file,
            info,
            ino: meta.ino(),
            pos,
        };
    }
    let State::Open {
        file,
        info,
        ino,
        pos,
    } = &mut f.state
    else {
        return Ok(false);
    };
    let len = file.metadata().map_err(io_err(&f.path))?.len();
    let replaced = std::fs::metadata(&f.path)
        .map(|m| m.ino() != *ino)
        .unwrap_or(false);
    if len < *pos || replaced {
        eprintln!(
            "warning: {}: file was replaced or truncated; following it from its start",
            f.path.display()
        );
        f.state = State::Waiting;
        return poll(index, f, true, batch);
    }
    let stride = info.header.record_size as u64;
    let available = (len - *pos) / stride;
    let whole = available.min(MAX_BATCH) * stride;
    if whole == 0 {
        return Ok(false);
    }
    let mut bytes = vec![0u8; whole as usize];
    file.seek(SeekFrom::Start(*pos)).map_err(io_err(&f.path))?;
    file.read_exact(&mut bytes).map_err(io_err(&f.path))?;
    for chunk in bytes.chunks_exact(stride as usize) {
        let record =
            TraceRecord::read_from_bytes(&chunk[..RECORD_SIZE]).expect("record-sized slice");
        if let Err(reason) = reader::validate(&record) {
            let complete = (*pos - info.header.header_size as u64) / stride;
            eprintln!(
                "{}",
                reader::stop_warning(
                    info,
                    complete,
                    &reader::Stop::Corrupt {
                        offset: *pos,
                        reason
                    }
                )
            );
            f.state = State::Stopped;
            return Ok(false);
        }
        batch.push((index, record));
        *pos += stride;
    }
    Ok(available > MAX_BATCH)
}

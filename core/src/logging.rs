//! debug.log in Bitcoin Core's format: `2026-11-22T02:40:00Z [category] message`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::time;

/// Debug categories accepted by `-debug=` and the `logging` RPC (Core's names).
pub const CATEGORIES: &[&str] = &[
    "addrman",
    "bench",
    "blockstorage",
    "cmpctblock",
    "coindb",
    "estimatefee",
    "http",
    "i2p",
    "ipc",
    "leveldb",
    "libevent",
    "lock",
    "mempool",
    "mempoolrej",
    "net",
    "proxy",
    "prune",
    "qt",
    "rand",
    "reindex",
    "rpc",
    "scan",
    "selectcoins",
    "tor",
    "txpackages",
    "txreconciliation",
    "validation",
    "wallet",
    "walletdb",
    "zmq",
];

/// Logging destinations and options.
pub struct Logger {
    file: Option<Mutex<File>>,
    print_to_console: bool,
    time_micros: bool,
    thread_names: bool,
    enabled: Mutex<Vec<&'static str>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Where and how to log, from `-debuglogfile`, `-printtoconsole`, `-logtimemicros`.
pub struct LogConfig<'a> {
    /// The debug.log path, or `None` for `-nodebuglogfile`.
    pub file: Option<&'a Path>,
    /// Also write each line to stdout.
    pub print_to_console: bool,
    /// Microsecond timestamps.
    pub time_micros: bool,
    /// Prefix each line with the thread name (`-logthreadnames`).
    pub thread_names: bool,
    /// Truncate the file to its last 10 MB at start (`-shrinkdebugfile`).
    pub shrink: bool,
}

/// Installs the process logger. Returns an error message when the file cannot be opened.
pub fn init(config: LogConfig<'_>) -> Result<(), String> {
    let file = match config.file {
        Some(path) => {
            if config.shrink {
                shrink_file(path);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("Could not open debug log file {}: {e}", path.display()))?;
            Some(Mutex::new(f))
        }
        None => None,
    };
    let logger = Logger {
        file,
        print_to_console: config.print_to_console,
        time_micros: config.time_micros,
        thread_names: config.thread_names,
        enabled: Mutex::new(Vec::new()),
    };
    LOGGER
        .set(logger)
        .map_err(|_| "logger already initialised".to_string())
}

/// Keeps the last 10 MB of a debug.log that grew past 11 MB, as Core does.
fn shrink_file(path: &Path) {
    const KEEP: usize = 10 * 1_000_000;
    if let Ok(data) = std::fs::read(path) {
        if data.len() > KEEP * 11 / 10 {
            let _ = std::fs::write(path, &data[data.len() - KEEP..]);
        }
    }
}

/// Enables (`enable = true`) or disables a category; `all`/`1` and `none`/`0` cover every one.
/// Returns false for an unknown category.
pub fn set_category(name: &str, enable: bool) -> bool {
    let Some(logger) = LOGGER.get() else {
        return false;
    };
    let mut enabled = logger.enabled.lock();
    let names: Vec<&'static str> = match name {
        "" | "1" | "all" => CATEGORIES.to_vec(),
        "0" | "none" => {
            if enable {
                enabled.clear();
            }
            return true;
        }
        _ => match CATEGORIES.iter().find(|c| **c == name) {
            Some(c) => vec![*c],
            None => return false,
        },
    };
    for n in names {
        if enable && !enabled.contains(&n) {
            enabled.push(n);
        } else if !enable {
            enabled.retain(|c| *c != n);
        }
    }
    true
}

/// Whether a debug category is being logged.
pub fn enabled(category: &str) -> bool {
    LOGGER
        .get()
        .is_some_and(|l| l.enabled.lock().contains(&category))
}

/// Writes one line (a trailing newline is added).
pub fn write_line(category: Option<&str>, msg: &str) {
    let Some(logger) = LOGGER.get() else { return };
    let micros = time::real_now_micros();
    let stamp = time::format_iso8601(
        micros.div_euclid(1_000_000),
        logger
            .time_micros
            .then_some(micros.rem_euclid(1_000_000) as u32),
    );
    let thread = if logger.thread_names {
        format!("[{}] ", std::thread::current().name().unwrap_or("unknown"))
    } else {
        String::new()
    };
    let line = match category {
        Some(c) => format!("{stamp} {thread}[{c}] {msg}\n"),
        None => format!("{stamp} {thread}{msg}\n"),
    };
    if let Some(file) = &logger.file {
        let _ = file.lock().write_all(line.as_bytes());
    }
    if logger.print_to_console {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Logs unconditionally, like Core's `LogInfo`.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::logging::write_line(None, &format!($($arg)*)) };
}

/// Logs under a debug category; nothing is formatted when the category is off.
#[macro_export]
macro_rules! log_debug {
    ($cat:expr, $($arg:tt)*) => {
        if $crate::logging::enabled($cat) {
            $crate::logging::write_line(Some($cat), &format!($($arg)*))
        }
    };
}

//! Connection options from `-ipcshm`, `-ipcspin`, `-ipctrace` and `-debug=ipc`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hashvive_core::args::ArgsManager;
use hashvive_core::logging;
use shm_ipc::{Options, Trace};

/// `-debug=ipc` lines go to the log under the `ipc` category.
fn log_ipc_line(line: &str) {
    logging::write_line(Some("ipc"), line);
}

/// Whether `-debug=ipc` is on right now (the `logging` RPC may switch it).
fn ipc_logging_enabled() -> bool {
    logging::enabled("ipc")
}

/// Options for this process's connections, named `name`; `-ipctrace` paths are relative
/// to `base_dir`.
pub fn from_args(name: &str, args: &ArgsManager, base_dir: &Path) -> Result<Options, String> {
    let spin = args
        .get_int("ipcspin", shm_ipc::DEFAULT_SPIN_US as i64)
        .map_err(|e| e.to_string())?;
    let spin = u64::try_from(spin)
        .ok()
        .filter(|us| *us <= 1_000_000)
        .ok_or_else(|| format!("Error: Invalid -ipcspin value {spin} (0 to 1000000)"))?;
    let trace =
        match args.get_arg("ipctrace") {
            Some(file) if !file.is_empty() && !args.is_negated("ipctrace") => {
                let path = hashvive_core::args::abs_path(base_dir, &file);
                Some(Trace::create(&path, name).map_err(|e| {
                    format!("Error: Cannot write IPC trace {}: {e}", path.display())
                })?)
            }
            _ => None,
        };
    Ok(Options {
        name: name.to_string(),
        shm: args.get_bool("ipcshm", true),
        spin: Duration::from_micros(spin),
        log: Some(Arc::new(log_ipc_line)),
        log_gate: Some(ipc_logging_enabled),
        trace,
        ..Options::default()
    })
}

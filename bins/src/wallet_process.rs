//! `hashvive-wallet`: serves `Init` to a node, spawned (`-ipcfd`) or attached
//! (`-ipcconnect`), and runs the wallet it is asked for on the node's `Chain` proxy.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hashvive_core::args::ArgsManager;
use hashvive_core::init::{make_wallet_loader, WALLET_PROCESS_ARGS};
use hashvive_core::interfaces::{Chain, Echo, Init, LocalEcho, WalletLoader};
use hashvive_core::ipc::IpcContext;
use hashvive_core::log_info;
use hashvive_core::logging::{self, LogConfig};
use parking_lot::Mutex;
use shm_ipc::{Connection, IpcAddress, Options, Side, Trace};

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// The root object a node calls: hands out wallet loaders and remembers them, so the
/// process can flush them however the connection ends.
#[derive(Default)]
struct WalletInit {
    loaders: Mutex<Vec<Arc<dyn WalletLoader>>>,
    conn: OnceLock<Connection>,
    trace: Mutex<Option<Arc<Trace>>>,
    /// This process was given `-ipcspin` itself, so the node's does not apply.
    own_spin: bool,
}

impl WalletInit {
    /// With the node's `-ipctrace=<file>`, this process records its side into
    /// `<file>.wallet-<pid>` (a trace file has one writer).
    fn start_trace(&self, chain: &dyn Chain) {
        let Some(file) = chain.get_settings_list("ipctrace").pop() else {
            return;
        };
        if file.is_empty() || file == "0" {
            return;
        }
        let base = chain
            .get_settings_list("chaindir")
            .pop()
            .unwrap_or_default();
        let path = hashvive_core::args::abs_path(Path::new(&base), &file);
        let path = PathBuf::from(format!("{}.wallet-{}", path.display(), std::process::id()));
        match Trace::create(&path, "hashvive-wallet") {
            Ok(trace) => {
                if let Some(conn) = self.conn.get() {
                    conn.set_trace(Arc::clone(&trace));
                }
                log_info!("IPC trace: recording into {}", path.display());
                *self.trace.lock() = Some(trace);
            }
            Err(e) => log_info!("IPC trace: cannot write {}: {e}", path.display()),
        }
    }

    /// Without its own `-ipcspin`, the wallet spins as long as the node does: both
    /// ends of a call wait for each other.
    fn take_spin(&self, chain: &dyn Chain) {
        if self.own_spin {
            return;
        }
        let spin = chain.get_settings_list("ipcspin").pop();
        if let (Some(us), Some(conn)) = (spin.and_then(|v| v.parse::<u64>().ok()), self.conn.get())
        {
            conn.set_spin(Duration::from_micros(us));
            log_info!("IPC: spinning up to {us} microseconds, as the node's -ipcspin says");
        }
    }
}

impl Init for WalletInit {
    fn make_echo(&self) -> Arc<dyn Echo> {
        Arc::new(LocalEcho)
    }

    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Option<Arc<dyn WalletLoader>> {
        start_logging(chain.as_ref());
        self.start_trace(chain.as_ref());
        self.take_spin(chain.as_ref());
        log_info!(
            "hashvive-wallet version v{} (pid {}) serving the node",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        let loader = make_wallet_loader(chain)?;
        self.loaders.lock().push(Arc::clone(&loader));
        Some(loader)
    }
}

/// Logs to the node's `debug.log` with the node's settings, which arrive over IPC.
fn start_logging(chain: &dyn Chain) {
    let first = |name: &str| chain.get_settings_list(name).pop();
    let flag = |name: &str| {
        first(name).is_some_and(|v| v.is_empty() || v.parse::<i64>().is_ok_and(|n| n != 0))
    };
    let file = first("debuglogpath").map(PathBuf::from);
    let _ = logging::init(LogConfig {
        file: file.as_deref(),
        print_to_console: flag("printtoconsole"),
        time_micros: flag("logtimemicros"),
        thread_names: flag("logthreadnames"),
        shrink: false,
    });
    for category in chain.get_settings_list("debug") {
        logging::set_category(&category, true);
    }
    for category in chain.get_settings_list("debugexclude") {
        logging::set_category(&category, false);
    }
}

fn fail(message: &str) -> i32 {
    eprintln!("{message}");
    1
}

/// Runs the wallet process; returns its exit code.
pub fn main(argv: Vec<String>) -> i32 {
    let args = match ArgsManager::parse_command_line(WALLET_PROCESS_ARGS, &argv, false) {
        Ok(a) => a,
        Err(e) => return fail(&e.to_string()),
    };
    if ["?", "h", "help"].iter().any(|h| args.is_set(h)) {
        println!(
            "hashvive-wallet version v{}\n\nUsage:  hashvive-wallet -ipcconnect=<address> [options]\n\nStarted by hashvive-node with -ipcfd, or attached to a running node with -ipcconnect.",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    if args.is_set("version") {
        println!("hashvive-wallet version v{}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            log_info!("{e}");
            fail(&e)
        }
    }
}

/// Calls on a node that is gone unwind the thread making them (see `OnCallFailure`);
/// that is expected while the process winds down, so it goes to the log, not stderr.
fn quiet_disconnect_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("IPC call failed") {
            log_info!("hashvive-wallet: {message}");
        } else {
            default(info);
        }
    }));
}

fn run(args: &ArgsManager) -> Result<(), String> {
    quiet_disconnect_panics();
    let spawned = args.get_arg("ipcfd");
    let attach_to = args.get_arg("ipcconnect");
    let base_dir = std::env::current_dir().map_err(|e| format!("Error: {e}"))?;
    let options = crate::ipc_options::from_args("hashvive-wallet", args, &base_dir)?;
    let (socket, options) = match (spawned, attach_to) {
        (Some(fd), None) => {
            // A spawned wallet stops when its parent tells it to, not on the terminal's ^C.
            // SAFETY: setting a signal disposition to SIG_IGN.
            unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
            let fd = shm_ipc::process::ipc_fd_from_arg(&fd).map_err(|e| format!("Error: {e}"))?;
            (
                fd,
                Options {
                    trusted: true,
                    ..options
                },
            )
        }
        (None, Some(address)) => {
            install_signal_handlers();
            let address = parse_connect_address(args, &address)?;
            let fd = address.connect().map_err(|e| format!("Error: {e}"))?;
            (fd, options)
        }
        _ => {
            return Err(
                "Error: hashvive-wallet needs -ipcconnect=<address> (or -ipcfd from hashvive-node)"
                    .into(),
            )
        }
    };

    let cx = IpcContext::new();
    let init = Arc::new(WalletInit {
        own_spin: args.is_set("ipcspin"),
        ..WalletInit::default()
    });
    cx.add_object::<dyn Init>(Arc::clone(&init) as Arc<dyn Init>);
    let conn = Connection::new(socket, Side::Connector, options, cx.services())
        .map_err(|e| format!("Error: IPC connection to the node failed: {e}"))?;
    let (closed_tx, closed_rx) = mpsc::channel();
    conn.on_close(move |why| {
        let _ = closed_tx.send(why.to_string());
    });
    let _ = init.conn.set(conn.clone());
    cx.set_connection(conn.clone());

    // Until the node hangs up (or, attached, until we are asked to stop).
    let why = loop {
        if let Ok(why) = closed_rx.recv_timeout(Duration::from_millis(100)) {
            break Some(why);
        }
        if SIGNALLED.load(Ordering::SeqCst) {
            break None;
        }
    };
    let loaders: Vec<_> = std::mem::take(&mut *init.loaders.lock());
    if loaders.is_empty() && why.is_some() {
        return Err(
            "Error: the node closed the connection without starting a wallet (another wallet process may be serving it)"
                .into(),
        );
    }
    match why {
        Some(why) => {
            log_info!("hashvive-wallet: node connection closed ({why}); flushing and exiting");
            for loader in &loaders {
                // The node is gone: only local work (writing the wallet files) can succeed.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loader.flush()));
            }
        }
        None => {
            log_info!("hashvive-wallet: stopping; unregistering from the node");
            for loader in &loaders {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    loader.flush();
                    loader.stop();
                }));
            }
            conn.close();
        }
    }
    if let Some(trace) = init.trace.lock().take() {
        let _ = trace.finish();
    }
    log_info!("hashvive-wallet: shutdown done");
    Ok(())
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// `-ipcconnect`: `auto` and `unix` mean `<datadir>/<chain>/node.sock`.
fn parse_connect_address(args: &ArgsManager, value: &str) -> Result<IpcAddress, String> {
    let datadir = match args.get_arg("datadir") {
        Some(d) => PathBuf::from(d),
        None => hashvive_core::args::default_datadir(),
    };
    let chain_dir = match args.chain() {
        "main" => datadir.clone(),
        other => datadir.join(other),
    };
    IpcAddress::parse(value, &chain_dir, &chain_dir.join("node.sock"), true)
        .map_err(|e| format!("Error: -ipcconnect={value}: {e}"))
}

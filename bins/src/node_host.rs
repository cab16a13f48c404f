//! The wallet side of `hashvive-node`: a spawned `hashvive-wallet` child, plus wallets
//! attaching on `-ipcbind`, each driven through an IPC proxy of its `WalletLoader`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hashvive_core::args::ArgSpec;
use hashvive_core::init::{start_wallet_loader, WalletEnv, WalletHost, NODE_IPC_ARGS};
use hashvive_core::interfaces::{
    Chain, Handler, Init, JsonRequest, RpcActor, RpcCommand, WalletLoader,
};
use hashvive_core::ipc::interfaces::init;
use hashvive_core::ipc::{IpcContext, ROOT_OBJECT};
use hashvive_core::log_info;
use hashvive_core::rpc::dispatch::ClientCommands;
use hashvive_core::rpc::{RpcContext, RpcError};
use parking_lot::{Condvar, Mutex};
use shm_ipc::{Connection, IpcAddress, Listener, Options, Side};

/// Name of the wallet executable, looked for next to our own.
const WALLET_PROGRAM: &str = "hashvive-wallet";

/// One connected wallet process.
struct WalletConn {
    cx: Arc<IpcContext>,
    loader: Arc<dyn WalletLoader>,
    label: String,
}

/// A spawned child and its exit status once reaped.
struct ChildProcess {
    pid: u32,
    status: Mutex<Option<ExitStatus>>,
    exited: Condvar,
}

struct Shared {
    options: Options,
    chain: Arc<dyn Chain>,
    commands: Arc<ClientCommands>,
    rpc: Arc<RpcContext>,
    wallets: Mutex<Vec<WalletConn>>,
    /// Commands answering -18 in place of those of a wallet process that went away.
    placeholders: Mutex<Vec<Handler>>,
    stopping: AtomicBool,
}

/// The wallet host of `hashvive-node`.
#[derive(Default)]
pub struct NodeHost {
    shared: Option<Arc<Shared>>,
    child: Option<Arc<ChildProcess>>,
    listeners: Vec<(Arc<Listener>, thread::JoinHandle<()>)>,
}

impl WalletHost for NodeHost {
    fn program(&self) -> &'static str {
        "hashvive-node"
    }

    fn extra_args(&self) -> &'static [ArgSpec] {
        NODE_IPC_ARGS
    }

    fn start(&mut self, env: WalletEnv<'_>) -> Result<(), String> {
        let options = crate::ipc_options::from_args("hashvive-node", env.args, env.chain_dir)?;
        let shared = Arc::new(Shared {
            options,
            chain: env.chain,
            commands: Arc::clone(&env.rpc.client_commands),
            rpc: Arc::clone(&env.rpc),
            wallets: Mutex::new(Vec::new()),
            placeholders: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        self.shared = Some(Arc::clone(&shared));

        for value in env.args.get_args("ipcbind") {
            let address = IpcAddress::parse(
                &value,
                env.chain_dir,
                &env.chain_dir.join("node.sock"),
                false,
            )
            .map_err(|e| format!("Error: -ipcbind={value}: {e}"))?;
            let listener = Arc::new(
                Listener::bind(&address).map_err(|e| format!("Error: -ipcbind={value}: {e}"))?,
            );
            log_info!("IPC listening on {}", listener.path().display());
            let accepting = Arc::clone(&listener);
            let shared = Arc::clone(&shared);
            let handle = thread::Builder::new()
                .name("ipc-accept".into())
                .spawn(move || accept_loop(&accepting, &shared))
                .map_err(|e| format!("Error: starting the IPC listener: {e}"))?;
            self.listeners.push((listener, handle));
        }

        let (child, fd) = spawn_wallet()?;
        let process = Arc::new(ChildProcess {
            pid: child.id(),
            status: Mutex::new(None),
            exited: Condvar::new(),
        });
        log_info!("Process {WALLET_PROGRAM} pid {} launched", process.pid);
        reap_in_background(child, Arc::clone(&process));
        self.child = Some(process);
        let options = Options {
            trusted: true,
            ..shared.options.clone()
        };
        attach(&shared, fd, options)
    }

    fn stop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.stopping.store(true, Ordering::SeqCst);
        for (listener, handle) in self.listeners.drain(..) {
            // Wakes the blocked accept; the loop sees `stopping` and ends.
            // SAFETY: shutdown on a socket we own; the fd stays open until the drop.
            unsafe { libc::shutdown(listener.as_fd().as_raw_fd(), libc::SHUT_RDWR) };
            let _ = handle.join();
            let _ = std::fs::remove_file(listener.path());
        }
        let wallets: Vec<WalletConn> = std::mem::take(&mut *shared.wallets.lock());
        for wallet in &wallets {
            let flushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                wallet.loader.flush();
                wallet.loader.stop();
            }));
            if flushed.is_err() {
                log_info!("IPC: {} was gone before it could be stopped", wallet.label);
            }
            wallet.cx.conn().close();
        }
        shared.placeholders.lock().clear();
        if let Some(child) = self.child.take() {
            wait_for_exit(&child, Duration::from_secs(10));
        }
        if let Some(trace) = &shared.options.trace {
            if let Err(e) = trace.finish() {
                log_info!("IPC trace: writing failed: {e}");
            }
        }
    }
}

/// Spawns `hashvive-wallet -ipcfd=3` from our own directory.
fn spawn_wallet() -> Result<(Child, OwnedFd), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("Error: cannot locate our own executable: {e}"))?;
    let program = exe
        .parent()
        .map(|dir| dir.join(WALLET_PROGRAM))
        .filter(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "Error: {WALLET_PROGRAM} not found next to {}; use -disablewallet to run without it",
                exe.display()
            )
        })?;
    shm_ipc::process::spawn_with_ipc_fd(&mut Command::new(&program))
        .map_err(|e| format!("Error: cannot start {}: {e}", program.display()))
}

/// Reaps the child when it exits and logs its status.
fn reap_in_background(mut child: Child, process: Arc<ChildProcess>) {
    let spawned = thread::Builder::new()
        .name("wallet-reaper".into())
        .spawn(move || {
            let status = child.wait();
            match &status {
                Ok(s) => log_info!(
                    "Process {WALLET_PROGRAM} pid {} exited with status {}",
                    process.pid,
                    s.code().map_or_else(|| format!("{s}"), |c| c.to_string())
                ),
                Err(e) => log_info!(
                    "Process {WALLET_PROGRAM} pid {}: wait failed: {e}",
                    process.pid
                ),
            }
            *process.status.lock() = status.ok().or(Some(ExitStatus::default()));
            process.exited.notify_all();
        });
    if let Err(e) = spawned {
        log_info!("Cannot watch {WALLET_PROGRAM}: {e}");
    }
}

/// Waits up to `timeout` for the child to exit, then kills it.
fn wait_for_exit(child: &ChildProcess, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut status = child.status.lock();
    while status.is_none() {
        if child.exited.wait_until(&mut status, deadline).timed_out() {
            log_info!(
                "Process {WALLET_PROGRAM} pid {} did not exit in {timeout:?}; killing it",
                child.pid
            );
            // SAFETY: plain kill(2) of our own child, which the reaper has not reaped.
            unsafe { libc::kill(child.pid as libc::pid_t, libc::SIGKILL) };
            child.exited.wait_for(&mut status, Duration::from_secs(5));
            return;
        }
    }
}

fn accept_loop(listener: &Listener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok(fd) => {
                let shared = Arc::clone(shared);
                let options = Options {
                    trusted: false,
                    ..shared.options.clone()
                };
                let _ = thread::Builder::new()
                    .name("ipc-attach".into())
                    .spawn(move || {
                        if let Err(e) = attach(&shared, fd, options) {
                            log_info!("IPC: attaching a process failed: {e}");
                        }
                    });
            }
            Err(e) => {
                log_info!("IPC: accept failed: {e}");
                // A persistent error must not spin.
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Connects to a wallet process on `fd`, gets its wallet loader built on our `Chain`,
/// and starts it.
fn attach(shared: &Arc<Shared>, fd: OwnedFd, options: Options) -> Result<(), String> {
    let options_trusted = options.trusted;
    let cx = IpcContext::new();
    let conn = Connection::new(fd, Side::Acceptor, options, cx.services())
        .map_err(|e| format!("Error: IPC connection to {WALLET_PROGRAM} failed: {e}"))?;
    let peer = conn.peer().clone();
    let label = format!("{}-{}", peer.name, peer.pid);
    log_info!("IPC: {label} connected over {}", conn.transport());
    cx.set_connection(conn.clone());
    // Two wallet processes would open the same wallet files and register the same
    // commands; a new one is welcome once the last one is gone.
    if let Some(serving) = shared.wallets.lock().first().map(|w| w.label.clone()) {
        log_info!("IPC: refusing {label}: {serving} already serves the wallets");
        conn.close();
        return Ok(());
    }
    let init: Arc<dyn Init> = Arc::new(init::Proxy::new(Arc::clone(&cx), ROOT_OBJECT));
    if options_trusted {
        // echoipc crosses to the spawned wallet process, as Core's goes to a spawned one.
        let echo = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init.make_echo()))
            .map_err(|_| format!("Error: {label} disconnected during start-up"))?;
        shared.rpc.set_echo(echo);
    }
    let chain = Arc::clone(&shared.chain);
    let loader = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        init.make_wallet_loader(chain)
    }))
    .map_err(|_| format!("Error: {label} disconnected during start-up"))?;
    let Some(loader) = loader else {
        log_info!("IPC: {label} offers no wallet; disconnecting it");
        conn.close();
        return Ok(());
    };
    // The new wallet's commands take over from any stand-ins for a lost one.
    shared.placeholders.lock().clear();
    let before: Vec<String> = shared
        .commands
        .snapshot()
        .into_iter()
        .map(|c| c.name)
        .collect();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        start_wallet_loader(loader.as_ref())
    }))
    .map_err(|_| format!("Error: {label} disconnected during start-up"))??;
    let added: Vec<RpcCommand> = shared
        .commands
        .snapshot()
        .into_iter()
        .filter(|c| !before.contains(&c.name))
        .collect();
    let weak = Arc::downgrade(shared);
    let lost = label.clone();
    conn.on_close(move |why| {
        let Some(shared) = weak.upgrade() else { return };
        shared.wallets.lock().retain(|w| w.label != lost);
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        log_info!("IPC: {lost} disconnected: {why}");
        stand_in_for(&shared, &added, &lost);
    });
    shared.wallets.lock().push(WalletConn { cx, loader, label });
    Ok(())
}

/// Answers the commands of a wallet process that went away with -18 until another
/// wallet registers them.
fn stand_in_for(shared: &Shared, commands: &[RpcCommand], label: &str) {
    let actor: Arc<dyn RpcActor> = Arc::new(Disconnected {
        label: label.to_string(),
    });
    let mut placeholders = shared.placeholders.lock();
    for command in commands {
        placeholders.push(shared.commands.add(RpcCommand {
            actor: Arc::clone(&actor),
            ..command.clone()
        }));
    }
}

struct Disconnected {
    label: String,
}

impl RpcActor for Disconnected {
    fn call(&self, _request: &JsonRequest) -> Result<serde_json::Value, RpcError> {
        Err(RpcError::new(
            -18,
            format!("Wallet process disconnected ({} exited)", self.label),
        ))
    }
}

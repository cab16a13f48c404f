//! A test protocol served by the `ipc-peer` helper process and by the tests themselves,
//! so that transport tests and benchmarks run real calls between real processes.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shm_ipc::{BytesRef, Connection, Dispatcher, IpcAddress, Method, Options, Services, Side};

/// Interface id of the test protocol.
pub const TEST_INTERFACE: u16 = 100;

macro_rules! test_method {
    ($name:ident, $id:expr, $method:literal, $params:ty, $results:ty) => {
        #[doc = concat!("`Test.", $method, "`.")]
        pub struct $name;
        impl Method for $name {
            const INTERFACE: u16 = TEST_INTERFACE;
            const INTERFACE_NAME: &'static str = "Test";
            const ID: u16 = $id;
            const NAME: &'static str = $method;
            type Params = $params;
            type Results = $results;
        }
    };
}

test_method!(Echo, 0, "echo", Vec<u8>, Vec<u8>);
test_method!(Nest, 1, "nest", u32, u32);
test_method!(Fail, 2, "fail", String, ());
test_method!(Panic, 3, "panic", (), ());
test_method!(Sleep, 4, "sleep", u64, ());
test_method!(Pid, 5, "pid", (), u32);
test_method!(Discard, 6, "discard", Vec<u8>, ());
test_method!(Received, 7, "received", (), (u64, u64));
test_method!(Work, 8, "work", u64, ());

/// Messages and bytes `Discard` has taken in this process.
static DISCARDED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The test service. `Nest(n)` calls `Nest(n - 1)` back on the caller until 0 and
/// returns the depth reached, so both sides serving it gives A->B->A->B chains.
pub fn service() -> Dispatcher {
    Dispatcher::new("Test")
        .method_with_reply::<Echo>(|bytes, _, reply| {
            reply
                .send_archivable(&BytesRef(bytes.as_slice()))
                .map_err(|e| e.to_string())
        })
        .method::<Nest>(|depth, request| {
            let depth = depth.to_native();
            if depth == 0 {
                return Ok(0);
            }
            request
                .connection()
                .call::<Nest>(&(depth - 1))
                .map(|n| n + 1)
                .map_err(|e| e.to_string())
        })
        .method::<Fail>(|message, _| Err(message.to_string()))
        .method::<Panic>(|_, _| panic!("deliberate test panic"))
        .method::<Sleep>(|ms, _| {
            std::thread::sleep(Duration::from_millis(ms.to_native()));
            Ok(())
        })
        .method::<Pid>(|_, _| Ok(std::process::id()))
        .method::<Discard>(|bytes, _| {
            DISCARDED[0].fetch_add(1, Ordering::Relaxed);
            DISCARDED[1].fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(())
        })
        .method::<Work>(|ns, _| {
            // Busy, not sleeping: models a handler that computes for `ns`.
            let until = std::time::Instant::now() + Duration::from_nanos(ns.to_native());
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            Ok(())
        })
        .method::<Received>(|_, _| {
            Ok((
                DISCARDED[0].load(Ordering::Relaxed),
                DISCARDED[1].load(Ordering::Relaxed),
            ))
        })
}

/// Services with the test interface registered.
pub fn services() -> Services {
    let services = Services::default();
    services.add(TEST_INTERFACE, std::sync::Arc::new(service()));
    services
}

/// Path of the `ipc-peer` helper binary, next to the test executable's target dir.
pub fn peer_binary() -> std::path::PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_ipc-peer") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let candidates = [dir.join("ipc-peer"), dir.join("../ipc-peer")];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .expect("ipc-peer binary built alongside")
}

/// Spawns `ipc-peer` with `args` over a socketpair and connects to it as the trusted parent.
pub fn spawn_peer(args: &[&str], opts: Options) -> (Child, Connection) {
    let mut command = Command::new(peer_binary());
    command.args(args);
    spawn_peer_command(command, opts)
}

/// Spawns a peer from `command` (which must end in `peer_main`) over a socketpair.
pub fn spawn_peer_command(mut command: Command, opts: Options) -> (Child, Connection) {
    let (child, fd) = shm_ipc::process::spawn_with_ipc_fd(&mut command).expect("spawn ipc-peer");
    let conn = Connection::new(
        fd,
        Side::Acceptor,
        Options {
            trusted: true,
            ..opts
        },
        services(),
    )
    .expect("handshake with ipc-peer");
    (child, conn)
}

/// Runs the helper peer with `args` (see the `ipc-peer` binary); exits the process on error.
pub fn peer_main(args: impl Iterator<Item = String>) {
    let mut opts = Options {
        name: "ipc-peer".into(),
        trusted: true,
        ..Options::default()
    };
    let mut fd = None;
    let mut connect = None;
    let mut scribble = false;
    for arg in args {
        if let Some(v) = arg.strip_prefix("-ipcfd=") {
            fd =
                Some(shm_ipc::process::ipc_fd_from_arg(v).unwrap_or_else(|e| fail(&e.to_string())));
        } else if let Some(v) = arg.strip_prefix("-ipcconnect=") {
            connect = Some(v.to_string());
        } else if let Some(v) = arg.strip_prefix("-ipcshm=") {
            opts.shm = v != "0";
        } else if let Some(v) = arg.strip_prefix("-ipcspin=") {
            let us = v.parse().unwrap_or_else(|_| fail("bad -ipcspin"));
            opts.spin = Duration::from_micros(us);
        } else if let Some(v) = arg.strip_prefix("-ipcparkms=") {
            let ms = v.parse().unwrap_or_else(|_| fail("bad -ipcparkms"));
            opts.park_timeout = Duration::from_millis(ms);
        } else if let Some(v) = arg.strip_prefix("-ipctrace=") {
            let trace = shm_ipc::Trace::create(Path::new(v), "ipc-peer")
                .unwrap_or_else(|e| fail(&format!("-ipctrace: {e}")));
            opts.trace = Some(trace);
        } else if arg == "-scribble" {
            scribble = true;
        } else {
            fail(&format!("Error: Invalid parameter {arg}"));
        }
    }
    let socket = match (fd, connect) {
        (Some(fd), None) => fd,
        (None, Some(address)) => {
            opts.trusted = false;
            let address =
                IpcAddress::parse(&address, Path::new("."), Path::new("node.sock"), false)
                    .unwrap_or_else(|e| fail(&e.to_string()));
            address.connect().unwrap_or_else(|e| fail(&e.to_string()))
        }
        _ => fail("usage: ipc-peer -ipcfd=N | -ipcconnect=unix:PATH"),
    };
    let conn = Connection::new(socket, Side::Connector, opts, services())
        .unwrap_or_else(|e| fail(&e.to_string()));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    conn.on_close(move |_| {
        let _ = done_tx.send(());
    });
    if scribble {
        // A hostile peer keeps scribbling, so its own later writes cannot repair the rings.
        while done_rx.recv_timeout(Duration::from_millis(1)).is_err() {
            conn.scribble_for_tests();
        }
    } else {
        let _ = done_rx.recv();
    }
}

fn fail(message: &str) -> ! {
    eprintln!("ipc-peer: {message}");
    std::process::exit(1)
}

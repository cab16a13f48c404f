//! Helper process for transport tests and benchmarks: serves the test protocol.
//!
//! `ipc-peer [-ipcshm=0] [-ipcspin=US] [-ipcparkms=MS] [-scribble] -ipcfd=N` serves over an inherited
//! socket as a trusted child; `-ipcconnect=unix:PATH` dials a listener instead.
//! `-scribble` overwrites the shared rings with garbage once connected, to test that
//! the other side survives a hostile peer. It exits when the connection closes.

use std::path::Path;
use std::time::Duration;

use shm_ipc::{Connection, IpcAddress, Options, Side};

fn main() {
    let mut opts = Options {
        name: "ipc-peer".into(),
        trusted: true,
        ..Options::default()
    };
    let mut fd = None;
    let mut connect = None;
    let mut scribble = false;
    for arg in std::env::args().skip(1) {
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
    let conn = Connection::new(socket, Side::Connector, opts, hashvive_tests::services())
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

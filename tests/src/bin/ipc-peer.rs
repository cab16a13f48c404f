//! Helper process for transport tests and benchmarks: serves the test protocol.
//!
//! `ipc-peer [-ipcshm=0] [-ipcspin=US] [-ipcparkms=MS] [-scribble] -ipcfd=N` serves over an inherited
//! socket as a trusted child; `-ipcconnect=unix:PATH` dials a listener instead.
//! `-scribble` overwrites the shared rings with garbage once connected, to test that
//! the other side survives a hostile peer. It exits when the connection closes.

fn main() {
    hashvive_tests::peer_main(std::env::args().skip(1));
}

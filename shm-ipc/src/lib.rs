//! shm-ipc: typed calls between processes over shared-memory rings.
//!
//! A [`Connection`] starts from a Unix stream socket (a socketpair end for a spawned
//! child, or a `-ipcbind` socket). A handshake negotiates a sealed memfd holding two
//! SPSC rings plus eventfds, passed with SCM_RIGHTS; when shared memory is refused
//! (`-ipcshm=0`) or fails, the same frames flow over the socket. Messages are rkyv
//! archives behind a small frame header. The crate knows nothing of Bitcoin.

pub mod address;
mod bytes;
mod conn;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod process;
pub mod ring;
mod socket;
pub mod sys;
pub mod trace;

pub use address::{IpcAddress, Listener};
pub use bytes::BytesRef;
pub use conn::{
    socketpair, Connection, Dispatcher, LogHook, Options, Reply, Request, Service, Services, Side,
    Transport, DEFAULT_RING_CAPACITY, DEFAULT_SPIN_US,
};
pub use frame::{Method, RemoteError, Wire};
pub use handshake::PeerInfo;
pub use trace::Trace;

/// Why a call or connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The connection is closed; the text says why (peer exit, protocol violation, ...).
    Disconnected(String),
    /// Setting up the connection failed.
    Setup(String),
    /// The remote handler failed or panicked.
    Remote(RemoteError),
    /// A message broke the protocol.
    Protocol(String),
    /// The value could not be serialized.
    Serialize(String),
    /// The message exceeds the configured maximum.
    TooLarge(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Disconnected(why) => write!(f, "IPC peer disconnected: {why}"),
            Error::Setup(why) => write!(f, "IPC setup failed: {why}"),
            Error::Remote(e) => write!(f, "remote error: {}", e.message),
            Error::Protocol(why) => write!(f, "IPC protocol error: {why}"),
            Error::Serialize(why) => write!(f, "IPC serialization failed: {why}"),
            Error::TooLarge(n) => write!(f, "IPC message of {n} bytes exceeds the maximum"),
        }
    }
}

impl std::error::Error for Error {}

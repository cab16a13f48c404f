//! The traits that cross process boundaries, modelled on Bitcoin Core's `src/interfaces/`.
//!
//! Each trait has a local implementation (plain calls inside `hashvived`) and, for the
//! multiprocess build, an IPC proxy that behaves the same. The wallet reaches the node only
//! through [`Chain`] and the [`Notifications`] it registers.

mod chain;
mod echo;
mod handler;
mod init;
mod local;
mod rpc;
mod wallet_loader;

pub use chain::{
    BlockBytes, BlockRef, Chain, FeeEstimate, FoundBlock, Notifications, RemovalReason,
    FIND_BLOCKS_MAX_BYTES,
};
pub use echo::{Echo, LocalEcho};
pub use handler::Handler;
pub use init::Init;
pub use local::NodeChain;
pub use rpc::{JsonRequest, RpcActor, RpcCommand};
pub use wallet_loader::WalletLoader;

//! hashvive-core: the node's domain logic (chain parameters, settings, logging, storage,
//! validation, chainstate, mempool, mining, the P2P network layer, the JSON-RPC server and client).

#![warn(missing_docs)]

pub mod args;
pub mod chainparams;
pub mod chainstate;
pub mod cli;
pub mod descriptor;
pub mod fees;
pub mod init;
pub mod interfaces;
pub mod ipc;
pub mod logging;
pub mod mempool;
pub mod mempool_persist;
pub mod mining;
pub mod net;
pub mod node;
pub mod policy;
pub mod rpc;
mod sched;
pub mod settings;
pub mod signals;
pub mod storage;
pub mod time;
pub mod validation;
pub mod versionbits;
pub mod wallet;

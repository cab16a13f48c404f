//! The JSON-RPC server: HTTP transport and auth, JSON-RPC 1.0/2.0 protocol, the command
//! table and the commands themselves; plus the client used by `hashvive-cli`.

pub mod auth;
pub mod blockchain;
pub mod client;
pub mod control;
pub mod dispatch;
pub mod encode;
pub mod error;
pub mod help;
pub mod mempool;
pub mod mining;
pub mod net;
pub mod params;
pub mod rawtx;
pub mod server;
pub mod sign;
pub mod util;

pub use dispatch::{Command, RpcContext};
pub use error::RpcError;

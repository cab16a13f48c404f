//! The wallet: descriptor wallets in SQLite with Core-compatible RPCs. It reaches the node
//! only through [`crate::interfaces::Chain`] and the notifications it registers, so it can
//! move into its own process unchanged.

pub mod coin_selection;
pub mod db;
pub mod encryption;
pub mod keys;
pub mod loader;
pub mod model;
pub mod rpc;
pub mod spend;

pub use loader::{Loader, WalletContext};
pub use model::Wallet;

#[cfg(test)]
mod tests;

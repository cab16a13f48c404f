//! `Init`: what a process offers the process that connects to it (Core's
//! `interfaces::Init`). A spawned or attached `hashvive-wallet` serves it as its root
//! object; the node asks it for a wallet loader built on the node's `Chain`.

use std::sync::Arc;

use super::{Chain, Echo, WalletLoader};

/// Factory of a process's components.
pub trait Init: Send + Sync {
    /// An `Echo`, for tests and overhead measurements.
    fn make_echo(&self) -> Arc<dyn Echo>;
    /// The wallet component working through `chain`; `None` in a process without one.
    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Option<Arc<dyn WalletLoader>>;
}

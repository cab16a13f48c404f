//! `WalletLoader` (node -> wallet): the node's handle on the wallet component, after
//! Core's `interfaces::WalletLoader` and `ChainClient`.

/// Lifecycle and management of the wallets, called by the node in this order at start
/// (`register_rpcs`, `verify`, `load`, `start`) and at shutdown (`flush`, `stop`).
pub trait WalletLoader: Send + Sync {
    /// Registers the wallet RPCs with `Chain::handle_rpc`.
    fn register_rpcs(&self);
    /// Checks the wallet options and the `-wallet` files before anything loads.
    fn verify(&self) -> Result<(), String>;
    /// Loads the `-wallet` wallets and those marked `load_on_startup`.
    fn load(&self) -> Result<(), String>;
    /// Starts background work (periodic flushes, rebroadcast).
    fn start(&self);
    /// Writes everything acknowledged to disk.
    fn flush(&self);
    /// Unloads every wallet and unregisters the RPCs.
    fn stop(&self);
    /// Creates a wallet (as `createwallet` with default options); returns warnings.
    fn create_wallet(&self, name: &str, passphrase: Option<String>) -> Result<Vec<String>, String>;
    /// Loads an existing wallet; returns warnings.
    fn load_wallet(&self, name: &str) -> Result<Vec<String>, String>;
    /// Names of the wallets found in `<datadir>/<chain>/wallets`.
    fn list_wallet_dir(&self) -> Vec<String>;
    /// Names of the loaded wallets.
    fn get_wallets(&self) -> Vec<String>;
}

//! The `WalletLoader`: the set of loaded wallets, creating, loading and unloading them,
//! `-wallet` and `load_on_startup` at start, and the RPC registration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::db::{self, WalletDb, Write};
use super::encryption;
use super::keys;
use super::model::{load_state, Wallet};
use crate::interfaces::{Chain, Handler, WalletLoader};
use crate::rpc::error::RpcError;

/// Core's `-keypool` default.
pub const DEFAULT_KEYPOOL: u32 = 1000;

/// Options of `createwallet`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// No private keys (watch-only).
    pub disable_private_keys: bool,
    /// No descriptors at all.
    pub blank: bool,
    /// Encrypt with this passphrase.
    pub passphrase: Option<String>,
    /// Accepted and remembered, as Core's flag.
    pub avoid_reuse: bool,
}

/// Shared state of the wallet component (Core's `WalletContext`).
pub struct WalletContext {
    /// Node services.
    pub chain: Arc<dyn Chain>,
    /// Loaded wallets, in load order.
    pub wallets: Mutex<Vec<Arc<Wallet>>>,
    /// Serialises create/load/unload.
    pub load_lock: Mutex<()>,
    rpc_handlers: Mutex<Vec<Handler>>,
}

/// Error code for "wallet not found" (`RPC_WALLET_NOT_FOUND`).
pub const WALLET_NOT_FOUND: i32 = -18;

impl WalletContext {
    /// The wallets directory (`-walletdir`, answered absolute by the node).
    pub fn wallet_dir(&self) -> PathBuf {
        self.chain
            .get_settings_list("walletdir")
            .pop()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("wallets"))
    }

    /// Directory of wallet `name` (the wallets directory itself for "").
    pub fn wallet_path(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.wallet_dir().join(name)
        }
    }

    /// A loaded wallet by name.
    pub fn get(&self, name: &str) -> Option<Arc<Wallet>> {
        self.wallets.lock().iter().find(|w| w.name == name).cloned()
    }

    /// Core's `GetWalletForJSONRPCRequest`.
    pub fn wallet_for_request(&self, name: Option<&str>) -> Result<Arc<Wallet>, RpcError> {
        if let Some(n) = name {
            return self.get(n).ok_or_else(|| {
                RpcError::new(
                    WALLET_NOT_FOUND,
                    "Requested wallet does not exist or is not loaded",
                )
            });
        }
        let w = self.wallets.lock();
        match w.len() {
            1 => Ok(w[0].clone()),
            0 => Err(RpcError::new(
                WALLET_NOT_FOUND,
                "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
            )),
            _ => Err(RpcError::new(
                -19,
                "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
            )),
        }
    }

    fn keypool(&self) -> u32 {
        self.chain
            .get_settings_list("keypool")
            .pop()
            .and_then(|v| v.parse::<i64>().ok())
            .map_or(DEFAULT_KEYPOOL, |v| v.clamp(1, 100_000) as u32)
    }

    /// Adds or removes `name` in settings.json's `wallet` list (`load_on_startup`).
    pub fn update_load_on_startup(&self, name: &str, load: Option<bool>) -> Vec<String> {
        let Some(load) = load else { return Vec::new() };
        let mut list: Vec<Value> = match self.chain.get_rw_setting("wallet") {
            Some(Value::Array(a)) => a,
            Some(Value::String(s)) => vec![Value::String(s)],
            _ => Vec::new(),
        };
        let had = list.iter().any(|v| v.as_str() == Some(name));
        if load && !had {
            list.push(json!(name));
        } else if !load && had {
            list.retain(|v| v.as_str() != Some(name));
        } else {
            return Vec::new();
        }
        match self.chain.update_rw_setting("wallet", Some(Value::Array(list))) {
            Ok(()) => Vec::new(),
            Err(_) => vec![format!(
                "Wallet load on startup setting could not be updated, so wallet may {}be loaded next node startup.",
                if load { "not " } else { "still " }
            )],
        }
    }

    /// Core's `CreateWallet`.
    pub fn create_wallet(
        &self,
        name: &str,
        opts: &CreateOptions,
    ) -> Result<(Arc<Wallet>, Vec<String>), RpcError> {
        let _guard = self.load_lock.lock();
        let dir = self.wallet_path(name);
        let file = dir.join("wallet.dat");
        if self.get(name).is_some() || file.exists() {
            return Err(RpcError::new(
                -4,
                format!(
                    "Failed to create database path '{}'. Database already exists.",
                    dir.display()
                ),
            ));
        }
        if opts.passphrase.as_deref() == Some("") {
            return Err(RpcError::new(-16, "passphrase cannot be empty"));
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            RpcError::new(
                -4,
                format!("Failed to create database path '{}'. {e}", dir.display()),
            )
        })?;
        let db = WalletDb::open(&file, true).map_err(|e| RpcError::new(-4, e))?;
        let now = crate::time::now();
        let mut writes = vec![Write::Put(
            "flags".into(),
            json!({"blank": opts.blank, "disable_private_keys": opts.disable_private_keys, "avoid_reuse": opts.avoid_reuse}),
        )];
        let mut descs = Vec::new();
        if !opts.blank && !opts.disable_private_keys {
            let mut seed = [0u8; 32];
            encryption::random_bytes(&mut seed);
            descs = keys::generate_active(&seed, now);
        }
        let mut master_key = None;
        if let Some(pass) = &opts.passphrase {
            let mut master = [0u8; 32];
            encryption::random_bytes(&mut master);
            for d in &mut descs {
                if let Some(p) = &d.private {
                    d.sealed = Some(encryption::seal(&master, p));
                }
            }
            let mk = encryption::MasterKey::new(&master, pass);
            writes.push(Write::Put("mkey".into(), mk.to_json()));
            master_key = Some(mk);
        }
        for d in &descs {
            writes.push(Write::Put(format!("desc/{}", d.id), d.to_json()));
        }
        db.write_batch(&writes).map_err(|e| RpcError::new(-4, e))?;
        drop(db);
        let wallet = self.open_wallet(name, &file)?;
        if master_key.is_some() {
            wallet.lock();
        }
        Ok((wallet, Vec::new()))
    }

    /// Opens, attaches and registers a wallet whose file exists.
    fn open_wallet(&self, name: &str, file: &Path) -> Result<Arc<Wallet>, RpcError> {
        let db = WalletDb::open(file, false).map_err(|e| {
            RpcError::new(
                -4,
                format!("Wallet file verification failed. SQLiteDatabase: {e}"),
            )
        })?;
        let state = load_state(&db, self.keypool())
            .map_err(|e| RpcError::new(-4, format!("Error loading {}: {e}", file.display())))?;
        let fresh = state.txs.is_empty() && state.last_block.is_none();
        let wallet = Wallet::new(name, self.chain.clone(), db, state);
        crate::log_info!(
            "[{}] Wallet file {} opened",
            wallet.display_name(),
            file.display()
        );
        wallet.connect();
        if fresh {
            // A new wallet has nothing to find in old blocks.
            wallet.attach_chain(None);
        } else {
            let birth = wallet.state().birth_time;
            let from = if wallet.state().last_block.is_none() {
                self.chain
                    .find_first_block_with_time_and_height(birth - 7200, 0)
                    .map(|b| b.height)
            } else {
                None
            };
            wallet.attach_chain(from);
        }
        self.chain.request_mempool_transactions(wallet.clone());
        if self
            .chain
            .get_settings_list("walletbroadcast")
            .pop()
            .is_none_or(|v| v != "0")
        {
            wallet.resubmit();
        }
        self.wallets.lock().push(wallet.clone());
        Ok(wallet)
    }

    /// Core's `LoadWallet`.
    pub fn load_wallet(&self, name: &str) -> Result<(Arc<Wallet>, Vec<String>), RpcError> {
        let _guard = self.load_lock.lock();
        if self.get(name).is_some() {
            return Err(RpcError::new(
                -35,
                format!("Wallet \"{name}\" is already loaded."),
            ));
        }
        let dir = self.wallet_path(name);
        let file = if dir.is_file() {
            dir.clone()
        } else {
            dir.join("wallet.dat")
        };
        if !file.exists() {
            return Err(RpcError::new(
                -18,
                format!(
                    "Wallet file verification failed. Failed to load database path '{}'. Path does not exist.",
                    dir.display()
                ),
            ));
        }
        Ok((self.open_wallet(name, &file)?, Vec::new()))
    }

    /// Core's `UnloadWallet`.
    pub fn unload_wallet(&self, name: &str) -> Result<(), RpcError> {
        let _guard = self.load_lock.lock();
        let w = {
            let mut list = self.wallets.lock();
            let pos = list.iter().position(|w| w.name == name).ok_or_else(|| {
                RpcError::new(
                    WALLET_NOT_FOUND,
                    "Requested wallet does not exist or is not loaded",
                )
            })?;
            list.remove(pos)
        };
        w.abort_rescan
            .store(true, std::sync::atomic::Ordering::SeqCst);
        w.disconnect();
        // Wait for a running rescan or send to finish before closing.
        let _r = w.rescan_lock.lock();
        let _s = w.send_lock.lock();
        w.flush_pending();
        crate::log_info!("[{}] Releasing wallet", w.display_name());
        Ok(())
    }

    /// Wallet names found in the wallets directory (Core's `ListDatabases`).
    pub fn list_wallet_dir(&self) -> Vec<String> {
        let root = self.wallet_dir();
        let mut out = Vec::new();
        if db::is_sqlite_file(&root.join("wallet.dat")) {
            out.push(String::new());
        }
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>, depth: usize) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<_> = rd.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                if !p.is_dir() {
                    continue;
                }
                if db::is_sqlite_file(&p.join("wallet.dat")) {
                    if let Ok(rel) = p.strip_prefix(root) {
                        out.push(rel.to_string_lossy().into_owned());
                    }
                }
                if depth < 8 {
                    walk(root, &p, out, depth + 1);
                }
            }
        }
        walk(&root, &root, &mut out, 0);
        out
    }
}

/// The in-process `WalletLoader`.
pub struct Loader {
    /// Shared state.
    pub ctx: Arc<WalletContext>,
}

impl Loader {
    /// A loader over `chain`.
    pub fn new(chain: Arc<dyn Chain>) -> Arc<Self> {
        Arc::new(Loader {
            ctx: Arc::new(WalletContext {
                chain,
                wallets: Mutex::new(Vec::new()),
                load_lock: Mutex::new(()),
                rpc_handlers: Mutex::new(Vec::new()),
            }),
        })
    }

    fn startup_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let from_args = self.ctx.chain.get_settings_list("wallet");
        let from_settings: Vec<String> = match self.ctx.chain.get_rw_setting("wallet") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s],
            _ => Vec::new(),
        };
        for n in from_args.into_iter().chain(from_settings) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }
}

impl WalletLoader for Loader {
    fn register_rpcs(&self) {
        let handlers: Vec<Handler> = super::rpc::commands(self.ctx.clone())
            .into_iter()
            .map(|c| self.ctx.chain.handle_rpc(c))
            .collect();
        *self.ctx.rpc_handlers.lock() = handlers;
    }

    fn verify(&self) -> Result<(), String> {
        let dir = self.ctx.wallet_dir();
        if dir.exists() && !dir.is_dir() {
            return Err(format!(
                "Specified -walletdir \"{}\" is not a directory",
                dir.display()
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "Specified -walletdir \"{}\" could not be created: {e}",
                dir.display()
            )
        })?;
        for name in self.startup_names() {
            let path = self.ctx.wallet_path(&name);
            if !path.join("wallet.dat").exists() && !path.is_file() {
                crate::log_info!(
                    "Warning: Skipping -wallet path that doesn't exist. Failed to load database path '{}'. Path does not exist.",
                    path.display()
                );
            }
        }
        Ok(())
    }

    fn load(&self) -> Result<(), String> {
        for name in self.startup_names() {
            let path = self.ctx.wallet_path(&name);
            if !path.join("wallet.dat").exists() && !path.is_file() {
                continue;
            }
            self.ctx
                .chain
                .init_message(&format!("Loading wallet {name}…"));
            self.ctx.load_wallet(&name).map_err(|e| e.message)?;
        }
        Ok(())
    }

    fn start(&self) {}

    fn flush(&self) {
        for w in self.ctx.wallets.lock().iter() {
            w.flush_pending();
        }
    }

    fn stop(&self) {
        let names: Vec<String> = self
            .ctx
            .wallets
            .lock()
            .iter()
            .map(|w| w.name.clone())
            .collect();
        for n in names {
            let _ = self.ctx.unload_wallet(&n);
        }
        self.ctx.rpc_handlers.lock().clear();
    }

    fn create_wallet(&self, name: &str, passphrase: Option<String>) -> Result<Vec<String>, String> {
        let opts = CreateOptions {
            passphrase,
            ..Default::default()
        };
        self.ctx
            .create_wallet(name, &opts)
            .map(|(_, w)| w)
            .map_err(|e| e.message)
    }

    fn load_wallet(&self, name: &str) -> Result<Vec<String>, String> {
        self.ctx
            .load_wallet(name)
            .map(|(_, w)| w)
            .map_err(|e| e.message)
    }

    fn list_wallet_dir(&self) -> Vec<String> {
        self.ctx.list_wallet_dir()
    }

    fn get_wallets(&self) -> Vec<String> {
        self.ctx
            .wallets
            .lock()
            .iter()
            .map(|w| w.name.clone())
            .collect()
    }
}

//! The wallet RPCs, registered with the node through `Chain::handle_rpc`, with Core's
//! parameters, results, error codes and messages.

mod addresses;
mod history;
mod manage;
mod send;

use std::sync::Arc;

use bitcoin::Amount;
use serde_json::Value;

use super::loader::WalletContext;
use super::model::Wallet;
use crate::interfaces::{JsonRequest, RpcActor, RpcCommand};
use crate::rpc::error::{code, RpcError};
use crate::rpc::params::Params;

/// Core's wallet error codes (`src/rpc/protocol.h`).
pub mod codes {
    /// Unspecified problem with the wallet (`RPC_WALLET_ERROR`).
    pub const WALLET_ERROR: i32 = -4;
    /// Not enough funds (`RPC_WALLET_INSUFFICIENT_FUNDS`).
    pub const INSUFFICIENT_FUNDS: i32 = -6;
    /// Keypool ran out (`RPC_WALLET_KEYPOOL_RAN_OUT`).
    pub const KEYPOOL_RAN_OUT: i32 = -12;
    /// Passphrase needed (`RPC_WALLET_UNLOCK_NEEDED`).
    pub const UNLOCK_NEEDED: i32 = -13;
    /// Wrong passphrase (`RPC_WALLET_PASSPHRASE_INCORRECT`).
    pub const PASSPHRASE_INCORRECT: i32 = -14;
    /// Command given in wrong wallet encryption state (`RPC_WALLET_WRONG_ENC_STATE`).
    pub const WRONG_ENC_STATE: i32 = -15;
    /// Failed to encrypt (`RPC_WALLET_ENCRYPTION_FAILED`).
    pub const ENCRYPTION_FAILED: i32 = -16;
    /// Wallet already unlocked (`RPC_WALLET_ALREADY_UNLOCKED`).
    pub const ALREADY_UNLOCKED: i32 = -17;
    /// Invalid wallet (`RPC_WALLET_NOT_FOUND`).
    pub const NOT_FOUND: i32 = -18;
    /// No wallet specified (`RPC_WALLET_NOT_SPECIFIED`).
    pub const NOT_SPECIFIED: i32 = -19;
    /// Wallet already loaded (`RPC_WALLET_ALREADY_LOADED`).
    pub const ALREADY_LOADED: i32 = -35;
    /// Wallet already exists (`RPC_WALLET_ALREADY_EXISTS`).
    pub const ALREADY_EXISTS: i32 = -36;
}

/// One call as a handler sees it.
pub struct Req<'a> {
    /// The wallet component.
    pub ctx: &'a Arc<WalletContext>,
    /// The raw request.
    pub request: &'a JsonRequest,
    /// Positional parameters.
    pub p: Params<'a>,
}

impl Req<'_> {
    /// The wallet the request is for, synced to the node's tip (Core's
    /// `GetWalletForJSONRPCRequest` plus `BlockUntilSyncedToCurrentChain`).
    pub fn wallet(&self) -> Result<Arc<Wallet>, RpcError> {
        let w = self.wallet_unsynced()?;
        w.sync_with_chain(self.request.tip);
        Ok(w)
    }

    /// The wallet without waiting for notifications.
    pub fn wallet_unsynced(&self) -> Result<Arc<Wallet>, RpcError> {
        self.ctx
            .wallet_for_request(self.request.wallet_name.as_deref())
    }
}

type HandlerFn = fn(&Req<'_>) -> Result<Value, RpcError>;

/// A wallet command: name, parameters (`*` = required) and implementation; its help text
/// is the entry of the same name in `help.txt`.
pub struct Def {
    name: &'static str,
    params: &'static [&'static str],
    handler: HandlerFn,
}

/// Help texts of the wallet commands, in the node's `help.txt` format.
const HELP_TEXTS: &str = include_str!("help.txt");

const ARRAYS: &[&str] = &[
    "addresses",
    "requests",
    "inputs",
    "outputs",
    "subtractfeefrom",
    "transactions",
    "prevtxs",
];
const OBJECTS: &[&str] = &["amounts", "options", "query_options"];

const STRINGS: &[&str] = &[
    "wallet_name",
    "filename",
    "destination",
    "backup_file",
    "address",
    "label",
    "address_type",
    "txid",
    "hexstring",
    "psbt",
    "passphrase",
    "oldpassphrase",
    "newpassphrase",
    "comment",
    "comment_to",
    "estimate_mode",
    "blockhash",
    "sighashtype",
    "dummy",
    "address_filter",
];

fn usage(name: &str, params: &[&str]) -> String {
    let shown = |p: &&str| {
        let n = p.trim_start_matches('*');
        if STRINGS.contains(&n) {
            format!("\"{n}\"")
        } else if ARRAYS.contains(&n) {
            "[...]".to_string()
        } else if OBJECTS.contains(&n) {
            "{...}".to_string()
        } else {
            n.to_string()
        }
    };
    let mut out = name.to_string();
    for p in params.iter().filter(|p| p.starts_with('*')) {
        out.push(' ');
        out.push_str(&shown(p));
    }
    let opt: Vec<String> = params
        .iter()
        .filter(|p| !p.starts_with('*'))
        .map(shown)
        .collect();
    if !opt.is_empty() {
        out.push_str(&format!(" ( {} )", opt.join(" ")));
    }
    out
}

fn help_text(d: &Def) -> String {
    let usage = usage(d.name, d.params);
    crate::rpc::help::render_from(HELP_TEXTS, d.name, &usage)
        .unwrap_or_else(|| format!("{usage}\n"))
}

struct Actor {
    ctx: Arc<WalletContext>,
    def: &'static Def,
}

impl RpcActor for Actor {
    fn call(&self, request: &JsonRequest) -> Result<Value, RpcError> {
        let given = request.params.len();
        let missing =
            self.def.params.iter().enumerate().any(|(i, p)| {
                p.starts_with('*') && request.params.get(i).is_none_or(Value::is_null)
            });
        if given > self.def.params.len() || missing {
            return Err(RpcError::misc(help_text(self.def)));
        }
        let req = Req {
            ctx: &self.ctx,
            request,
            p: Params(&request.params),
        };
        (self.def.handler)(&req)
    }
}

fn all_defs() -> Vec<&'static Def> {
    let mut v: Vec<&'static Def> = Vec::new();
    v.extend(manage::DEFS.iter());
    v.extend(addresses::DEFS.iter());
    v.extend(history::DEFS.iter());
    v.extend(send::DEFS.iter());
    v
}

/// The wallet commands, ready for `Chain::handle_rpc`.
pub fn commands(ctx: Arc<WalletContext>) -> Vec<RpcCommand> {
    all_defs()
        .into_iter()
        .map(|def| RpcCommand {
            category: "wallet".into(),
            name: def.name.into(),
            params: def.params.iter().map(|s| s.to_string()).collect(),
            help: help_text(def),
            hidden: false,
            actor: Arc::new(Actor {
                ctx: ctx.clone(),
                def,
            }),
        })
        .collect()
}

/// Names of the wallet commands (for the CLI and tests).
pub fn command_names() -> Vec<&'static str> {
    all_defs().into_iter().map(|d| d.name).collect()
}

/// Core's `AmountFromValue`.
pub fn amount_param(v: &Value) -> Result<Amount, RpcError> {
    crate::rpc::rawtx::amount_from_value(v)
}

/// A `fee_rate` in sat/vB (up to 3 decimals) as sat/kvB.
pub fn fee_rate_param(v: &Value) -> Result<u64, RpcError> {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(RpcError::type_error(other, "number")),
    };
    let invalid = || RpcError::new(code::TYPE_ERROR, "Invalid amount");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() > 3 || int.starts_with('-') {
        return Err(invalid());
    }
    let int: u64 = int.parse().map_err(|_| invalid())?;
    let mut f = frac.to_string();
    while f.len() < 3 {
        f.push('0');
    }
    let f: u64 = if f.is_empty() {
        0
    } else {
        f.parse().map_err(|_| invalid())?
    };
    int.checked_mul(1000)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(invalid)
}

/// Parses `estimate_mode`; returns whether conservative.
pub fn estimate_mode_param(v: Option<&Value>) -> Result<bool, RpcError> {
    match v.and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        None | Some("unset") | Some("economical") => Ok(false),
        Some("conservative") => Ok(true),
        Some(_) => Err(RpcError::invalid_parameter(
            "Invalid estimate_mode parameter, must be one of: \"unset\" \"economical\" \"conservative\"",
        )),
    }
}

/// Errors when the wallet is locked (Core's `EnsureWalletIsUnlocked`).
pub fn ensure_unlocked(w: &Wallet) -> Result<(), RpcError> {
    if w.state().is_locked() {
        return Err(RpcError::new(
            codes::UNLOCK_NEEDED,
            "Error: Please enter the wallet passphrase with walletpassphrase first.",
        ));
    }
    Ok(())
}

/// Core's `RPC_WALLET_ERROR`.
pub fn wallet_error(msg: impl Into<String>) -> RpcError {
    RpcError::new(codes::WALLET_ERROR, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_rpc_table_is_consistent() {
        let names = command_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate command");
        for d in all_defs() {
            let text = crate::rpc::help::render_from(HELP_TEXTS, d.name, "usage")
                .unwrap_or_else(|| panic!("{} has no help entry", d.name));
            assert!(text.contains("\n\nResult"), "{}", d.name);
            assert!(text.contains("\nExamples:\n> hashvive-cli "), "{}", d.name);
            // Arguments are listed exactly as the command takes them.
            for (i, p) in d.params.iter().enumerate() {
                let row = format!("\n{}. {} ", i + 1, p.trim_start_matches('*'));
                assert!(text.contains(&row), "{}: {row}", d.name);
            }
            let usage = usage(d.name, d.params);
            assert!(usage.starts_with(d.name) && !usage.contains('*'), "{usage}");
        }
        assert_eq!(fee_rate_param(&serde_json::json!(1.5)).unwrap(), 1500);
        assert_eq!(fee_rate_param(&serde_json::json!("25")).unwrap(), 25000);
        assert!(fee_rate_param(&serde_json::json!(0.0001)).is_err());
    }
}

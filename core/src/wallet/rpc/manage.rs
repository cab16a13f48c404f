//! Wallet management RPCs: create, load, unload, list, info, backup, restore, encryption,
//! rescans.

use serde_json::{json, Map, Value};

use super::{codes, wallet_error, Def, Req};
use crate::rpc::encode::amount_sat;
use crate::rpc::error::RpcError;
use crate::wallet::db::Write;
use crate::wallet::encryption;
use crate::wallet::loader::CreateOptions;

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "createwallet",
        params: &[
            "*wallet_name",
            "disable_private_keys",
            "blank",
            "passphrase",
            "avoid_reuse",
            "descriptors",
            "load_on_startup",
            "external_signer",
        ],
        handler: createwallet,
    },
    Def {
        name: "loadwallet",
        params: &["*filename", "load_on_startup"],
        handler: loadwallet,
    },
    Def {
        name: "unloadwallet",
        params: &["wallet_name", "load_on_startup"],
        handler: unloadwallet,
    },
    Def {
        name: "listwallets",
        params: &[],
        handler: listwallets,
    },
    Def {
        name: "listwalletdir",
        params: &[],
        handler: listwalletdir,
    },
    Def {
        name: "getwalletinfo",
        params: &[],
        handler: getwalletinfo,
    },
    Def {
        name: "backupwallet",
        params: &["*destination"],
        handler: backupwallet,
    },
    Def {
        name: "restorewallet",
        params: &["*wallet_name", "*backup_file", "load_on_startup"],
        handler: restorewallet,
    },
    Def {
        name: "encryptwallet",
        params: &["*passphrase"],
        handler: encryptwallet,
    },
    Def {
        name: "walletpassphrase",
        params: &["*passphrase", "*timeout"],
        handler: walletpassphrase,
    },
    Def {
        name: "walletlock",
        params: &[],
        handler: walletlock,
    },
    Def {
        name: "walletpassphrasechange",
        params: &["*oldpassphrase", "*newpassphrase"],
        handler: walletpassphrasechange,
    },
    Def {
        name: "rescanblockchain",
        params: &["start_height", "stop_height"],
        handler: rescanblockchain,
    },
    Def {
        name: "settxfee",
        params: &["*amount"],
        handler: settxfee,
    },
    Def {
        name: "keypoolrefill",
        params: &["newsize"],
        handler: keypoolrefill,
    },
    Def {
        name: "abortrescan",
        params: &[],
        handler: abortrescan,
    },
];

fn name_result(name: &str, warnings: Vec<String>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    Value::Object(m)
}

fn createwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let name = r.p.req_str(0)?;
    if r.p.bool(5)? == Some(false) {
        return Err(wallet_error(
            "descriptors argument must be set to \"true\"; it is no longer possible to create a legacy wallet.",
        ));
    }
    if r.p.bool(7)? == Some(true) {
        return Err(wallet_error(
            "Compiled without external signing support (required for external signing)",
        ));
    }
    let passphrase = r.p.str(3)?.map(str::to_string);
    let mut warnings = Vec::new();
    let passphrase = match passphrase {
        Some(p) if p.is_empty() => {
            warnings.push(
                "Empty string given as passphrase, wallet will not be encrypted.".to_string(),
            );
            None
        }
        p => p,
    };
    let opts = CreateOptions {
        disable_private_keys: r.p.bool(1)?.unwrap_or(false),
        blank: r.p.bool(2)?.unwrap_or(false),
        passphrase,
        avoid_reuse: r.p.bool(4)?.unwrap_or(false),
    };
    if opts.disable_private_keys && opts.passphrase.is_some() {
        return Err(wallet_error(
            "Passphrase provided but private keys are disabled. A passphrase is only used to encrypt private keys, so cannot be used for wallets with private keys disabled.",
        ));
    }
    let (w, more) = r.ctx.create_wallet(name, &opts)?;
    warnings.extend(more);
    warnings.extend(r.ctx.update_load_on_startup(name, r.p.bool(6)?));
    Ok(name_result(&w.name, warnings))
}

fn loadwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let name = r.p.req_str(0)?;
    let (w, mut warnings) = r.ctx.load_wallet(name)?;
    warnings.extend(r.ctx.update_load_on_startup(name, r.p.bool(1)?));
    Ok(name_result(&w.name, warnings))
}

fn unloadwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let param = r.p.str(0)?;
    let name = match (&r.request.wallet_name, param) {
        (Some(u), Some(p)) if u != p => {
            return Err(RpcError::invalid_parameter(
                "RPC endpoint wallet and wallet_name parameter specify different wallets",
            ))
        }
        (Some(u), _) => u.clone(),
        (None, Some(p)) => p.to_string(),
        (None, None) => r.wallet_unsynced()?.name.clone(),
    };
    r.ctx.unload_wallet(&name)?;
    let warnings = r.ctx.update_load_on_startup(&name, r.p.bool(1)?);
    let mut m = Map::new();
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    Ok(Value::Object(m))
}

fn listwallets(r: &Req<'_>) -> Result<Value, RpcError> {
    Ok(json!(r
        .ctx
        .wallets
        .lock()
        .iter()
        .map(|w| w.name.clone())
        .collect::<Vec<_>>()))
}

fn listwalletdir(r: &Req<'_>) -> Result<Value, RpcError> {
    let wallets: Vec<Value> = r
        .ctx
        .list_wallet_dir()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    Ok(json!({ "wallets": wallets }))
}

fn getwalletinfo(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let zero_conf = w.spend_zero_conf_change();
    let scanning = *w.scanning.lock();
    // Chain calls happen before the wallet lock is taken, never under it.
    let paytxfee = (*w.pay_tx_fee.lock())
        .or_else(|| crate::wallet::spend::setting_rate(&w, "paytxfee"))
        .unwrap_or(0);
    let s = w.state();
    let bal = s.balance(0, zero_conf);
    let keypool = |internal: bool| -> u64 {
        s.descs
            .iter()
            .filter(|d| d.active.is_some_and(|(_, i)| i == internal))
            .map(|d| {
                let (_, end) = d.range.unwrap_or((0, 0));
                u64::from((end + 1).saturating_sub(d.next_index))
            })
            .sum()
    };
    let mut m = Map::new();
    m.insert("walletname".into(), json!(w.name));
    m.insert("walletversion".into(), json!(169900));
    m.insert("format".into(), json!("sqlite"));
    m.insert("balance".into(), amount_sat(bal.trusted));
    m.insert(
        "unconfirmed_balance".into(),
        amount_sat(bal.untrusted_pending),
    );
    m.insert("immature_balance".into(), amount_sat(bal.immature));
    m.insert("txcount".into(), json!(s.txs.len()));
    m.insert("keypoolsize".into(), json!(keypool(false)));
    m.insert("keypoolsize_hd_internal".into(), json!(keypool(true)));
    if s.is_crypted() {
        let until = s.unlocked.as_ref().map_or(0, |(_, _, t)| *t);
        m.insert("unlocked_until".into(), json!(until));
    }
    m.insert("paytxfee".into(), amount_sat(paytxfee));
    m.insert(
        "private_keys_enabled".into(),
        json!(!s.flags.disable_private_keys),
    );
    m.insert("avoid_reuse".into(), json!(s.flags.avoid_reuse));
    m.insert(
        "scanning".into(),
        match scanning {
            Some(p) => json!({"duration": p.started.elapsed().as_secs(), "progress": p.progress}),
            None => json!(false),
        },
    );
    m.insert("descriptors".into(), json!(true));
    m.insert("external_signer".into(), json!(false));
    m.insert("blank".into(), json!(s.flags.blank));
    if s.birth_time > 0 {
        m.insert("birthtime".into(), json!(s.birth_time));
    }
    if let Some((h, height)) = s.last_block {
        m.insert(
            "lastprocessedblock".into(),
            json!({"hash": h.to_string(), "height": height}),
        );
    }
    Ok(Value::Object(m))
}

fn backupwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let dest = std::path::PathBuf::from(r.p.req_str(0)?);
    let dest = if dest.is_dir() {
        dest.join(if w.name.is_empty() {
            "wallet.dat"
        } else {
            &w.name
        })
    } else {
        dest
    };
    if dest == w.db.path() {
        return Err(wallet_error("Error: Wallet backup failed!"));
    }
    let _ = std::fs::remove_file(&dest);
    w.db.backup(&dest).map_err(|e| {
        crate::log_info!("[{}] Error: backup failed: {e}", w.display_name());
        wallet_error("Error: Wallet backup failed!")
    })?;
    Ok(Value::Null)
}

fn restorewallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let name = r.p.req_str(0)?;
    let backup = std::path::PathBuf::from(r.p.req_str(1)?);
    if !backup.exists() {
        return Err(RpcError::new(-8, "Backup file does not exist"));
    }
    let dir = r.ctx.wallet_path(name);
    let file = dir.join("wallet.dat");
    if file.exists() || r.ctx.get(name).is_some() {
        return Err(RpcError::new(
            codes::ALREADY_EXISTS,
            format!(
                "Failed to create database path '{}'. Database already exists.",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::copy(&backup, &file))
        .map_err(|e| wallet_error(format!("Failed to restore wallet: {e}")))?;
    match r.ctx.load_wallet(name) {
        Ok((w, mut warnings)) => {
            warnings.extend(r.ctx.update_load_on_startup(name, r.p.bool(2)?));
            Ok(name_result(&w.name, warnings))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_dir(&dir);
            Err(e)
        }
    }
}

fn encryptwallet(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let pass = r.p.req_str(0)?;
    let mut s = w.state();
    if s.flags.disable_private_keys {
        return Err(RpcError::new(
            codes::WALLET_ERROR,
            "Error: wallet does not contain private keys, nothing to encrypt.",
        ));
    }
    if s.is_crypted() {
        return Err(RpcError::new(
            codes::WRONG_ENC_STATE,
            "Error: running with an encrypted wallet, but encryptwallet was called.",
        ));
    }
    if pass.is_empty() {
        return Err(RpcError::invalid_parameter("passphrase cannot be empty"));
    }
    let mut master = [0u8; 32];
    encryption::random_bytes(&mut master);
    let mk = encryption::MasterKey::new(&master, pass);
    let mut writes = vec![Write::Put("mkey".into(), mk.to_json())];
    let mut descs = s.descs.clone();
    for d in &mut descs {
        if let Some(p) = &d.private {
            d.sealed = Some(encryption::seal(&master, p));
            writes.push(Write::Put(format!("desc/{}", d.id), d.to_json()));
        }
    }
    w.write(&writes).map_err(|_| {
        RpcError::new(
            codes::ENCRYPTION_FAILED,
            "Error: Failed to encrypt the wallet.",
        )
    })?;
    for d in &mut descs {
        if d.sealed.is_some() {
            d.private = None;
        }
    }
    s.descs = descs;
    s.master_key = Some(mk);
    s.unlocked = None;
    drop(s);
    if let Err(e) = w.db.rewrite() {
        crate::log_info!(
            "[{}] Rewriting the wallet file failed: {e}",
            w.display_name()
        );
    }
    Ok(json!("wallet encrypted; The keypool has been flushed and a new HD seed was generated. You need to make a new backup with the backupwallet RPC."))
}

fn walletpassphrase(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    if !w.state().is_crypted() {
        return Err(RpcError::new(
            codes::WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletpassphrase was called.",
        ));
    }
    let pass = r.p.req_str(0)?;
    let timeout = r.p.int(1)?.unwrap_or(0);
    if timeout < 0 {
        return Err(RpcError::invalid_parameter("Timeout cannot be negative."));
    }
    if pass.is_empty() {
        return Err(RpcError::invalid_parameter("passphrase cannot be empty"));
    }
    let timeout = timeout.min(100_000_000);
    w.unlock(pass, timeout).map_err(|_| {
        RpcError::new(
            codes::PASSPHRASE_INCORRECT,
            "Error: The wallet passphrase entered was incorrect.",
        )
    })?;
    Ok(Value::Null)
}

fn walletlock(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    if !w.state().is_crypted() {
        return Err(RpcError::new(
            codes::WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletlock was called.",
        ));
    }
    w.lock();
    Ok(Value::Null)
}

fn walletpassphrasechange(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let mut s = w.state();
    let Some(mk) = s.master_key.clone() else {
        return Err(RpcError::new(
            codes::WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletpassphrasechange was called.",
        ));
    };
    let old = r.p.req_str(0)?;
    let new = r.p.req_str(1)?;
    if old.is_empty() || new.is_empty() {
        return Err(RpcError::invalid_parameter("passphrase cannot be empty"));
    }
    let master = mk.unlock(old).ok_or_else(|| {
        RpcError::new(
            codes::PASSPHRASE_INCORRECT,
            "Error: The wallet passphrase entered was incorrect.",
        )
    })?;
    let new_mk = encryption::MasterKey::new(&master, new);
    w.write(&[Write::Put("mkey".into(), new_mk.to_json())])
        .map_err(wallet_error)?;
    s.master_key = Some(new_mk);
    Ok(Value::Null)
}

fn rescanblockchain(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let tip = w.chain.get_height().unwrap_or(0);
    let start = r.p.int(0)?.unwrap_or(0);
    if start < 0 || start > i64::from(tip) {
        return Err(RpcError::invalid_parameter("Invalid start_height"));
    }
    let stop = r.p.int(1)?;
    if let Some(stop) = stop {
        if stop < 0 || stop > i64::from(tip) {
            return Err(RpcError::invalid_parameter("Invalid stop_height"));
        }
        if stop < start {
            return Err(RpcError::invalid_parameter(
                "stop_height must be greater than start_height",
            ));
        }
    }
    if w.rescan_lock.try_lock().is_none() {
        return Err(wallet_error(
            "Wallet is currently rescanning. Abort existing rescan or wait.",
        ));
    }
    match w.scan(start as u32, stop.map(|s| s as u32)) {
        Ok(last) => Ok(json!({
            "start_height": start,
            "stop_height": last.map_or(start, |(_, h)| i64::from(h)),
        })),
        Err(_) => Err(RpcError::misc("Rescan aborted by user.")),
    }
}

fn abortrescan(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet_unsynced()?;
    Ok(json!(w.request_rescan_abort()))
}

fn settxfee(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let rate = super::amount_param(r.p.required(0)?)?.to_sat();
    let relay = w.chain.relay_min_fee();
    let fmt = |sat: u64| format!("{}.{:08} BTC/kvB", sat / 100_000_000, sat % 100_000_000);
    if rate != 0 && rate < relay {
        return Err(RpcError::invalid_parameter(format!(
            "txfee cannot be less than min relay tx fee ({})",
            fmt(relay)
        )));
    }
    let min = crate::wallet::spend::setting_rate(&w, "mintxfee")
        .unwrap_or(crate::wallet::spend::MIN_TX_FEE);
    if rate != 0 && rate < min {
        return Err(RpcError::invalid_parameter(format!(
            "txfee cannot be less than wallet min fee ({})",
            fmt(min)
        )));
    }
    if rate > w.max_tx_fee() {
        return Err(RpcError::invalid_parameter(format!(
            "txfee cannot be more than wallet max tx fee ({})",
            fmt(w.max_tx_fee())
        )));
    }
    *w.pay_tx_fee.lock() = Some(rate);
    Ok(json!(true))
}

fn keypoolrefill(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    if w.state().flags.disable_private_keys {
        return Err(wallet_error(
            "Error: Private keys are disabled for this wallet",
        ));
    }
    let size = match r.p.int(0)? {
        Some(n) if n < 0 => {
            return Err(RpcError::invalid_parameter(
                "Invalid parameter, expected valid size.",
            ))
        }
        Some(n) => n.min(100_000) as u32,
        None => 0,
    };
    w.refill(size).map_err(wallet_error)?;
    Ok(Value::Null)
}

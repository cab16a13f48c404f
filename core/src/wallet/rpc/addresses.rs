//! Address and descriptor RPCs: new addresses, address info, labels, descriptor import and
//! listing.

use std::collections::BTreeSet;

use bitcoin::{Address, Network, ScriptBuf};
use serde_json::{json, Map, Value};

use super::{codes, ensure_unlocked, wallet_error, Def, Req};
use crate::rpc::error::RpcError;
use crate::wallet::db::Write;
use crate::wallet::encryption;
use crate::wallet::keys::{self, OutputType, WalletDescriptor};
use crate::wallet::model::{AddressBookEntry, Wallet};

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "getnewaddress",
        params: &["label", "address_type"],
        handler: getnewaddress,
    },
    Def {
        name: "getrawchangeaddress",
        params: &["address_type"],
        handler: getrawchangeaddress,
    },
    Def {
        name: "getaddressinfo",
        params: &["*address"],
        handler: getaddressinfo,
    },
    Def {
        name: "setlabel",
        params: &["*address", "*label"],
        handler: setlabel,
    },
    Def {
        name: "listlabels",
        params: &["purpose"],
        handler: listlabels,
    },
    Def {
        name: "getaddressesbylabel",
        params: &["*label"],
        handler: getaddressesbylabel,
    },
    Def {
        name: "importdescriptors",
        params: &["*requests"],
        handler: importdescriptors,
    },
    Def {
        name: "listdescriptors",
        params: &["private"],
        handler: listdescriptors,
    },
];

/// Core's `RPC_WALLET_INVALID_LABEL_NAME`.
const INVALID_LABEL_NAME: i32 = -11;

fn label_param(v: Option<&Value>) -> Result<String, RpcError> {
    match v {
        None => Ok(String::new()),
        Some(Value::String(s)) if s == "*" => {
            Err(RpcError::new(INVALID_LABEL_NAME, "Invalid label name"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(RpcError::type_error(other, "string")),
    }
}

fn address_type_param(w: &Wallet, v: Option<&str>, setting: &str) -> Result<OutputType, RpcError> {
    match v {
        Some(t) => OutputType::parse(t)
            .ok_or_else(|| RpcError::new(-5, format!("Unknown address type '{t}'"))),
        None => Ok(w
            .chain
            .get_settings_list(setting)
            .pop()
            .and_then(|v| OutputType::parse(&v))
            .or_else(|| {
                w.chain
                    .get_settings_list("addresstype")
                    .pop()
                    .and_then(|v| OutputType::parse(&v))
            })
            .unwrap_or(OutputType::Bech32)),
    }
}

/// The regtest address of a script.
pub fn addr_of(script: &bitcoin::Script) -> Option<String> {
    Address::from_script(script, Network::Regtest)
        .ok()
        .map(|a| a.to_string())
}

/// Stores an address book entry.
pub fn set_book(w: &Wallet, address: &str, label: &str, purpose: &str) -> Result<(), RpcError> {
    w.write(&[Write::Put(
        format!("name/{address}"),
        json!({"label": label, "purpose": purpose}),
    )])
    .map_err(wallet_error)?;
    w.state().book.insert(
        address.to_string(),
        AddressBookEntry {
            label: label.to_string(),
            purpose: purpose.to_string(),
        },
    );
    Ok(())
}

fn new_address(
    w: &Wallet,
    t: OutputType,
    internal: bool,
    label: &str,
) -> Result<ScriptBuf, RpcError> {
    {
        let s = w.state();
        if s.descs.iter().all(|d| d.active.is_none()) {
            return Err(wallet_error("Error: This wallet has no available keys"));
        }
    }
    if internal {
        w.new_script(t, true)
    } else {
        w.new_receive_script(t, label)
    }
    .map_err(|e| RpcError::new(codes::KEYPOOL_RAN_OUT, e))
}

fn getnewaddress(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet_unsynced()?;
    let label = label_param(r.p.get(0))?;
    let t = address_type_param(&w, r.p.str(1)?, "addresstype")?;
    let script = new_address(&w, t, false, &label)?;
    let addr = addr_of(&script).ok_or_else(|| wallet_error("Error: no address"))?;
    Ok(json!(addr))
}

fn getrawchangeaddress(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet_unsynced()?;
    let t = address_type_param(&w, r.p.str(0)?, "changetype")?;
    let script = new_address(&w, t, true, "")?;
    Ok(json!(addr_of(&script)))
}

fn parse_addr(s: &str) -> Result<Address, RpcError> {
    keys::parse_address(s).ok_or_else(|| RpcError::new(-5, "Invalid address"))
}

/// `m/84h/1h/0h/0/5` from a descriptor's `[fingerprint/path]` origin.
fn origin_of(desc: &str) -> Option<(String, String)> {
    let start = desc.find('[')?;
    let end = desc[start..].find(']')? + start;
    let inner = &desc[start + 1..end];
    let (fp, path) = inner.split_once('/').unwrap_or((inner, ""));
    let path = if path.is_empty() {
        "m".to_string()
    } else {
        format!("m/{path}")
    };
    Some((fp.to_string(), path))
}

fn pubkey_of(desc: &str) -> Option<String> {
    let after = desc.find(']').map(|i| &desc[i + 1..]).unwrap_or(desc);
    let hexlen = after.chars().take_while(|c| c.is_ascii_hexdigit()).count();
    (hexlen == 66 || hexlen == 64 || hexlen == 130).then(|| after[..hexlen].to_string())
}

fn getaddressinfo(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let s_addr = r.p.req_str(0)?;
    let addr = parse_addr(s_addr)?;
    let script = addr.script_pubkey();
    let st = w.state();
    let mut m = Map::new();
    m.insert("address".into(), json!(addr.to_string()));
    m.insert("scriptPubKey".into(), json!(script.to_hex_string()));
    let origin = st.script_origin(&script);
    m.insert("ismine".into(), json!(origin.is_some()));
    m.insert(
        "solvable".into(),
        json!(origin
            .is_some_and(|(d, _)| !d.public.starts_with("addr(") && !d.public.starts_with("raw("))),
    );
    let mut expanded_desc = None;
    if let Some((d, idx)) = origin {
        if let Ok(list) = d.expanded_at(idx) {
            if let Some(e) = list.into_iter().find(|e| e.script == script) {
                m.insert("desc".into(), json!(e.desc));
                expanded_desc = Some(e.desc);
            }
        }
        m.insert("parent_desc".into(), json!(d.public));
    }
    m.insert("iswatchonly".into(), json!(false));
    m.insert(
        "isscript".into(),
        json!(script.is_p2sh() || script.is_p2wsh()),
    );
    m.insert("iswitness".into(), json!(script.is_witness_program()));
    if let Some(v) = script.witness_version() {
        m.insert("witness_version".into(), json!(v.to_num()));
        m.insert(
            "witness_program".into(),
            json!(encryption::hex(&script.as_bytes()[2..])),
        );
    }
    if let Some(desc) = &expanded_desc {
        if let Some(pk) = pubkey_of(desc) {
            if !script.is_p2tr() {
                m.insert("iscompressed".into(), json!(pk.len() == 66));
            }
            m.insert("pubkey".into(), json!(pk));
        }
    }
    m.insert(
        "ischange".into(),
        json!(origin.is_some() && !st.book.contains_key(&addr.to_string())),
    );
    if let Some((d, _)) = origin {
        m.insert("timestamp".into(), json!(d.timestamp));
        if let Some((fp, path)) = expanded_desc.as_deref().and_then(origin_of) {
            m.insert("hdkeypath".into(), json!(path));
            m.insert("hdmasterfingerprint".into(), json!(fp));
        }
    }
    let labels: Vec<String> = st
        .book
        .get(&addr.to_string())
        .map(|e| vec![e.label.clone()])
        .unwrap_or_default();
    m.insert("labels".into(), json!(labels));
    Ok(Value::Object(m))
}

fn setlabel(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let addr = keys::parse_address(r.p.req_str(0)?)
        .ok_or_else(|| RpcError::new(-5, "Invalid Bitcoin address"))?;
    let label = label_param(r.p.get(1))?;
    let purpose = if w.state().is_mine(&addr.script_pubkey()) {
        "receive"
    } else {
        "send"
    };
    set_book(&w, &addr.to_string(), &label, purpose)?;
    Ok(Value::Null)
}

fn listlabels(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let purpose = r.p.str(0)?;
    let labels: BTreeSet<String> = w
        .state()
        .book
        .values()
        .filter(|e| purpose.is_none_or(|p| p == e.purpose))
        .map(|e| e.label.clone())
        .collect();
    Ok(json!(labels))
}

fn getaddressesbylabel(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let label = label_param(r.p.get(0))?;
    let mut m = Map::new();
    for (a, e) in w.state().book.iter() {
        if e.label == label {
            m.insert(a.clone(), json!({"purpose": e.purpose}));
        }
    }
    if m.is_empty() {
        return Err(RpcError::new(
            INVALID_LABEL_NAME,
            format!("No addresses with label {label}"),
        ));
    }
    Ok(Value::Object(m))
}

fn output_type_of_desc(desc: &str) -> Option<OutputType> {
    if desc.starts_with("pkh(") {
        Some(OutputType::Legacy)
    } else if desc.starts_with("sh(wpkh(") {
        Some(OutputType::P2shSegwit)
    } else if desc.starts_with("wpkh(") {
        Some(OutputType::Bech32)
    } else if desc.starts_with("tr(") {
        Some(OutputType::Bech32m)
    } else {
        None
    }
}

struct ImportResult {
    warnings: Vec<String>,
    rescan_from: Option<i64>,
}

fn import_one(w: &Wallet, req: &Value) -> Result<ImportResult, RpcError> {
    let obj = req
        .as_object()
        .ok_or_else(|| RpcError::type_error(req, "object"))?;
    let text = match obj.get("desc") {
        Some(Value::String(s)) => s.as_str(),
        Some(v) => return Err(RpcError::type_error(v, "string")),
        None => return Err(RpcError::invalid_parameter("Descriptor not found.")),
    };
    if !text.contains('#') {
        return Err(RpcError::new(-5, "Missing checksum"));
    }
    let active = obj.get("active").and_then(Value::as_bool).unwrap_or(false);
    let internal = obj
        .get("internal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let label = obj.get("label").map(|v| label_param(Some(v))).transpose()?;
    let timestamp = match obj.get("timestamp") {
        None => {
            return Err(RpcError::invalid_parameter(
                "Missing required timestamp field for key",
            ))
        }
        Some(Value::String(s)) if s == "now" => None,
        Some(Value::Number(n)) => Some(n.as_i64().unwrap_or(0).max(0)),
        Some(v) => return Err(RpcError::type_error(v, "integer or string 'now'").clone()),
    };
    let mut wd = WalletDescriptor::new(text, None, 0, None, 0).map_err(|e| RpcError::new(-5, e))?;
    let now = crate::time::now();
    wd.timestamp = timestamp.unwrap_or(now);
    let range = match obj.get("range") {
        None => None,
        Some(Value::Number(n)) => {
            let end = n.as_i64().unwrap_or(-1);
            if end < 0 {
                return Err(RpcError::invalid_parameter(
                    "Range should be greater or equal than 0",
                ));
            }
            if end >= 0x8000_0000 {
                return Err(RpcError::invalid_parameter("End of range is too high"));
            }
            Some((0u32, end as u32))
        }
        Some(Value::Array(a)) if a.len() == 2 => {
            let a0 = a[0].as_i64().unwrap_or(-1);
            let a1 = a[1].as_i64().unwrap_or(-1);
            if a0 < 0 || a1 < 0 {
                return Err(RpcError::invalid_parameter(
                    "Range should be greater or equal than 0",
                ));
            }
            if a1 < a0 {
                return Err(RpcError::invalid_parameter(
                    "Range specified as [begin,end] must not have begin after end",
                ));
            }
            if a1 >= 0x8000_0000 {
                return Err(RpcError::invalid_parameter("End of range is too high"));
            }
            Some((a0 as u32, a1 as u32))
        }
        Some(_) => {
            return Err(RpcError::invalid_parameter(
                "Range must be specified as end or as [begin,end]",
            ))
        }
    };
    if range.is_some_and(|(a, b)| b - a >= 1_000_000) {
        return Err(RpcError::invalid_parameter("Range is too large"));
    }
    if wd.is_range() {
        if label.is_some() {
            return Err(RpcError::invalid_parameter(
                "Ranged descriptors should not have a label",
            ));
        }
        wd.range = Some(range.unwrap_or((0, 0)));
        let next = obj
            .get("next_index")
            .and_then(Value::as_i64)
            .map(|n| n.max(0) as u32)
            .unwrap_or(wd.range.map_or(0, |r| r.0));
        wd.next_index = next;
    } else {
        if range.is_some() {
            return Err(RpcError::invalid_parameter(
                "Range should not be specified for an un-ranged descriptor",
            ));
        }
        if active {
            return Err(RpcError::invalid_parameter(
                "Active descriptors must be ranged",
            ));
        }
    }
    if internal && label.is_some() {
        return Err(RpcError::invalid_parameter(
            "Internal addresses should not have a label",
        ));
    }
    let mut warnings = Vec::new();
    let mut s = w.state();
    if wd.has_private && s.flags.disable_private_keys {
        return Err(wallet_error(
            "Cannot import private keys to a wallet with private keys disabled",
        ));
    }
    if !wd.has_private && !s.flags.disable_private_keys {
        warnings.push(
            "Not all private keys provided. Some wallet functionality may return unexpected errors"
                .to_string(),
        );
    }
    if active {
        let t = output_type_of_desc(&wd.public).ok_or_else(|| {
            RpcError::invalid_parameter("Cannot import active descriptor of this output type")
        })?;
        wd.active = Some((t, internal));
    }
    if let (Some((master, _, _)), Some(p)) = (&s.unlocked, &wd.private) {
        wd.sealed = Some(encryption::seal(master, p));
    }
    if s.is_crypted() && wd.has_private && wd.sealed.is_none() {
        return Err(RpcError::new(
            codes::UNLOCK_NEEDED,
            "Error: Please enter the wallet passphrase with walletpassphrase first.",
        ));
    }
    let mut writes = Vec::new();
    let pos = match s.descs.iter().position(|d| d.id == wd.id) {
        Some(p) => {
            let old = &s.descs[p];
            // Keep the widest range and the furthest next index (Core's `UpdateWalletDescriptor`).
            if let (Some((a, b)), Some((c, d))) = (old.range, wd.range) {
                wd.range = Some((a.min(c), b.max(d)));
                wd.next_index = wd.next_index.max(old.next_index);
            }
            if !active {
                wd.active = old.active;
            }
            s.descs[p] = wd;
            p
        }
        None => {
            s.descs.push(wd);
            s.descs.len() - 1
        }
    };
    if let Some(a) = s.descs[pos].active {
        for (i, d) in s.descs.iter_mut().enumerate() {
            if i != pos && d.active == Some(a) {
                d.active = None;
                writes.push(Write::Put(format!("desc/{}", d.id), d.to_json()));
            }
        }
    }
    let (start, end) = s.descs[pos].range.unwrap_or((0, 0));
    for i in start..=end {
        let scripts = s.descs[pos]
            .scripts_at(i)
            .map_err(|e| RpcError::new(-5, e))?;
        for sc in scripts {
            s.spks.insert(sc, (pos, i));
        }
        if !s.descs[pos].is_range() {
            break;
        }
    }
    if s.descs[pos].is_range() {
        let _ = s.top_up(pos);
    }
    s.birth_time = s.birth_time.min(s.descs[pos].timestamp);
    writes.push(Write::Put(
        format!("desc/{}", s.descs[pos].id),
        s.descs[pos].to_json(),
    ));
    let addr_label = if let Some(l) = &label {
        s.descs[pos]
            .scripts_at(0)
            .ok()
            .and_then(|v| v.into_iter().next())
            .and_then(|sc| addr_of(&sc))
            .map(|a| (a, l.clone()))
    } else {
        None
    };
    drop(s);
    w.write(&writes).map_err(wallet_error)?;
    if let Some((a, l)) = addr_label {
        set_book(w, &a, &l, "receive")?;
    }
    Ok(ImportResult {
        warnings,
        rescan_from: timestamp,
    })
}

fn importdescriptors(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let reqs = match r.p.required(0)? {
        Value::Array(a) => a.clone(),
        v => return Err(RpcError::type_error(v, "array")),
    };
    if w.state().is_locked() {
        ensure_unlocked(&w)?;
    }
    let mut results = Vec::new();
    let mut rescan_from: Option<i64> = None;
    for req in &reqs {
        match import_one(&w, req) {
            Ok(res) => {
                if let Some(t) = res.rescan_from {
                    rescan_from = Some(rescan_from.map_or(t, |m| m.min(t)));
                }
                let mut m = Map::new();
                m.insert("success".into(), json!(true));
                if !res.warnings.is_empty() {
                    m.insert("warnings".into(), json!(res.warnings));
                }
                results.push(Value::Object(m));
            }
            Err(e) => results.push(json!({"success": false, "error": e.to_json()})),
        }
    }
    if let Some(t) = rescan_from {
        // Core's TIMESTAMP_WINDOW: blocks up to two hours older than the key may hold it.
        if let Some(b) = w.chain.find_first_block_with_time_and_height(t - 7200, 0) {
            if w.scan(b.height, None).is_err() {
                return Err(RpcError::misc("Rescan aborted by user."));
            }
        }
    }
    Ok(Value::Array(results))
}

fn listdescriptors(r: &Req<'_>) -> Result<Value, RpcError> {
    let w = r.wallet()?;
    let private = r.p.bool(0)?.unwrap_or(false);
    if private {
        if w.state().flags.disable_private_keys {
            return Err(wallet_error("Can't get descriptor string."));
        }
        ensure_unlocked(&w)?;
    }
    let s = w.state();
    let mut out = Vec::new();
    for d in &s.descs {
        let desc = if private {
            d.private
                .clone()
                .ok_or_else(|| wallet_error("Can't get descriptor string."))?
        } else {
            d.public.clone()
        };
        let mut m = Map::new();
        m.insert("desc".into(), json!(desc));
        m.insert("timestamp".into(), json!(d.timestamp));
        m.insert("active".into(), json!(d.active.is_some()));
        if let Some((_, internal)) = d.active {
            m.insert("internal".into(), json!(internal));
        }
        if let Some((a, b)) = d.range {
            m.insert("range".into(), json!([a, b]));
            m.insert("next".into(), json!(d.next_index));
            m.insert("next_index".into(), json!(d.next_index));
        }
        out.push(Value::Object(m));
    }
    out.sort_by(|a, b| a["desc"].as_str().cmp(&b["desc"].as_str()));
    Ok(json!({"wallet_name": w.name, "descriptors": out}))
}

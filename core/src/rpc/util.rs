//! Utility and hidden test RPCs: `validateaddress`, `setmocktime`, `echo`, `echojson`.

use std::str::FromStr;

use bitcoin::address::{Address, NetworkUnchecked};
use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::error::{code, RpcError};
use super::params::Params;
use crate::time;

const ECHO_PARAMS: &[&str] = &[
    "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9",
];

/// The utility commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "getdescriptorinfo",
            category: "Util",
            params: &["*descriptor"],
            hidden: false,
            handler: getdescriptorinfo,
        },
        Command {
            name: "deriveaddresses",
            category: "Util",
            params: &["*descriptor", "range"],
            hidden: false,
            handler: deriveaddresses,
        },
        Command {
            name: "createmultisig",
            category: "Util",
            params: &["*nrequired", "*keys", "address_type"],
            hidden: false,
            handler: createmultisig,
        },
        Command {
            name: "estimatesmartfee",
            category: "Util",
            params: &["*conf_target", "estimate_mode"],
            hidden: false,
            handler: estimatesmartfee,
        },
        Command {
            name: "validateaddress",
            category: "Util",
            params: &["*address"],
            hidden: false,
            handler: validateaddress,
        },
        Command {
            name: "setmocktime",
            category: "Hidden",
            params: &["*timestamp"],
            hidden: true,
            handler: setmocktime,
        },
        Command {
            name: "echo",
            category: "Hidden",
            params: ECHO_PARAMS,
            hidden: true,
            handler: echo,
        },
        Command {
            name: "echoipc",
            category: "Hidden",
            params: &["*arg"],
            hidden: true,
            handler: echoipc,
        },
        Command {
            name: "echojson",
            category: "Hidden",
            params: ECHO_PARAMS,
            hidden: true,
            handler: echo,
        },
    ]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Core's messages for addresses that fail to decode.
fn address_error(s: &str, hrp: &str) -> String {
    let lower = s.to_ascii_lowercase();
    if let Some((prefix, _)) = lower.split_once('1') {
        if ["bc", "tb", "bcrt"].contains(&prefix) && prefix != hrp {
            return format!("Invalid or unsupported prefix for Segwit (Bech32) address (expected {hrp}, got {prefix}).");
        }
        if prefix == hrp {
            return "Invalid Bech32 address data size".into();
        }
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c))
    {
        return "Invalid or unsupported Base58-encoded address.".into();
    }
    "Invalid or unsupported Segwit (Bech32) or Base58 encoding.".into()
}

fn validateaddress(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let s = p.req_str(0)?;
    let network = ctx.node.params().network;
    let parsed = Address::<NetworkUnchecked>::from_str(s)
        .ok()
        .and_then(|a| a.require_network(network).ok());
    let Some(addr) = parsed else {
        return Ok(
            json!({"isvalid": false, "error_locations": [], "error": address_error(s, "bcrt")}),
        );
    };
    let script = addr.script_pubkey();
    let mut o = Map::new();
    o.insert("isvalid".into(), json!(true));
    o.insert("address".into(), json!(addr.to_string()));
    o.insert("scriptPubKey".into(), json!(hex(script.as_bytes())));
    o.insert(
        "isscript".into(),
        json!(script.is_p2sh() || script.is_p2wsh()),
    );
    o.insert("iswitness".into(), json!(script.is_witness_program()));
    if let Some(version) = script.witness_version() {
        o.insert("witness_version".into(), json!(version.to_num()));
        o.insert(
            "witness_program".into(),
            json!(hex(&script.as_bytes()[2..])),
        );
    }
    Ok(Value::Object(o))
}

fn setmocktime(_ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let t = p.int(0)?.unwrap_or(0);
    if t < 0 {
        return Err(RpcError::invalid_parameter(format!(
            "Mocktime cannot be negative: {t}."
        )));
    }
    time::set_mock_time(t);
    Ok(Value::Null)
}

fn echo(_ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(Value::Array(p.0.to_vec()))
}

fn echoipc(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let arg = p.req_str(0)?;
    let echoed = ctx.echo().echo(arg.as_bytes()).map_err(RpcError::misc)?;
    String::from_utf8(echoed)
        .map(Value::String)
        .map_err(|_| RpcError::misc("echo returned invalid UTF-8"))
}

/// Parses a descriptor for an RPC, with Core's -5 for every parse error.
pub fn parse_descriptor(
    ctx: &RpcContext,
    s: &str,
) -> Result<crate::descriptor::Descriptor, RpcError> {
    crate::descriptor::Descriptor::parse(s, ctx.node.params().network)
        .map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))
}

/// Core's `ParseDescriptorRange`: a number `end` means `[0,end]`.
pub fn parse_range(v: &Value) -> Result<(u32, u32), RpcError> {
    let int = |v: &Value| {
        v.as_i64().ok_or_else(|| {
            RpcError::new(
                code::TYPE_ERROR,
                format!("JSON integer out of range or not an integer: {v}"),
            )
        })
    };
    let (low, high) = match v {
        Value::Number(_) => (0, int(v)?),
        Value::Array(a) if a.len() == 2 && a.iter().all(Value::is_number) => {
            let (low, high) = (int(&a[0])?, int(&a[1])?);
            if low > high {
                return Err(RpcError::invalid_parameter(
                    "Range specified as [begin,end] must not have begin after end",
                ));
            }
            (low, high)
        }
        _ => {
            return Err(RpcError::invalid_parameter(
                "Range must be specified as end or as [begin,end]",
            ))
        }
    };
    if low < 0 {
        return Err(RpcError::invalid_parameter(
            "Range should be greater or equal than 0",
        ));
    }
    if (high >> 31) != 0 {
        return Err(RpcError::invalid_parameter("End of range is too high"));
    }
    if high >= low + 1_000_000 {
        return Err(RpcError::invalid_parameter("Range is too large"));
    }
    Ok((low as u32, high as u32))
}

fn getdescriptorinfo(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let desc = parse_descriptor(ctx, p.req_str(0)?)?;
    Ok(json!({
        "descriptor": desc.to_string_with_checksum(),
        "checksum": desc.input_checksum(),
        "isrange": desc.is_range(),
        "issolvable": desc.is_solvable(),
        "hasprivatekeys": desc.has_private_keys(),
    }))
}

fn deriveaddresses(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let s = p.req_str(0)?;
    // Core's deriveaddresses, unlike the other descriptor RPCs, insists on a checksum.
    if !s.contains('#') {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Missing checksum",
        ));
    }
    let desc = parse_descriptor(ctx, s)?;
    let (low, high) = match (desc.is_range(), p.get(1)) {
        (false, Some(_)) => {
            return Err(RpcError::invalid_parameter(
                "Range should not be specified for an un-ranged descriptor",
            ))
        }
        (true, None) => {
            return Err(RpcError::invalid_parameter(
                "Range must be specified for a ranged descriptor",
            ))
        }
        (true, Some(r)) => parse_range(r)?,
        (false, None) => (0, 0),
    };
    let network = ctx.node.params().network;
    let mut addresses = Vec::new();
    for i in low..=high {
        let scripts = desc
            .expand(i)
            .map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
        let several = scripts.len() > 1;
        for e in scripts {
            match bitcoin::Address::from_script(&e.script, network) {
                Ok(a) => addresses.push(json!(a.to_string())),
                // combo() also yields P2PK, which has no address; Core skips it.
                Err(_) if several && e.script.is_p2pk() => {}
                Err(_) => {
                    return Err(RpcError::new(
                        code::INVALID_ADDRESS_OR_KEY,
                        "Descriptor does not have a corresponding address",
                    ))
                }
            }
        }
    }
    Ok(Value::Array(addresses))
}

fn createmultisig(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let network = ctx.node.params().network;
    let required = p.int(0)?.unwrap_or(0);
    let Some(Value::Array(keys)) = p.get(1) else {
        return Err(RpcError::type_error(
            p.get(1).unwrap_or(&Value::Null),
            "array",
        ));
    };
    let mut pubkeys = Vec::with_capacity(keys.len());
    for k in keys {
        let s = k
            .as_str()
            .ok_or_else(|| RpcError::type_error(k, "string"))?;
        let pk = bitcoin::PublicKey::from_str(s).map_err(|_| {
            RpcError::new(
                code::INVALID_ADDRESS_OR_KEY,
                format!("Invalid public key: {s}"),
            )
        })?;
        pubkeys.push(pk);
    }
    if required < 1 {
        return Err(RpcError::invalid_parameter(
            "a multisignature address must require at least one key to redeem",
        ));
    }
    if (pubkeys.len() as i64) < required {
        return Err(RpcError::invalid_parameter(format!(
            "not enough keys supplied (got {} keys, but need at least {required} to redeem)",
            pubkeys.len()
        )));
    }
    if pubkeys.len() > 16 {
        return Err(RpcError::invalid_parameter("Number of keys involved in the multisignature address creation > 16\nReduce the number"));
    }
    let mut builder = bitcoin::script::Builder::new().push_int(required);
    for pk in &pubkeys {
        builder = builder.push_key(pk);
    }
    let redeem = builder
        .push_int(pubkeys.len() as i64)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    let multi = format!(
        "multi({required},{})",
        pubkeys
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let kind = p.str(2)?.unwrap_or("legacy");
    let uncompressed = pubkeys.iter().any(|k| !k.compressed);
    let (address, desc) = match kind {
        "legacy" => (
            bitcoin::Address::p2sh(&redeem, network).map_err(|e| RpcError::misc(e.to_string()))?,
            format!("sh({multi})"),
        ),
        "p2sh-segwit" if !uncompressed => (
            bitcoin::Address::p2shwsh(&redeem, network),
            format!("sh(wsh({multi}))"),
        ),
        "bech32" if !uncompressed => (
            bitcoin::Address::p2wsh(&redeem, network),
            format!("wsh({multi})"),
        ),
        "p2sh-segwit" | "bech32" => (
            bitcoin::Address::p2sh(&redeem, network).map_err(|e| RpcError::misc(e.to_string()))?,
            format!("sh({multi})"),
        ),
        other => {
            return Err(RpcError::invalid_parameter(format!(
                "Unknown address type '{other}'"
            )))
        }
    };
    let mut out = Map::new();
    out.insert("address".into(), json!(address.to_string()));
    out.insert("redeemScript".into(), json!(hex(redeem.as_bytes())));
    out.insert(
        "descriptor".into(),
        json!(crate::descriptor::with_checksum(&desc)),
    );
    if uncompressed && kind != "legacy" {
        out.insert("warnings".into(), json!(["Unable to make chosen address type, please ensure no uncompressed public keys are present."]));
    }
    Ok(Value::Object(out))
}

fn estimatesmartfee(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let target = p.int(0)?.unwrap_or(0);
    if !(1..=crate::fees::MAX_TARGET as i64).contains(&target) {
        return Err(RpcError::invalid_parameter(
            "Invalid conf_target, must be between 1 and 1008",
        ));
    }
    let conservative = match p.str(1)?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("unset") | Some("economical") => false,
        Some("conservative") => true,
        Some(_) => return Err(RpcError::invalid_parameter("Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"")),
    };
    let (rate, blocks) = ctx.node.estimate_smart_fee(target as usize, conservative);
    Ok(match rate {
        Some(sat_per_kvb) => {
            json!({"feerate": super::encode::amount_sat(sat_per_kvb), "blocks": blocks})
        }
        None => json!({"errors": ["Insufficient data or no feerate found"], "blocks": blocks}),
    })
}

//! Output descriptors: Core's checksum, and parsing of non-ranged descriptors with hex
//! keys: `addr()`, `raw()`, `pk()`, `pkh()`, `wpkh()`, `multi()`, `sortedmulti()`,
//! `sh()`, `wsh()`, `tr()` (key path only) and `rawtr()`, with Core's nesting rules.
//! Extended keys, ranges and taproot script trees are not supported yet.

use std::str::FromStr;

use bitcoin::key::{PublicKey, XOnlyPublicKey};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Network, ScriptBuf};

const INPUT_CHARSET: &str =
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const CHECKSUM_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(c: u64, val: u64) -> u64 {
    let c0 = c >> 35;
    let mut c = ((c & 0x7_ffff_ffff) << 5) ^ val;
    for (bit, k) in [
        0xf5dee51989,
        0xa9fdca3312,
        0x1bab10e32d,
        0x3706b1677a,
        0x644d626ffd,
    ]
    .iter()
    .enumerate()
    {
        if c0 & (1 << bit) != 0 {
            c ^= k;
        }
    }
    c
}

/// Core's descriptor checksum (8 characters), or `None` for a character outside the set.
pub fn checksum(desc: &str) -> Option<String> {
    let (mut c, mut cls, mut count) = (1u64, 0u64, 0);
    for ch in desc.chars() {
        let pos = INPUT_CHARSET.find(ch)? as u64;
        c = polymod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        count += 1;
        if count == 3 {
            c = polymod(c, cls);
            cls = 0;
            count = 0;
        }
    }
    if count > 0 {
        c = polymod(c, cls);
    }
    for _ in 0..8 {
        c = polymod(c, 0);
    }
    c ^= 1;
    Some(
        (0..8)
            .map(|j| CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize] as char)
            .collect(),
    )
}

/// `desc#checksum`.
pub fn with_checksum(desc: &str) -> String {
    match checksum(desc) {
        Some(c) => format!("{desc}#{c}"),
        None => desc.to_string(),
    }
}

/// Splits off and verifies an optional `#checksum`, with Core's error messages.
fn strip_checksum(s: &str) -> Result<&str, String> {
    match s.split_once('#') {
        None => Ok(s),
        Some((desc, sum)) => {
            if sum.len() != 8 {
                return Err(format!(
                    "Expected 8 character checksum, not {} characters",
                    sum.len()
                ));
            }
            let computed =
                checksum(desc).ok_or_else(|| "Invalid characters in payload".to_string())?;
            if computed != sum {
                return Err(format!(
                    "Provided checksum '{sum}' does not match computed checksum '{computed}'"
                ));
            }
            Ok(desc)
        }
    }
}

fn inner<'a>(s: &'a str, func: &str) -> Option<&'a str> {
    s.strip_prefix(func)?.strip_prefix('(')?.strip_suffix(')')
}

fn pubkey(hex: &str) -> Result<PublicKey, String> {
    PublicKey::from_str(hex).map_err(|_| format!("key '{hex}' is not valid"))
}

/// Where a descriptor fragment sits, for Core's nesting rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Top,
    Sh,
    Wsh,
}

/// The output script of a non-ranged descriptor.
pub fn parse_to_script(s: &str, network: Network) -> Result<ScriptBuf, String> {
    let desc = strip_checksum(s.trim())?;
    parse_fragment(desc, network, Context::Top)
}

fn key_in(k: &str, ctx: Context) -> Result<PublicKey, String> {
    let pk = pubkey(k)?;
    if ctx == Context::Wsh && !pk.compressed {
        return Err("Uncompressed keys are not allowed".into());
    }
    Ok(pk)
}

fn multisig(args: &str, sorted: bool, ctx: Context) -> Result<ScriptBuf, String> {
    let mut parts = args.split(',');
    let k: usize = parts
        .next()
        .and_then(|k| k.trim().parse().ok())
        .ok_or_else(|| format!("Multi threshold '{args}' is not valid"))?;
    let mut keys = parts
        .map(|p| key_in(p.trim(), ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let max = match ctx {
        Context::Top => 3,
        Context::Sh => 15,
        Context::Wsh => 20,
    };
    if keys.is_empty() || keys.len() > max {
        return Err(format!(
            "Cannot have {} keys in multisig; must have between 1 and {max} keys, inclusive",
            keys.len()
        ));
    }
    if k < 1 || k > keys.len() {
        return Err(format!(
            "Multisig threshold cannot be {k}, must be between 1 and {}",
            keys.len()
        ));
    }
    if sorted {
        keys.sort_by_key(|pk| pk.to_bytes());
    }
    let mut b = bitcoin::script::Builder::new().push_int(k as i64);
    for key in &keys {
        b = b.push_key(key);
    }
    Ok(b.push_int(keys.len() as i64)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script())
}

fn parse_fragment(desc: &str, network: Network, ctx: Context) -> Result<ScriptBuf, String> {
    let top_only = |name: &str| -> Result<(), String> {
        if ctx == Context::Top {
            Ok(())
        } else {
            Err(format!("Can only have {name}() at top level"))
        }
    };
    if let Some(a) = inner(desc, "addr") {
        top_only("addr")?;
        let addr = Address::from_str(a).map_err(|_| "Address is not valid".to_string())?;
        let addr = addr
            .require_network(network)
            .map_err(|_| "Address is not valid".to_string())?;
        return Ok(addr.script_pubkey());
    }
    if let Some(h) = inner(desc, "raw") {
        top_only("raw")?;
        let bytes = crate::rpc::params::parse_hex(h, "raw")
            .map_err(|_| format!("Raw script is not hex: '{h}'"))?;
        return Ok(ScriptBuf::from_bytes(bytes));
    }
    if let Some(k) = inner(desc, "pk") {
        return Ok(ScriptBuf::new_p2pk(&key_in(k, ctx)?));
    }
    if let Some(k) = inner(desc, "pkh") {
        return Ok(ScriptBuf::new_p2pkh(&key_in(k, ctx)?.pubkey_hash()));
    }
    if let Some(k) = inner(desc, "wpkh") {
        if ctx == Context::Wsh {
            return Err("Can only have wpkh() at top level or inside sh()".into());
        }
        let wpkh = pubkey(k)?
            .wpubkey_hash()
            .map_err(|_| "Uncompressed keys are not allowed".to_string())?;
        return Ok(ScriptBuf::new_p2wpkh(&wpkh));
    }
    if let Some(args) = inner(desc, "multi") {
        return multisig(args, false, ctx);
    }
    if let Some(args) = inner(desc, "sortedmulti") {
        return multisig(args, true, ctx);
    }
    if let Some(sub) = inner(desc, "sh") {
        top_only("sh")?;
        let script = parse_fragment(sub, network, Context::Sh)?;
        if script.len() > 520 {
            return Err(format!(
                "P2SH script is too large, {} bytes is larger than 520 bytes",
                script.len()
            ));
        }
        return Ok(ScriptBuf::new_p2sh(&script.script_hash()));
    }
    if let Some(sub) = inner(desc, "wsh") {
        if ctx == Context::Wsh {
            return Err("Can only have wsh() at top level or inside sh()".into());
        }
        let script = parse_fragment(sub, network, Context::Wsh)?;
        return Ok(ScriptBuf::new_p2wsh(&script.wscript_hash()));
    }
    if let Some(k) = inner(desc, "tr") {
        top_only("tr")?;
        let xonly = match XOnlyPublicKey::from_str(k) {
            Ok(x) => x,
            Err(_) => pubkey(k)?.inner.x_only_public_key().0,
        };
        let secp = Secp256k1::verification_only();
        return Ok(ScriptBuf::new_p2tr(&secp, xonly, None));
    }
    if let Some(k) = inner(desc, "rawtr") {
        top_only("rawtr")?;
        let xonly = XOnlyPublicKey::from_str(k).map_err(|_| format!("key '{k}' is not valid"))?;
        return Ok(ScriptBuf::new_p2tr_tweaked(
            bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(xonly),
        ));
    }
    let func = desc.split('(').next().unwrap_or(desc);
    Err(format!("'{func}(...)' is not a valid descriptor function"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_core_vectors() {
        // From Core's descriptor_tests.cpp / rpc_getdescriptorinfo.
        assert_eq!(checksum("raw(deadbeef)").unwrap(), "89f8spxm");
        assert_eq!(
            with_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)"),
            "addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)#02wpgw69"
        );
    }

    #[test]
    fn parses_supported_forms() {
        let n = Network::Regtest;
        assert_eq!(parse_to_script("raw(51)", n).unwrap().as_bytes(), &[0x51]);
        assert_eq!(
            parse_to_script("raw(deadbeef)#89f8spxm", n).unwrap().len(),
            4
        );
        assert!(parse_to_script("raw(deadbeef)#00000000", n)
            .unwrap_err()
            .contains("does not match"));
        let key = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        assert!(parse_to_script(&format!("wpkh({key})"), n)
            .unwrap()
            .is_p2wpkh());
        assert!(parse_to_script(&format!("sh(wpkh({key}))"), n)
            .unwrap()
            .is_p2sh());
        assert!(parse_to_script(&format!("tr({key})"), n).unwrap().is_p2tr());
        let key2 = "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb";
        let multi = parse_to_script(&format!("multi(1,{key2},{key})"), n).unwrap();
        assert!(multi.is_multisig());
        let sorted = parse_to_script(&format!("sortedmulti(1,{key2},{key})"), n).unwrap();
        assert_eq!(
            sorted,
            parse_to_script(&format!("multi(1,{key},{key2})"), n).unwrap()
        );
        assert!(parse_to_script(&format!("wsh(multi(2,{key},{key2}))"), n)
            .unwrap()
            .is_p2wsh());
        assert!(parse_to_script(&format!("sh(wsh(pk({key})))"), n)
            .unwrap()
            .is_p2sh());
        assert!(parse_to_script(&format!("multi(3,{key},{key2})"), n)
            .unwrap_err()
            .contains("threshold"));
        assert!(parse_to_script(
            "sh(addr(bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85))",
            n
        )
        .unwrap_err()
        .contains("top level"));
        assert!(parse_to_script(&format!("wsh(wpkh({key}))"), n).is_err());
        assert!(parse_to_script(&format!("sh(sh(pk({key})))"), n).is_err());
        assert!(parse_to_script("foo(1)", n)
            .unwrap_err()
            .contains("not a valid descriptor function"));
        assert!(parse_to_script("addr(notanaddress)", n).is_err());
    }
}

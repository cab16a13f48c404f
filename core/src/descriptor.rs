//! Output descriptors with Bitcoin Core's semantics. The script language (`pk`, `pkh`,
//! `wpkh`, `sh`, `wsh`, `multi`, `sortedmulti`, miniscript, `tr` with script trees) and
//! key expressions (hex, WIF, xpub/xprv with origins, paths and wildcards) are parsed by
//! the `miniscript` crate; `addr()`, `raw()`, `rawtr()` and `combo()`, which miniscript
//! lacks, are handled here, and so are Core's checksum and its normalized string form.

use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::key::{PrivateKey, XOnlyPublicKey};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Address, Network, ScriptBuf};
use miniscript::descriptor::{
    DefiniteDescriptorKey, DescriptorPublicKey, DescriptorSecretKey, DescriptorXKey, KeyMap,
    Wildcard,
};
use miniscript::{
    translate_hash_clone, Descriptor as MsDescriptor, ForEachKey, TranslatePk, Translator,
};

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
    let mut parts = s.split('#');
    let desc = parts.next().unwrap_or_default();
    let Some(sum) = parts.next() else {
        return Ok(s);
    };
    if parts.next().is_some() {
        return Err("Multiple '#' symbols".into());
    }
    if sum.len() != 8 {
        return Err(format!(
            "Expected 8 character checksum, not {} characters",
            sum.len()
        ));
    }
    let computed = checksum(desc).ok_or_else(|| "Invalid characters in payload".to_string())?;
    if computed != sum {
        return Err(format!(
            "Provided checksum '{sum}' does not match computed checksum '{computed}'"
        ));
    }
    Ok(desc)
}

fn inner<'a>(s: &'a str, func: &str) -> Option<&'a str> {
    s.strip_prefix(func)?.strip_prefix('(')?.strip_suffix(')')
}

/// Functions Core accepts at the top of a descriptor; anything else is reported by name.
const FUNCTIONS: &[&str] = &[
    "sh",
    "wsh",
    "pk",
    "pkh",
    "wpkh",
    "combo",
    "multi",
    "sortedmulti",
    "multi_a",
    "sortedmulti_a",
    "tr",
    "addr",
    "raw",
    "rawtr",
];

/// What a parsed descriptor expands to.
#[derive(Debug, Clone)]
enum Kind {
    /// A miniscript-parsed descriptor; the threshold is set for a bare `sortedmulti()`,
    /// which miniscript parses as `multi()` and which is sorted here per derivation.
    Script(Box<MsDescriptor<DescriptorPublicKey>>, KeyMap, Option<i64>),
    Combo(DescriptorPublicKey, KeyMap),
    Fixed(ScriptBuf),
}

/// A parsed descriptor: everything `getdescriptorinfo`, `deriveaddresses`,
/// `scantxoutset` and `generatetodescriptor` need.
#[derive(Debug, Clone)]
pub struct Descriptor {
    kind: Kind,
    normalized: String,
    input_checksum: String,
    has_private_keys: bool,
}

/// One script a descriptor expands to, with the descriptor Core infers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The output script.
    pub script: ScriptBuf,
    /// The single-script descriptor with derived keys and their origins, with checksum.
    pub desc: String,
}

/// The error Core gives when a public-only descriptor needs hardened derivation.
const NEED_PRIVATE_KEYS: &str = "Cannot derive script without private keys";

impl Descriptor {
    /// Parses a descriptor (checksum optional, verified when present) the way Core's
    /// `Parse` does; errors carry Core's messages and map to RPC code -5.
    pub fn parse(s: &str, network: Network) -> Result<Self, String> {
        let body = strip_checksum(s)?;
        let input_checksum =
            checksum(body).ok_or_else(|| "Invalid characters in payload".to_string())?;
        let func = body.split('(').next().unwrap_or(body);
        if !body.contains('(') || !FUNCTIONS.contains(&func) {
            return Err(format!("'{func}(...)' is not a valid descriptor function"));
        }
        nesting_rules(body)?;
        keys_for_network(body, network)?;
        let public = publicize(body);
        let apostrophe = body.contains('\'');
        let secp = Secp256k1::new();
        let (kind, has_private_keys, normalized) = if let Some(a) = inner(body, "addr") {
            let addr = Address::from_str(a)
                .ok()
                .and_then(|a| a.require_network(network).ok())
                .ok_or_else(|| "Address is not valid".to_string())?;
            (Kind::Fixed(addr.script_pubkey()), false, public)
        } else if let Some(h) = inner(body, "raw") {
            let bytes = crate::rpc::params::parse_hex(h, "raw")
                .map_err(|_| format!("Raw script is not hex: '{h}'"))?;
            (Kind::Fixed(ScriptBuf::from_bytes(bytes)), false, public)
        } else if let Some(k) = inner(body, "rawtr") {
            let xonly =
                XOnlyPublicKey::from_str(k).map_err(|_| format!("key '{k}' is not valid"))?;
            let script = ScriptBuf::new_p2tr_tweaked(
                bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(xonly),
            );
            (Kind::Fixed(script), false, public)
        } else if let Some(k) = inner(body, "combo") {
            let (desc, keys) = ms_parse(&secp, &format!("pk({k})"))?;
            let mut found = None;
            desc.for_each_key(|key| {
                found = Some(key.clone());
                true
            });
            let key = found.ok_or_else(|| format!("key '{k}' is not valid"))?;
            if matches!(key, DescriptorPublicKey::Single(ref s) if matches!(s.key, miniscript::descriptor::SinglePubKey::XOnly(_)))
            {
                return Err(format!("key '{k}' is not valid"));
            }
            let as_pk = normalize_ms(&format!("pk({})", publicize(k)));
            let key_text = as_pk
                .strip_prefix("pk(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or(&as_pk);
            let private = !keys.is_empty();
            (
                Kind::Combo(key, keys),
                private,
                format!("combo({key_text})"),
            )
        } else {
            if let Some(args) = inner(body, "multi").or_else(|| inner(body, "sortedmulti")) {
                let n = args.split(',').count().saturating_sub(1);
                if n > 3 {
                    return Err(format!(
                        "Cannot have {n} pubkeys in bare multisig; only at most 3 pubkeys"
                    ));
                }
            }
            // Miniscript has no bare sortedmulti(): parse it as multi() and sort on expansion.
            let sorted = inner(body, "sortedmulti")
                .and_then(|args| args.split(',').next()?.trim().parse::<i64>().ok());
            let (ms_body, ms_public) = match sorted {
                Some(_) => (&body["sorted".len()..], &public["sorted".len()..]),
                None => (body, public.as_str()),
            };
            let (desc, keys) = ms_parse(&secp, ms_body)?;
            desc.sanity_check().map_err(|e| e.to_string())?;
            let private = !keys.is_empty();
            let mut normalized = normalize_ms(ms_public);
            if sorted.is_some() {
                normalized.insert_str(0, "sorted");
            }
            (
                Kind::Script(Box::new(desc), keys, sorted),
                private,
                normalized,
            )
        };
        let normalized = hardened_marker(&normalized, apostrophe);
        Ok(Descriptor {
            kind,
            normalized,
            input_checksum,
            has_private_keys,
        })
    }

    /// The normalized descriptor (private keys replaced by public ones) with its checksum.
    pub fn to_string_with_checksum(&self) -> String {
        with_checksum(&self.normalized)
    }

    /// The checksum of the descriptor as given, which Core reports in `getdescriptorinfo`.
    pub fn input_checksum(&self) -> &str {
        &self.input_checksum
    }

    /// Whether any key has a `*` wildcard.
    pub fn is_range(&self) -> bool {
        match &self.kind {
            Kind::Script(d, _, _) => d.has_wildcard(),
            Kind::Combo(k, _) => k.has_wildcard(),
            Kind::Fixed(_) => false,
        }
    }

    /// Whether the descriptor says how to spend, which `addr()` and `raw()` do not.
    pub fn is_solvable(&self) -> bool {
        !matches!(self.kind, Kind::Fixed(_))
    }

    /// Whether a WIF or extended private key was given.
    pub fn has_private_keys(&self) -> bool {
        self.has_private_keys
    }

    /// The scripts at derivation `index` (ignored when not ranged), in Core's order:
    /// `combo()` gives P2PK, P2PKH and, for compressed keys, P2WPKH and P2SH-P2WPKH.
    pub fn expand(&self, index: u32) -> Result<Vec<Expanded>, String> {
        let secp = Secp256k1::verification_only();
        match &self.kind {
            Kind::Fixed(script) => Ok(vec![Expanded {
                script: script.clone(),
                desc: self.to_string_with_checksum(),
            }]),
            Kind::Script(d, keys, sorted) => {
                let mut at = AtIndex { index, keys };
                let definite = d
                    .translate_pk(&mut at)
                    .map_err(|_| NEED_PRIVATE_KEYS.to_string())?
                    .at_derivation_index(0)
                    .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
                let derived = definite
                    .derived_descriptor(&secp)
                    .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
                let desc = inferred_string(&definite, &secp)?;
                let Some(threshold) = sorted else {
                    return Ok(vec![Expanded {
                        script: derived.script_pubkey(),
                        desc,
                    }]);
                };
                let mut pks = Vec::new();
                derived.for_each_key(|k| {
                    pks.push(*k);
                    true
                });
                pks.sort_by_key(|k| k.to_bytes());
                let mut b = bitcoin::script::Builder::new().push_int(*threshold);
                for k in &pks {
                    b = b.push_key(k);
                }
                let script = b
                    .push_int(pks.len() as i64)
                    .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
                    .into_script();
                let body = desc.split('#').next().unwrap_or_default();
                Ok(vec![Expanded {
                    script,
                    desc: with_checksum(&format!("sorted{body}")),
                }])
            }
            Kind::Combo(key, keys) => {
                let definite = AtIndex { index, keys }
                    .key(key)?
                    .at_derivation_index(0)
                    .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
                let pk = definite
                    .derive_public_key(&secp)
                    .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
                let key_str = key_with_origin(&definite, &pk.to_string());
                let mut out = vec![
                    (ScriptBuf::new_p2pk(&pk), format!("pk({key_str})")),
                    (
                        ScriptBuf::new_p2pkh(&pk.pubkey_hash()),
                        format!("pkh({key_str})"),
                    ),
                ];
                if let Ok(wpkh) = pk.wpubkey_hash() {
                    let p2wpkh = ScriptBuf::new_p2wpkh(&wpkh);
                    out.push((
                        ScriptBuf::new_p2sh(&p2wpkh.script_hash()),
                        format!("sh(wpkh({key_str}))"),
                    ));
                    out.insert(2, (p2wpkh, format!("wpkh({key_str})")));
                }
                Ok(out
                    .into_iter()
                    .map(|(script, d)| Expanded {
                        script,
                        desc: with_checksum(&d),
                    })
                    .collect())
            }
        }
    }

    /// The script `generatetodescriptor` pays to, chosen as Core's
    /// `getScriptFromDescriptor` does (P2WPKH from a compressed `combo()`, else P2PKH).
    pub fn coinbase_script(&self) -> Result<ScriptBuf, String> {
        let mut scripts = self.expand(0)?;
        let pick = match scripts.len() {
            4 => 2,
            2 => 1,
            _ => 0,
        };
        Ok(scripts.swap_remove(pick).script)
    }
}

/// Resolves every key at one derivation index into a plain xpub (or single key) whose
/// origin carries the full path, so miniscript never meets a wildcard or hardened step it
/// would refuse (it cannot do hardened steps without the private key, which we hold).
struct AtIndex<'a> {
    index: u32,
    keys: &'a KeyMap,
}

impl AtIndex<'_> {
    fn key(&self, pk: &DescriptorPublicKey) -> Result<DescriptorPublicKey, String> {
        let DescriptorPublicKey::XPub(x) = pk else {
            return match pk {
                DescriptorPublicKey::Single(_) => Ok(pk.clone()),
                _ => Err("Multipath descriptor not accepted".into()),
            };
        };
        let child = match x.wildcard {
            Wildcard::None => None,
            Wildcard::Unhardened => Some(ChildNumber::from_normal_idx(self.index)),
            Wildcard::Hardened => Some(ChildNumber::from_hardened_idx(self.index)),
        }
        .transpose()
        .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
        let mut path = x.derivation_path.clone();
        let mut full = pk.full_derivation_path().unwrap_or_default();
        if let Some(c) = child {
            path = path.child(c);
            full = full.child(c);
        }
        let secp = Secp256k1::new();
        let xkey = if path.into_iter().any(ChildNumber::is_hardened) {
            match self.keys.get(pk) {
                Some(DescriptorSecretKey::XPrv(sk)) => {
                    let mut sk_path = sk.derivation_path.clone();
                    if let Some(c) = child {
                        sk_path = sk_path.child(c);
                    }
                    let xprv = sk
                        .xkey
                        .derive_priv(&secp, &sk_path)
                        .map_err(|_| NEED_PRIVATE_KEYS.to_string())?;
                    Xpub::from_priv(&secp, &xprv)
                }
                _ => return Err(NEED_PRIVATE_KEYS.into()),
            }
        } else {
            x.xkey
                .derive_pub(&secp, &path)
                .map_err(|_| NEED_PRIVATE_KEYS.to_string())?
        };
        Ok(DescriptorPublicKey::XPub(DescriptorXKey {
            origin: Some((pk.master_fingerprint(), full)),
            xkey,
            derivation_path: DerivationPath::default(),
            wildcard: Wildcard::None,
        }))
    }
}

impl Translator<DescriptorPublicKey, DescriptorPublicKey, String> for AtIndex<'_> {
    fn pk(&mut self, pk: &DescriptorPublicKey) -> Result<DescriptorPublicKey, String> {
        self.key(pk)
    }

    translate_hash_clone!(DescriptorPublicKey, DescriptorPublicKey, String);
}

/// Byte offsets where `func(` starts as a whole function name.
fn calls(body: &str, func: &str) -> Vec<usize> {
    let pat = format!("{func}(");
    body.match_indices(&pat)
        .map(|(i, _)| i)
        .filter(|&i| {
            i == 0 || {
                let prev = body.as_bytes()[i - 1];
                !(prev.is_ascii_alphanumeric() || prev == b'_')
            }
        })
        .collect()
}

/// Core decodes extended keys and WIF with the chain's own prefixes, so a mainnet
/// `xpub` is `not valid` on regtest (and a `tpub` on mainnet); miniscript takes both.
fn keys_for_network(body: &str, network: Network) -> Result<(), String> {
    let main = bitcoin::NetworkKind::from(network).is_mainnet();
    let tokens = body.split(|c: char| "(),[]/<>;*'{}".contains(c));
    for token in tokens.filter(|t| t.len() >= 51) {
        let Ok(data) = bitcoin::base58::decode_check(token) else {
            continue;
        };
        let key_is_main = match (data.len(), data.first()) {
            (78, _) => match data[..4] {
                [0x04, 0x88, 0xb2, 0x1e] | [0x04, 0x88, 0xad, 0xe4] => true,
                [0x04, 0x35, 0x87, 0xcf] | [0x04, 0x35, 0x83, 0x94] => false,
                _ => continue,
            },
            (33 | 34, Some(0x80)) => true,
            (33 | 34, Some(0xef)) => false,
            _ => continue,
        };
        if key_is_main != main {
            return Err(format!("key '{token}' is not valid"));
        }
    }
    Ok(())
}

/// Core's nesting rules and messages, checked before miniscript reports them its own way.
fn nesting_rules(body: &str) -> Result<(), String> {
    for top in ["addr", "raw", "rawtr", "combo", "sh"] {
        if calls(body, top).iter().any(|&i| i > 0) {
            return Err(format!("Can only have {top}() at top level"));
        }
    }
    if calls(body, "tr").iter().any(|&i| i > 0) {
        return Err("Can only have tr at top level".into());
    }
    for segwit in ["wsh", "wpkh"] {
        let inside_sh = |i: usize| i == 3 && body.starts_with("sh(");
        if calls(body, segwit).iter().any(|&i| i > 0 && !inside_sh(i)) {
            return Err(format!(
                "Can only have {segwit}() at top level or inside sh()"
            ));
        }
    }
    Ok(())
}

/// Parses with miniscript, turning its messages into Core's where the cause is a key.
fn ms_parse(
    secp: &Secp256k1<All>,
    s: &str,
) -> Result<(MsDescriptor<DescriptorPublicKey>, KeyMap), String> {
    MsDescriptor::parse_descriptor(secp, s).map_err(|e| {
        let msg = e.to_string();
        match msg
            .strip_prefix("unexpected «")
            .and_then(|m| m.strip_suffix('»'))
        {
            Some(m) => m.to_string(),
            None => msg,
        }
    })
}

/// Miniscript's canonical printing of `public` (as Core prints miniscript fragments
/// canonically), or `public` as given when miniscript cannot print it.
fn normalize_ms(public: &str) -> String {
    match MsDescriptor::<DescriptorPublicKey>::from_str(public) {
        Ok(d) => format!("{d:#}"),
        Err(_) => public.to_string(),
    }
}

/// Core prints hardened steps with `'` when the input used `'`, and `h` otherwise.
fn hardened_marker(s: &str, apostrophe: bool) -> String {
    if apostrophe {
        s.replace("*h", "*'")
    } else {
        s.replace('\'', "h")
    }
}

/// Replaces WIF and extended private keys by their public forms, keeping paths and
/// origins, as Core's `ToString` does (it does not apply hardened steps).
fn publicize(body: &str) -> String {
    let secp = Secp256k1::signing_only();
    let mut out = String::with_capacity(body.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let public = if token.len() > 100 {
            Xpriv::from_str(token)
                .ok()
                .map(|x| Xpub::from_priv(&secp, &x).to_string())
        } else if (51..=52).contains(&token.len()) {
            PrivateKey::from_str(token)
                .ok()
                .map(|k| k.public_key(&secp).to_string())
        } else {
            None
        };
        out.push_str(public.as_deref().unwrap_or(token));
        token.clear();
    };
    for ch in body.chars() {
        if "(),{}[]/".contains(ch) {
            flush(&mut token, &mut out);
            out.push(ch);
        } else {
            token.push(ch);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// `[fingerprint/path]` in Core's inferred form, with `h` for hardened steps.
fn origin_prefix(fingerprint: bitcoin::bip32::Fingerprint, path: &DerivationPath) -> String {
    let steps: String = path
        .into_iter()
        .map(|c| match c {
            ChildNumber::Normal { index } => format!("/{index}"),
            ChildNumber::Hardened { index } => format!("/{index}h"),
        })
        .collect();
    format!("[{fingerprint}{steps}]")
}

/// A derived key as Core's inferred descriptors show it: hex, behind its origin when it
/// came from an extended key or had one given.
fn key_with_origin(key: &DefiniteDescriptorKey, hex: &str) -> String {
    let has_origin = match key.as_descriptor_public_key() {
        DescriptorPublicKey::Single(s) => s.origin.is_some(),
        _ => true,
    };
    match key.full_derivation_path() {
        Some(path) if has_origin => {
            format!("{}{hex}", origin_prefix(key.master_fingerprint(), &path))
        }
        _ => hex.to_string(),
    }
}

/// The descriptor Core infers for one derived script, keys shown as hex with origins
/// (x-only inside `tr()`).
fn inferred_string(
    definite: &MsDescriptor<DefiniteDescriptorKey>,
    secp: &Secp256k1<bitcoin::secp256k1::VerifyOnly>,
) -> Result<String, String> {
    let xonly = matches!(definite, MsDescriptor::Tr(_));
    let mut text = definite.to_string();
    text = text.split('#').next().unwrap_or_default().to_string();
    let mut keys: Vec<(String, String)> = Vec::new();
    let ok = definite.for_each_key(|k| {
        let Ok(pk) = k.derive_public_key(secp) else {
            return false;
        };
        let hex = if xonly {
            pk.inner.x_only_public_key().0.to_string()
        } else {
            pk.to_string()
        };
        keys.push((k.to_string(), key_with_origin(k, &hex)));
        true
    });
    if !ok {
        return Err(NEED_PRIVATE_KEYS.to_string());
    }
    // Longest first, so a key's text is never replaced inside another's.
    keys.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    keys.dedup();
    for (from, to) in keys {
        text = text.replace(&from, &to);
    }
    Ok(with_checksum(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Network = Network::Regtest;
    /// Core's descriptor_tests.cpp run with mainnet parameters.
    const MAIN: Network = Network::Bitcoin;

    fn hexs(s: &ScriptBuf) -> String {
        s.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks Core's `descriptor_tests.cpp` vectors: normalized string and scripts per index.
    fn check(input: &str, public: &str, scripts: &[&[&str]]) {
        let d = Descriptor::parse(input, N).unwrap();
        assert_eq!(
            d.to_string_with_checksum(),
            with_checksum(public),
            "{input}"
        );
        assert_eq!(d.is_range(), scripts.len() > 1, "{input}");
        for (i, want) in scripts.iter().enumerate() {
            let got: Vec<String> = d
                .expand(i as u32)
                .unwrap()
                .iter()
                .map(|e| hexs(&e.script))
                .collect();
            assert_eq!(got, *want, "{input} at {i}");
        }
        // The public form normalizes to itself.
        let p = Descriptor::parse(public, N).unwrap();
        assert_eq!(p.to_string_with_checksum(), d.to_string_with_checksum());
    }

    #[test]
    fn checksum_matches_core_vectors() {
        assert_eq!(checksum("raw(deadbeef)").unwrap(), "89f8spxm");
        assert_eq!(
            with_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)"),
            "addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)#02wpgw69"
        );
        let body = "sh(multi(2,[00000000/111'/222]xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc,xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L/0))";
        let d = Descriptor::parse(&format!("{body}#ggrsrxfy"), MAIN).unwrap();
        assert_eq!(d.input_checksum(), "ggrsrxfy");
        assert!(d.has_private_keys());
        assert_eq!(
            d.to_string_with_checksum(),
            "sh(multi(2,[00000000/111'/222]xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL,xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y/0))#tjg09x5t"
        );
        assert_eq!(
            Descriptor::parse(&format!("{body}#ggssrxfy"), MAIN).unwrap_err(),
            "Provided checksum 'ggssrxfy' does not match computed checksum 'ggrsrxfy'"
        );
        assert_eq!(
            Descriptor::parse(&format!("{body}#ggrsrxf"), MAIN).unwrap_err(),
            "Expected 8 character checksum, not 7 characters"
        );
        assert_eq!(
            Descriptor::parse(&format!("{body}#"), MAIN).unwrap_err(),
            "Expected 8 character checksum, not 0 characters"
        );
        // Core decodes keys with the chain's prefixes: mainnet keys are not valid here.
        assert_eq!(
            Descriptor::parse(body, N).unwrap_err(),
            "key 'xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc' is not valid"
        );
    }

    #[test]
    fn keys_must_match_the_chain() {
        let tpub = "tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA";
        assert!(Descriptor::parse(&format!("pkh({tpub}/0)"), N).is_ok());
        assert_eq!(
            Descriptor::parse(&format!("pkh({tpub}/0)"), MAIN).unwrap_err(),
            format!("key '{tpub}' is not valid")
        );
        let main_wif = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn";
        assert!(Descriptor::parse(&format!("wpkh({main_wif})"), MAIN).is_ok());
        assert_eq!(
            Descriptor::parse(&format!("wpkh({main_wif})"), N).unwrap_err(),
            format!("key '{main_wif}' is not valid")
        );
        let test_wif = "cMahea7zqjxrtgAbB7LSGbcQUr1uX1ojuat9jZodMN87JcbXMTcA";
        assert!(Descriptor::parse(&format!("wpkh({test_wif})"), N).is_ok());
    }

    #[test]
    fn bip32_vectors_from_core() {
        check(
            "pk(tprv8c4A69Yk5hEjpRjdrK6cp7bZQYpAmALDAkDPAKckYFCuGwjqStWup7GUkkXAQDpRXbuKqjSs5xmQeLB3KhqCRhkWptwt3yzbx4tvbt53nTu/0)",
            "pk(tpubD8kCEZazE4vQhtmRjxmDDXFfyaL6vVX7k3pASqf3xX1J7Rzc5HLVzbtLvsgVDxERNiEJ8dibuSVCN1dxwex371qgPzhkGeMAzKe8T7ivSof/0)",
            &[&["210379e45b3cf75f9c5f9befd8e9506fb962f6a9d185ac87001ec44a8d3df8d4a9e3ac"]],
        );
        check(
            "pkh(tprv8ZgxMBicQKsPdqC56nGKYsarqYsgrSm33vCswnuMLFCk3gP7DFW5nPFExzSe7FGAzkbAFrxtXoQEe8vaX471tU3dsUUC7PNpYLGuzb2agmj/2147483647'/0)",
            "pkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/2147483647'/0)",
            &[&["76a914ebdc90806a9c4356c1c88e42216611e1cb4c1c1788ac"]],
        );
        check(
            "wpkh(tprv8cxhcuQZtLhUA6nNEZeCcfzPCWcwZRFKc5xF7bvoQf4hjeq5nWr9wDpVYViSkK71QQpz9sNcxxpMzeZQ5Lc4phD2setFVsYZfkBUMsgR3x8/1/2/*)",
            "wpkh(tpubD9ejmKSp2iP93ZpA8DJo25eVmY8sikSEBPZ2Q7y6pvs6a95rQufk7iSMidGtU64UDaTmPu5c4uJpTQVQ3rfqT2ZsshbJtaYuqutBhMEvKgw/1/2/*)",
            &[
                &["0014326b2249e3a25d5dc60935f044ee835d090ba859"],
                &["0014af0bd98abc2f2cae66e36896a39ffe2d32984fb7"],
                &["00141fa798efd1cbf95cebf912c031b8a4a6e9fb9f27"],
            ],
        );
        check(
            "sh(wpkh(tprv8ZgxMBicQKsPeDgjzdC36fs6bMjGApWDNLR9erAXMs5skhMv36j9MV5ecvfavji5khqjWaWSFhN3YcCUUdiKH6isR4Pwy3U5y5egddBr16m/10/20/30/40/*'))",
            "sh(wpkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/10/20/30/40/*'))",
            &[
                &["a9149a4d9901d6af519b2a23d4a2f51650fcba87ce7b87"],
                &["a914bed59fc0024fae941d6e20a3b44a109ae740129287"],
                &["a9148483aa1116eb9c05c482a72bada4b1db24af654387"],
            ],
        );
        check(
            "combo(tprv8i6mCVMP3H8UiXuHT9bxRUJMqXBiG4xn3PFXQnCKD3SnK8FdoajBZiMZdM8S8hRUAAoGz1RdotaGZiAhNYe56K94G6BiFhGqGuxFfgKQPiw)",
            "combo(tpubDEnoLuPdBep9bzw5LoGYpsxUQYheRQ9gcgrJhJEcdKFB9cWQRyYmkCyRoTqeD4tJYiVVgt6A3rN6rWn9RYhR9sBsGxji29LYWHuKKbdb1ev)",
            &[&[
                "2102d2b36900396c9282fa14628566582f206a5dd0bcc8d5e892611806cafb0301f0ac",
                "76a91431a507b815593dfc51ffc7245ae7e5aee304246e88ac",
                "001431a507b815593dfc51ffc7245ae7e5aee304246e",
                "a9142aafb926eb247cb18240a7f4c07983ad1f37922687",
            ]],
        );
        check(
            "combo(tprv8iyAReWmmePqZv8hsVZzpx4KHXRyT4chmHdriW95m11R8Tyi3fDLYDM93bq4NGn1V6eCu5cE3zSQ6hPd31F2ApKXkZgTyn1V78pHjkq1V2v/*)",
            "combo(tpubDFfCa4Z1v25WTPAVm9EbEMiRrYwucPocLbEe12BPBGooxxEUg42vihy1DkRWyftztTsL23snYezF9uXjGGwGW6pQjEpcTpmsH6ajpf4CVPn/*)",
            &[
                &[
                    "2102df12b7035bdac8e3bab862a3a83d06ea6b17b6753d52edecba9be46f5d09e076ac",
                    "76a914f90e3178ca25f2c808dc76624032d352fdbdfaf288ac",
                    "0014f90e3178ca25f2c808dc76624032d352fdbdfaf2",
                    "a91408f3ea8c68d4a7585bf9e8bda226723f70e445f087",
                ],
                &[
                    "21032869a233c9adff9a994e4966e5b821fd5bac066da6c3112488dc52383b4a98ecac",
                    "76a914a8409d1b6dfb1ed2a3e8aa5e0ef2ff26b15b75b788ac",
                    "0014a8409d1b6dfb1ed2a3e8aa5e0ef2ff26b15b75b7",
                    "a91473e39884cb71ae4e5ac9739e9225026c99763e6687",
                ],
            ],
        );
        check(
            "sh(wsh(pkh(cVDJUtDjdaM25yNVVDLLX3hcHUfth4c7tY3rSc4hy9e8ibtCuj6G)))",
            "sh(wsh(pkh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)))",
            &[&["a914b61b92e2ca21bac1e72a3ab859a742982bea960a87"]],
        );
    }

    #[test]
    fn hardened_public_derivation_needs_private_keys() {
        let d = Descriptor::parse(
            "pkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/2147483647'/0)",
            N,
        )
        .unwrap();
        assert_eq!(d.expand(0).unwrap_err(), NEED_PRIVATE_KEYS);
        assert!(!d.has_private_keys());
    }

    #[test]
    fn combo_picks_core_coinbase_script_and_infers_origins() {
        let d = Descriptor::parse("combo([deadbeef/1h]tpubDEnoLuPdBep9bzw5LoGYpsxUQYheRQ9gcgrJhJEcdKFB9cWQRyYmkCyRoTqeD4tJYiVVgt6A3rN6rWn9RYhR9sBsGxji29LYWHuKKbdb1ev)", N).unwrap();
        assert!(d.coinbase_script().unwrap().is_p2wpkh());
        let e = d.expand(0).unwrap();
        assert!(e[2].desc.starts_with(
            "wpkh([deadbeef/1h]02d2b36900396c9282fa14628566582f206a5dd0bcc8d5e892611806cafb0301f0)#"
        ));
        let uncompressed = "04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235";
        let d = Descriptor::parse(&format!("combo({uncompressed})"), N).unwrap();
        assert_eq!(d.expand(0).unwrap().len(), 2);
        assert!(d.coinbase_script().unwrap().is_p2pkh());
    }

    #[test]
    fn ranged_wpkh_infers_full_origin_path() {
        let d = Descriptor::parse("wpkh([ffffffff/13']tpubD9ejmKSp2iP93ZpA8DJo25eVmY8sikSEBPZ2Q7y6pvs6a95rQufk7iSMidGtU64UDaTmPu5c4uJpTQVQ3rfqT2ZsshbJtaYuqutBhMEvKgw/1/2/*)", N).unwrap();
        let e = d.expand(1).unwrap();
        assert_eq!(
            hexs(&e[0].script),
            "0014af0bd98abc2f2cae66e36896a39ffe2d32984fb7"
        );
        assert!(
            e[0].desc.starts_with("wpkh([ffffffff/13h/1/2/1]"),
            "{}",
            e[0].desc
        );
        assert!(d
            .to_string_with_checksum()
            .starts_with("wpkh([ffffffff/13']tpub"));
    }

    #[test]
    fn taproot_and_miniscript() {
        let a = "a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd";
        let b = "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb";
        let c = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        let key_only = Descriptor::parse(&format!("tr({a})"), N).unwrap();
        let tree = Descriptor::parse(&format!("tr({a},{{pk({b}),pk({c})}})"), N).unwrap();
        let s1 = key_only.expand(0).unwrap().swap_remove(0).script;
        let s2 = tree.expand(0).unwrap().swap_remove(0).script;
        assert!(s1.is_p2tr() && s2.is_p2tr() && s1 != s2);
        assert!(tree.is_solvable());
        let ms = Descriptor::parse(&format!("wsh(and_v(v:pk({b}),older(144)))"), N).unwrap();
        assert!(ms.expand(0).unwrap()[0].script.is_p2wsh());
        assert_eq!(
            ms.to_string_with_checksum(),
            with_checksum(&format!("wsh(and_v(v:pk({b}),older(144)))"))
        );
        let sorted = Descriptor::parse(&format!("wsh(sortedmulti(1,{b},{c}))"), N).unwrap();
        let plain = Descriptor::parse(&format!("wsh(multi(1,{c},{b}))"), N).unwrap();
        assert_eq!(
            sorted.expand(0).unwrap()[0].script,
            plain.expand(0).unwrap()[0].script
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let deep = format!(
            "{}pk(02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5){}",
            "and_v(v:".repeat(500),
            ",older(1))".repeat(500)
        );
        for bad in [
            "", "(", ")", "pk()", "pk(", "sh()", "wsh(multi(0))", "multi(1)", "tr(,)", "tr()",
            "combo()", "combo(00)", "rawtr()", "addr()", "raw()", "raw(0)", "wsh(thresh(0))",
            "wpkh([zz]02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5)",
            "wpkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/<0;1>/*/*)",
            "pkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/2147483648)",
            "wsh(pk(é))", "##", "raw(51)#", &format!("wsh({deep})"),
        ] {
            if let Ok(d) = Descriptor::parse(bad, N) {
                let _ = d.expand(0);
                let _ = d.to_string_with_checksum();
            }
        }
        let k = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        let k2 = "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb";
        let bare = Descriptor::parse(&format!("sortedmulti(1,{k2},{k})"), N).unwrap();
        let plain = Descriptor::parse(&format!("multi(1,{k},{k2})"), N).unwrap();
        assert_eq!(
            bare.expand(0).unwrap()[0].script,
            plain.expand(0).unwrap()[0].script
        );
        assert_eq!(
            bare.to_string_with_checksum(),
            with_checksum(&format!("sortedmulti(1,{k2},{k})"))
        );
        // Multipath keys parse but do not expand to one script, as in Core's RPCs.
        let multi = Descriptor::parse("wpkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/<0;1>/*)", N).unwrap();
        assert!(multi.expand(0).is_err());
    }

    #[test]
    fn fixed_scripts_and_errors() {
        assert_eq!(
            Descriptor::parse("raw(51)", N).unwrap().expand(0).unwrap()[0]
                .script
                .as_bytes(),
            &[0x51]
        );
        let addr = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85";
        let d = Descriptor::parse(&format!("addr({addr})"), N).unwrap();
        assert!(!d.is_solvable());
        assert!(d.expand(0).unwrap()[0].script.is_p2wsh());
        assert_eq!(
            Descriptor::parse(&format!("sh(addr({addr}))"), N).unwrap_err(),
            "Can only have addr() at top level"
        );
        let k = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        for (bad, msg) in [
            (
                format!("wsh(sh(pk({k})))"),
                "Can only have sh() at top level",
            ),
            (
                format!("wsh(wpkh({k}))"),
                "Can only have wpkh() at top level or inside sh()",
            ),
            (
                format!("wsh(wsh(pk({k})))"),
                "Can only have wsh() at top level or inside sh()",
            ),
            (
                format!("sh(combo({k}))"),
                "Can only have combo() at top level",
            ),
        ] {
            assert_eq!(Descriptor::parse(&bad, N).unwrap_err(), msg);
        }
        assert!(Descriptor::parse(&format!("sh(wsh(pk({k})))"), N).is_ok());
        assert_eq!(
            Descriptor::parse("foo(1)", N).unwrap_err(),
            "'foo(...)' is not a valid descriptor function"
        );
        assert!(Descriptor::parse("addr(notanaddress)", N).is_err());
        let key = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
        assert!(Descriptor::parse(&format!("wsh(wpkh({key}))"), N).is_err());
        assert!(Descriptor::parse(&format!("sh(sh(pk({key})))"), N).is_err());
        assert!(Descriptor::parse("wpkh(02zz)", N).is_err());
    }
}

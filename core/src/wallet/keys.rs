//! Keys and descriptors: the BIP32 seed, the active descriptor per output type (external
//! and internal), imported descriptors, and the lookahead window of derived scripts.

use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Network, NetworkKind, ScriptBuf};
use serde_json::{json, Value};

use crate::descriptor::{self, Descriptor};

/// Core's output types, named as in `getnewaddress`'s `address_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputType {
    /// P2PKH (`pkh`).
    Legacy,
    /// P2SH-wrapped P2WPKH (`sh(wpkh)`).
    P2shSegwit,
    /// P2WPKH (`wpkh`).
    Bech32,
    /// P2TR key path (`tr`).
    Bech32m,
}

impl OutputType {
    /// Every type, in the order Core sets them up.
    pub const ALL: [OutputType; 4] = [
        OutputType::Legacy,
        OutputType::P2shSegwit,
        OutputType::Bech32,
        OutputType::Bech32m,
    ];

    /// Parses Core's name (`legacy`, `p2sh-segwit`, `bech32`, `bech32m`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "legacy" => Some(OutputType::Legacy),
            "p2sh-segwit" => Some(OutputType::P2shSegwit),
            "bech32" => Some(OutputType::Bech32),
            "bech32m" => Some(OutputType::Bech32m),
            _ => None,
        }
    }

    /// Core's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputType::Legacy => "legacy",
            OutputType::P2shSegwit => "p2sh-segwit",
            OutputType::Bech32 => "bech32",
            OutputType::Bech32m => "bech32m",
        }
    }

    fn purpose(self) -> u32 {
        match self {
            OutputType::Legacy => 44,
            OutputType::P2shSegwit => 49,
            OutputType::Bech32 => 84,
            OutputType::Bech32m => 86,
        }
    }

    fn wrap(self, key: &str) -> String {
        match self {
            OutputType::Legacy => format!("pkh({key})"),
            OutputType::P2shSegwit => format!("sh(wpkh({key}))"),
            OutputType::Bech32 => format!("wpkh({key})"),
            OutputType::Bech32m => format!("tr({key})"),
        }
    }

    /// The type of an output script, if it is one of the four.
    pub fn of_script(script: &bitcoin::Script) -> Option<Self> {
        if script.is_p2pkh() {
            Some(OutputType::Legacy)
        } else if script.is_p2sh() {
            Some(OutputType::P2shSegwit)
        } else if script.is_p2wpkh() {
            Some(OutputType::Bech32)
        } else if script.is_p2tr() {
            Some(OutputType::Bech32m)
        } else {
            None
        }
    }
}

/// One descriptor of the wallet (Core's `WalletDescriptor` with its
/// `DescriptorScriptPubKeyMan`).
#[derive(Debug, Clone)]
pub struct WalletDescriptor {
    /// Descriptor id: SHA-256 of the public string.
    pub id: String,
    /// Public form with checksum (what `listdescriptors` shows).
    pub public: String,
    /// Private form with checksum, when known and unlocked.
    pub private: Option<String>,
    /// The private form encrypted with the master key (encrypted wallets).
    pub sealed: Option<String>,
    /// Creation time, where rescans start.
    pub timestamp: i64,
    /// `[start, end]` derivation range (inclusive), ranged descriptors only.
    pub range: Option<(u32, u32)>,
    /// Next index handed out by `getnewaddress`.
    pub next_index: u32,
    /// Whether it is the active one for an output type, and whether internal (change).
    pub active: Option<(OutputType, bool)>,
    /// Whether it was created with private keys (even if now locked).
    pub has_private: bool,
    /// Parsed form used to derive scripts.
    parsed: Descriptor,
}

/// Derives the id Core-style from the public string.
fn desc_id(public: &str) -> String {
    sha256::Hash::hash(public.as_bytes()).to_string()
}

impl WalletDescriptor {
    /// A descriptor from its text (private or public), for import or for the seed-made ones.
    pub fn new(
        text: &str,
        public_override: Option<String>,
        timestamp: i64,
        range: Option<(u32, u32)>,
        next_index: u32,
    ) -> Result<Self, String> {
        let parsed_any = Descriptor::parse(text, Network::Regtest)?;
        let has_private = parsed_any.has_private_keys();
        let public = public_override.unwrap_or_else(|| parsed_any.to_string_with_checksum());
        // Derive from the public form when it needs no hardened step, which is far cheaper.
        let parsed = match Descriptor::parse(&public, Network::Regtest) {
            Ok(p) if p.expand(0).is_ok() => p,
            _ => parsed_any,
        };
        let range = if parsed.is_range() {
            Some(range.unwrap_or((0, 0)))
        } else {
            None
        };
        let body = text.split('#').next().unwrap_or(text);
        Ok(WalletDescriptor {
            id: desc_id(&public),
            public,
            private: has_private.then(|| descriptor::with_checksum(body)),
            sealed: None,
            timestamp,
            range,
            next_index,
            active: None,
            has_private,
            parsed,
        })
    }

    /// The scripts at `index` (one per script for `combo()`).
    pub fn scripts_at(&self, index: u32) -> Result<Vec<ScriptBuf>, String> {
        Ok(self
            .parsed
            .expand(index)?
            .into_iter()
            .map(|e| e.script)
            .collect())
    }

    /// The single-key descriptors (with origins) at `index`, paired with their scripts.
    pub fn expanded_at(&self, index: u32) -> Result<Vec<descriptor::Expanded>, String> {
        self.parsed.expand(index)
    }

    /// Whether the descriptor is ranged.
    pub fn is_range(&self) -> bool {
        self.range.is_some()
    }

    /// JSON form for the database (the private text only when not encrypted).
    pub fn to_json(&self) -> Value {
        json!({
            "public": self.public,
            "private": if self.sealed.is_some() { None } else { self.private.clone() },
            "sealed": self.sealed,
            "timestamp": self.timestamp,
            "range": self.range.map(|(a, b)| json!([a, b])),
            "next_index": self.next_index,
            "active": self.active.map(|(t, i)| json!({"type": t.as_str(), "internal": i})),
            "has_private": self.has_private,
        })
    }

    /// Reads the JSON form.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let public = v["public"].as_str().ok_or("bad descriptor record")?;
        let private = v["private"].as_str();
        let range = v["range"].as_array().and_then(|r| {
            Some((
                u32::try_from(r.first()?.as_u64()?).ok()?,
                u32::try_from(r.get(1)?.as_u64()?).ok()?,
            ))
        });
        let next_index = u32::try_from(v["next_index"].as_u64().unwrap_or(0)).unwrap_or(0);
        let timestamp = v["timestamp"].as_i64().unwrap_or(0);
        let mut d = WalletDescriptor::new(
            private.unwrap_or(public),
            Some(public.to_string()),
            timestamp,
            range,
            next_index,
        )?;
        d.sealed = v["sealed"].as_str().map(str::to_string);
        d.has_private = v["has_private"].as_bool().unwrap_or(d.has_private);
        d.active = v["active"].as_object().and_then(|a| {
            Some((
                OutputType::parse(a.get("type")?.as_str()?)?,
                a.get("internal")?.as_bool()?,
            ))
        });
        Ok(d)
    }

    /// Whether this is a `combo()` descriptor.
    pub fn is_combo(&self) -> bool {
        self.public.starts_with("combo(")
    }

    /// The text to sign with: the private form when known, else the public one.
    pub fn signing_text(&self) -> &str {
        self.private.as_deref().unwrap_or(&self.public)
    }
}

/// Makes the eight active descriptors of a new wallet from a fresh 32-byte seed.
pub fn generate_active(seed: &[u8; 32], timestamp: i64) -> Vec<WalletDescriptor> {
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, seed).expect("32-byte seed is valid");
    let fp = master.fingerprint(&secp);
    let mut out = Vec::new();
    for t in OutputType::ALL {
        let account: DerivationPath = vec![
            ChildNumber::from_hardened_idx(t.purpose()).expect("small"),
            ChildNumber::from_hardened_idx(1).expect("small"),
            ChildNumber::from_hardened_idx(0).expect("small"),
        ]
        .into();
        let xprv = master.derive_priv(&secp, &account).expect("derivable");
        let xpub = Xpub::from_priv(&secp, &xprv);
        for internal in [false, true] {
            let chain = u32::from(internal);
            let private = descriptor::with_checksum(
                &t.wrap(&format!("{master}/{}h/1h/0h/{chain}/*", t.purpose())),
            );
            let public = descriptor::with_checksum(
                &t.wrap(&format!("[{fp}/{}h/1h/0h]{xpub}/{chain}/*", t.purpose())),
            );
            let mut d = WalletDescriptor::new(&private, Some(public), timestamp, Some((0, 0)), 0)
                .expect("generated descriptor parses");
            d.active = Some((t, internal));
            out.push(d);
        }
    }
    out
}

/// Checks that a string parses as a descriptor, for import errors with Core's wording.
pub fn check_descriptor(text: &str) -> Result<(), String> {
    Descriptor::parse(text, Network::Regtest).map(|_| ())
}

/// Parses the xpub/xprv-free form needed by miniscript for signing one script of a
/// descriptor at `index`: `combo()` becomes the single-script descriptor matching `script`.
pub fn signing_descriptor(
    wd: &WalletDescriptor,
    index: u32,
    script: &bitcoin::Script,
) -> Result<
    (
        miniscript::Descriptor<miniscript::DescriptorPublicKey>,
        miniscript::descriptor::KeyMap,
    ),
    String,
> {
    let secp = Secp256k1::new();
    let text = wd.signing_text();
    let body = text.split('#').next().unwrap_or(text);
    let body = if let Some(inner) = body
        .strip_prefix("combo(")
        .and_then(|r| r.strip_suffix(')'))
    {
        if script.is_p2pk() {
            format!("pk({inner})")
        } else if script.is_p2pkh() {
            format!("pkh({inner})")
        } else if script.is_p2wpkh() {
            format!("wpkh({inner})")
        } else {
            format!("sh(wpkh({inner}))")
        }
    } else {
        body.to_string()
    };
    let (d, keys) =
        miniscript::Descriptor::<miniscript::DescriptorPublicKey>::parse_descriptor(&secp, &body)
            .map_err(|e| e.to_string())?;
    let _ = index;
    Ok((d, keys))
}

/// The `ScriptBuf` of an address string on regtest.
pub fn parse_address(s: &str) -> Option<bitcoin::Address> {
    bitcoin::Address::from_str(s)
        .ok()?
        .require_network(Network::Regtest)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_generated_descriptors_derive_addresses() {
        let descs = generate_active(&[7u8; 32], 0);
        assert_eq!(descs.len(), 8);
        let start = std::time::Instant::now();
        for d in &descs {
            for i in 0..50 {
                let s = d.scripts_at(i).unwrap();
                assert_eq!(s.len(), 1);
                assert_eq!(OutputType::of_script(&s[0]), d.active.map(|a| a.0));
            }
        }
        let per = start.elapsed() / 400;
        assert!(per < std::time::Duration::from_millis(5), "{per:?}");
        let back = WalletDescriptor::from_json(&descs[4].to_json()).unwrap();
        assert_eq!(back.public, descs[4].public);
        assert_eq!(back.scripts_at(3).unwrap(), descs[4].scripts_at(3).unwrap());
        assert!(descs[4].public.contains("/84h/1h/0h]tpub"));
        // The public and private forms describe the same scripts.
        let from_private =
            WalletDescriptor::new(descs[4].private.as_ref().unwrap(), None, 0, None, 0).unwrap();
        assert_eq!(
            from_private.scripts_at(5).unwrap(),
            descs[4].scripts_at(5).unwrap()
        );
    }
}

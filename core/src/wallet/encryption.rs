//! Wallet encryption as in Core's `CCrypter`: a random 32-byte master key encrypts the
//! secrets with AES-256-CBC; the master key itself is stored encrypted under a key derived
//! from the passphrase by `rounds` iterations of SHA-512 over passphrase and salt
//! (`EVP_BytesToKey`, Core's `BytesToKeySHA512AES`).

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use bitcoin::hashes::{sha512, Hash, HashEngine};
use serde_json::{json, Value};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// Core's default derivation rounds (it calibrates upwards to ~100 ms; we keep the floor
/// so that unlocking stays fast in tests).
pub const DEFAULT_ROUNDS: u32 = 25_000;

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom is readable");
}

fn derive(passphrase: &str, salt: &[u8], rounds: u32) -> ([u8; 32], [u8; 16]) {
    let mut eng = sha512::Hash::engine();
    eng.input(passphrase.as_bytes());
    eng.input(salt);
    let mut h = sha512::Hash::from_engine(eng);
    for _ in 1..rounds {
        h = sha512::Hash::hash(h.as_byte_array());
    }
    let b = h.to_byte_array();
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&b[..32]);
    iv.copy_from_slice(&b[32..48]);
    (key, iv)
}

/// AES-256-CBC with PKCS#7 padding.
pub fn encrypt(key: &[u8; 32], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; plain.len() + 16];
    buf[..plain.len()].copy_from_slice(plain);
    let n = Enc::new(key.into(), iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, plain.len())
        .expect("buffer has room for padding")
        .len();
    buf.truncate(n);
    buf
}

/// Inverse of [`encrypt`]; `None` when the key is wrong (bad padding).
pub fn decrypt(key: &[u8; 32], iv: &[u8; 16], cipher: &[u8]) -> Option<Vec<u8>> {
    let mut buf = cipher.to_vec();
    let n = Dec::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .ok()?
        .len();
    buf.truncate(n);
    Some(buf)
}

/// The stored, passphrase-encrypted master key (Core's `CMasterKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// The master key encrypted under the passphrase-derived key.
    pub encrypted: Vec<u8>,
    /// 8-byte salt.
    pub salt: Vec<u8>,
    /// SHA-512 rounds.
    pub rounds: u32,
}

impl MasterKey {
    /// Encrypts `master` under `passphrase` with a fresh salt.
    pub fn new(master: &[u8; 32], passphrase: &str) -> Self {
        let mut salt = vec![0u8; 8];
        random_bytes(&mut salt);
        let (key, iv) = derive(passphrase, &salt, DEFAULT_ROUNDS);
        MasterKey {
            encrypted: encrypt(&key, &iv, master),
            salt,
            rounds: DEFAULT_ROUNDS,
        }
    }

    /// The master key, if `passphrase` is right.
    pub fn unlock(&self, passphrase: &str) -> Option<[u8; 32]> {
        let (key, iv) = derive(passphrase, &self.salt, self.rounds);
        let plain = decrypt(&key, &iv, &self.encrypted)?;
        plain.try_into().ok()
    }

    /// JSON form for the database.
    pub fn to_json(&self) -> Value {
        json!({"encrypted": hex(&self.encrypted), "salt": hex(&self.salt), "rounds": self.rounds})
    }

    /// Reads the JSON form.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(MasterKey {
            encrypted: unhex(v["encrypted"].as_str()?)?,
            salt: unhex(v["salt"].as_str()?)?,
            rounds: u32::try_from(v["rounds"].as_u64()?).ok()?,
        })
    }
}

/// Encrypts a secret string with the master key and a fresh IV: `hex(iv || ciphertext)`.
pub fn seal(master: &[u8; 32], secret: &str) -> String {
    let mut iv = [0u8; 16];
    random_bytes(&mut iv);
    let mut out = iv.to_vec();
    out.extend(encrypt(master, &iv, secret.as_bytes()));
    hex(&out)
}

/// Inverse of [`seal`].
pub fn open(master: &[u8; 32], sealed: &str) -> Option<String> {
    let b = unhex(sealed)?;
    if b.len() < 32 {
        return None;
    }
    let iv: [u8; 16] = b[..16].try_into().ok()?;
    String::from_utf8(decrypt(master, &iv, &b[16..])?).ok()
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses hex, `None` on bad input.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_crypter_roundtrip_and_wrong_passphrase() {
        let mut master = [0u8; 32];
        random_bytes(&mut master);
        let mk = MasterKey::new(&master, "correct horse");
        assert_eq!(mk.unlock("correct horse"), Some(master));
        assert_eq!(mk.unlock("wrong"), None);
        let back = MasterKey::from_json(&mk.to_json()).unwrap();
        assert_eq!(back, mk);
        let sealed = seal(&master, "wpkh(tprv...)");
        assert_eq!(open(&master, &sealed).as_deref(), Some("wpkh(tprv...)"));
        let mut other = master;
        other[0] ^= 1;
        assert_ne!(open(&other, &sealed).as_deref(), Some("wpkh(tprv...)"));
        // Core's test vector shape: 16-byte blocks, padding always added.
        assert_eq!(encrypt(&[0; 32], &[0; 16], &[0u8; 16]).len(), 32);
    }
}

//! RPC authentication: the cookie file, `-rpcuser`/`-rpcpassword` and `-rpcauth`
//! (`user:salt$hex(HMAC-SHA256(salt, password))`).

use std::io::Read;
use std::path::{Path, PathBuf};

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};

/// User name of the cookie credential.
pub const COOKIE_USER: &str = "__cookie__";

/// One accepted credential.
#[derive(Debug, Clone)]
enum Credential {
    /// A plain user and password (cookie or `-rpcuser`/`-rpcpassword`).
    Plain { user: String, password: String },
    /// A `-rpcauth` entry.
    Salted {
        user: String,
        salt: String,
        hash: [u8; 32],
    },
}

/// The set of accepted credentials.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    creds: Vec<Credential>,
}

/// Fills `buf` from the kernel's random source.
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison, so a wrong password's timing reveals nothing.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `password` keyed with `salt`, as `share/rpcauth/rpcauth.py` computes.
pub fn rpcauth_hash(salt: &str, password: &str) -> [u8; 32] {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    engine.input(password.as_bytes());
    hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

impl Authenticator {
    /// Adds a plain user/password pair.
    pub fn add_plain(&mut self, user: &str, password: &str) {
        self.creds.push(Credential::Plain {
            user: user.into(),
            password: password.into(),
        });
    }

    /// Adds a `-rpcauth=user:salt$hash` entry; an error for a malformed one.
    pub fn add_rpcauth(&mut self, entry: &str) -> Result<(), String> {
        let bad = || "Invalid -rpcauth argument.".to_string();
        let (user, rest) = entry.split_once(':').ok_or_else(bad)?;
        let (salt, hash_hex) = rest.split_once('$').ok_or_else(bad)?;
        if user.is_empty() || salt.is_empty() || hash_hex.len() != 64 {
            return Err(bad());
        }
        let mut hash = [0u8; 32];
        for (i, b) in hash.iter_mut().enumerate() {
            *b = u8::from_str_radix(hash_hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        self.creds.push(Credential::Salted {
            user: user.into(),
            salt: salt.into(),
            hash,
        });
        Ok(())
    }

    /// Checks an `Authorization` header value (`Basic base64(user:password)`); returns the
    /// user name when it is accepted.
    pub fn check_header(&self, header: &str) -> Option<String> {
        let encoded = header.trim().strip_prefix("Basic ")?.trim();
        let decoded = base64_decode(encoded)?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        let ok = self.creds.iter().any(|c| match c {
            Credential::Plain {
                user: u,
                password: p,
            } => ct_eq(u.as_bytes(), user.as_bytes()) & ct_eq(p.as_bytes(), password.as_bytes()),
            Credential::Salted {
                user: u,
                salt,
                hash,
            } => ct_eq(u.as_bytes(), user.as_bytes()) & ct_eq(&rpcauth_hash(salt, password), hash),
        });
        ok.then(|| user.to_string())
    }
}

/// The cookie file, deleted when dropped.
pub struct CookieFile {
    path: PathBuf,
}

impl CookieFile {
    /// Writes `__cookie__:<64 hex>` to `path` (via a temporary file, like Core) and
    /// returns the handle and the password.
    pub fn generate(path: &Path) -> std::io::Result<(CookieFile, String)> {
        let mut secret = [0u8; 32];
        random_bytes(&mut secret)?;
        let password = hex(&secret);
        let tmp = path.with_extension("tmp");
        // Readable by the owner only, like Core's default -rpccookieperms.
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{COOKIE_USER}:{password}").as_bytes())?;
        std::fs::rename(&tmp, path)?;
        Ok((
            CookieFile {
                path: path.to_path_buf(),
            },
            password,
        ))
    }
}

impl Drop for CookieFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Standard base64 encoding (for the client's `Authorization` header).
pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 decoding; `None` for malformed input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "__cookie__:deadbeef"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn rpcauth_matches_core_script() {
        // hmac.new(salt, password, sha256).hexdigest(), as rpcauth.py computes it.
        let mut a = Authenticator::default();
        let salt = "cb77f0957de88ff388cf817ddbc7273";
        let hash = "a74d005e8595f7d9c71e91f2c42402ff679b2b07e8e8b17126e8022ebaac5fa8";
        assert_eq!(hex(&rpcauth_hash(salt, "rt")), hash);
        a.add_rpcauth(&format!("rt:{salt}${hash}")).unwrap();
        let header = format!("Basic {}", base64_encode(b"rt:rt"));
        assert_eq!(a.check_header(&header).as_deref(), Some("rt"));
        assert!(a
            .check_header(&format!("Basic {}", base64_encode(b"rt:wrong")))
            .is_none());
        assert!(a.add_rpcauth("nodollar").is_err());
    }

    #[test]
    fn plain_credentials() {
        let mut a = Authenticator::default();
        a.add_plain("u", "p");
        assert!(a
            .check_header(&format!("Basic {}", base64_encode(b"u:p")))
            .is_some());
        assert!(a
            .check_header(&format!("Basic {}", base64_encode(b"u:x")))
            .is_none());
        assert!(a.check_header("Bearer x").is_none());
    }
}

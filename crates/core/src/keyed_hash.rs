//! Keyed hashes (HMAC-SHA256, RFC 2104) of entity keys, for every place where a clear key
//! must not be written: audit records, erasure tombstones, the consent log; and keyed
//! pseudonyms of values.
//!
//! An [`EntityHasher`] holds the repository's privacy key. The same key hashes the same
//! entity to the same digest everywhere, so a subject-access report or an erasure can find
//! the entity's records by hashing the key it is asked about, while a reader of those
//! records without the key cannot recover or confirm a guess of the key.
//!
//! The key comes from the environment variable [`PRIVACY_KEY_ENV`] (hex, at least 32 bytes)
//! or, when it is unset, from the file [`PRIVACY_KEY_FILE`] under the repository root,
//! created with 32 random bytes (mode 0600) on first use.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The environment variable that may hold the repository's privacy key, in hex.
pub const PRIVACY_KEY_ENV: &str = "TESSERA_PRIVACY_KEY";
/// Where the privacy key is kept when [`PRIVACY_KEY_ENV`] is unset, relative to the
/// repository root.
pub const PRIVACY_KEY_FILE: &str = ".tessera/privacy.key";

const BLOCK: usize = 64;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    HmacKey::new(key, b"").mac(msg)
}

/// HMAC-SHA256 (RFC 2104) under one key, with an optional message prefix, its padded-key
/// states hashed once: each message then costs two SHA-256 compressions instead of four.
/// The one HMAC of the crate: [`hmac_sha256`], [`EntityHasher`] and the pseudonymising
/// transform use it.
#[derive(Clone)]
pub(crate) struct HmacKey {
    /// SHA-256 after `key ⊕ ipad` and the prefix.
    inner: Sha256,
    /// SHA-256 after `key ⊕ opad`.
    outer: Sha256,
}

impl HmacKey {
    /// The key blocks of `key` (hashed first when longer than a block), the inner state
    /// also absorbing `prefix`.
    pub(crate) fn new(key: &[u8], prefix: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(prefix);
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        Self { inner, outer }
    }

    /// HMAC-SHA256 of the prefix followed by `msg`.
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(msg);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hashes entity keys under the repository's privacy key.
#[derive(Clone)]
pub struct EntityHasher {
    key: HmacKey,
}

impl fmt::Debug for EntityHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EntityHasher { key: <hidden> }")
    }
}

impl EntityHasher {
    /// A hasher under `key` (hashed to 32 bytes when longer).
    pub fn from_key(key: &[u8]) -> Self {
        let mut k = [0u8; 32];
        if key.len() == 32 {
            k.copy_from_slice(key);
        } else {
            k.copy_from_slice(&Sha256::digest(key));
        }
        Self {
            key: HmacKey::new(&k, b""),
        }
    }

    /// The hasher of the repository at `root`: the key from [`PRIVACY_KEY_ENV`], else from
    /// [`PRIVACY_KEY_FILE`], which is created with a random key when missing.
    pub fn for_repo(root: &Path) -> Result<Self> {
        if let Ok(text) = std::env::var(PRIVACY_KEY_ENV) {
            let key = from_hex(&text)
                .filter(|k| k.len() >= 32)
                .ok_or(Error::BadPrivacyKeyEnv)?;
            return Ok(Self::from_key(&key));
        }
        let path = root.join(PRIVACY_KEY_FILE);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = from_hex(&text)
                    .filter(|k| k.len() >= 32)
                    .ok_or_else(|| Error::BadPrivacyKeyFile(path.clone()))?;
                Ok(Self::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| Error::NoRandomness(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_new_key(&path, &to_hex(&key)).map_err(io)?;
                // Another process may have created it first: read back what won.
                Self::for_repo(root)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The digest (64 hex digits) of one entity key, given as (join key, value text) pairs
    /// in any order: `user_id=42` hashes the same whether 42 was an integer or a string.
    pub fn digest(&self, key: &[(&str, &str)]) -> String {
        let mut pairs: Vec<&(&str, &str)> = key.iter().collect();
        pairs.sort();
        let mut msg = Vec::with_capacity(64);
        for (name, value) in pairs {
            msg.extend_from_slice(name.as_bytes());
            msg.push(0x1f);
            msg.extend_from_slice(value.as_bytes());
            msg.push(0x1e);
        }
        to_hex(&self.key.mac(&msg))
    }

    /// The keyed hash of arbitrary bytes under this key, with a `domain` label so hashes made
    /// for different uses never coincide.
    pub fn hash(&self, domain: &str, bytes: &[u8]) -> [u8; 32] {
        let mut msg = Vec::with_capacity(domain.len() + 1 + bytes.len());
        msg.extend_from_slice(domain.as_bytes());
        msg.push(0);
        msg.extend_from_slice(bytes);
        self.key.mac(&msg)
    }
}

/// Creates `path` holding `text`, readable only by its owner, failing if it exists.
fn write_new_key(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rfc4231_test_case_6_long_key() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            to_hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn precomputed_key_blocks_give_the_plain_hmac() {
        for key in [&b"k"[..], &[7u8; 32][..], &[9u8; 100][..]] {
            let h = EntityHasher::from_key(key);
            let k32: Vec<u8> = if key.len() == 32 {
                key.to_vec()
            } else {
                Sha256::digest(key).to_vec()
            };
            assert_eq!(h.key.mac(b"user_id"), hmac_sha256(&k32, b"user_id"));
        }
    }

    #[test]
    fn digest_ignores_pair_order_and_depends_on_key() {
        let a = EntityHasher::from_key(b"one");
        let b = EntityHasher::from_key(b"two");
        let k1 = a.digest(&[("user_id", "42"), ("item_id", "7")]);
        let k2 = a.digest(&[("item_id", "7"), ("user_id", "42")]);
        assert_eq!(k1, k2);
        assert_eq!(k1.len(), 64);
        assert_ne!(k1, b.digest(&[("user_id", "42"), ("item_id", "7")]));
        assert_ne!(k1, a.digest(&[("user_id", "427")]));
    }

    #[test]
    fn repo_key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = EntityHasher::for_repo(dir.path()).unwrap();
        let b = EntityHasher::for_repo(dir.path()).unwrap();
        assert_eq!(a.digest(&[("u", "1")]), b.digest(&[("u", "1")]));
        let text = std::fs::read_to_string(dir.path().join(PRIVACY_KEY_FILE)).unwrap();
        assert_eq!(text.trim().len(), 64);
        std::fs::write(dir.path().join(PRIVACY_KEY_FILE), "zz").unwrap();
        let err = EntityHasher::for_repo(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a privacy key"), "{err}");
    }
}

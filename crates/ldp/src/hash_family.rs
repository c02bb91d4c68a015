//! The k hash functions, identical on the device and the server.

use sha2::{Digest, Sha256};

/// The domain separator of the hash family (versioned: a change of hashing is a new tag).
const TAG: &[u8] = b"tessera-ldp-hash-v1";

/// The keyed hash family `h_j : value → [0, m)` for `j` in `[0, k)`:
///
/// ```text
/// h_j(d) = BE64(SHA-256("tessera-ldp-hash-v1" ‖ BE32(|key|) ‖ key ‖ BE32(j) ‖ d)[0..8]) mod m
/// ```
///
/// The key is the report's name (so two reports hash independently); a simulation
/// uses a key of its own. The bias of the final `mod m` is below m / 2^64.
#[derive(Debug, Clone)]
pub struct HashFamily {
    prefix: Sha256,
    m: u64,
}

impl HashFamily {
    /// The family for one key and m columns.
    pub fn new(key: &[u8], m: u32) -> Self {
        let mut prefix = Sha256::new();
        prefix.update(TAG);
        // Keys are report names (short); a longer one is hashed with its length cut
        // to 32 bits, which stays unambiguous for any key below 4 GiB.
        prefix.update((key.len() as u32).to_be_bytes());
        prefix.update(key);
        Self {
            prefix,
            m: u64::from(m),
        }
    }

    /// `h_j(value)`.
    pub fn bucket(&self, j: u32, value: &[u8]) -> u32 {
        let mut hasher = self.prefix.clone();
        hasher.update(j.to_be_bytes());
        hasher.update(value);
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // The result is below m ≤ 65536.
        (u64::from_be_bytes(first) % self.m) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_keyed() {
        let a = HashFamily::new(b"genre_plays", 1024);
        let b = HashFamily::new(b"genre_plays", 1024);
        let c = HashFamily::new(b"other", 1024);
        assert_eq!(a.bucket(3, b"jazz"), b.bucket(3, b"jazz"));
        let differs = (0..32).any(|j| a.bucket(j, b"jazz") != c.bucket(j, b"jazz"));
        assert!(differs);
        assert!((0..64).all(|j| a.bucket(j, b"rock") < 1024));
    }

    #[test]
    fn known_value() {
        // Pinned so a device and a server built from different versions agree: a
        // change here is a wire change and needs a new tag.
        let h = HashFamily::new(b"k", 1 << 16);
        let mut hasher = Sha256::new();
        hasher.update(b"tessera-ldp-hash-v1");
        hasher.update(1u32.to_be_bytes());
        hasher.update(b"k");
        hasher.update(7u32.to_be_bytes());
        hasher.update(b"v");
        let d = hasher.finalize();
        let expected = u64::from_be_bytes(d[..8].try_into().unwrap()) % 65536;
        assert_eq!(u64::from(h.bucket(7, b"v")), expected);
    }
}

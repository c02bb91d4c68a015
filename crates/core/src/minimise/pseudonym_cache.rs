//! [`PseudonymCache`]: recent pseudonyms of one pseudonymising [`Minimiser`](super::Minimiser),
//! so that reading the same values again (a popular item, a user read on every request)
//! costs a lookup instead of an HMAC-SHA256.
//!
//! A pseudonym is a pure function of (key, purpose, value), so a cached one is always the
//! one the HMAC would give. The cache does **not** hold the values: a slot is found and
//! checked by a 128-bit fingerprint of the value made with two SipHash keys drawn at random
//! when the process starts (never written anywhere), so an erased entity's identifier
//! does not linger in memory in clear, and two values share a fingerprint with
//! probability about n²/2¹²⁹. Direct-mapped (a slot per fingerprint, the newest wins), a
//! lock per slot, allocated on first use: [`SLOTS`] slots of 48 bytes each.
//!
//! It never needs clearing: a minimiser reads its key once, when it is built, and owns its
//! cache, so a changed key (a new process, or a catalog rebuilt on reload) comes with a new
//! minimiser and an empty cache; and a pseudonym stays the HMAC of its value.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Slots per cache (a power of two).
pub(crate) const SLOTS: usize = 4096;

/// One slot: the fingerprint of the value and its pseudonym (empty: vacant).
#[derive(Default)]
struct Slot {
    fingerprint: u128,
    pseudonym: String,
}

/// Recent pseudonyms, by a keyed fingerprint of the value.
#[derive(Default)]
pub(crate) struct PseudonymCache {
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    slots: OnceLock<Box<[Mutex<Slot>]>>,
}

impl PseudonymCache {
    /// The pseudonym of `value`: the cached one, or `make()`'s, which is then cached.
    pub(crate) fn get_or_make(&self, value: &[u8], make: impl FnOnce() -> String) -> String {
        let fingerprint = self.fingerprint(value);
        let slots = self
            .slots
            .get_or_init(|| (0..SLOTS).map(|_| Mutex::new(Slot::default())).collect());
        let Some(slot) = slots.get((fingerprint as usize) & (SLOTS - 1)) else {
            return make();
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.fingerprint == fingerprint && !slot.pseudonym.is_empty() {
            return slot.pseudonym.clone();
        }
        let made = make();
        slot.fingerprint = fingerprint;
        slot.pseudonym.clone_from(&made);
        made
    }

    fn fingerprint(&self, value: &[u8]) -> u128 {
        let half = |k: &std::collections::hash_map::RandomState| {
            let mut h = k.build_hasher();
            h.write(value);
            h.finish()
        };
        (u128::from(half(&self.keys.0)) << 64) | u128::from(half(&self.keys.1))
    }
}

impl std::fmt::Debug for PseudonymCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymCache").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_pseudonym_is_the_made_one_and_made_once() {
        let c = PseudonymCache::default();
        let mut made = 0;
        for _ in 0..3 {
            let p = c.get_or_make(b"u42", || {
                made += 1;
                "p42".to_string()
            });
            assert_eq!(p, "p42");
        }
        assert_eq!(made, 1);
        // Other values get their own.
        assert_eq!(c.get_or_make(b"u43", || "p43".into()), "p43");
        assert_eq!(c.get_or_make(b"u42", || unreachable!()), "p42");
    }

    #[test]
    fn many_values_each_get_their_own_pseudonym() {
        let c = PseudonymCache::default();
        for round in 0..2 {
            for i in 0..(SLOTS * 3) {
                let v = format!("value-{i}");
                let p = c.get_or_make(v.as_bytes(), || format!("p-{i}"));
                assert_eq!(p, format!("p-{i}"), "round {round}");
            }
        }
    }
}

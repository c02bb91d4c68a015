//! [`Subject`]: one entity to erase, as given (`user_id=42`), with the forms its key takes
//! in the stores and its keyed hash (the only form written to disk).

use anyhow::{bail, Result};
use tessera_core::EntityHasher;
use tessera_online::{EntityKey, KeyValue};

/// One entity to erase.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// `(join key, value text)` pairs, sorted by name.
    pub parts: Vec<(String, String)>,
    /// The keyed hash of the key ([`EntityHasher::digest`]).
    pub digest: String,
}

impl Subject {
    /// Parses `user_id=42` or `user_id=42,item_id=a7` (values as text; quotes stripped).
    pub(crate) fn parse(text: &str, hasher: &EntityHasher) -> Result<Self> {
        let mut parts = Vec::new();
        for part in text.split(',') {
            let Some((name, value)) = part.split_once('=') else {
                bail!("`{part}` in --entity `{text}` is not `join_key=value` (hint: e.g. --entity user_id=42)");
            };
            let value = value.trim();
            let value = ['\'', '"']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(value);
            if name.trim().is_empty() || value.is_empty() {
                bail!("--entity `{text}` has an empty join key or value (hint: e.g. --entity user_id=42)");
            }
            parts.push((name.trim().to_string(), value.to_string()));
        }
        Ok(Self::from_parts(parts, hasher))
    }

    /// A subject from `(join key, value text)` pairs.
    pub(crate) fn from_parts(mut parts: Vec<(String, String)>, hasher: &EntityHasher) -> Self {
        parts.sort();
        let pairs: Vec<(&str, &str)> = parts
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let digest = hasher.digest(&pairs);
        Self { parts, digest }
    }

    /// The store keys this entity may be stored under: the value as text, and as an
    /// integer when it reads as one (the store encodes the two differently).
    pub(crate) fn store_keys(&self) -> Result<Vec<EntityKey>> {
        let mut forms: Vec<Vec<(String, KeyValue)>> = vec![Vec::new()];
        for (name, value) in &self.parts {
            let mut next = Vec::new();
            for f in &forms {
                let mut s = f.clone();
                s.push((name.clone(), KeyValue::String(value.clone())));
                next.push(s);
                if let Ok(n) = value.parse::<i64>() {
                    let mut i = f.clone();
                    i.push((name.clone(), KeyValue::Int64(n)));
                    next.push(i);
                }
            }
            forms = next;
        }
        forms
            .into_iter()
            .map(|parts| EntityKey::new(parts).map_err(anyhow::Error::from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> EntityHasher {
        EntityHasher::from_key(&[7u8; 32])
    }

    #[test]
    fn parts_are_sorted_and_the_digest_ignores_order_and_quotes() {
        let a = Subject::parse("user_id=42,item_id='a7'", &hasher()).unwrap();
        let b = Subject::parse("item_id=a7, user_id=42", &hasher()).unwrap();
        assert_eq!(
            a.parts,
            vec![
                ("item_id".into(), "a7".into()),
                ("user_id".into(), "42".into())
            ]
        );
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.digest.len(), 64);
        assert!(!a.digest.contains("42"));
        assert!(Subject::parse("user_id", &hasher()).is_err());
        assert!(Subject::parse("user_id=", &hasher()).is_err());
    }

    #[test]
    fn an_integer_looking_value_is_erased_in_both_forms() {
        let s = Subject::parse("user_id=42", &hasher()).unwrap();
        let keys = s.store_keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&EntityKey::int("user_id", 42)));
        assert!(keys.contains(&EntityKey::string("user_id", "42")));
        let t = Subject::parse("user_id=u42", &hasher()).unwrap();
        assert_eq!(
            t.store_keys().unwrap(),
            vec![EntityKey::string("user_id", "u42")]
        );
    }
}

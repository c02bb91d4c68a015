//! [`EntityKey`]: which entity a stored row describes, and its compact byte encoding.

use std::fmt;
use std::sync::Arc;

use tessera_value::{KeyValue, KeyValueRef};

use crate::error::{Error, Result};
use crate::varint::{self, Reader};

fn put_part(out: &mut Vec<u8>, name: &str, value: KeyValueRef<'_>) {
    varint::put(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    match value {
        KeyValueRef::Int64(v) => {
            out.push(INT);
            out.extend_from_slice(&v.to_be_bytes());
        }
        KeyValueRef::String(s) => {
            out.push(STRING);
            varint::put(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The join-key values that identify one entity, e.g. `user_id=42` or
/// `user_id=42,item_id="a7"`. Parts are kept sorted by join-key name, so the order they are
/// given in does not matter; names are part of the key, so `user_id=1` and `item_id=1` differ.
///
/// ```
/// use tessera_online::{EntityKey, KeyValue};
/// let a = EntityKey::new([("item_id", KeyValue::from("a7")), ("user_id", KeyValue::from(42))])?;
/// let b = EntityKey::new([("user_id", KeyValue::from(42)), ("item_id", KeyValue::from("a7"))])?;
/// assert_eq!(a, b);
/// assert_eq!(EntityKey::decode(&a.encode())?, a);
/// assert!(a.contains(&EntityKey::int("user_id", 42)));
/// # Ok::<_, tessera_online::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    parts: Vec<(Arc<str>, KeyValue)>,
}

const INT: u8 = 1;
const STRING: u8 = 2;

impl EntityKey {
    /// A key from `(join key, value)` parts: at least one, names unique and non-empty.
    pub fn new<N: Into<Arc<str>>>(parts: impl IntoIterator<Item = (N, KeyValue)>) -> Result<Self> {
        let mut parts: Vec<(Arc<str>, KeyValue)> =
            parts.into_iter().map(|(n, v)| (n.into(), v)).collect();
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        if parts.is_empty() {
            return Err(invalid("it has no parts".into()));
        }
        if parts.iter().any(|(n, _)| n.is_empty()) {
            return Err(invalid("a join-key name is empty".into()));
        }
        if let Some(w) = parts.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(invalid(format!("join key `{}` appears twice", w[0].0)));
        }
        Ok(Self { parts })
    }

    /// A single integer key, e.g. `EntityKey::int("user_id", 42)`.
    pub fn int(name: &str, value: i64) -> Self {
        Self {
            parts: vec![(Arc::from(name), KeyValue::Int64(value))],
        }
    }

    /// A single text key.
    pub fn string(name: &str, value: &str) -> Self {
        Self {
            parts: vec![(Arc::from(name), KeyValue::String(value.to_string()))],
        }
    }

    /// The parts, sorted by join-key name.
    pub fn parts(&self) -> &[(Arc<str>, KeyValue)] {
        &self.parts
    }

    /// The join-key names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(|(n, _)| n.as_ref())
    }

    /// Whether every part of `other` is a part of this key (a key contains itself).
    pub fn contains(&self, other: &EntityKey) -> bool {
        other.parts.iter().all(|p| self.parts.contains(p))
    }

    /// The encoding: a part count, then per part the name (varint length + UTF-8), a type tag
    /// and the value (8 bytes big-endian for integers, varint length + UTF-8 for text).
    /// `user_id=42` takes 18 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        varint::put(out, self.parts.len() as u64);
        for (name, value) in &self.parts {
            let value = match value {
                KeyValue::Int64(v) => KeyValueRef::Int64(*v),
                KeyValue::String(s) => KeyValueRef::String(s),
            };
            put_part(out, name, value);
        }
    }

    /// Appends to `out` the encoding of the key with `parts`, without building it (and
    /// without allocating): the bytes [`EntityKey::encode`] gives for
    /// `EntityKey::new(parts)`. `parts` must be sorted by name, names distinct and not
    /// empty (as `new` checks); [`Error::InvalidKey`] otherwise.
    pub fn encode_parts_into(out: &mut Vec<u8>, parts: &[(&str, KeyValueRef<'_>)]) -> Result<()> {
        if parts.is_empty() {
            return Err(invalid("it has no parts".into()));
        }
        if parts.iter().any(|(n, _)| n.is_empty()) {
            return Err(invalid("a join-key name is empty".into()));
        }
        if let Some(w) = parts.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(invalid(format!(
                "join keys `{}` and `{}` are not sorted and distinct",
                w[0].0, w[1].0
            )));
        }
        varint::put(out, parts.len() as u64);
        for (name, value) in parts {
            put_part(out, name, *value);
        }
        Ok(())
    }

    fn encoded_len_hint(&self) -> usize {
        1 + self
            .parts
            .iter()
            .map(|(n, v)| {
                2 + n.len()
                    + match v {
                        KeyValue::Int64(_) => 8,
                        KeyValue::String(s) => 2 + s.len(),
                    }
            })
            .sum::<usize>()
    }

    /// Decodes [`EntityKey::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason| Error::Corrupt {
            what: "entity key",
            reason,
        };
        let mut r = Reader::new(bytes, "entity key");
        let n = r.len()?;
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            let name: Arc<str> = Arc::from(r.str()?);
            let value = match r.u8()? {
                INT => KeyValue::Int64(i64::from_be_bytes(r.array8()?)),
                STRING => KeyValue::String(r.str()?.to_string()),
                _ => return Err(corrupt("unknown key type tag")),
            };
            parts.push((name, value));
        }
        if !r.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Self::new(parts).map_err(|_| corrupt("parts are empty or repeated"))
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidKey {
        reason,
        hint: "give each join key of the entity once, e.g. user_id=42",
    }
}

impl fmt::Display for EntityKey {
    /// `user_id=42,item_id="a7"` (parts sorted by name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_compact_and_round_trips() {
        let k = EntityKey::int("user_id", 42);
        assert_eq!(k.encode().len(), 18);
        assert_eq!(EntityKey::decode(&k.encode()).unwrap(), k);
        let s = EntityKey::string("user_id", "42");
        assert_ne!(k.encode(), s.encode(), "int and text keys never collide");
        assert_ne!(k.encode(), EntityKey::int("item_id", 42).encode());
    }

    #[test]
    fn borrowed_parts_encode_like_a_built_key() {
        let k = EntityKey::new([
            ("user_id", KeyValue::from(-7)),
            ("item_id", KeyValue::from("a7")),
        ])
        .unwrap();
        let mut out = Vec::new();
        EntityKey::encode_parts_into(
            &mut out,
            &[
                ("item_id", KeyValueRef::String("a7")),
                ("user_id", KeyValueRef::Int64(-7)),
            ],
        )
        .unwrap();
        assert_eq!(out, k.encode());
        let unsorted = [
            ("user_id", KeyValueRef::Int64(1)),
            ("item_id", KeyValueRef::Int64(2)),
        ];
        assert!(EntityKey::encode_parts_into(&mut Vec::new(), &unsorted).is_err());
        assert!(EntityKey::encode_parts_into(&mut Vec::new(), &[]).is_err());
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(EntityKey::new(Vec::<(&str, KeyValue)>::new()).is_err());
        assert!(EntityKey::new([("a", KeyValue::from(1)), ("a", KeyValue::from(2))]).is_err());
        assert!(EntityKey::decode(&[1, 1, b'a', 9]).is_err());
        assert!(EntityKey::decode(&[]).is_err());
    }

    #[test]
    fn displays_sorted() {
        let k = EntityKey::new([("u", KeyValue::from(1)), ("i", KeyValue::from("x"))]).unwrap();
        assert_eq!(k.to_string(), "i=\"x\",u=1");
    }
}

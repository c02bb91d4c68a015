//! [`EntityRows`]: the entities a read asks for, as join-key columns, and how they become
//! the [`EntityKey`]s of each feature view.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tessera_online::{EntityKey, KeyValue, KeyValueRef};

use crate::error::{Error, Result};

/// The type of a join key's values, when known (from the source schema). Keys of unknown
/// type take integers and strings as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Integers.
    Int64,
    /// Text.
    String,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Int64 => "integer",
            KeyType::String => "string",
        })
    }
}

/// The entities of a read: one column of values per join key, all the same length. Entity
/// `i` is the `i`-th value of every column.
///
/// ```
/// use tessera_access::EntityRows;
/// use tessera_online::KeyValue;
/// let rows = EntityRows::new(vec![("user_id".into(), vec![KeyValue::Int64(1), KeyValue::Int64(2)])])?;
/// assert_eq!(rows.len(), 2);
/// # Ok::<_, tessera_access::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityRows {
    columns: Vec<(Arc<str>, Vec<KeyValue>)>,
    len: usize,
}

impl EntityRows {
    /// Entity rows from join-key columns. Columns must have equal lengths; a join key given
    /// twice is refused.
    pub fn new(columns: Vec<(String, Vec<KeyValue>)>) -> Result<Self> {
        let mut seen = std::collections::HashSet::with_capacity(columns.len());
        for (k, _) in &columns {
            if !seen.insert(k.as_str()) {
                return Err(Error::RepeatedJoinKey { key: k.clone() });
            }
        }
        let len = columns.first().map_or(0, |(_, v)| v.len());
        if columns.iter().any(|(_, v)| v.len() != len) {
            let lengths: Vec<String> = columns
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.len()))
                .collect();
            return Err(Error::RaggedEntities {
                lengths: crate::list_cap::join_capped(&lengths, ", "),
            });
        }
        Ok(Self {
            columns: columns
                .into_iter()
                .map(|(k, v)| (Arc::from(k.as_str()), v))
                .collect(),
            len,
        })
    }

    /// The number of entities.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entities.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The join-key columns, in the order given.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &[KeyValue])> + Clone {
        self.columns.iter().map(|(k, v)| (k.as_ref(), v.as_slice()))
    }

    /// The join-key names, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.columns.iter().map(|(k, _)| k.as_ref())
    }

    fn column(&self, key: &str) -> Option<&(Arc<str>, Vec<KeyValue>)> {
        self.columns.iter().find(|(k, _)| k.as_ref() == key)
    }

    /// Checks every value against the known key types.
    pub(crate) fn check_types(&self, types: &HashMap<String, KeyType>) -> Result<()> {
        for (key, values) in &self.columns {
            let Some(&expected) = types.get(key.as_ref()) else {
                continue;
            };
            if let Some((row, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| key_type(v) != expected)
            {
                return Err(wrong_key_type(key, expected, row, v));
            }
        }
        Ok(())
    }

    /// The keys of every entity for a view with these join keys (the reference
    /// [`EntityRows::encoded_keys`] is tested against).
    #[cfg(test)]
    pub(crate) fn keys_for(&self, view: &str, join_keys: &[Arc<str>]) -> Result<Vec<EntityKey>> {
        let mut cols = Vec::with_capacity(join_keys.len());
        for k in join_keys {
            let (name, values) = self.column(k).ok_or_else(|| Error::MissingJoinKey {
                key: k.to_string(),
                view: view.to_string(),
                given: self.given(),
            })?;
            cols.push((name, values));
        }
        (0..self.len)
            .map(|i| {
                EntityKey::new(cols.iter().map(|(n, v)| (Arc::clone(n), v[i].clone())))
                    .map_err(Error::Store)
            })
            .collect()
    }

    /// The encoded entity key ([`EntityKey::encode`]) of every entity for a view whose join
    /// keys, sorted by name, are `sorted_keys`: written straight from the request's columns,
    /// without building an [`EntityKey`] or cloning a value.
    pub(crate) fn encoded_keys(
        &self,
        view: &str,
        sorted_keys: &[Arc<str>],
    ) -> Result<Vec<Vec<u8>>> {
        let mut cols: Vec<(&str, &[KeyValue])> = Vec::with_capacity(sorted_keys.len());
        for k in sorted_keys {
            let (_, values) = self.column(k).ok_or_else(|| Error::MissingJoinKey {
                key: k.to_string(),
                view: view.to_string(),
                given: self.given(),
            })?;
            cols.push((k.as_ref(), values.as_slice()));
        }
        let mut parts = Vec::with_capacity(cols.len());
        (0..self.len)
            .map(|i| {
                parts.clear();
                parts.extend(
                    cols.iter()
                        .map(|(name, values)| (*name, key_ref(&values[i]))),
                );
                let mut out = Vec::with_capacity(32);
                EntityKey::encode_parts_into(&mut out, &parts).map_err(Error::Store)?;
                Ok(out)
            })
            .collect()
    }

    fn given(&self) -> String {
        if self.columns.is_empty() {
            "none".to_string()
        } else {
            crate::list_cap::join_capped(&self.names().collect::<Vec<_>>(), ", ")
        }
    }
}

/// A key value, borrowed.
fn key_ref(v: &KeyValue) -> KeyValueRef<'_> {
    match v {
        KeyValue::Int64(n) => KeyValueRef::Int64(*n),
        KeyValue::String(s) => KeyValueRef::String(s),
    }
}

/// The type of a key value.
pub(crate) fn key_type(v: &KeyValue) -> KeyType {
    match v {
        KeyValue::Int64(_) => KeyType::Int64,
        KeyValue::String(_) => KeyType::String,
    }
}

pub(crate) fn wrong_key_type(key: &str, expected: KeyType, row: usize, got: &KeyValue) -> Error {
    let (got, hint) = match (got, expected) {
        (KeyValue::String(s), _) => (
            format!("the string {s:?}"),
            "integers as JSON numbers, e.g. 42, not \"42\"",
        ),
        (KeyValue::Int64(n), _) => (
            format!("the integer {n}"),
            "strings as JSON strings, e.g. \"a7\"",
        ),
    };
    Error::WrongKeyType {
        key: key.to_string(),
        expected,
        row,
        got,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_ragged_and_repeated_columns() {
        let err = EntityRows::new(vec![
            ("a".into(), vec![KeyValue::Int64(1)]),
            ("b".into(), vec![]),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("a: 1, b: 0"), "{err}");
        assert_eq!(err.code(), "ragged_entities");
        for second in [vec![KeyValue::Int64(1)], vec![]] {
            let err = EntityRows::new(vec![
                ("a".into(), vec![KeyValue::Int64(1)]),
                ("b".into(), vec![KeyValue::Int64(1)]),
                ("a".into(), second),
            ])
            .unwrap_err();
            assert_eq!(err.code(), "repeated_join_key");
            let text = err.to_string();
            assert!(
                text.starts_with("join key `a` is given twice (hint: "),
                "{text}"
            );
            assert!(!text.contains("different lengths"), "{text}");
        }
    }

    #[test]
    fn builds_keys_and_checks_types() {
        let rows = EntityRows::new(vec![
            ("item_id".into(), vec!["x".into(), "y".into()]),
            (
                "user_id".into(),
                vec![KeyValue::Int64(1), KeyValue::Int64(2)],
            ),
        ])
        .unwrap();
        let keys = rows.keys_for("v", &[Arc::from("user_id")]).unwrap();
        assert_eq!(keys[1], EntityKey::int("user_id", 2));
        let err = rows
            .keys_for("v", &[Arc::from("device_id")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given: item_id, user_id"), "{err}");
        let sorted = [Arc::from("item_id"), Arc::from("user_id")];
        let encoded = rows.encoded_keys("v", &sorted).unwrap();
        let built = rows.keys_for("v", &sorted).unwrap();
        assert_eq!(
            encoded,
            built.iter().map(EntityKey::encode).collect::<Vec<_>>()
        );
        let err = rows
            .encoded_keys("v", &[Arc::from("device_id")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given: item_id, user_id"), "{err}");
        let types = HashMap::from([("item_id".to_string(), KeyType::Int64)]);
        let err = rows.check_types(&types).unwrap_err().to_string();
        assert!(err.contains("the string \"x\""), "{err}");
    }
}

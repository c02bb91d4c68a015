//! Tombstones (`.tessera/erasure/tombstones`): the keyed hashes of erased entities, one
//! per line — never a clear key. Sources Tessera does not own still hold an erased entity's
//! rows until `--rewrite-sources` rewrites them; every later offline read (training sets,
//! materialisation, content loading) drops rows whose entity's hash is listed here.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use tessera_core::EntityHasher;

/// The tombstone file, relative to the repository.
pub(crate) const TOMBSTONES: &str = tessera_access::TOMBSTONE_FILE;

/// The listed digests.
pub(crate) fn load(root: &Path) -> Result<BTreeSet<String>> {
    let path = root.join(TOMBSTONES);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(tessera_access::tombstone_digests(&t)
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Adds digests (idempotent); returns how many were new.
pub(crate) fn add(root: &Path, digests: &[String]) -> Result<usize> {
    let mut all = load(root)?;
    let before = all.len();
    all.extend(digests.iter().cloned());
    let added = all.len() - before;
    if added > 0 {
        let path = root.join(TOMBSTONES);
        let dir = path.parent().unwrap_or(root);
        let text: String = all.iter().map(|d| format!("{d}\n")).collect();
        super::journal::write_atomically(dir, &path, text.as_bytes())?;
    }
    Ok(added)
}

/// A filter over single-key entities: whether `(join key, value text)` is tombstoned.
#[derive(Debug)]
pub(crate) struct TombstoneFilter {
    hasher: EntityHasher,
    digests: BTreeSet<String>,
}

impl TombstoneFilter {
    /// The repository's filter; `None` when nothing was ever erased.
    pub(crate) fn for_repo(root: &Path) -> Result<Option<Self>> {
        let digests = load(root)?;
        if digests.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            hasher: EntityHasher::for_repo(root)?,
            digests,
        }))
    }

    /// Whether the entity `key` is erased.
    pub(crate) fn erased(&self, key: &[(&str, &str)]) -> bool {
        self.digests.contains(&self.hasher.digest(key))
    }

    /// Whether a store key is erased (an integer and its text hash the same).
    pub(crate) fn erased_key(&self, key: &tessera_online::EntityKey) -> bool {
        let texts: Vec<(String, String)> = key
            .parts()
            .iter()
            .map(|(n, v)| (n.to_string(), key_text(v)))
            .collect();
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.erased(&pairs)
    }

    /// Drops the rows of `batch` whose entity (any entity of `catalog` whose join keys
    /// are all columns of the batch) is erased; returns the batch and how many rows went.
    pub(crate) fn filter_batch(
        &self,
        catalog: &tessera_core::Catalog,
        batch: &RecordBatch,
    ) -> Result<(RecordBatch, usize)> {
        let mut keep = vec![true; batch.num_rows()];
        for entity in catalog.entities().values() {
            let mut cols = Vec::new();
            for k in &entity.join_keys {
                let Some(c) = batch.column_by_name(k) else {
                    break;
                };
                let text = arrow::compute::cast(c, &DataType::Utf8)?;
                cols.push((k.as_str(), text));
            }
            if cols.len() != entity.join_keys.len() {
                continue;
            }
            for (row, k) in keep.iter_mut().enumerate() {
                let mut pairs = Vec::with_capacity(cols.len());
                for (name, c) in &cols {
                    let Some(s) = c.as_any().downcast_ref::<StringArray>() else {
                        break;
                    };
                    if s.is_valid(row) {
                        pairs.push((*name, s.value(row)));
                    }
                }
                if pairs.len() == cols.len() && self.erased(&pairs) {
                    *k = false;
                }
            }
        }
        let dropped = keep.iter().filter(|k| !**k).count();
        if dropped == 0 {
            return Ok((batch.clone(), 0));
        }
        let out = arrow::compute::filter_record_batch(batch, &BooleanArray::from(keep))?;
        Ok((out, dropped))
    }
}

fn key_text(v: &tessera_online::KeyValue) -> String {
    match v {
        tessera_online::KeyValue::Int64(n) => n.to_string(),
        tessera_online::KeyValue::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tombstones_hold_hashes_and_filter_rows_of_erased_entities() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(TombstoneFilter::for_repo(root).unwrap().is_none());
        let hasher = EntityHasher::for_repo(root).unwrap();
        let d = hasher.digest(&[("user_id", "42")]);
        assert_eq!(add(root, std::slice::from_ref(&d)).unwrap(), 1);
        assert_eq!(
            add(root, std::slice::from_ref(&d)).unwrap(),
            0,
            "idempotent"
        );
        let text = std::fs::read_to_string(root.join(TOMBSTONES)).unwrap();
        assert_eq!(text, format!("{d}\n"));
        let f = TombstoneFilter::for_repo(root).unwrap().unwrap();
        assert!(f.erased_key(&tessera_online::EntityKey::int("user_id", 42)));
        assert!(f.erased_key(&tessera_online::EntityKey::string("user_id", "42")));
        assert!(!f.erased_key(&tessera_online::EntityKey::int("user_id", 43)));
        let catalog = tessera_core::Catalog::build(vec![serde_yaml::from_str(
            "entities: [{ name: user, join_keys: [user_id] }]",
        )
        .unwrap()])
        .unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(arrow::array::Int64Array::from(vec![41, 42, 43]))
                    as arrow::array::ArrayRef,
            ),
            (
                "label",
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
            ),
        ])
        .unwrap();
        let (out, dropped) = f.filter_batch(&catalog, &batch).unwrap();
        assert_eq!((out.num_rows(), dropped), (2, 1));
    }
}

//! [`MemoryStore`]: an [`OnlineStore`] in memory, for tables a process loads at startup and
//! serves itself (content metadata in `tessera serve`) and for tests. Rows are kept in
//! their encoded form, so it behaves exactly as the other stores (newer wins by stamp,
//! missing features read as missing); nothing survives the process.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::entity_key::EntityKey;
use crate::error::{Error, Result};
use crate::feature_row::{decode_stamp, FeatureRow, SelectedRow, Stamp};
use crate::online_store::{Capabilities, OnlineStore, WriteBatch, WriteSummary};

const STORE: &str = "memory";

/// Rows by view, then by encoded key.
type Rows = HashMap<String, HashMap<Vec<u8>, Vec<u8>>>;

/// An in-memory online store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: RwLock<Rows>,
    marks: RwLock<HashMap<String, i64>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of rows held for `view`.
    pub fn len(&self, view: &str) -> usize {
        self.rows
            .read()
            .map_or(0, |r| r.get(view).map_or(0, HashMap::len))
    }
}

fn poisoned(op: &'static str) -> Error {
    Error::backend(
        STORE,
        op,
        "a thread panicked while holding the store's lock",
    )
}

#[async_trait::async_trait]
impl OnlineStore for MemoryStore {
    fn name(&self) -> &'static str {
        STORE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            shared_between_processes: false,
            remote: false,
            expires_rows: false,
        }
    }

    async fn read(&self, view: &str, keys: &[EntityKey]) -> Result<Vec<Option<FeatureRow>>> {
        let rows = self.rows.read().map_err(|_| poisoned("read"))?;
        let table = rows.get(view);
        keys.iter()
            .map(|k| {
                table
                    .and_then(|t| t.get(&k.encode()))
                    .map(|b| FeatureRow::decode(b))
                    .transpose()
            })
            .collect()
    }

    async fn read_selected(
        &self,
        view: &str,
        keys: &[Vec<u8>],
        features: &[&str],
    ) -> Result<Vec<Option<SelectedRow>>> {
        let rows = self.rows.read().map_err(|_| poisoned("read"))?;
        let table = rows.get(view);
        keys.iter()
            .map(|k| {
                table
                    .and_then(|t| t.get(k))
                    .map(|b| SelectedRow::decode(b, features))
                    .transpose()
            })
            .collect()
    }

    async fn write(&self, batch: WriteBatch) -> Result<WriteSummary> {
        let pairs = batch.encode()?;
        let mut rows = self.rows.write().map_err(|_| poisoned("write"))?;
        let table = rows.entry(batch.view).or_default();
        let mut summary = WriteSummary::default();
        for (key, row) in pairs {
            let stamp = decode_stamp(&row)?;
            let newer = match table.get(&key) {
                Some(old) => decode_stamp(old)? < stamp,
                None => true,
            };
            if newer {
                table.insert(key, row);
                summary.written += 1;
            } else {
                summary.skipped += 1;
            }
        }
        Ok(summary)
    }

    async fn delete_entity(&self, key: &EntityKey) -> Result<u64> {
        let mut rows = self.rows.write().map_err(|_| poisoned("delete"))?;
        let mut deleted = 0u64;
        for table in rows.values_mut() {
            let mut doomed = Vec::new();
            for k in table.keys() {
                if EntityKey::decode(k)?.contains(key) {
                    doomed.push(k.clone());
                }
            }
            for k in doomed {
                table.remove(&k);
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn future_rows(
        &self,
        view: &str,
        keys: &[EntityKey],
        beyond_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        let mut rows = self.rows.write().map_err(|_| poisoned("repair"))?;
        let Some(table) = rows.get_mut(view) else {
            return Ok(Vec::new());
        };
        let wanted: Vec<Vec<u8>> = if keys.is_empty() {
            table.keys().cloned().collect()
        } else {
            keys.iter().map(EntityKey::encode).collect()
        };
        let mut found = Vec::new();
        for k in wanted {
            let Some(row) = table.get(&k) else { continue };
            let stamp = decode_stamp(row)?;
            if stamp.event_ts > beyond_us {
                found.push((k, stamp));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        if drop {
            for (k, _) in &found {
                table.remove(k);
            }
        }
        found
            .into_iter()
            .map(|(k, s)| Ok((EntityKey::decode(&k)?, s)))
            .collect()
    }

    async fn high_water_mark(&self, view: &str) -> Result<Option<i64>> {
        let marks = self
            .marks
            .read()
            .map_err(|_| poisoned("read high-water mark"))?;
        Ok(marks.get(view).copied())
    }

    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> Result<()> {
        let mut marks = self
            .marks
            .write()
            .map_err(|_| poisoned("set high-water mark"))?;
        marks.insert(view.to_string(), ts_us);
        Ok(())
    }
}

//! [`RemoteCache`]: the cloud values this device was given, per (feature, entity), with
//! when they were fetched. Kept in memory and in the local store (rows of the views
//! `__cloud_cache/<view>`), so a device that restarts without a network still answers from
//! it, marked `stale`. Only cloud features ever enter it.

// foldhash (hashbrown's default) instead of SipHash: looked up for every cloud value of a
// read.
use hashbrown::HashMap;
use std::sync::Mutex;

use tessera_core::FeatureRef;
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};

use crate::error::{Error, Result};
use tessera_access::ValueStatus as Status;

/// One cached value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CacheEntry {
    pub(crate) value: Value,
    pub(crate) status: Status,
    pub(crate) event_ts: Option<i64>,
    pub(crate) fetched_at: i64,
    /// The purpose the cloud answered for: the entry serves reads for it only.
    pub(crate) purpose: String,
}

pub(crate) type Entries = HashMap<FeatureRef, HashMap<EntityKey, CacheEntry>>;

/// The cache. Share it behind an `Arc`.
#[derive(Debug)]
pub(crate) struct RemoteCache {
    entries: Mutex<Entries>,
    store: EmbeddedStore,
}

const PREFIX: &str = "__cloud_cache/";

impl RemoteCache {
    pub(crate) fn new(store: EmbeddedStore) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            store,
        }
    }

    /// The in-memory entry, if any.
    pub(crate) fn get(&self, f: &FeatureRef, key: &EntityKey) -> Option<CacheEntry> {
        self.entries.lock().ok()?.get(f)?.get(key).cloned()
    }

    /// Runs `f` over the in-memory entries under one lock (`None` when the lock is
    /// poisoned: nothing is cached), so a read looks up all its values at once.
    pub(crate) fn with_entries<T>(&self, f: impl FnOnce(Option<&Entries>) -> T) -> T {
        match self.entries.lock() {
            Ok(entries) => f(Some(&entries)),
            Err(_) => f(None),
        }
    }

    /// Loads the persisted entries of these keys of `view` that memory does not hold yet.
    pub(crate) async fn load(&self, view: &str, keys: &[EntityKey]) -> Result<()> {
        let rows = self
            .store
            .read(&format!("{PREFIX}{view}"), keys)
            .await
            .map_err(Error::Store)?;
        let Ok(mut entries) = self.entries.lock() else {
            return Ok(());
        };
        for (key, row) in keys.iter().zip(rows) {
            let Some(row) = row else { continue };
            for (feature, v) in row.values {
                let Some(entry) = decode_entry(v) else {
                    continue;
                };
                let slot = entries.entry(FeatureRef::new(view, feature)).or_default();
                slot.entry(key.clone()).or_insert(entry);
            }
        }
        Ok(())
    }

    /// Stores fetched values in memory and durably. An entity the cloud answered `erased`
    /// for is never stored: everything cached of it is dropped instead ([`Self::forget`]).
    pub(crate) async fn put(
        &self,
        fetched: Vec<(FeatureRef, EntityKey, CacheEntry)>,
    ) -> Result<()> {
        let mut erased: Vec<EntityKey> = Vec::new();
        let mut views: Vec<String> = Vec::new();
        for (f, key, e) in &fetched {
            if e.status == Status::Erased && !erased.contains(key) {
                erased.push(key.clone());
            }
            if !views.contains(&f.view) {
                views.push(f.view.clone());
            }
        }
        let fetched: Vec<_> = if erased.is_empty() {
            fetched
        } else {
            self.forget(&erased, &views).await?;
            fetched
                .into_iter()
                .filter(|(_, k, _)| !erased.contains(k))
                .collect()
        };
        let mut touched: Vec<(String, EntityKey)> = Vec::new();
        if let Ok(mut entries) = self.entries.lock() {
            for (f, key, entry) in fetched {
                if !touched.iter().any(|(v, k)| *v == f.view && *k == key) {
                    touched.push((f.view.clone(), key.clone()));
                }
                entries.entry(f).or_default().insert(key, entry);
            }
        }
        let mut batches = Vec::new();
        if let Ok(entries) = self.entries.lock() {
            for (view, key) in touched {
                let mut names = Vec::new();
                let mut values = Vec::new();
                let mut newest = i64::MIN;
                for (f, per_key) in entries.iter().filter(|(f, _)| f.view == view) {
                    if let Some(e) = per_key.get(&key) {
                        names.push(f.feature.clone());
                        values.push(encode_entry(e));
                        newest = newest.max(e.fetched_at);
                    }
                }
                let mut batch = WriteBatch::new(format!("{PREFIX}{view}"), names);
                batch.push(key, Stamp::new(newest, Stamp::NO_CREATED), values);
                batches.push(batch);
            }
        }
        for b in batches {
            self.store.write(b).await.map_err(Error::Store)?;
        }
        Ok(())
    }
}

impl RemoteCache {
    /// Drops every cached value of `keys`: in memory (all views) and in the store (the
    /// cache rows of `views` and of every view memory holds).
    pub(crate) async fn forget(&self, keys: &[EntityKey], views: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0); // (no keys would mean every row of the views to the store)
        }
        let mut all: Vec<String> = views.to_vec();
        if let Ok(mut entries) = self.entries.lock() {
            for (f, per_key) in entries.iter_mut() {
                per_key.retain(|k, _| !keys.contains(k));
                if !all.contains(&f.view) {
                    all.push(f.view.clone());
                }
            }
        }
        let mut removed = 0;
        for view in all {
            // Every row of these keys: stamped after the earliest possible time.
            removed += self
                .store
                .future_rows(&format!("{PREFIX}{view}"), keys, i64::MIN, true)
                .await
                .map_err(Error::Store)?
                .len() as u64;
        }
        Ok(removed)
    }
}

/// An entry as a stored value: `[value, status, event time | null, fetched at, purpose]`.
fn encode_entry(e: &CacheEntry) -> Value {
    Value::List(vec![
        e.value.clone(),
        Value::String(e.status.as_str().to_string()),
        e.event_ts.map_or(Value::Null, Value::Timestamp),
        Value::Timestamp(e.fetched_at),
        Value::String(e.purpose.clone()),
    ])
}

/// A stored entry; one stored before entries named their purpose (four items) serves no
/// purpose, so it is fetched again.
fn decode_entry(v: Value) -> Option<CacheEntry> {
    let Value::List(mut items) = v else {
        return None;
    };
    let purpose = match items.len() {
        5 => match items.pop()? {
            Value::String(p) => p,
            _ => return None,
        },
        4 => String::new(),
        _ => return None,
    };
    let fetched_at = match items.pop()? {
        Value::Timestamp(t) => t,
        _ => return None,
    };
    let event_ts = match items.pop()? {
        Value::Timestamp(t) => Some(t),
        Value::Null => None,
        _ => return None,
    };
    let status = match items.pop()? {
        Value::String(s) => Status::parse(&s)?,
        _ => return None,
    };
    Some(CacheEntry {
        value: items.pop()?,
        status,
        event_ts,
        fetched_at,
        purpose,
    })
}

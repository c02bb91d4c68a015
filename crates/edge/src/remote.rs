//! [`Remote`]: cloud features for the device — from its cache when fresh, else from the
//! Tessera server, never waiting longer than `remote_timeout`.
//!
//! For each (feature, entity) of a read, by the age of its cached value:
//!
//! | age | answer | cloud call |
//! |---|---|---|
//! | `< cache_ttl` (of the view) | the cached value, as the server gave it | none |
//! | `< cache_ttl + stale_while_revalidate` | the cached value, marked `stale` | in the background |
//! | older, or not cached | what the server answers now | yes, bounded by `remote_timeout` |
//!
//! When that call fails or times out, values cached at most `max_stale` ago are served
//! marked `stale`, others are `unavailable`, and for `retry_after` reads answer from the
//! cache without calling. One call asks only for the features and entities that need it.
//!
//! A cached value is the cloud's answer for the purpose it was fetched for, with its
//! status: it is served only to reads for that purpose, and a withheld status
//! (`suppressed`, `no_consent`, `expired`, `refused`, …) always comes with a null value,
//! so a value the cloud withholds now is never served from an older answer. Each answer
//! for a purpose that requires consent also teaches the device's consent log
//! ([`crate::consent_mirror`]).

use std::collections::HashSet;

// foldhash (hashbrown's default) instead of SipHash: looked up for every feature of a read.
use hashbrown::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tessera_access::EntityRows;
use tessera_core::{Catalog, FeatureRef};
use tessera_online::{EmbeddedStore, EntityKey, Value};

use crate::clock::now_us;
use crate::device_config::{micros, DeviceConfig};
use crate::entity_keys::keys_for;
use crate::error::{Error, Result};
use crate::remote_cache::{CacheEntry, RemoteCache};
use crate::remote_client::RemoteClient;
use crate::remote_request::{RemoteFeature, RemoteRequest};
use crate::remote_response::{decode_features, error_message, refused_features};
use tessera_access::{FeatureColumn as Column, ValueStatus as Status};

/// The cloud, as the device sees it. Share it behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Remote {
    catalog: Arc<Catalog>,
    client: Option<RemoteClient>,
    cache: RemoteCache,
    config: DeviceConfig,
    offline_until: AtomicI64,
    refreshing: Mutex<HashSet<FeatureRef>>,
    last_error: Mutex<Option<String>>,
    calls: AtomicU64,
    /// Every feature the cloud may be asked for, checked once by `RemoteFeature::new`.
    cloud_features: HashMap<FeatureRef, RemoteFeature>,
    /// What the device knows of consent, learned from the cloud's answers.
    consent: Arc<tessera_consent::ConsentStore>,
}

/// What a read needs of one (feature, entity).
enum Need {
    Served,
    Background,
    Now,
}

impl Remote {
    pub(crate) fn new(
        catalog: Arc<Catalog>,
        store: EmbeddedStore,
        config: DeviceConfig,
        consent: Arc<tessera_consent::ConsentStore>,
    ) -> Result<Self> {
        let client = match &config.server_url {
            Some(url) => Some(RemoteClient::new(url, config.token.as_deref())?),
            None => None,
        };
        let mut cloud_features = HashMap::new();
        for view in catalog.feature_views().values() {
            for f in &view.features {
                let r = FeatureRef::new(&view.name, &f.name);
                if let Ok(cf) = RemoteFeature::new(&catalog, &r) {
                    cloud_features.insert(r, cf);
                }
            }
        }
        Ok(Self {
            cloud_features,
            catalog,
            client,
            cache: RemoteCache::new(store),
            config,
            offline_until: AtomicI64::new(i64::MIN),
            refreshing: Mutex::new(HashSet::new()),
            last_error: Mutex::new(None),
            calls: AtomicU64::new(0),
            consent,
        })
    }

    /// Drops every cached cloud value of `key` (see [`RemoteCache::forget`]) and what the
    /// device learned of its consent.
    pub(crate) async fn forget(&self, key: &EntityKey) -> Result<u64> {
        let removed = self.cache.forget(std::slice::from_ref(key), &[]).await?;
        crate::consent_mirror::forget(&self.consent, key)?;
        Ok(removed)
    }

    /// How many calls went to the cloud (for tests and benchmarks).
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The last failure talking to the cloud, if the last call failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }

    /// The values of cloud `features` for every entity; never waits longer than
    /// `remote_timeout`. Fails only for input errors (a feature that is not a cloud feature,
    /// a missing join key).
    pub(crate) async fn fetch(
        self: &Arc<Self>,
        features: &[FeatureRef],
        entities: &EntityRows,
        purpose: &str,
    ) -> Result<Vec<Column>> {
        let cloud = features
            .iter()
            .map(|f| match self.cloud_features.get(f) {
                Some(cf) => Ok(cf.clone()),
                None => RemoteFeature::new(&self.catalog, f), // the error that says why
            })
            .collect::<Result<Vec<_>>>()?;
        let n = entities.len();
        let now = now_us();
        let mut keys_by_view: HashMap<&str, Vec<EntityKey>> = HashMap::new();
        for f in &cloud {
            let view = f.feature_ref().view.as_str();
            if !keys_by_view.contains_key(view) {
                keys_by_view.insert(view, keys_for(entities, view, f.join_keys())?);
            }
        }
        let mut out: Vec<Column> = cloud
            .iter()
            .map(|_| Column::filled(n, Status::Unavailable))
            .collect();
        let mut now_needed: Vec<(usize, usize)> = Vec::new();
        let mut background: Vec<(usize, usize)> = Vec::new();
        let mut loaded: Vec<&str> = Vec::new();
        // One pass over the in-memory cache, under one lock. A value it does not hold may be
        // persisted (a restart): the views of such values are loaded once, and the pass
        // is made again.
        loop {
            let mut to_load: Vec<&str> = Vec::new();
            self.cache.with_entries(|entries| {
                for (fi, f) in cloud.iter().enumerate() {
                    let r = f.feature_ref();
                    let keys = &keys_by_view[r.view.as_str()];
                    let ttl = micros(self.config.ttl_of(&r.view));
                    let per_key = entries.and_then(|e| e.get(r));
                    for (ei, key) in keys.iter().enumerate() {
                        // Another purpose's answer is not this read's (its form and
                        // consent differ).
                        let entry = per_key
                            .and_then(|m| m.get(key))
                            .filter(|e| e.purpose == purpose);
                        let view = r.view.as_str();
                        if entry.is_none() && !loaded.contains(&view) && !to_load.contains(&view) {
                            to_load.push(view);
                        }
                        match self.classify(entry, ttl, now) {
                            Need::Served => set(&mut out[fi], ei, entry, false),
                            Need::Background => {
                                set(&mut out[fi], ei, entry, true);
                                background.push((fi, ei));
                            }
                            Need::Now => now_needed.push((fi, ei)),
                        }
                    }
                }
            });
            if to_load.is_empty() {
                break;
            }
            for view in to_load {
                self.cache.load(view, &keys_by_view[view]).await?;
                loaded.push(view);
            }
            out.iter_mut()
                .for_each(|c| *c = Column::filled(n, Status::Unavailable));
            now_needed.clear();
            background.clear();
        }
        if !now_needed.is_empty() {
            let fetched =
                if self.client.is_none() || now < self.offline_until.load(Ordering::Relaxed) {
                    None
                } else {
                    self.call_bounded(&cloud, entities, &now_needed, purpose, &keys_by_view)
                        .await
                };
            for &(fi, ei) in &now_needed {
                let r = cloud[fi].feature_ref();
                let key = &keys_by_view[r.view.as_str()][ei];
                match fetched.as_ref().and_then(|m| m.get(&(fi, ei))) {
                    Some(e) => set(&mut out[fi], ei, Some(e), false),
                    None => {
                        let old = self.cache.get(r, key).filter(|e| {
                            e.purpose == purpose
                                && now.saturating_sub(e.fetched_at) <= micros(self.config.max_stale)
                        });
                        if old.is_some() {
                            set(&mut out[fi], ei, old.as_ref(), true);
                        }
                    }
                }
            }
        }
        if !background.is_empty() {
            self.refresh_in_background(&cloud, entities, background, purpose);
        }
        Ok(out)
    }

    fn classify(&self, entry: Option<&CacheEntry>, ttl: i64, now: i64) -> Need {
        let Some(e) = entry else { return Need::Now };
        let age = now.saturating_sub(e.fetched_at);
        if age < ttl {
            Need::Served
        } else if age < ttl.saturating_add(micros(self.config.stale_while_revalidate)) {
            Need::Background
        } else {
            Need::Now
        }
    }

    /// One cloud call for the given (feature, entity) pairs, bounded by `remote_timeout`;
    /// the fetched entries by pair, also stored in the cache. `None` when it failed.
    async fn call_bounded(
        &self,
        cloud: &[RemoteFeature],
        entities: &EntityRows,
        pairs: &[(usize, usize)],
        purpose: &str,
        keys_by_view: &HashMap<&str, Vec<EntityKey>>,
    ) -> Option<HashMap<(usize, usize), CacheEntry>> {
        let mut fis: Vec<usize> = pairs.iter().map(|p| p.0).collect();
        fis.sort_unstable();
        fis.dedup();
        let mut rows: Vec<usize> = pairs.iter().map(|p| p.1).collect();
        rows.sort_unstable();
        rows.dedup();
        let feats: Vec<RemoteFeature> = fis.iter().map(|&i| cloud[i].clone()).collect();
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(
            self.config.remote_timeout,
            self.call(&feats, entities, &rows, purpose),
        )
        .await;
        let cols = match answer {
            Ok(Ok(cols)) => cols,
            Ok(Err(e)) => {
                self.failed(e.to_string());
                return None;
            }
            Err(_) => {
                self.failed(format!(
                    "no answer within {} ms",
                    self.config.remote_timeout.as_millis()
                ));
                return None;
            }
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = None;
        }
        if let Err(e) = crate::consent_mirror::learn(
            &self.consent,
            &self.catalog,
            purpose,
            entities,
            &rows,
            &cols,
        ) {
            self.note(format!(
                "could not record the consent the cloud answered: {e}"
            ));
        }
        let fetched_at = now_us();
        let mut erased: Vec<EntityKey> = Vec::new();
        let mut by_pair = HashMap::new();
        let mut to_cache = Vec::new();
        for (&fi, col) in fis.iter().zip(cols) {
            let r = cloud[fi].feature_ref();
            let keys = &keys_by_view[r.view.as_str()];
            for (j, &ei) in rows.iter().enumerate() {
                let status = col.statuses.get(j).copied().unwrap_or(Status::Unavailable);
                // A withheld status never carries a value, whatever the answer holds.
                let value = match status {
                    Status::Present | Status::Stale => {
                        col.values.get(j).cloned().unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                };
                if status == Status::Erased && !erased.contains(&keys[ei]) {
                    erased.push(keys[ei].clone());
                }
                let entry = CacheEntry {
                    value,
                    status,
                    event_ts: col.event_ts.get(j).copied().flatten(),
                    fetched_at,
                    purpose: purpose.to_string(),
                };
                to_cache.push((r.clone(), keys[ei].clone(), entry.clone()));
                by_pair.insert((fi, ei), entry);
            }
        }
        if let Err(e) = self.cache.put(to_cache).await {
            self.failed(format!("could not store fetched values: {e}"));
        }
        for key in &erased {
            if let Err(e) = crate::consent_mirror::forget(&self.consent, key) {
                self.note(format!("could not forget an erased entity's consent: {e}"));
            }
        }
        Some(by_pair)
    }

    /// Records a problem that is not the cloud's (the device's own log), for
    /// [`Remote::last_error`].
    fn note(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    fn failed(&self, message: String) {
        let until = now_us().saturating_add(micros(self.config.retry_after));
        self.offline_until.store(until, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    /// `POST /v1/features` for `feats` of the entity rows `rows`. A 403 naming refused
    /// features is retried once without them, and they come back `refused`.
    async fn call(
        &self,
        feats: &[RemoteFeature],
        entities: &EntityRows,
        rows: &[usize],
        purpose: &str,
    ) -> Result<Vec<Column>> {
        let first = self.post(feats, entities, rows, purpose).await?;
        if first.0 != 403 {
            return first.1;
        }
        let n = rows.len();
        let Some(refused) = refused_features(&first.2) else {
            return Ok(feats
                .iter()
                .map(|_| Column::filled(n, Status::Refused))
                .collect());
        };
        let rest: Vec<RemoteFeature> = feats
            .iter()
            .filter(|f| !refused.contains(f.feature_ref()))
            .cloned()
            .collect();
        let mut answered = if rest.is_empty() {
            Vec::new().into_iter()
        } else {
            let (status, cols, body) = self.post(&rest, entities, rows, purpose).await?;
            if status == 403 {
                return Err(Error::Remote {
                    message: error_message(status, &body),
                });
            }
            cols?.into_iter()
        };
        feats
            .iter()
            .map(|f| {
                if refused.contains(f.feature_ref()) {
                    Ok(Column::filled(n, Status::Refused))
                } else {
                    answered.next().ok_or_else(|| Error::Remote {
                        message: "the answer has fewer features than asked for".into(),
                    })
                }
            })
            .collect()
    }

    async fn post(
        &self,
        feats: &[RemoteFeature],
        entities: &EntityRows,
        rows: &[usize],
        purpose: &str,
    ) -> Result<(u16, Result<Vec<Column>>, hyper::body::Bytes)> {
        let client = self.client.as_ref().ok_or_else(|| Error::Remote {
            message: "no server is configured".into(),
        })?;
        let req = RemoteRequest::new(feats.to_vec(), entities, rows, purpose)?;
        let resp = client.post_features(req.to_json()?).await?;
        let cols = match resp.status {
            200 => decode_features(&self.catalog, &resp.body, feats, rows.len()),
            s => Err(Error::Remote {
                message: error_message(s, &resp.body),
            }),
        };
        Ok((resp.status, cols, resp.body))
    }

    /// Whether a server is configured.
    pub(crate) fn has_server(&self) -> bool {
        self.client.is_some()
    }

    /// `POST /v1/ldp/reports` with an encoded batch (the binary format of
    /// `tessera_ldp::wire`: the report's name, parameters and randomised bits, nothing
    /// else). Bounded by the device's remote timeout.
    pub(crate) async fn post_ldp(
        &self,
        batch: Vec<u8>,
        timeout: std::time::Duration,
    ) -> Result<()> {
        let client = self.client.as_ref().ok_or_else(|| Error::Remote {
            message: "no server is configured".into(),
        })?;
        let call = client.post("/v1/ldp/reports", tessera_ldp::wire::CONTENT_TYPE, batch);
        let resp = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Error::Remote {
                message: format!("no answer to the local-DP report within {timeout:?}"),
            })??;
        match resp.status {
            200 => Ok(()),
            s => Err(Error::Remote {
                message: error_message(s, &resp.body),
            }),
        }
    }

    fn refresh_in_background(
        self: &Arc<Self>,
        cloud: &[RemoteFeature],
        entities: &EntityRows,
        pairs: Vec<(usize, usize)>,
        purpose: &str,
    ) {
        if self.client.is_none() || now_us() < self.offline_until.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut refreshing) = self.refreshing.lock() else {
            return;
        };
        let pairs: Vec<(usize, usize)> = pairs
            .into_iter()
            .filter(|(fi, _)| !refreshing.contains(cloud[*fi].feature_ref()))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let feats: Vec<FeatureRef> = pairs
            .iter()
            .map(|(fi, _)| cloud[*fi].feature_ref().clone())
            .collect();
        refreshing.extend(feats.iter().cloned());
        drop(refreshing);
        let this = Arc::clone(self);
        let cloud = cloud.to_vec();
        let entities = entities.clone();
        let purpose = purpose.to_string();
        tokio::spawn(async move {
            let mut keys_by_view: HashMap<&str, Vec<EntityKey>> = HashMap::new();
            let mut complete = true;
            for f in &cloud {
                let view = f.feature_ref().view.as_str();
                match keys_for(&entities, view, f.join_keys()) {
                    Ok(keys) => {
                        keys_by_view.insert(view, keys);
                    }
                    Err(_) => complete = false, // cannot happen: the read built the same keys
                }
            }
            if complete {
                let _ = this
                    .call_bounded(&cloud, &entities, &pairs, &purpose, &keys_by_view)
                    .await;
            }
            if let Ok(mut refreshing) = this.refreshing.lock() {
                for f in &feats {
                    refreshing.remove(f);
                }
            }
        });
    }
}

/// Puts a cache entry into a column at `i`; `stale` marks a usable value `stale`.
fn set(col: &mut Column, i: usize, entry: Option<&CacheEntry>, stale: bool) {
    let Some(e) = entry else { return };
    let status = match e.status {
        Status::Present | Status::Null if stale => Status::Stale,
        s => s,
    };
    col.values[i] = e.value.clone();
    col.statuses[i] = status;
    col.event_ts[i] = e.event_ts;
}

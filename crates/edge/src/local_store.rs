//! [`LocalStore`]: the device's own store of signals. Every feature view over a
//! `type: device` source lives here, and nowhere else:
//!
//! - a view of **aggregations** keeps one `tessera_aggregate::ViewState` per entity, updated
//!   by each recorded event with `ViewState::update` and finished with `value_at` — the very
//!   code the stream engine and the training-set backfill run, so a device value equals the
//!   cloud's for the same events and instant;
//! - a view of **features** keeps each entity's latest event (recent locale, network type …),
//!   newest event time winning, and applies the view's TTL on read.
//!
//! Both are rows of an embedded online store (`tessera_online::EmbeddedStore`, redb) in the
//! device directory, in the online store's row format (states as the `__state` value), so a
//! restart keeps everything. Decoded states are kept in memory after their first use, so a
//! read does not decode them again.

// foldhash (hashbrown's default) instead of SipHash: these maps are looked up for every
// feature of every read.
use hashbrown::HashMap;
use std::sync::{Arc, Mutex};

use tessera_access::EntityRows;
use tessera_aggregate::{ViewSpec, ViewState};
use tessera_core::{Catalog, FeatureRef, SourceType, Ttl};
use tessera_online::{
    freshness, state_batch, state_of, EmbeddedStore, EntityKey, FeatureRow, Freshness, KeyValue,
    OnlineStore, Stamp, Value, WriteBatch,
};

use crate::entity_keys::keys_for;
use crate::error::{Error, Result};
use crate::event::{check_event, CheckedEvent, Event};
use tessera_access::{FeatureColumn as Column, ValueStatus as Status};

/// Decoded states kept in memory per view at most; beyond, the map is emptied and refills
/// on use.
const MAX_CACHED_STATES: usize = 100_000;

/// One device view, as the store computes it.
#[derive(Debug)]
struct DeviceView {
    name: Arc<str>,
    join_keys: Vec<Arc<str>>,
    ttl: Ttl,
    kind: ViewKind,
    /// Decoded aggregation states of this view, by entity.
    states: Mutex<HashMap<EntityKey, (Arc<ViewState>, Stamp)>>,
}

#[derive(Debug)]
enum ViewKind {
    /// Window aggregations: the spec, and each feature's position in it.
    Aggregate {
        spec: Arc<ViewSpec>,
        positions: HashMap<String, usize>,
    },
    /// Latest event: (feature name, source column) of every feature.
    Latest { features: Vec<(String, String)> },
}

/// The device's local store. Share it behind an `Arc`.
#[derive(Debug)]
pub struct LocalStore {
    store: EmbeddedStore,
    views: HashMap<String, DeviceView>,
    by_source: HashMap<String, Vec<String>>,
    catalog: Arc<Catalog>,
    /// Records are applied one at a time (read-modify-write of states).
    writer: tokio::sync::Mutex<()>,
    /// Events stamped beyond this bound ahead of the device's clock are refused.
    future: tessera_online::FutureBound,
}

impl LocalStore {
    /// Opens (creating if needed) the store in `dir` for the device views of `catalog`.
    pub fn open(dir: &std::path::Path, catalog: Arc<Catalog>) -> Result<Self> {
        Self::with_store(EmbeddedStore::open(dir).map_err(Error::Store)?, catalog)
    }

    /// The store over an open embedded store, for the device views of `catalog`.
    pub fn with_store(store: EmbeddedStore, catalog: Arc<Catalog>) -> Result<Self> {
        let mut views = HashMap::new();
        let mut by_source: HashMap<String, Vec<String>> = HashMap::new();
        for view in catalog.feature_views().values() {
            let Ok(source) = catalog.source_of(view) else {
                continue;
            };
            if source.source_type != SourceType::Device {
                continue;
            }
            let kind = match catalog.view_spec(view).map_err(Error::Definitions)? {
                Some(spec) => ViewKind::Aggregate {
                    spec: Arc::new(spec),
                    positions: view
                        .features
                        .iter()
                        .filter(|f| f.derived.is_some())
                        .enumerate()
                        .map(|(i, f)| (f.name.clone(), i))
                        .collect(),
                },
                None => ViewKind::Latest {
                    features: view
                        .features
                        .iter()
                        .map(|f| (f.name.clone(), f.source_column().to_string()))
                        .collect(),
                },
            };
            by_source
                .entry(source.name.clone())
                .or_default()
                .push(view.name.clone());
            views.insert(
                view.name.clone(),
                DeviceView {
                    name: Arc::from(view.name.as_str()),
                    join_keys: catalog
                        .join_keys(view)
                        .into_iter()
                        .map(|k| Arc::from(k.as_str()))
                        .collect(),
                    ttl: tessera_core::retention::online_ttl(&catalog, view),
                    kind,
                    states: Mutex::new(HashMap::new()),
                },
            );
        }
        Ok(Self {
            store,
            views,
            by_source,
            catalog,
            writer: tokio::sync::Mutex::new(()),
            future: tessera_online::FutureBound::default(),
        })
    }

    /// Sets how far ahead of the device's clock an event may be stamped (default 5 min).
    pub fn with_future_bound(mut self, bound: tessera_online::FutureBound) -> Self {
        self.future = bound;
        self
    }

    /// Applies retention at `now_us`: deletes (with `drop`; only counts without) the rows of
    /// every device view with a retention whose event time is older than it, and forgets
    /// their cached states. Returns (view, rows) for each such view.
    pub async fn apply_retention(&self, now_us: i64, drop: bool) -> Result<Vec<(String, u64)>> {
        let _writer = self.writer.lock().await;
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.views.keys().collect();
        names.sort();
        for name in names {
            let Some(retention) = self
                .catalog
                .feature_views()
                .get(name)
                .and_then(|v| tessera_core::retention::of_view(&self.catalog, v))
            else {
                continue;
            };
            let cutoff = tessera_core::retention::cutoff_us(retention, now_us);
            let rows = self
                .store
                .rows_before(name, cutoff, drop)
                .await
                .map_err(Error::Store)?;
            if drop {
                if let (Some(v), false) = (self.views.get(name), rows.is_empty()) {
                    if let Ok(mut states) = v.states.lock() {
                        for (k, _) in &rows {
                            states.remove(k);
                        }
                    }
                }
            }
            out.push((name.clone(), rows.len() as u64));
        }
        Ok(out)
    }

    /// Whether the store computes this view (it is over a `type: device` source).
    pub fn holds_view(&self, view: &str) -> bool {
        self.views.contains_key(view)
    }

    /// The names of the device sources, sorted.
    pub fn sources(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self
            .catalog
            .sources()
            .values()
            .filter(|s| s.source_type == SourceType::Device)
            .map(|s| s.name.as_str())
            .collect();
        s.sort_unstable();
        s
    }

    /// Erases an entity: its rows of every view of the store (device views, and the cloud
    /// cache's rows, which share the store), including composite keys that contain it,
    /// and its decoded states in memory. Returns the rows removed.
    pub async fn erase(&self, key: &EntityKey) -> Result<u64> {
        let _writer = self.writer.lock().await;
        for v in self.views.values() {
            if let Ok(mut states) = v.states.lock() {
                states.retain(|k, _| !k.contains(key));
            }
        }
        self.store.delete_entity(key).await.map_err(Error::Store)
    }

    /// Records events of a device source: each is checked against the source's schema (a
    /// bad event refuses the whole call, with every problem listed), then applied to every
    /// view over the source and stored durably, in one commit per view. Returns how many
    /// view rows changed.
    pub async fn record(&self, source: &str, events: Vec<Event>) -> Result<usize> {
        let def = self
            .catalog
            .sources()
            .get(source)
            .filter(|s| s.source_type == SourceType::Device)
            .ok_or_else(|| Error::Unknown {
                kind: "device source",
                name: source.to_string(),
                hint: {
                    let known = self.sources();
                    let close = tessera_core::did_you_mean(source, known.iter().copied())
                        .map_or(String::new(), |c| format!("did you mean `{c}`? "));
                    format!(
                        "{close}record events of a `type: device` source: {}",
                        known.join(", ")
                    )
                },
            })?;
        let mut checked = Vec::with_capacity(events.len());
        let mut problems = Vec::new();
        let now = crate::clock::now_us();
        for (i, e) in events.into_iter().enumerate() {
            match check_event(def, e) {
                // A far-future event would pin its entity's latest row (newer wins).
                Ok(c) if !self.future.allows(c.ts, now) => problems.push(format!(
                    "event {}: {}",
                    i + 1,
                    self.future.refusal(c.ts, now)
                )),
                Ok(c) => checked.push(c),
                Err(Error::BadEvent { problems: p, .. }) => {
                    problems.extend(p.into_iter().map(|p| format!("event {}: {p}", i + 1)))
                }
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            return Err(Error::BadEvent {
                source_name: source.to_string(),
                problems,
            });
        }
        let views: Vec<&DeviceView> = self
            .by_source
            .get(source)
            .into_iter()
            .flatten()
            .filter_map(|v| self.views.get(v))
            .collect();
        let _one_writer = self.writer.lock().await;
        let mut batches = Vec::new();
        let mut new_states = Vec::new();
        for view in views {
            let keys = checked
                .iter()
                .map(|e| event_key(view, e, source))
                .collect::<Result<Vec<_>>>()?;
            match &view.kind {
                ViewKind::Aggregate { spec, .. } => {
                    let mut touched: HashMap<EntityKey, (ViewState, Stamp)> = HashMap::new();
                    for (e, key) in checked.iter().zip(keys) {
                        if !touched.contains_key(&key) {
                            let (state, stamp) = self.state(view, spec, &key).await?;
                            touched.insert(key.clone(), ((*state).clone(), stamp));
                        }
                        if let Some((state, _)) = touched.get_mut(&key) {
                            state
                                .update(spec, e.ts, e.values.as_slice())
                                .map_err(|source| Error::Corrupt {
                                    what: "aggregation state",
                                    view: view.name.to_string(),
                                    source,
                                })?;
                        }
                    }
                    let now = crate::clock::now_us();
                    let mut rows = Vec::with_capacity(touched.len());
                    for (key, (mut state, old)) in touched {
                        let newest = state.max_ts().unwrap_or(now);
                        state.evict_before(now.min(newest));
                        let stamp = Stamp::new(now.max(old.event_ts.saturating_add(1)), 0);
                        let mut bytes = Vec::new();
                        state.encode(&mut bytes);
                        rows.push((key.clone(), stamp, bytes));
                        new_states.push((view, key, (Arc::new(state), stamp)));
                    }
                    batches.push(state_batch(&view.name, rows));
                }
                ViewKind::Latest { features } => {
                    let mut batch = WriteBatch::new(
                        view.name.to_string(),
                        features.iter().map(|(f, _)| f.clone()).collect(),
                    );
                    for (seq, (e, key)) in checked.iter().zip(keys).enumerate() {
                        let values = features.iter().map(|(_, c)| e.get(c).clone()).collect();
                        batch.push(key, Stamp::new(e.ts, seq as i64), values);
                    }
                    batches.push(batch);
                }
            }
        }
        let mut changed = 0;
        for batch in batches {
            let summary = self.store.write(batch).await.map_err(Error::Store)?;
            changed += summary.written as usize;
        }
        for (view, key, state) in new_states {
            if let Ok(mut states) = view.states.lock() {
                if states.len() >= MAX_CACHED_STATES {
                    states.clear();
                }
                states.insert(key, state);
            }
        }
        Ok(changed)
    }

    /// The state of one entity in an aggregation view, from memory or the store (an empty
    /// state when it has none), with the stamp it was stored under.
    async fn state(
        &self,
        view: &DeviceView,
        spec: &ViewSpec,
        key: &EntityKey,
    ) -> Result<(Arc<ViewState>, Stamp)> {
        if let Some(hit) = view.states.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(hit);
        }
        let rows = self
            .store
            .read(&view.name, std::slice::from_ref(key))
            .await
            .map_err(Error::Store)?;
        let (state, stamp) = match rows.into_iter().next().flatten() {
            Some(row) => (state_of(&row, spec).map_err(Error::Store)?, row.stamp),
            None => (spec.new_state(), Stamp::new(i64::MIN, Stamp::NO_CREATED)),
        };
        let hit = (Arc::new(state), stamp);
        if let Ok(mut m) = view.states.lock() {
            if m.len() >= MAX_CACHED_STATES {
                m.clear();
            }
            m.insert(key.clone(), hit.clone());
        }
        Ok(hit)
    }

    /// The values of `features` (all of views this store holds) for every entity, as of
    /// `now_us`: one column per feature, in the order given.
    pub(crate) async fn fetch(
        &self,
        features: &[FeatureRef],
        entities: &EntityRows,
        now_us: i64,
    ) -> Result<Vec<Column>> {
        let n = entities.len();
        let mut out: Vec<Column> = features.iter().map(|_| Column::with_capacity(n)).collect();
        // Group by view, keeping request order within each.
        let mut groups: Vec<(&DeviceView, Vec<(usize, &str)>)> = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let view = self.views.get(&f.view).ok_or_else(|| Error::Unknown {
                kind: "device feature view",
                name: f.view.clone(),
                hint: "only views over `type: device` sources are answered by the local store"
                    .into(),
            })?;
            match groups.iter_mut().find(|(v, _)| std::ptr::eq(*v, view)) {
                Some((_, list)) => list.push((i, f.feature.as_str())),
                None => groups.push((view, vec![(i, f.feature.as_str())])),
            }
        }
        for (view, list) in groups {
            let keys = keys_for(entities, &view.name, &view.join_keys)?;
            match &view.kind {
                ViewKind::Aggregate { spec, positions } => {
                    for key in &keys {
                        let (state, _) = self.state(view, spec, key).await?;
                        let at = state.max_ts().map_or(now_us, |m| m.max(now_us));
                        let values = state.value_at(at).map_err(|source| Error::Corrupt {
                            what: "aggregation state",
                            view: view.name.to_string(),
                            source,
                        })?;
                        for (col, feature) in &list {
                            let v = positions
                                .get(*feature)
                                .and_then(|p| values.get(*p))
                                .cloned()
                                .unwrap_or(Value::Null);
                            let status = if v.is_null() {
                                Status::Null
                            } else {
                                Status::Present
                            };
                            out[*col].push(v, status, Some(at));
                        }
                    }
                }
                ViewKind::Latest { .. } => {
                    let rows = self
                        .store
                        .read(&view.name, &keys)
                        .await
                        .map_err(Error::Store)?;
                    for row in rows {
                        push_latest(&mut out, &list, row, view.ttl, now_us);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn push_latest(
    out: &mut [Column],
    list: &[(usize, &str)],
    row: Option<FeatureRow>,
    ttl: Ttl,
    now_us: i64,
) {
    match (freshness(row.as_ref(), ttl, now_us), row) {
        (Freshness::Present, Some(r)) => {
            let ts = Some(r.stamp.event_ts);
            for (col, name) in list {
                match r.get(name) {
                    Some(Value::Null) => out[*col].push(Value::Null, Status::Null, ts),
                    Some(v) => out[*col].push(v.clone(), Status::Present, ts),
                    None => out[*col].push(Value::Null, Status::Missing, None),
                }
            }
        }
        (Freshness::Expired, Some(r)) => {
            for (col, _) in list {
                out[*col].push(Value::Null, Status::Expired, Some(r.stamp.event_ts));
            }
        }
        _ => {
            for (col, _) in list {
                out[*col].push(Value::Null, Status::Missing, None);
            }
        }
    }
}

/// The entity key of an event for a view: its join-key columns, which must be integers or
/// strings and not null.
fn event_key(view: &DeviceView, e: &CheckedEvent, source: &str) -> Result<EntityKey> {
    let mut parts = Vec::with_capacity(view.join_keys.len());
    for k in &view.join_keys {
        let v = match e.get(k) {
            Value::Int64(n) => KeyValue::Int64(*n),
            Value::String(s) => KeyValue::String(s.clone()),
            other => {
                return Err(Error::BadEvent {
                    source_name: source.to_string(),
                    problems: vec![format!(
                        "join key `{k}` of view `{}` is {} (hint: every event needs its entity's keys, as integers or strings)",
                        view.name,
                        tessera_online::describe(other)
                    )],
                })
            }
        };
        parts.push((k.clone(), v));
    }
    EntityKey::new(parts).map_err(Error::Store)
}

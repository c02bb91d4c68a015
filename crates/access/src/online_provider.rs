//! [`OnlineProvider`]: the [`Provider`] over an [`OnlineStore`]: one store read per feature
//! view (concurrently, each bounded by the store timeout), the view's TTL applied on read,
//! aggregation states finished as of now.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tessera_core::{Catalog, FeatureRef, Ttl};
use tessera_online::{freshness, FeatureRow, Freshness, OnlineStore, Value};

use crate::entity_rows::EntityRows;
use crate::error::{Error, Result};
use crate::observer::{AccessObserver, StoreOp};
use crate::provider::{Provider, ProviderKind, ProviderRequest};
use crate::read_result::{FeatureColumn, ValueStatus};

/// Reads cloud features from an online store. [`crate::AccessLayer::new`] and
/// [`crate::AccessLayerBuilder::online_store`] build one.
#[derive(Debug)]
pub struct OnlineProvider {
    catalog: Arc<Catalog>,
    store: Arc<dyn OnlineStore>,
    observer: Arc<dyn AccessObserver>,
    timeout: Duration,
    /// View groupings by feature list (callers use a handful of lists).
    groups: RwLock<HashMap<Vec<FeatureRef>, Arc<[ViewRead]>>>,
}

/// The part of a read that reads one feature view.
#[derive(Debug)]
struct ViewRead {
    name: String,
    ttl: Ttl,
    join_keys: Vec<Arc<str>>,
    /// (output column within the share, feature name), in request order.
    features: Vec<(usize, String)>,
    /// For an aggregation view: its spec, and the spec position of each of `features`.
    aggregate: Option<(Arc<tessera_core::aggregate::ViewSpec>, Vec<usize>)>,
}

const MAX_CACHED_GROUPS: usize = 4096;

impl OnlineProvider {
    /// A provider reading `store`, resolving views in `catalog`; each store call may take
    /// `timeout`, and is reported to `observer`.
    pub fn new(
        catalog: Arc<Catalog>,
        store: Arc<dyn OnlineStore>,
        observer: Arc<dyn AccessObserver>,
        timeout: Duration,
    ) -> Self {
        Self {
            catalog,
            store,
            observer,
            timeout,
            groups: RwLock::new(HashMap::new()),
        }
    }

    /// The store read.
    pub fn store(&self) -> &Arc<dyn OnlineStore> {
        &self.store
    }

    fn groups(&self, features: &[FeatureRef]) -> Result<Arc<[ViewRead]>> {
        if let Some(g) = self
            .groups
            .read()
            .ok()
            .and_then(|g| g.get(features).cloned())
        {
            return Ok(g);
        }
        let g: Arc<[ViewRead]> = group(&self.catalog, features)?.into();
        if let Ok(mut groups) = self.groups.write() {
            if groups.len() >= MAX_CACHED_GROUPS {
                groups.clear();
            }
            groups.insert(features.to_vec(), g.clone());
        }
        Ok(g)
    }

    async fn read_view(
        &self,
        view: &ViewRead,
        entities: &EntityRows,
    ) -> Result<Vec<Option<FeatureRow>>> {
        let keys = entities.keys_for(&view.name, &view.join_keys)?;
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.store.read(&view.name, &keys)).await;
        let elapsed = started.elapsed();
        let store = self.store.name();
        let rows = match result {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                self.observer
                    .store_call(store, StoreOp::Read, elapsed, false);
                return Err(Error::Store(e));
            }
            Err(_) => {
                self.observer
                    .store_call(store, StoreOp::Read, elapsed, false);
                return Err(Error::StoreTimeout {
                    store,
                    after: self.timeout,
                });
            }
        };
        self.observer
            .store_call(store, StoreOp::Read, elapsed, true);
        if rows.len() != keys.len() {
            return Err(Error::Store(tessera_online::Error::Corrupt {
                what: "read result",
                reason: "the store returned a different number of rows than keys asked for",
            }));
        }
        Ok(rows)
    }
}

#[async_trait::async_trait]
impl Provider for OnlineProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Online
    }

    fn name(&self) -> &str {
        self.store.name()
    }

    async fn fetch(&self, req: ProviderRequest<'_>) -> Result<Vec<FeatureColumn>> {
        let views = self.groups(req.features)?;
        let rows = if views.len() == 1 {
            vec![self.read_view(&views[0], req.entities).await?]
        } else {
            try_join_all(views.iter().map(|v| self.read_view(v, req.entities))).await?
        };
        let n = req.entities.len();
        let mut columns: Vec<FeatureColumn> = (0..req.features.len())
            .map(|_| FeatureColumn::with_capacity(n))
            .collect();
        let now_us = now_us();
        for (view, view_rows) in views.iter().zip(rows) {
            merge_view(view, view_rows, now_us, &mut columns)?;
        }
        Ok(columns)
    }
}

/// Groups features by view, keeping each one's position.
fn group(catalog: &Catalog, features: &[FeatureRef]) -> Result<Vec<ViewRead>> {
    let mut views: Vec<ViewRead> = Vec::new();
    for (col, r) in features.iter().enumerate() {
        let resolved = catalog.feature(r).map_err(|e| Error::UnknownFeatures {
            problems: vec![e.to_string()],
        })?;
        let idx = match views.iter().position(|v| v.name == r.view) {
            Some(i) => i,
            None => {
                let aggregate = catalog
                    .view_spec(resolved.view)
                    .map_err(|e| Error::UnknownFeatures {
                        problems: vec![e.to_string()],
                    })?
                    .map(|spec| (Arc::new(spec), Vec::new()));
                views.push(ViewRead {
                    name: r.view.clone(),
                    ttl: resolved.view.ttl,
                    join_keys: catalog
                        .join_keys(resolved.view)
                        .into_iter()
                        .map(|k| Arc::from(k.as_str()))
                        .collect(),
                    features: Vec::new(),
                    aggregate,
                });
                views.len() - 1
            }
        };
        views[idx].features.push((col, r.feature.clone()));
        if let Some((_, positions)) = &mut views[idx].aggregate {
            let pos = resolved
                .view
                .features
                .iter()
                .filter(|f| f.derived.is_some())
                .position(|f| f.name == r.feature)
                .ok_or_else(|| Error::UnknownFeatures {
                    problems: vec![format!("{r} is not an aggregation of its view")],
                })?;
            positions.push(pos);
        }
    }
    Ok(views)
}

/// Appends one view's rows to the output columns.
fn merge_view(
    view: &ViewRead,
    rows: Vec<Option<FeatureRow>>,
    now_us: i64,
    columns: &mut [FeatureColumn],
) -> Result<()> {
    if let Some((spec, positions)) = &view.aggregate {
        // Aggregation views: finish each entity's tiles as of now. An entity without state
        // reads as the empty aggregates (count 0), as in training sets.
        for row in rows {
            let values = tessera_online::aggregate_values(row.as_ref(), spec, now_us)
                .map_err(Error::Store)?;
            for ((col, _), &p) in view.features.iter().zip(positions) {
                let v = values
                    .get(p)
                    .cloned()
                    .unwrap_or(tessera_core::aggregate::Value::Null);
                let status = if v.is_null() {
                    ValueStatus::Null
                } else {
                    ValueStatus::Present
                };
                columns[*col].push(v, status, Some(now_us));
            }
        }
        return Ok(());
    }
    for row in rows {
        match (freshness(row.as_ref(), view.ttl, now_us), row) {
            (Freshness::Present, Some(mut r)) => {
                let ts = Some(r.stamp.event_ts);
                for (col, name) in &view.features {
                    match r.values.remove(name) {
                        Some(Value::Null) => columns[*col].push(Value::Null, ValueStatus::Null, ts),
                        Some(v) => columns[*col].push(v, ValueStatus::Present, ts),
                        None => columns[*col].push(Value::Null, ValueStatus::Missing, None),
                    }
                }
            }
            (Freshness::Expired, Some(r)) => {
                let ts = Some(r.stamp.event_ts);
                for (col, _) in &view.features {
                    columns[*col].push(Value::Null, ValueStatus::Expired, ts);
                }
            }
            _ => {
                for (col, _) in &view.features {
                    columns[*col].push(Value::Null, ValueStatus::Missing, None);
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

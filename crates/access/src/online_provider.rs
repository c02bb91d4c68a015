//! [`OnlineProvider`]: the [`Provider`] over an [`OnlineStore`]: one store read per feature
//! view (concurrently, each bounded by the store timeout), the view's TTL applied on read,
//! aggregation states finished as of now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tessera_core::Catalog;
use tessera_online::{stamp_freshness, Freshness, OnlineStore, SelectedRow, Value};

use crate::entity_rows::EntityRows;
use crate::error::{Error, Result};
use crate::observer::{AccessObserver, StoreOp};
use crate::provider::{Provider, ProviderKind, ProviderRequest};
use crate::read_result::{FeatureColumn, ValueStatus};
use crate::view_read::{group, ViewRead};

/// Reads cloud features from an online store. [`crate::AccessLayer::new`] and
/// [`crate::AccessLayerBuilder::online_store`] build one.
///
/// The plan a read comes with groups the share's features by view (the access layer caches
/// plans), so a read does no catalog work here: per view it encodes the entity keys straight
/// from the request's columns and has the store decode only the requested features.
#[derive(Debug)]
pub struct OnlineProvider {
    catalog: Arc<Catalog>,
    store: Arc<dyn OnlineStore>,
    observer: Arc<dyn AccessObserver>,
    timeout: Duration,
}

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
        }
    }

    /// The store read.
    pub fn store(&self) -> &Arc<dyn OnlineStore> {
        &self.store
    }

    async fn read_view(
        &self,
        view: &ViewRead,
        entities: &EntityRows,
    ) -> Result<Vec<Option<SelectedRow>>> {
        let keys = entities.encoded_keys(&view.name, &view.sorted_keys)?;
        let names = view.stored_names();
        let started = Instant::now();
        let result = tokio::time::timeout(
            self.timeout,
            self.store.read_selected(&view.name, &keys, &names),
        )
        .await;
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
        // The plan's grouping; a request made without one is grouped here.
        let grouped;
        let views = if req.views.is_empty() && !req.features.is_empty() {
            grouped = group(&self.catalog, req.features)?;
            grouped.as_slice()
        } else {
            req.views
        };
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

/// Appends one view's rows to the output columns.
fn merge_view(
    view: &ViewRead,
    rows: Vec<Option<SelectedRow>>,
    now_us: i64,
    columns: &mut [FeatureColumn],
) -> Result<()> {
    if let Some((spec, positions)) = &view.aggregate {
        // Aggregation views: finish each entity's tiles as of now. An entity without state
        // reads as the empty aggregates (count 0), as in training sets.
        for row in rows {
            let values = tessera_online::selected_aggregate_values(row.as_ref(), spec, now_us)
                .map_err(Error::Store)?;
            for ((col, _), &p) in view.features.iter().zip(positions) {
                let (v, status) = match values.get(p).cloned().flatten() {
                    // Fewer contributors than the aggregation's k-threshold.
                    None => (Value::Null, ValueStatus::Suppressed),
                    Some(v) if v.is_null() => (v, ValueStatus::Null),
                    Some(v) => (v, ValueStatus::Present),
                };
                columns[*col].push(v, status, Some(now_us));
            }
        }
        return Ok(());
    }
    for row in rows {
        let stamp = row.as_ref().map(|r| r.stamp);
        match (stamp_freshness(stamp, view.ttl, now_us), row) {
            (Freshness::Present, Some(mut r)) => {
                let ts = Some(r.stamp.event_ts);
                for ((col, _), value) in view.features.iter().zip(&mut r.values) {
                    match value.take() {
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

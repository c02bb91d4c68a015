//! [`TombstoneStore`]: an online store decorator that drops writes of erased entities, so
//! materialising (or loading content) from a source Tessera does not own never brings an
//! erased entity back. Every other method is forwarded.

use std::sync::Arc;

use tessera_online::{
    Capabilities, EntityKey, FeatureRow, OnlineStore, Result, SelectedRow, Stamp, WriteBatch,
    WriteSummary,
};

use super::tombstones::TombstoneFilter;

/// Wraps `inner`; writes of tombstoned entities are counted as skipped.
#[derive(Debug)]
pub(crate) struct TombstoneStore {
    inner: Arc<dyn OnlineStore>,
    filter: TombstoneFilter,
}

impl TombstoneStore {
    /// `inner` itself when nothing was ever erased in the repository at `root`.
    pub(crate) fn wrap(
        inner: Arc<dyn OnlineStore>,
        root: &std::path::Path,
    ) -> anyhow::Result<Arc<dyn OnlineStore>> {
        Ok(match TombstoneFilter::for_repo(root)? {
            Some(filter) => Arc::new(Self { inner, filter }),
            None => inner,
        })
    }
}

#[async_trait::async_trait]
impl OnlineStore for TombstoneStore {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn read(&self, view: &str, keys: &[EntityKey]) -> Result<Vec<Option<FeatureRow>>> {
        self.inner.read(view, keys).await
    }
    async fn read_selected(
        &self,
        view: &str,
        keys: &[Vec<u8>],
        features: &[&str],
    ) -> Result<Vec<Option<SelectedRow>>> {
        self.inner.read_selected(view, keys, features).await
    }
    async fn write(&self, mut batch: WriteBatch) -> Result<WriteSummary> {
        let before = batch.rows.len();
        batch.rows.retain(|r| !self.filter.erased_key(&r.key));
        let dropped = (before - batch.rows.len()) as u64;
        let mut summary = if batch.rows.is_empty() {
            WriteSummary::default()
        } else {
            self.inner.write(batch).await?
        };
        summary.skipped += dropped;
        Ok(summary)
    }
    async fn delete_entity(&self, key: &EntityKey) -> Result<u64> {
        self.inner.delete_entity(key).await
    }
    async fn future_rows(
        &self,
        view: &str,
        keys: &[EntityKey],
        beyond_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        self.inner.future_rows(view, keys, beyond_us, drop).await
    }
    async fn high_water_mark(&self, view: &str) -> Result<Option<i64>> {
        self.inner.high_water_mark(view).await
    }
    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> Result<()> {
        self.inner.set_high_water_mark(view, ts_us).await
    }
}

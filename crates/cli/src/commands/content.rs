//! Content views (`provider: content`): their latest row per key, loaded from the sources
//! into memory for `tessera serve` (and `tessera explain-request`, which plans as it does).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_access::ContentProvider;
use tessera_core::{Catalog, ViewProvider};
use tessera_materialize::{materialize_view, MaterializeRequest, NoMaterializeProgress};
use tessera_offline::LatestScan;
use tessera_online::MemoryStore;

/// Loads every content view of `catalog` (none: `None`), printing one line per view.
pub(crate) async fn load(
    catalog: &Arc<Catalog>,
    repo: &Path,
) -> Result<Option<Arc<ContentProvider>>> {
    let views: Vec<&str> = catalog
        .feature_views()
        .values()
        .filter(|v| v.provider == ViewProvider::Content)
        .map(|v| v.name.as_str())
        .collect();
    if views.is_empty() {
        return Ok(None);
    }
    let table = Arc::new(MemoryStore::new());
    let scan = LatestScan::new(repo, catalog.clone());
    let now = chrono::Utc::now().timestamp_micros();
    for view in views {
        let report = materialize_view(
            crate::erasure::tombstone_store::TombstoneStore::wrap(table.clone(), repo)?,
            &scan,
            &MaterializeRequest {
                view: view.to_string(),
                start_us: None,
                end_us: now,
                batch_rows: tessera_materialize::DEFAULT_BATCH_ROWS,
                future: tessera_online::FutureBound::default(),
            },
            Arc::new(NoMaterializeProgress),
        )
        .await
        .with_context(|| format!("loading content view `{view}` from its source"))?;
        tracing::debug!(
            "content: {view}: {} rows in memory (latest per key)",
            report.summary.written
        );
    }
    Ok(Some(Arc::new(ContentProvider::new(catalog.clone(), table))))
}

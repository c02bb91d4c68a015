//! [`ContentProvider`]: serves views with `provider: content` (content metadata) from an
//! in-memory table of the latest row per key, loaded by the embedding program (`tessera
//! serve` fills a [`tessera_online::MemoryStore`] from the sources at startup). Reads apply
//! the view's TTL, as the online provider does.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::Catalog;
use tessera_online::OnlineStore;

use crate::error::Result;
use crate::observer::NoObserver;
use crate::online_provider::OnlineProvider;
use crate::provider::{Provider, ProviderKind, ProviderRequest};
use crate::read_result::FeatureColumn;

/// The [`ProviderKind::Content`] provider over a loaded table.
#[derive(Debug)]
pub struct ContentProvider {
    inner: OnlineProvider,
}

impl ContentProvider {
    /// Serves the content views of `catalog` from `table` (usually a
    /// [`tessera_online::MemoryStore`] holding their latest rows).
    pub fn new(catalog: Arc<Catalog>, table: Arc<dyn OnlineStore>) -> Self {
        Self {
            inner: OnlineProvider::new(
                catalog,
                table,
                Arc::new(NoObserver),
                Duration::from_secs(2),
            ),
        }
    }
}

#[async_trait::async_trait]
impl Provider for ContentProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Content
    }

    fn name(&self) -> &str {
        "content"
    }

    async fn fetch(&self, req: ProviderRequest<'_>) -> Result<Vec<FeatureColumn>> {
        self.inner.fetch(req).await
    }
}

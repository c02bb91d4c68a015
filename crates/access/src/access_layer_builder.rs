//! [`AccessLayerBuilder`]: an [`AccessLayer`] with the providers you choose.

use std::sync::Arc;

use tessera_audit::AuditSink;
use tessera_core::Catalog;
use tessera_online::OnlineStore;

use crate::access_layer::{AccessConfig, AccessLayer};
use crate::observer::{AccessObserver, NoObserver};
use crate::online_provider::OnlineProvider;
use crate::provider::Provider;
use crate::read_plan::PlanCache;

/// Builds an [`AccessLayer`]: `AccessLayer::builder(catalog, audit, config)`, then any of
/// [`online_store`](Self::online_store), [`provider`](Self::provider),
/// [`observer`](Self::observer), [`ingest`](Self::ingest), then [`build`](Self::build).
///
/// One provider per [`crate::ProviderKind`]: a later one of the same kind replaces the
/// earlier. An access layer with a [`crate::ProviderKind::Device`] provider answers on the
/// device: its gate lets `device_only` features through (to the device provider only);
/// every other access layer refuses them.
#[derive(Debug)]
pub struct AccessLayerBuilder {
    catalog: Arc<Catalog>,
    audit: Arc<AuditSink>,
    config: AccessConfig,
    store: Option<Arc<dyn OnlineStore>>,
    providers: Vec<Arc<dyn Provider>>,
    observer: Arc<dyn AccessObserver>,
    ingest: Option<Arc<dyn crate::event_ingest::EventIngest>>,
    entity_hasher: Option<Arc<tessera_core::EntityHasher>>,
}

impl AccessLayerBuilder {
    pub(crate) fn new(catalog: Arc<Catalog>, audit: Arc<AuditSink>, config: AccessConfig) -> Self {
        Self {
            catalog,
            audit,
            config,
            store: None,
            providers: Vec::new(),
            observer: Arc::new(NoObserver),
            ingest: None,
            entity_hasher: None,
        }
    }

    /// Reads cloud features from `store` (the [`crate::ProviderKind::Online`] provider) and
    /// writes pushes to it.
    pub fn online_store(mut self, store: Arc<dyn OnlineStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Registers a provider (replacing one of the same kind).
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.retain(|p| p.kind() != provider.kind());
        self.providers.push(provider);
        self
    }

    /// Reports store calls and denials to `observer`.
    pub fn observer(mut self, observer: Arc<dyn AccessObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Sends pushes to stream sources to `ingest` (the stream engine).
    pub fn ingest(mut self, ingest: Arc<dyn crate::event_ingest::EventIngest>) -> Self {
        self.ingest = Some(ingest);
        self
    }

    /// Names the entities of every read in its audit record as keyed hashes under
    /// `hasher` (the repository's: [`tessera_core::EntityHasher::for_repo`]).
    pub fn entity_hasher(mut self, hasher: Arc<tessera_core::EntityHasher>) -> Self {
        self.entity_hasher = Some(hasher);
        self
    }

    /// The access layer.
    pub fn build(self) -> AccessLayer {
        let mut providers = self.providers;
        if let Some(store) = &self.store {
            let online: Arc<dyn Provider> = Arc::new(OnlineProvider::new(
                self.catalog.clone(),
                store.clone(),
                self.observer.clone(),
                self.config.store_timeout,
            ));
            providers.retain(|p| p.kind() != online.kind());
            providers.push(online);
        }
        providers.sort_by_key(|p| p.kind());
        AccessLayer {
            catalog: self.catalog,
            store: self.store,
            providers,
            audit: self.audit,
            config: self.config,
            plans: PlanCache::default(),
            observer: self.observer,
            ingest: self.ingest,
            consent: None,
            tombstones: None,
            entity_hasher: self.entity_hasher,
        }
    }
}

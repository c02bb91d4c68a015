//! [`RemoteProvider`]: the access layer's `Remote` provider on a device — cloud features
//! from a Tessera server through the device's cache (see [`crate::remote`] for the rules).
//! It sends the server the features and the join keys it needs, and nothing of the request
//! context, which stays on the device.

use std::sync::Arc;

use tessera_access::{FeatureColumn, Provider, ProviderKind, ProviderRequest};

use crate::remote::Remote;

/// The cloud, for the device's access layer.
#[derive(Debug)]
pub struct RemoteProvider {
    remote: Arc<Remote>,
    name: String,
}

impl RemoteProvider {
    pub(crate) fn new(remote: Arc<Remote>, name: String) -> Self {
        Self { remote, name }
    }
}

#[async_trait::async_trait]
impl Provider for RemoteProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Remote
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, req: ProviderRequest<'_>) -> tessera_access::Result<Vec<FeatureColumn>> {
        // `req.context` is deliberately not used: context never leaves the device.
        self.remote
            .fetch(req.features, req.entities, req.purpose)
            .await
            .map_err(|e| tessera_access::Error::Provider {
                kind: ProviderKind::Remote,
                name: self.name.clone(),
                source: Box::new(e),
            })
    }
}

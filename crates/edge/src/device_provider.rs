//! [`DeviceProvider`]: the access layer's `Device` provider on a device. It answers the
//! features the planner places on the device: those of views over `type: device` sources
//! from the [`LocalStore`], and `device`-placed features of cloud views (which the device
//! holds no signals for) through the cloud cache, like the remote provider.

use std::sync::Arc;

use tessera_access::{FeatureColumn, Provider, ProviderKind, ProviderRequest};

use crate::local_store::LocalStore;
use crate::remote::Remote;

/// The device's own provider.
#[derive(Debug)]
pub struct DeviceProvider {
    local: Arc<LocalStore>,
    remote: Arc<Remote>,
}

impl DeviceProvider {
    pub(crate) fn new(local: Arc<LocalStore>, remote: Arc<Remote>) -> Self {
        Self { local, remote }
    }
}

#[async_trait::async_trait]
impl Provider for DeviceProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Device
    }

    fn name(&self) -> &str {
        "device"
    }

    async fn fetch(&self, req: ProviderRequest<'_>) -> tessera_access::Result<Vec<FeatureColumn>> {
        let fail = |e: crate::Error| tessera_access::Error::Provider {
            kind: ProviderKind::Device,
            name: "device".into(),
            source: Box::new(e),
        };
        let now = crate::clock::now_us();
        if req.features.iter().all(|f| self.local.holds_view(&f.view)) {
            return self
                .local
                .fetch(req.features, req.entities, now)
                .await
                .map_err(fail);
        }
        let (local, cloud): (Vec<_>, Vec<_>) = req
            .features
            .iter()
            .cloned()
            .enumerate()
            .partition(|(_, f)| self.local.holds_view(&f.view));
        let local_refs: Vec<_> = local.iter().map(|(_, f)| f.clone()).collect();
        let cloud_refs: Vec<_> = cloud.iter().map(|(_, f)| f.clone()).collect();
        let (l, c) = tokio::join!(
            self.local.fetch(&local_refs, req.entities, now),
            self.remote.fetch(&cloud_refs, req.entities, req.purpose)
        );
        let mut out = vec![FeatureColumn::default(); req.features.len()];
        for ((i, _), col) in local.iter().zip(l.map_err(fail)?) {
            out[*i] = col;
        }
        for ((i, _), col) in cloud.iter().zip(c.map_err(fail)?) {
            out[*i] = col;
        }
        Ok(out)
    }
}

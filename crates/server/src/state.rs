//! [`AppState`]: what every handler shares.

use std::sync::Arc;

use tessera_access::AccessLayer;
use tokio::sync::Semaphore;

use crate::auth::Auth;
use crate::config::Limits;
use crate::metrics::Metrics;

/// Shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The read and write paths.
    pub access: Arc<AccessLayer>,
    /// How callers are authenticated.
    pub auth: Auth,
    /// Request limits.
    pub limits: Limits,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Slots for decoding large request bodies on the blocking pool: at most one per CPU
    /// at once, so heavy bodies queue instead of starving `/health` and small requests.
    pub(crate) decode_slots: Arc<Semaphore>,
    /// What erases entities for `POST /v1/erase` (none: the route answers 501).
    pub(crate) eraser: Option<crate::erase_route::SharedEraser>,
    /// The local-DP sketches (none: the `/v1/ldp` routes answer 501).
    pub(crate) ldp: Option<Arc<crate::ldp_sketches::LdpSketches>>,
    /// What runs differential-privacy releases for `POST /v1/releases` (none: 501).
    pub(crate) releaser: Option<crate::releases_route::SharedReleaser>,
}

impl AppState {
    /// State for an access layer; `metrics` should be the observer the access layer reports to
    /// (see [`Metrics`]).
    pub fn new(
        access: Arc<AccessLayer>,
        auth: Auth,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            access,
            auth,
            limits,
            metrics,
            decode_slots: Arc::new(Semaphore::new(cpus)),
            eraser: None,
            ldp: None,
            releaser: None,
        }
    }

    /// Installs the local-DP sketches of `POST /v1/ldp/reports` and
    /// `GET /v1/ldp/{report}/estimates`.
    pub fn with_ldp(mut self, sketches: Arc<crate::ldp_sketches::LdpSketches>) -> Self {
        self.ldp = Some(sketches);
        self
    }

    /// Installs what runs releases for `POST /v1/releases`.
    pub fn with_releaser(mut self, releaser: Arc<dyn crate::releases_route::Releaser>) -> Self {
        self.releaser = Some(releaser);
        self
    }

    /// Installs what erases entities for `POST /v1/erase`.
    pub fn with_eraser(mut self, eraser: Arc<dyn crate::erase_route::Eraser>) -> Self {
        self.eraser = Some(eraser);
        self
    }
}

//! [`DeviceConfig`]: how a device reaches the cloud and how long it trusts what it cached.

use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of a [`crate::Device`]. `DeviceConfig::default()` is an offline device (no
/// server): local features work, cloud features are `unavailable` unless cached.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// The Tessera server (`http://host:port`), or `None` for a device without a cloud.
    pub server_url: Option<String>,
    /// The bearer token of this device's consumer on the server.
    pub token: Option<String>,
    /// The consumer this device's reads are checked and audited as locally (`None`: the
    /// device's user, `local:device`, which holds no purposes of its own; the read's purpose
    /// still limits classifications).
    pub consumer: Option<String>,
    /// The purpose of reads that name none.
    pub purpose: String,
    /// The longest a read waits for the cloud; after it, cached values marked `stale`, or
    /// `unavailable`.
    pub remote_timeout: Duration,
    /// How long a cached cloud value is fresh (served without asking the cloud).
    pub cache_ttl: Duration,
    /// Per feature view, instead of `cache_ttl`.
    pub cache_ttl_by_view: BTreeMap<String, Duration>,
    /// How long after going stale a cached value is still served at once, marked `stale`,
    /// while it is fetched again in the background.
    pub stale_while_revalidate: Duration,
    /// The oldest a cached value may be to be served (marked `stale`) when the cloud cannot
    /// be reached; older ones are `unavailable`.
    pub max_stale: Duration,
    /// After a failed call, reads do not ask the cloud again for this long (they answer from
    /// the cache at once).
    pub retry_after: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            server_url: None,
            token: None,
            consumer: None,
            purpose: "personalization".into(),
            remote_timeout: Duration::from_millis(250),
            cache_ttl: Duration::from_secs(300),
            cache_ttl_by_view: BTreeMap::new(),
            stale_while_revalidate: Duration::from_secs(3600),
            max_stale: Duration::from_secs(7 * 86_400),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl DeviceConfig {
    /// The cache TTL of a view.
    pub(crate) fn ttl_of(&self, view: &str) -> Duration {
        self.cache_ttl_by_view
            .get(view)
            .copied()
            .unwrap_or(self.cache_ttl)
    }
}

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

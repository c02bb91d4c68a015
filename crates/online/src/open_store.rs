//! [`open_store`]: the online store a repository's `tessera.yaml` names.

use std::path::Path;
use std::sync::Arc;

use tessera_core::{OnlineStoreConfig, RepoConfig};

use crate::embedded_store::EmbeddedStore;
use crate::error::Result;
use crate::online_store::OnlineStore;

/// Opens the store configured in `config` (`online_store:` in `tessera.yaml`); relative
/// paths resolve against `repo_root`. Redis keys are prefixed with `tessera:<project>:`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = tessera_core::RepoConfig::from_yaml_str(
///     "project: demo\nonline_store: { type: embedded, path: .tessera/online }\n",
///     "tessera.yaml".as_ref(),
/// ).unwrap();
/// let store = tessera_online::open_store(&cfg, dir.path()).await?;
/// assert_eq!(store.name(), "embedded");
/// # Ok::<_, tessera_online::Error>(()) }).unwrap();
/// ```
pub async fn open_store(config: &RepoConfig, repo_root: &Path) -> Result<Arc<dyn OnlineStore>> {
    match &config.online_store {
        OnlineStoreConfig::Embedded { path } => {
            let dir = RepoConfig::resolve(repo_root, path);
            Ok(Arc::new(EmbeddedStore::open(&dir)?))
        }
        OnlineStoreConfig::Redis { url } => open_redis(url, &config.project).await,
    }
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, project: &str) -> Result<Arc<dyn OnlineStore>> {
    let prefix = format!("tessera:{project}:");
    Ok(Arc::new(
        crate::redis_store::RedisStore::connect(url, &prefix).await?,
    ))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(url: &str, _project: &str) -> Result<Arc<dyn OnlineStore>> {
    Err(crate::error::Error::Open {
        store: "redis",
        location: url.to_string(),
        hint: "this build has no Redis support; rebuild with the `redis` feature of tessera-online",
        source: "not compiled in".into(),
    })
}

//! One module per subcommand.

pub mod audit;
pub mod catalog;
pub mod compact;
pub mod content;
pub mod demo;
pub mod demo_device;
pub mod demo_online;
pub mod explain_request;
pub mod get;
pub mod ingest;
pub mod init;
pub mod materialize;
pub mod online_repair;
pub mod plan_apply;
pub mod registry;
pub mod serve;
pub mod training_set;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use tessera_core::{Catalog, FeatureRepo};
use tessera_registry::{FileRegistry, Registry};

/// The `--repo` argument shared by most commands.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// The feature repository (a directory with tessera.yaml).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

/// The registry of a repository.
pub fn registry_of(repo: &Path) -> Result<(FileRegistry, tessera_core::RepoConfig)> {
    let cfg = FeatureRepo::load_config(repo)?;
    let dir = tessera_core::RepoConfig::resolve(repo, &cfg.registry);
    Ok((FileRegistry::new(&dir), cfg))
}

/// The catalog of the latest registered version.
pub fn registered_catalog(repo: &Path) -> Result<(Catalog, u64)> {
    let (reg, _) = registry_of(repo)?;
    let Some(latest) = reg.latest()? else {
        bail!(
            "nothing is registered in {} yet (hint: run `tessera apply --repo {}`)",
            repo.display(),
            repo.display()
        );
    };
    let catalog = Catalog::build(vec![latest.definitions])
        .context("the registered definitions no longer validate")?;
    Ok((catalog, latest.version))
}

/// The local user, as an audit consumer name.
pub fn local_user() -> String {
    format!(
        "local:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

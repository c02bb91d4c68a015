//! `tessera plan` and `tessera apply`.

use std::sync::Arc;

use anyhow::Result;
use tessera_core::FeatureRepo;
use tessera_offline::{check_sources, load_repo, session};
use tessera_registry::{ApplyOutcome, Registry};

use super::{registry_of, RepoArgs};

/// Loads and fully validates the working copy, including source schemas.
pub(crate) async fn load_checked(args: &RepoArgs) -> Result<FeatureRepo> {
    let repo = load_repo(&args.repo).await?;
    check_sources(&session(1), &repo.root, &repo.catalog).await?;
    super::consent_sync::check(&repo.root, &repo.config, &repo.catalog).await?;
    Ok(repo)
}

/// Prints the diff against the registered version.
pub(crate) async fn plan(args: &RepoArgs) -> Result<()> {
    let repo = load_checked(args).await?;
    let (reg, _) = registry_of(&args.repo)?;
    let latest = reg.latest()?.map_or(0, |v| v.version);
    let diff = reg.plan(&repo.catalog.definitions())?;
    println!("Definitions are valid. Compared with registered version {latest}:");
    print!("{diff}");
    for p in repo.catalog.unset_minimise_keys() {
        println!("Note: `tessera apply` will refuse this until the key is set: {p}");
    }
    if diff.has_breaking() {
        println!("Breaking changes: readers of the objects above may fail after `tessera apply`.");
    }
    Ok(())
}

/// Registers the working copy as a new version.
pub(crate) async fn apply(args: &RepoArgs) -> Result<()> {
    let repo = load_checked(args).await?;
    let unset = repo.catalog.unset_minimise_keys();
    if !unset.is_empty() {
        return Err(tessera_core::ValidationErrors(unset).into());
    }
    let (reg, cfg) = registry_of(&args.repo)?;
    let defs = Arc::new(repo.catalog.definitions());
    match reg.apply(&cfg.project, &defs)? {
        ApplyOutcome::Applied { version, diff } => {
            let summary = diff.to_string();
            println!(
                "Registered version {version} of project `{}`: {}",
                cfg.project,
                summary.lines().last().unwrap_or("")
            );
        }
        ApplyOutcome::Unchanged { version } => {
            println!("No changes: version {version} is current.");
        }
    }
    Ok(())
}

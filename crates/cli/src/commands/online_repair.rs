//! `tessera online repair`: finds (and with `--drop-future` deletes) online rows stamped
//! beyond `writes.max_future` ahead of the clock, which "newer wins" would otherwise keep
//! in place of every real write until that time.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tessera_online::{format_us, open_store, EntityKey, FutureBound};

use super::get::parse_entity;
use super::registered_catalog;

/// `tessera online …`.
#[derive(Debug, Subcommand)]
pub(crate) enum OnlineCommand {
    /// List the rows of a feature view stamped beyond `writes.max_future` ahead of the clock
    /// (they hide every real write of their entity); `--drop-future` deletes them, so the
    /// next real write lands.
    Repair(RepairArgs),
}

/// Arguments of `tessera online repair`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RepairArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The feature view.
    #[arg(long)]
    pub view: String,
    /// Only these entities (`user_id=42`, composite: `user_id=42,item_id=7`; repeatable).
    /// Default: every row of the view.
    #[arg(long)]
    pub entity: Vec<String>,
    /// Delete the rows found (without it, they are only listed).
    #[arg(long)]
    pub drop_future: bool,
}

/// Runs `tessera online …`.
pub(crate) async fn run(cmd: &OnlineCommand) -> Result<()> {
    match cmd {
        OnlineCommand::Repair(a) => repair(a).await,
    }
}

async fn repair(args: &RepairArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let view = catalog.view(&args.view)?;
    if !view.online {
        bail!(
            "feature view `{}` has `online: false`: it has no online rows",
            view.name
        );
    }
    let keys = args
        .entity
        .iter()
        .map(|e| {
            let parts = parse_entity(e)?;
            EntityKey::new(parts.into_iter().map(|(n, v)| (Arc::<str>::from(n), v)))
                .with_context(|| format!("--entity `{e}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let store = open_store(&cfg, &args.repo).await?;
    let bound = FutureBound::of_repo(&cfg);
    let limit = bound.limit(FutureBound::now_us());
    let rows = store
        .future_rows(&view.name, &keys, limit, args.drop_future)
        .await
        .with_context(|| format!("scanning feature view `{}`", view.name))?;
    let scope = if keys.is_empty() {
        "rows".to_string()
    } else {
        format!(
            "of {} entit{}",
            keys.len(),
            if keys.len() == 1 { "y" } else { "ies" }
        )
    };
    println!(
        "feature view `{}` ({} store): {} {scope} stamped after {} (`writes.max_future` = {}):",
        view.name,
        store.name(),
        rows.len(),
        format_us(limit),
        bound.max_ahead()
    );
    for (key, stamp) in &rows {
        println!(
            "  {key}  event time {}  {}",
            format_us(stamp.event_ts),
            if args.drop_future {
                "dropped"
            } else {
                "pinned"
            }
        );
    }
    if !rows.is_empty() && !args.drop_future {
        println!("Run again with --drop-future to delete them; the next real write of each entity then lands.");
    }
    Ok(())
}

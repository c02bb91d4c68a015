//! `tessera explain-request`: the plan of a read, without reading: each feature's provider,
//! view, classification, placement and the policy gate's decision, for the same caller and
//! purpose rules as `tessera get` and with the providers `tessera serve` has.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::AuditSink;
use tessera_core::FeatureRepo;
use tessera_online::open_store;

use super::{local_user, registered_catalog};

/// Arguments of `tessera explain-request`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["features", "service"])))]
pub(crate) struct ExplainArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Features to plan: `view:feature,...` (`view:*` for all of a view).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Plan the features of this feature service.
    #[arg(long, conflicts_with = "features")]
    pub service: Option<String>,
    /// The purpose to check the features against (else the service's or the consumer's).
    #[arg(long)]
    pub purpose: Option<String>,
    /// Plan as this declared consumer (its purposes apply). Defaults to the local user.
    #[arg(long)]
    pub consumer: Option<String>,
}

/// Runs `tessera explain-request`.
pub(crate) async fn run(args: &ExplainArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    super::unregistered::check_registered(
        &args.repo,
        &catalog,
        &args.features,
        args.service.as_deref(),
    )?;
    let cfg = FeatureRepo::load_config(&args.repo)?;
    let user = local_user();
    let user = user.trim_start_matches("local:");
    let caller = match &args.consumer {
        Some(c) => {
            catalog.consumer(c)?;
            Caller::local_as(user, c)
        }
        None => Caller::local(user),
    };
    let store = open_store(&cfg, &args.repo).await.context(
        "opening the online store (hint: while `tessera serve` holds the embedded store, ask it instead: POST /v1/features?explain=true)",
    )?;
    let audit = Arc::new(
        AuditSink::spawn(
            super::audit::open_log(&args.repo, &cfg),
            super::audit::sink_config(&cfg),
        )
        .context("opening the audit log")?,
    );
    let catalog = Arc::new(catalog);
    let mut builder = AccessLayer::builder(catalog.clone(), audit.clone(), AccessConfig::default())
        .online_store(store);
    if let Some(c) = super::content::load(&catalog, &args.repo).await? {
        builder = builder.provider(c);
    }
    let access = builder.build();
    let request = ReadRequest {
        features: FeatureSelection::from_parts(
            (!args.features.is_empty()).then(|| args.features.clone()),
            args.service.clone(),
        )?,
        entities: EntityRows::default(),
        context: Default::default(),
        purpose: args.purpose.clone(),
        caller,
    };
    let explained = access.explain(&request);
    audit.shutdown().await.context("closing the audit log")?;
    crate::terminal_width::print_fitted(&explained?.to_string());
    Ok(())
}

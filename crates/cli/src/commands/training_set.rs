//! `tessera training-set`: point-in-time-correct training data, purpose-checked and audited.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use tessera_audit::{AuditDecision, AuditRecord};
use tessera_core::{Decision, FeatureRef, ReadChannel};
use tessera_offline::{display_plan, write_parquet_atomic, OfflineEngine, TrainingSetRequest};

use super::{local_user, registered_catalog};
use crate::progress_bar::RowsBar;

/// Arguments of `tessera training-set`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["service", "features"])))]
pub(crate) struct TrainingSetArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The spine: a Parquet (or CSV) file of entity keys, a timestamp and any labels.
    #[arg(long)]
    pub spine: PathBuf,
    /// A feature service whose features to join.
    #[arg(long)]
    pub service: Option<String>,
    /// Features to join: `view:feature,...` (`view:*` for all of a view).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Why the data is read; must allow every feature's classification. Defaults to the
    /// service's purpose.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Read as this declared consumer, without its token (it must hold the purpose).
    /// Audited as `local:<user> as <consumer>`. Defaults to the local user.
    #[arg(long)]
    pub consumer: Option<String>,
    /// Where to write the training set (Parquet). Written atomically. Required unless
    /// `--explain` is given (with `--explain analyze` it is written when given).
    #[arg(long, required_unless_present = "explain")]
    pub out: Option<PathBuf>,
    /// The spine's timestamp column.
    #[arg(long, default_value = "event_timestamp")]
    pub timestamp_column: String,
    /// Name feature columns `feature` instead of `view__feature` (when unambiguous).
    #[arg(long)]
    pub short_names: bool,
    /// Do not print a summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the query plan of each view's join (the DataFusion physical plan with the
    /// Tessera operators) instead of building the set; `--explain analyze` builds the set
    /// and prints the plans with each operator's metrics (rows, time, memory).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "plan", value_name = "MODE")]
    pub explain: Option<ExplainMode>,
}

/// What `--explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExplainMode {
    /// The plans, without running them: nothing is read or written.
    Plan,
    /// Build the set, then print the plans with their metrics.
    Analyze,
}

/// Runs `tessera training-set`.
pub(crate) async fn run(args: &TrainingSetArgs) -> Result<()> {
    let started = Instant::now();
    let (catalog, version) = registered_catalog(&args.repo)?;
    super::unregistered::check_registered(
        &args.repo,
        &catalog,
        &args.features,
        args.service.as_deref(),
    )?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let audit = super::audit::open_log(&args.repo, &cfg);

    let (refs, service_purpose) = match &args.service {
        Some(name) => {
            let s = catalog.service(name)?;
            (s.features.clone(), Some(s.purpose.clone()))
        }
        None => (
            args.features
                .iter()
                .map(|f| FeatureRef::parse(f))
                .collect::<Result<Vec<_>, _>>()?,
            None,
        ),
    };
    let Some(purpose) = args.purpose.clone().or(service_purpose) else {
        bail!("name the purpose of this read with --purpose (e.g. --purpose training); declared purposes: {}",
            catalog.purposes().keys().cloned().collect::<Vec<_>>().join(", "));
    };
    let features = catalog.resolve_refs(&refs)?;
    if let Some(c) = &args.consumer {
        catalog.consumer(c)?;
    }
    // Acting as a consumer needs file access, not its token: the record says who acted.
    let consumer_name = match &args.consumer {
        Some(c) => format!("{} as {c}", local_user()),
        None => local_user(),
    };
    let mut record = AuditRecord::now("training_set", &consumer_name, &purpose);
    record.features = features.iter().map(|f| f.to_string()).collect();
    let out_name = args
        .out
        .as_ref()
        .map_or("(not written)".to_string(), |p| p.display().to_string());
    record.detail = Some(format!("out={out_name} registry_version={version}"));

    if let Decision::Deny(refusals) = catalog.check_access(
        args.consumer.as_deref(),
        &purpose,
        &features,
        ReadChannel::Offline,
    ) {
        record.decision = AuditDecision::Deny;
        record.reasons = refusals.iter().map(|r| r.to_string()).collect();
        audit.append(&record)?;
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        bail!(
            "refused: purpose `{purpose}` may not read {} of the requested features:\n{}\n(hint: drop those features, use a purpose whose `allows` covers their classification, or give the purpose a `minimise` entry for them; this refusal is in the audit log)",
            refusals.len(),
            list.join("\n")
        );
    }

    let consent = super::consent::open_if_needed(&catalog, &args.repo)?;
    // The spine's join keys, whose values the audit record names as keyed hashes.
    let mut join_keys: Vec<String> = Vec::new();
    for f in &features {
        if let Ok(view) = catalog.view(&f.view) {
            for k in catalog.join_keys(view) {
                if !join_keys.contains(&k) {
                    join_keys.push(k);
                }
            }
        }
    }
    let catalog = Arc::new(catalog);
    let engine = OfflineEngine::new(&args.repo, catalog.clone());
    let req = TrainingSetRequest {
        spine: args.spine.clone(),
        features: features.clone(),
        timestamp_column: args.timestamp_column.clone(),
        short_names: args.short_names,
    };
    if args.explain == Some(ExplainMode::Plan) {
        // Nothing is read beyond the spine and the sources' schemas: no audit record.
        let prepared = engine.prepare(&req).await?;
        print!("{}", engine.explain(&prepared).await?);
        return Ok(());
    }
    let minimisation = tessera_offline::TrainingSetMinimisation::plan(
        &catalog,
        &purpose,
        args.service.as_deref(),
        &req,
    );
    let minimisation = match minimisation {
        Ok(m) => m,
        Err(e) => {
            record.decision = AuditDecision::Error;
            record.reasons = vec![e.to_string()];
            audit.append(&record)?;
            return Err(e.into());
        }
    };
    record.transforms = minimisation.transforms().into();
    let outcome = async {
        let prepared = engine.prepare(&req).await?;
        let bar = Arc::new(RowsBar::new(prepared.rows_to_scan()));
        let feature_columns: Vec<String> =
            prepared.columns.iter().map(|(_, n)| n.clone()).collect();
        let set = engine.run(prepared, bar.clone()).await;
        bar.finish();
        let mut set = set?;
        // Rows of erased entities (tombstones) are dropped, whatever the sources hold.
        if let Some(f) = crate::erasure::tombstones::TombstoneFilter::for_repo(&args.repo)? {
            set.batch = f.filter_batch(&catalog, &set.batch)?.0;
        }
        // Consent: rows without it at the spine time and now keep null features.
        let mut withheld = 0;
        if let Some(store) = &consent {
            let (batch, o) = tessera_offline::apply_consent(
                &catalog,
                store,
                &purpose,
                set.batch,
                &feature_columns,
                &args.timestamp_column,
                tessera_consent::now_us(),
            )?;
            set.batch = batch;
            withheld = o.withheld;
        }
        set.batch = minimisation.apply(set.batch)?;
        let bytes = match &args.out {
            Some(out) => write_parquet_atomic(&set.batch, out)?,
            None => 0,
        };
        Ok::<_, anyhow::Error>((set, bytes, withheld))
    }
    .await;
    record.latency_us = started.elapsed().as_micros() as u64;
    let (set, bytes, withheld) = match outcome {
        Ok(x) => x,
        Err(e) => {
            record.decision = AuditDecision::Error;
            record.reasons = vec![e.to_string()];
            audit.append(&record)?;
            return Err(e);
        }
    };
    record.rows = set.batch.num_rows() as u64;
    if consent.is_some() {
        if let Some(d) = &mut record.detail {
            d.push_str(&format!(" no_consent_rows={withheld}"));
        }
    }
    let audit_dir = audit.path().parent().unwrap_or(&args.repo).to_path_buf();
    super::training_set_entities::record_entities(
        &mut record,
        &set.batch,
        &join_keys,
        &*super::serve::privacy_hasher(&args.repo)?,
        &audit_dir,
    )?;
    audit.append(&record)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.explain == Some(ExplainMode::Analyze) {
        for plan in &set.plans {
            print!("{}", display_plan(plan.as_ref(), true));
        }
    }
    if !args.quiet {
        let shape = format!(
            "{} rows x {} columns",
            set.batch.num_rows(),
            set.batch.num_columns()
        );
        let written = match &args.out {
            Some(p) => format!(
                "Wrote {shape} to {} ({:.1} MiB)",
                p.display(),
                bytes as f64 / 1_048_576.0
            ),
            None => format!("Built {shape} (not written)"),
        };
        println!("{written} in {seconds:.2}s (registry version {version}, purpose `{purpose}`).");
        if let Some(p) = catalog
            .purposes()
            .get(&purpose)
            .filter(|p| p.requires_consent)
        {
            println!(
                "  consent: {withheld} of {} spine rows without consent for `{}` at their time and now: their features are null",
                set.batch.num_rows(),
                p.name
            );
        }
        for v in &set.views {
            println!(
                "  {:<20} {} of {} spine rows matched; {} source rows read",
                v.view,
                v.matched,
                set.batch.num_rows(),
                v.rows_scanned
            );
        }
    }
    Ok(())
}

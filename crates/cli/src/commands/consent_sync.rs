//! `tessera consent sync`: reads the source of consent events `tessera.yaml` declares
//! (`consent: { source, entity, purpose_field, state_field, timestamp_field }`) through the
//! source readers (Parquet/CSV files, or a stream source's offline log) into the consent
//! log. Idempotent: an event already recorded (same entity, purpose, time and state) is not
//! appended again, and the latest change by time wins whatever the order of the rows.
//! Events of erased entities are skipped (their tombstones). `tessera serve` runs it every
//! `sync_every`. See `docs/CONSENT.md`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use tessera_consent::{check_purpose, now_us, ConsentState, ConsentStore, LogLine};
use tessera_core::{Catalog, ConsentSourceConfig, FeatureRepo, RepoConfig};

/// What one sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SyncOutcome {
    /// Event rows read from the source.
    pub read: usize,
    /// Changes appended to the log (not recorded before).
    pub added: usize,
    /// Of those, withdrawals.
    pub withdrawn: usize,
    /// Rows of erased entities, skipped.
    pub erased: usize,
}

impl SyncOutcome {
    pub(crate) fn summary(&self, source: &str) -> String {
        format!(
            "Read {} consent event(s) from source `{source}`: {} new change(s) recorded ({} granted, {} withdrawn), {} already recorded{}",
            self.read,
            self.added,
            self.added - self.withdrawn,
            self.withdrawn,
            self.read - self.added - self.erased,
            if self.erased > 0 {
                format!(", {} of erased entities skipped", self.erased)
            } else {
                String::new()
            }
        )
    }
}

/// The repository's consent source, or an error saying how to declare one.
pub(crate) fn configured(cfg: &RepoConfig) -> Result<&ConsentSourceConfig> {
    cfg.consent.as_ref().context(
        "tessera.yaml declares no consent source (hint: add `consent: { source: consent_events, entity: user_id, purpose_field: purpose, state_field: state, timestamp_field: at }`, naming a source of the definitions)",
    )
}

/// Checks the consent source against `catalog` and the source's data: everything
/// [`ConsentSourceConfig::problems`] checks, and that the columns exist with usable types.
pub(crate) async fn check(root: &Path, cfg: &RepoConfig, catalog: &Catalog) -> Result<()> {
    let Some(c) = &cfg.consent else {
        return Ok(());
    };
    check_problems(root, c, catalog)?;
    read(root, c, catalog).await.map(|_| ())
}

/// One event row, as read.
struct Event {
    value: String,
    purpose: String,
    state: ConsentState,
    at_us: i64,
}

/// Reads every event of the source (all or nothing: a bad row is an error naming it).
async fn read(root: &Path, c: &ConsentSourceConfig, catalog: &Catalog) -> Result<Vec<Event>> {
    let what = || format!("consent source `{}` (tessera.yaml `consent:`)", c.source);
    let source = catalog
        .sources()
        .get(&c.source)
        .with_context(|| format!("{}: no such source", what()))?;
    let ts = c
        .timestamp_column(catalog)
        .unwrap_or(source.timestamp_field.as_str());
    let columns = [
        c.entity_column(),
        c.purpose_field.as_str(),
        c.state_field.as_str(),
        ts,
    ];
    let ctx = tessera_offline::session(1);
    let (df, path) = tessera_offline::open_source(&ctx, root, source)
        .await
        .with_context(|| format!("reading {}", what()))?;
    let have: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for (role, col) in [
        "entity_field",
        "purpose_field",
        "state_field",
        "timestamp_field",
    ]
    .iter()
    .zip(columns)
    {
        if !have.iter().any(|h| h == col) {
            bail!(
                "{}: {} has no column `{col}` (for `{role}`; its columns: {}) (hint: set `{role}` to the column that holds it)",
                what(),
                path.display(),
                have.join(", ")
            );
        }
    }
    let batches = df
        .select_columns(&columns)?
        .collect()
        .await
        .with_context(|| format!("reading {}", what()))?;
    let mut out = Vec::new();
    let mut row_no = 0usize;
    for b in batches {
        let text = |i: usize| -> Result<StringArray> {
            let a = arrow::compute::cast(b.column(i), &DataType::Utf8)
                .with_context(|| format!("{}: column `{}` is not text", what(), columns[i]))?;
            a.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .context("internal error: a cast to text gave no text")
        };
        let (values, purposes, states) = (text(0)?, text(1)?, text(2)?);
        let times = arrow::compute::cast(
            b.column(3),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .with_context(|| {
            format!(
                "{}: column `{ts}` is not a timestamp (hint: a timestamp column, or RFC 3339 text such as 2026-12-01T00:00:00Z)",
                what()
            )
        })?;
        let times = times
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .context("internal error: a cast to timestamps gave none")?;
        for i in 0..b.num_rows() {
            row_no += 1;
            let at = || format!("{}: row {row_no}", what());
            let null = |col: &str| format!("{}: `{col}` is null", at());
            if values.is_null(i) {
                bail!(null(columns[0]));
            }
            if purposes.is_null(i) {
                bail!(null(columns[1]));
            }
            if states.is_null(i) {
                bail!(null(columns[2]));
            }
            if times.is_null(i) {
                bail!(null(columns[3]));
            }
            let purpose = purposes.value(i).trim();
            check_purpose(catalog, purpose).with_context(at)?;
            out.push(Event {
                value: values.value(i).to_string(),
                purpose: purpose.to_string(),
                state: ConsentState::parse(states.value(i).trim()).with_context(at)?,
                at_us: times.value(i),
            });
        }
    }
    Ok(out)
}

/// Reads the consent source of the repository at `root` into `store` (the repository's
/// consent log when `None`); audits what it added as made by `caller`.
pub(crate) async fn sync(
    root: &Path,
    catalog: &Catalog,
    store: Option<&ConsentStore>,
    audit: &tessera_audit::AuditSink,
    caller: &str,
) -> Result<SyncOutcome> {
    let cfg = FeatureRepo::load_config(root)?;
    let c = configured(&cfg)?;
    check_problems(root, c, catalog)?;
    let events = read(root, c, catalog).await?;
    let opened;
    let store = match store {
        Some(s) => s,
        None => {
            opened = ConsentStore::open(root).context("opening the consent log")?;
            &opened
        }
    };
    let tombstones = crate::erasure::tombstones::TombstoneFilter::for_repo(root)?;
    let recorded = now_us();
    let mut outcome = SyncOutcome {
        read: events.len(),
        ..SyncOutcome::default()
    };
    let mut lines = Vec::with_capacity(events.len());
    for e in &events {
        if tombstones
            .as_ref()
            .is_some_and(|t| t.erased(&[(c.entity.as_str(), e.value.as_str())]))
        {
            outcome.erased += 1;
            continue;
        }
        lines.push(LogLine::new(
            store.digest(&c.entity, &e.value),
            &e.purpose,
            e.state,
            e.at_us,
            recorded,
        ));
    }
    let added = store
        .append_new(&lines)
        .context("recording consent changes")?;
    outcome.added = added.len();
    outcome.withdrawn = added
        .iter()
        .filter(|l| l.state == ConsentState::Withdrawn)
        .count();
    super::consent::audit_lines(audit, caller, &added).await?;
    Ok(outcome)
}

fn check_problems(root: &Path, c: &ConsentSourceConfig, catalog: &Catalog) -> Result<()> {
    let problems = c.problems(catalog, &root.join(RepoConfig::FILE_NAME));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(tessera_core::ValidationErrors(problems).into())
    }
}

/// `tessera consent sync --repo DIR`.
pub(crate) async fn run(repo: &Path) -> Result<()> {
    let (catalog, _) = super::registered_catalog(repo)?;
    let cfg = FeatureRepo::load_config(repo)?;
    let source = configured(&cfg)?.source.clone();
    let audit = Arc::new(
        tessera_audit::AuditSink::spawn(
            super::audit::open_log(repo, &cfg),
            super::audit::sink_config(&cfg),
        )
        .context("opening the audit log")?,
    );
    let outcome = sync(repo, &catalog, None, &audit, &super::local_user()).await?;
    audit
        .shutdown()
        .await
        .context("writing the audit records")?;
    println!("{}", outcome.summary(&source));
    Ok(())
}

/// Starts `tessera serve`'s periodic sync when `tessera.yaml` declares a consent source
/// with `sync_every`: once at start, then every `sync_every` until `stop` is set, into the
/// server's own consent store (its reads see the changes at once). Failures are logged
/// and retried at the next tick.
pub(crate) fn spawn(
    root: std::path::PathBuf,
    access: Arc<tessera_access::AccessLayer>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let cfg = FeatureRepo::load_config(&root)?;
    let Some(c) = &cfg.consent else {
        return Ok(None);
    };
    let Some(every) = c.sync_every()? else {
        return Ok(None);
    };
    if every.is_zero() {
        return Ok(None);
    }
    let source = c.source.clone();
    eprintln!(
        "consent: source `{source}` read into the consent log every {every:?} (tessera.yaml `consent.sync_every`)"
    );
    Ok(Some(tokio::spawn(async move {
        loop {
            let consent = access.consent().cloned();
            match sync(
                &root,
                access.catalog(),
                consent.as_deref(),
                access.audit(),
                "server",
            )
            .await
            {
                Ok(o) if o.added > 0 => tracing::info!("consent sync: {}", o.summary(&source)),
                Ok(_) => {}
                Err(e) => tracing::error!("consent sync failed: {e:#}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })))
}

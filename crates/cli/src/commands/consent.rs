//! `tessera consent set` and `tessera consent import`: record consent changes in the
//! repository's consent log (keyed hashes of the entity keys, never the keys), each change
//! audited (action `consent`). A running `tessera serve` on the same repository sees them
//! within a second (it re-reads the log's new lines); see `docs/CONSENT.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tessera_access::consent_record;
use tessera_audit::AuditSink;
use tessera_consent::{
    check_key_name, check_purpose, now_us, parse_time, ConsentState, ConsentStore, LogLine,
};
use tessera_core::{Catalog, FeatureRepo};

use super::get::parse_entity;
use super::{local_user, registered_catalog};

/// `tessera consent …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCommand {
    /// Record that entities grant or withdraw consent for a purpose (from `--at`, default
    /// now).
    Set(SetArgs),
    /// Record the consent changes of a CSV or JSONL file (columns / fields `entity`
    /// (`user_id=u1`, or a CSV column named after the join key), `purpose`, `state`,
    /// optional `at`); all or nothing.
    Import(ImportArgs),
    /// Read the source of consent events `tessera.yaml` declares (`consent: { source,
    /// entity, purpose_field, state_field, timestamp_field }`) into the consent log; events
    /// already recorded are not added again.
    Sync(SyncArgs),
}

/// Arguments of `tessera consent sync`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SyncArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

/// Arguments of `tessera consent set`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SetArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The purpose (it must declare `requires_consent: true`).
    #[arg(long)]
    pub purpose: String,
    /// An entity, one join key: `user_id=u1` (repeatable).
    #[arg(long = "entity", required = true)]
    pub entities: Vec<String>,
    /// `granted` or `withdrawn`.
    #[arg(long)]
    pub state: String,
    /// When the change takes effect (RFC 3339, e.g. `2026-12-01T00:00:00Z`); default now.
    #[arg(long)]
    pub at: Option<String>,
}

/// Arguments of `tessera consent import`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImportArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// A `.csv` file with a header `entity,purpose,state,at` (or `user_id,purpose,state,at`:
    /// a column named after a join key), or a `.jsonl` file of
    /// `{"entity": "user_id=u1", "purpose": "ads", "state": "granted", "at": "…"}`.
    pub file: PathBuf,
}

/// Runs `tessera consent …`.
pub(crate) async fn run(cmd: &ConsentCommand) -> Result<()> {
    match cmd {
        ConsentCommand::Set(a) => set(a).await,
        ConsentCommand::Import(a) => import(a).await,
        ConsentCommand::Sync(a) => super::consent_sync::run(&a.repo).await,
    }
}

/// One change as given: entity text, purpose, state, time.
struct Change {
    name: String,
    value: String,
    purpose: String,
    state: ConsentState,
    at_us: i64,
}

fn change(
    catalog: &Catalog,
    entity: &str,
    purpose: &str,
    state: &str,
    at: Option<&str>,
) -> Result<Change> {
    check_purpose(catalog, purpose)?;
    let state = ConsentState::parse(state)?;
    let at_us = match at.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => parse_time(a)?,
        None => now_us(),
    };
    let parts = parse_entity(entity)?;
    let [(name, value)] = parts.as_slice() else {
        bail!("entity `{entity}` names {} keys; consent is recorded per join key (hint: e.g. user_id=u1)", parts.len());
    };
    check_key_name(catalog, name)?;
    Ok(Change {
        name: name.clone(),
        value: tessera_access::key_text(value),
        purpose: purpose.to_string(),
        state,
        at_us,
    })
}

async fn set(args: &SetArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let changes = args
        .entities
        .iter()
        .map(|e| change(&catalog, e, &args.purpose, &args.state, args.at.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    record(&args.repo, &changes).await
}

async fn import(args: &ImportArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let jsonl = args
        .file
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson" || e == "json");
    let at_line = |n: usize| format!("{}:{n}", args.file.display());
    let mut changes = Vec::new();
    if jsonl {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let hint = "hint: {\"entity\": \"user_id=u1\", \"purpose\": \"ads\", \"state\": \"granted\", \"at\": \"2026-12-01T00:00:00Z\"}";
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}: not JSON ({hint})", at_line(i + 1)))?;
            let Some(obj) = v.as_object() else {
                bail!("{}: not a JSON object ({hint})", at_line(i + 1));
            };
            if let Some(k) = obj
                .keys()
                .find(|k| !["entity", "purpose", "state", "at"].contains(&k.as_str()))
            {
                bail!("{}: unknown field `{k}` ({hint})", at_line(i + 1));
            }
            let field = |k: &str| obj.get(k).and_then(serde_json::Value::as_str);
            let (Some(entity), Some(purpose), Some(state)) =
                (field("entity"), field("purpose"), field("state"))
            else {
                bail!(
                    "{}: needs string fields `entity`, `purpose` and `state` ({hint})",
                    at_line(i + 1)
                );
            };
            let l = (entity, purpose, state, field("at"));
            changes.push(change(&catalog, l.0, l.1, l.2, l.3).with_context(|| at_line(i + 1))?);
        }
    } else {
        let mut lines = text.lines().enumerate();
        let Some((_, header)) = lines.next() else {
            bail!(
                "{} is empty (hint: a header `entity,purpose,state,at`, then one change per line)",
                args.file.display()
            );
        };
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let col = |name: &str| cols.iter().position(|c| *c == name);
        // The entity: an `entity` column (`user_id=u1`), or a column named after a join key
        // (`user_id`, as exports usually have it).
        let join_keys: Vec<&str> = catalog
            .entities()
            .values()
            .flat_map(|e| e.join_keys.iter().map(String::as_str))
            .collect();
        let entity = col("entity").map(|e| (e, None)).or_else(|| {
            cols.iter()
                .position(|c| join_keys.contains(c))
                .map(|e| (e, Some(cols[e])))
        });
        let (Some((e, key)), Some(p), Some(s)) = (entity, col("purpose"), col("state")) else {
            bail!("{}: the header must name the columns `entity` (or a join key such as `user_id`), `purpose`, `state` and optionally `at`; it is `{header}`", at_line(1));
        };
        let a = col("at");
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |k: usize| f.get(k).copied().unwrap_or("");
            let entity = match key {
                Some(k) => format!("{k}={}", get(e)),
                None => get(e).to_string(),
            };
            changes.push(
                change(&catalog, &entity, get(p), get(s), a.map(get))
                    .with_context(|| at_line(i + 1))?,
            );
        }
    }
    if changes.is_empty() {
        bail!("{} holds no consent change", args.file.display());
    }
    record(&args.repo, &changes).await
}

/// Appends the changes to the log (one sync) and audits them, one record per (purpose,
/// state, time).
async fn record(repo: &Path, changes: &[Change]) -> Result<()> {
    let store = ConsentStore::open(repo).context("opening the consent log")?;
    let recorded = now_us();
    let lines: Vec<LogLine> = changes
        .iter()
        .map(|c| {
            LogLine::new(
                store.digest(&c.name, &c.value),
                &c.purpose,
                c.state,
                c.at_us,
                recorded,
            )
        })
        .collect();
    let cfg = FeatureRepo::load_config(repo)?;
    let audit = Arc::new(
        AuditSink::spawn(
            super::audit::open_log(repo, &cfg),
            super::audit::sink_config(&cfg),
        )
        .context("opening the audit log")?,
    );
    store.append(&lines).context("recording consent")?;
    audit_lines(&audit, &local_user(), &lines).await?;
    audit
        .shutdown()
        .await
        .context("writing the audit records")?;
    let granted = lines
        .iter()
        .filter(|l| l.state == ConsentState::Granted)
        .count();
    println!(
        "Recorded {} consent change(s): {granted} granted, {} withdrawn ({})",
        lines.len(),
        lines.len() - granted,
        store.path().display()
    );
    Ok(())
}

/// Audits recorded consent changes, one record per (purpose, state, time).
pub(crate) async fn audit_lines(audit: &AuditSink, user: &str, lines: &[LogLine]) -> Result<()> {
    let mut groups: BTreeMap<(&str, &str, i64), Vec<&str>> = BTreeMap::new();
    for l in lines {
        groups
            .entry((l.purpose.as_str(), l.state.as_str(), l.at_us))
            .or_default()
            .push(l.entity.as_str());
    }
    for ((purpose, state, at), entities) in &groups {
        audit
            .record(consent_record(user, purpose, state, *at, entities))
            .await
            .context("auditing the consent change")?;
    }
    Ok(())
}

/// The consent store of `repo` when a purpose requires consent (else none is opened and no
/// privacy key is created).
pub(crate) fn open_if_needed(catalog: &Catalog, repo: &Path) -> Result<Option<Arc<ConsentStore>>> {
    if !catalog.purposes().values().any(|p| p.requires_consent) {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        ConsentStore::open(repo).context("opening the consent log")?,
    )))
}

/// `access` with the repository's consent store attached, when a purpose requires consent.
pub(crate) fn attach(
    access: tessera_access::AccessLayer,
    repo: &Path,
) -> Result<tessera_access::AccessLayer> {
    Ok(match open_if_needed(access.catalog(), repo)? {
        Some(store) => access.with_consent(store),
        None => access,
    })
}

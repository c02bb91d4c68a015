//! `tessera retention apply`: deletes data older than its retention from every tier
//! Tessera manages, reports what it removed per tier, and audits the run (action
//! `retention`). See `docs/RETENTION.md`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tessera_audit::AuditRecord;

use super::retention_pass::{run_pass, RetentionReport, Tiers};
use super::{local_user, registered_catalog};

/// `tessera retention …`
#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Delete data older than its retention (`retention:` on sources and views) from the
    /// offline logs, the stream engine's states, the online store and a device store.
    Apply(ApplyArgs),
}

/// Arguments of `tessera retention apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Count what would be removed; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also apply retention to the local store of the device in this directory (as made by
    /// `tessera device --dir`).
    #[arg(long)]
    pub device: Option<PathBuf>,
}

/// Runs `tessera retention …`.
pub(crate) async fn run(cmd: &RetentionCommand) -> Result<()> {
    match cmd {
        RetentionCommand::Apply(a) => apply(a).await,
    }
}

async fn apply(args: &ApplyArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let (catalog, version) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let store = tessera_online::open_store(&cfg, &args.repo)
        .await
        .context("opening the online store (while `tessera serve` holds the embedded store, it applies retention itself every --retention-every)")?;
    let report = run_pass(
        Tiers {
            root: &args.repo,
            catalog: &catalog,
            store: Some(store),
            engine: None,
            device_dir: args.device.as_deref(),
        },
        chrono::Utc::now().timestamp_micros(),
        !args.dry_run,
    )
    .await?;
    let mut record = audit_record(&report, &local_user());
    record.latency_us = started.elapsed().as_micros() as u64;
    record.detail = Some(format!("{} registry_version={version}", report.summary()));
    super::audit::open_log(&args.repo, &cfg).append(&record)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&report))?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The audit record of a pass (action `retention`).
pub(crate) fn audit_record(report: &RetentionReport, consumer: &str) -> AuditRecord {
    let mut record = AuditRecord::now("retention", consumer, "-");
    record.features = report
        .online
        .iter()
        .map(|(v, _, _)| v.clone())
        .chain(
            report
                .logs
                .iter()
                .map(|(l, _)| format!("source:{}", l.source)),
        )
        .collect();
    record.rows = report.total();
    record.detail = Some(report.summary());
    record
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn print_report(r: &RetentionReport) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    if r.logs.is_empty() && r.states.is_empty() && r.online.is_empty() && r.device.is_empty() {
        println!("No source or view declares a retention: nothing to do.");
    }
    for (l, cut) in &r.logs {
        println!(
            "offline log  {:<24} older than {}: {verb} {} rows ({} files deleted, {} rewritten, of {})",
            l.source, time(*cut), l.removed_rows, l.dropped_files, l.rewritten_files, l.files
        );
    }
    for (v, n) in &r.states {
        println!("stream state {v:<24} {verb} {n} entity states");
    }
    for (v, n, cut) in &r.online {
        println!(
            "online store {v:<24} older than {}: {verb} {n} rows",
            time(*cut)
        );
    }
    for (v, n) in &r.device {
        println!("device store {v:<24} {verb} {n} rows");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

/// The report as JSON (`--json`).
pub(crate) fn to_json(r: &RetentionReport) -> serde_json::Value {
    use serde_json::json;
    json!({
        "dry_run": r.dry_run,
        "now": time(r.now_us),
        "offline_logs": r.logs.iter().map(|(l, cut)| json!({
            "source": l.source, "older_than": time(*cut), "files": l.files,
            "dropped_files": l.dropped_files, "rewritten_files": l.rewritten_files,
            "removed_rows": l.removed_rows, "removed_bytes": l.removed_bytes,
        })).collect::<Vec<_>>(),
        "stream_states": r.states.iter().map(|(v, n)| json!({"view": v, "removed": n})).collect::<Vec<_>>(),
        "online_store": r.online.iter().map(|(v, n, cut)| json!({"view": v, "older_than": time(*cut), "removed_rows": n})).collect::<Vec<_>>(),
        "device_store": r.device.iter().map(|(v, n)| json!({"view": v, "removed_rows": n})).collect::<Vec<_>>(),
        "notes": r.notes,
        "removed_total": r.total(),
    })
}

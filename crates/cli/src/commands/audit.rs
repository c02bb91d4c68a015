//! `tessera audit tail|query`, and the audit log as `tessera.yaml` configures it
//! ([`open_log`], [`sink_config`]) for the commands that write it.
//!
//! Human output escapes every string a client chose ([`escaped`]), so a record cannot
//! forge lines or send escape sequences to the operator's terminal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use tessera_audit::{
    AuditDecision, AuditLog, AuditQuery, AuditRead, AuditRecord, Rotation, SinkConfig, SyncMode,
};
use tessera_core::{AuditSync, FeatureRepo, RepoConfig};

use crate::terminal_text::escaped;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Print the most recent records.
    Tail {
        /// The feature repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the records that match every filter given.
    Query(QueryArgs),
}

/// Filters for `tessera audit query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Only this consumer (its own requests, and local commands run with `--consumer` as
    /// it, audited as `local:<user> as <consumer>`).
    #[arg(long)]
    consumer: Option<String>,
    /// Only this purpose.
    #[arg(long)]
    purpose: Option<String>,
    /// Only this decision: allow, deny or error.
    #[arg(long)]
    decision: Option<String>,
    /// Only reads of this view or `view:feature`.
    #[arg(long)]
    feature: Option<String>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only this action (training_set, online_read …).
    #[arg(long)]
    action: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

fn log_of(repo: &Path) -> Result<AuditLog> {
    let cfg = FeatureRepo::load_config(repo)?;
    Ok(open_log(repo, &cfg))
}

/// The repository's audit log, with the rotation `audit_log:` configures.
pub(crate) fn open_log(repo: &Path, cfg: &RepoConfig) -> AuditLog {
    let a = &cfg.audit_log;
    AuditLog::new(&RepoConfig::resolve(repo, &a.path)).with_rotation(Rotation {
        max_bytes: a.rotate_bytes,
        max_age: a.rotate_age,
        retain_files: a.retain_files,
        retain_age: a.retain_age,
    })
}

/// How a server's (or a reading command's) audit sink syncs, as `audit_log:` configures.
pub(crate) fn sink_config(cfg: &RepoConfig) -> SinkConfig {
    let a = &cfg.audit_log;
    SinkConfig {
        sync: match a.sync {
            AuditSync::Always => SyncMode::Always,
            AuditSync::Batch => SyncMode::Batch,
            AuditSync::None => SyncMode::None,
        },
        sync_interval: a.sync_interval.max(Duration::from_millis(1)),
        ..SinkConfig::default()
    }
}

/// Prints records as a table or JSON lines.
pub(crate) fn print(records: &[AuditRecord], json: bool) -> Result<()> {
    for r in records {
        if json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            println!("{}", human(r));
        }
    }
    Ok(())
}

/// One record as the table shows it: a line, and one more per reason and for the detail,
/// with every client-chosen string escaped.
fn human(r: &AuditRecord) -> String {
    let decision = match r.decision {
        AuditDecision::Allow => "ALLOW",
        AuditDecision::Deny => "DENY",
        AuditDecision::Error => "ERROR",
    };
    let features: Vec<_> = r.features.iter().map(|f| escaped(f)).collect();
    let mut out = format!(
        "{} {:<5} {:<12} consumer={} purpose={} rows={} latency={}us features=[{}]",
        escaped(&r.time),
        decision,
        escaped(&r.action),
        escaped(&r.consumer),
        escaped(&r.purpose),
        r.rows,
        r.latency_us,
        features.join(",")
    );
    for reason in &r.reasons {
        out.push_str("\n    reason: ");
        out.push_str(&escaped(reason));
    }
    if let Some(d) = &r.detail {
        out.push_str("\n    detail: ");
        out.push_str(&escaped(d));
    }
    out
}

/// Prints what was read, after a warning on stderr if the log ends in a torn line (a writer
/// stopped in the middle of a record; it is skipped).
fn print_read(read: &AuditRead, json: bool) -> Result<()> {
    if let Some(torn) = &read.torn_final_line {
        eprintln!("warning: {torn}");
    }
    print(&read.records, json)
}

/// Runs an audit subcommand.
pub(crate) fn run(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Tail { repo, lines, json } => {
            print_read(&log_of(&repo)?.read_tail(lines)?, json)
        }
        AuditCommand::Query(a) => {
            let decision = match a.decision.as_deref() {
                None => None,
                Some("allow") => Some(AuditDecision::Allow),
                Some("deny") => Some(AuditDecision::Deny),
                Some("error") => Some(AuditDecision::Error),
                Some(other) => bail!("--decision {other} is not one of allow, deny, error"),
            };
            let q = AuditQuery {
                consumer: a.consumer,
                purpose: a.purpose,
                decision,
                feature: a.feature,
                since: a.since,
                action: a.action,
            };
            print_read(&log_of(&a.repo)?.read(&q)?, a.json)
        }
    }
}

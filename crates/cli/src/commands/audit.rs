//! `tessera audit tail|query`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use tessera_audit::{AuditDecision, AuditLog, AuditQuery, AuditRead, AuditRecord};
use tessera_core::{FeatureRepo, RepoConfig};

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

fn log_of(repo: &std::path::Path) -> Result<AuditLog> {
    let cfg = FeatureRepo::load_config(repo)?;
    Ok(AuditLog::new(&RepoConfig::resolve(repo, &cfg.audit_log)))
}

/// Prints records as a table or JSON lines.
pub(crate) fn print(records: &[AuditRecord], json: bool) -> Result<()> {
    for r in records {
        if json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            let decision = match r.decision {
                AuditDecision::Allow => "ALLOW",
                AuditDecision::Deny => "DENY",
                AuditDecision::Error => "ERROR",
            };
            println!(
                "{} {:<5} {:<12} consumer={} purpose={} rows={} latency={}us features=[{}]",
                r.time,
                decision,
                r.action,
                r.consumer,
                r.purpose,
                r.rows,
                r.latency_us,
                r.features.join(",")
            );
            for reason in &r.reasons {
                println!("    reason: {reason}");
            }
            if let Some(d) = &r.detail {
                println!("    detail: {d}");
            }
        }
    }
    Ok(())
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

//! `tessera budget show`: every (consumer, purpose) with a differential-privacy budget, what
//! it has spent in the current period, what is left, and when it resets.

use anyhow::Result;
use clap::Subcommand;

use super::release::short;
use super::{registered_catalog, RepoArgs};

/// `tessera budget …`
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum BudgetCommand {
    /// List the budgets: spent, remaining, period, reset time.
    Show {
        #[command(flatten)]
        repo: RepoArgs,
        /// Only this consumer.
        #[arg(long)]
        consumer: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `tessera budget …`.
pub(crate) fn run(cmd: &BudgetCommand) -> Result<()> {
    let BudgetCommand::Show {
        repo,
        consumer,
        json,
    } = cmd;
    let (catalog, _) = registered_catalog(&repo.repo)?;
    if let Some(c) = consumer {
        catalog.consumer(c)?;
    }
    let accountant = tessera_dp::Accountant::for_repo(&repo.repo);
    let now = chrono::Utc::now().timestamp_micros();
    let mut rows = Vec::new();
    for c in catalog.consumers().values() {
        if consumer.as_ref().is_some_and(|x| x != &c.name) {
            continue;
        }
        for p in &c.purposes {
            let Some(dp) = catalog.purposes().get(p).and_then(|p| p.dp.as_ref()) else {
                continue;
            };
            let Ok(b) = dp.budget.resolve() else { continue };
            let budget = tessera_dp::Budget::from(&b);
            rows.push(accountant.status(&c.name, p, &budget, now)?);
        }
    }
    if *json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|s| {
                serde_json::json!({
                    "consumer": s.consumer, "purpose": s.purpose,
                    "rho": s.budget.rho, "delta": s.budget.delta, "per": s.budget.per,
                    "spent_rho": s.spent_rho, "remaining_rho": s.remaining_rho(),
                    "spent_delta": s.spent_delta, "remaining_delta": s.remaining_delta(),
                    "releases": s.releases, "resets_at": s.resets_at(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("No purpose declares a differential-privacy budget (`dp: {{ budget: {{ rho: 0.5, per: 30d }} }}`; docs/DIFFERENTIAL_PRIVACY.md).");
        return Ok(());
    }
    println!(
        "{:<16} {:<14} {:>10} {:>10} {:>10} {:>8} {:>6}  resets at",
        "consumer", "purpose", "rho", "spent", "remaining", "releases", "per"
    );
    for s in rows {
        println!(
            "{:<16} {:<14} {:>10} {:>10} {:>10} {:>8} {:>6}  {}",
            s.consumer,
            s.purpose,
            short(s.budget.rho),
            short(s.spent_rho),
            short(s.remaining_rho()),
            s.releases,
            s.budget.per,
            s.resets_at()
        );
    }
    Ok(())
}

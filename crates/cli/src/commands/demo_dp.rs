//! The differential-privacy step of `tessera demo`: the `dashboard` consumer releases a
//! noisy histogram of plays per genre under its `analytics` budget, sees what is left, and
//! is refused a release that would exceed it.

use std::path::Path;

use anyhow::Result;

use super::release::{print_answer, release, ReleaseArgs};

/// Runs the step from `first_step`; returns the next step number.
pub(crate) async fn run(dir: &Path, first_step: usize) -> Result<usize> {
    let mut step = first_step;
    // The budget journal outlives a demo run; a re-run starts from a full budget.
    let journal = dir.join(tessera_dp::BUDGET_JOURNAL);
    if journal.exists() {
        std::fs::remove_file(&journal)?;
        println!("\n(an earlier demo run's privacy budget journal was reset)");
    }
    println!(
        "\n{step}. A differentially private release: plays per genre for `dashboard` (purpose `analytics`, budget ρ = 0.5 per 30 days);\n   each listener counts at most 50 plays, discrete Gaussian noise, no raw count leaves:"
    );
    let args = ReleaseArgs::named(dir, "dashboard", "analytics", "plays_per_genre");
    let answer = release(&args).await?;
    print_answer(&answer);
    println!("\n   tessera budget show --repo {}:", dir.display());
    super::budget::run(&super::budget::BudgetCommand::Show {
        repo: super::RepoArgs {
            repo: dir.to_path_buf(),
        },
        consumer: Some("dashboard".into()),
        json: false,
    })?;
    step += 1;
    println!(
        "\n{step}. A release that would exceed the budget (ρ = 0.45 asked, {} left) is refused before reading any data:",
        super::release::short(answer.budget.remaining_rho)
    );
    let greedy = ReleaseArgs {
        rho: Some(0.45),
        ..args
    };
    match release(&greedy).await {
        Ok(_) => anyhow::bail!("the demo expected the budget to refuse this release"),
        Err(e) => println!("   {e}"),
    }
    println!("   both outcomes are in the audit log (action dp_release), with their cost and the budget left");
    Ok(step + 1)
}

//! `tessera demo`: the guided tour. Creates a repository of generated media data, registers
//! it, builds a training set, shows a refused read and its audit record; then materialises,
//! serves, and reads online as a consumer (see `demo_online`), and runs a device against the
//! server behind a byte-recording proxy (see `demo_device`); then shows minimisation, consent
//! and erasure (see `demo_privacy`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::util::pretty::pretty_format_batches;

use super::training_set::TrainingSetArgs;
use super::RepoArgs;
use crate::demo_data::DemoSizes;

/// Runs the demo in `dir`.
pub(crate) async fn run(dir: &Path) -> Result<()> {
    let t0 = Instant::now();
    println!(
        "== Tessera demo in {} ({} build) ==\n",
        dir.display(),
        crate::BUILD
    );
    if dir.join(".tessera").exists() || dir.join("tessera.yaml").exists() {
        println!(
            "(re-using {}: regenerating its data; the registry keeps its history)\n",
            dir.display()
        );
    }
    let sizes = DemoSizes {
        users: 5_000,
        items: 2_000,
        events: 400_000,
        days: 60,
        spine: 100_000,
    };
    let files = super::init::scaffold(dir, sizes)?;
    println!("1. Generated media data (seed 42):");
    for (f, n) in &files.written {
        println!("   {f:<48} {n:>8} rows");
    }

    let repo = RepoArgs {
        repo: dir.to_path_buf(),
    };
    println!("\n2. Plan and apply the definitions (features/media.yaml):");
    super::plan_apply::plan(&repo).await?;
    super::plan_apply::apply(&repo).await?;

    println!("\n3. Catalog:");
    super::catalog::run(&repo)?;

    let out = dir.join("train.parquet");
    println!("\n4. Training set for feature service ranker_v1 (purpose: training), point-in-time correct:");
    let args = TrainingSetArgs {
        repo: dir.to_path_buf(),
        spine: dir.join("data/spine.parquet"),
        service: Some("ranker_v1".into()),
        features: vec![],
        purpose: None,
        consumer: Some("trainer".into()),
        out: Some(out.clone()),
        timestamp_column: "event_timestamp".into(),
        short_names: false,
        quiet: false,
        explain: None,
    };
    super::training_set::run(&args).await?;
    let batch = tessera_offline::read_spine(&out)
        .await
        .context("reading the training set back")?;
    let mid = batch.num_rows() / 2;
    let head = batch.slice(mid, batch.num_rows().saturating_sub(mid).min(5));
    println!("   a few rows from the middle of the set:");
    crate::terminal_width::print_fitted(&indent(&pretty_format_batches(&[head])?.to_string()));

    println!(
        "\n5. A refused read: the `dashboard` consumer asks for personal features for `analytics`:"
    );
    let refused = TrainingSetArgs {
        consumer: Some("dashboard".into()),
        purpose: Some("analytics".into()),
        service: None,
        features: vec![
            "user_activity:plays_1d".into(),
            "user_activity:country".into(),
            "item_content:genre".into(),
        ],
        out: Some(dir.join("refused.parquet")),
        quiet: true,
        ..args.clone()
    };
    match super::training_set::run(&refused).await {
        Ok(_) => anyhow::bail!("the demo expected a refusal"),
        Err(e) => println!("{}", indent(&e.to_string())),
    }
    let refused_out = dir.join("refused.parquet");
    println!(
        "   nothing was written: {} exists = {}",
        refused_out.display(),
        refused_out.exists()
    );

    println!(
        "\n6. The audit trail (tessera audit tail --repo {}):",
        dir.display()
    );
    super::audit::run(super::audit::AuditCommand::Tail {
        repo: dir.to_path_buf(),
        lines: 2,
        json: false,
    })?;

    let next = super::demo_online::run(dir, 7).await?;
    let next = super::demo_privacy::run(dir, next).await?;
    let next = super::demo_dp::run(dir, next).await?;
    super::demo_ldp::run(dir, next)?;

    println!(
        "\nDone in {:.1}s ({} build). Try: tessera serve --repo {d} (with TESSERA_TOKEN_RANKER set), or tessera get --repo {d} --entity user_id=8 --features user_activity:plays_1d,user_activity:top_genre_1d --purpose ranking",
        t0.elapsed().as_secs_f64(),
        crate::BUILD,
        d = dir.display()
    );
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

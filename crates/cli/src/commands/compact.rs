//! `tessera compact`: merges the small Parquet files of the stream sources' offline logs
//! (see `tessera_stream::log_compaction`), when no `tessera serve` / `tessera ingest` runs
//! on the repository (they compact in the background themselves).

use anyhow::{Context, Result};
use tessera_stream::{compact_repo_logs, CompactionSettings};

use super::{registered_catalog, RepoArgs};

/// Runs `tessera compact`.
pub(crate) async fn run(args: &RepoArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let settings = CompactionSettings::from(&cfg.offline_log);
    let repo = args.repo.clone();
    let reports =
        tokio::task::spawn_blocking(move || compact_repo_logs(&repo, &catalog, &settings))
            .await
            .context("the compaction task failed")?
            .context("compacting the offline logs")?;
    if reports.is_empty() {
        println!("No stream source: nothing to compact.");
    }
    for r in reports {
        println!(
            "{}: merged {} files into {} ({} rows); deleted {} superseded files, {} kept for `offline_log.compact_grace`; {} files to read",
            r.source, r.merged_files, r.written_files, r.rows, r.removed_files, r.kept_files, r.live_files
        );
    }
    Ok(())
}

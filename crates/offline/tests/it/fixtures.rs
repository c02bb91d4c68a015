//! Temporary feature repositories and Parquet files for tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use tessera_core::FeatureRef;
use tessera_offline::{NoProgress, OfflineEngine, TrainingSet, TrainingSetRequest};

pub(crate) const CONFIG: &str = "project: test\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

/// Writes tessera.yaml and features/defs.yaml.
pub(crate) fn write_repo(dir: &Path, defs: &str) {
    std::fs::create_dir_all(dir.join("features")).unwrap();
    std::fs::write(dir.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(dir.join("features/defs.yaml"), defs).unwrap();
}

pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

pub(crate) struct Run {
    pub repo: PathBuf,
    pub spine: PathBuf,
    pub features: Vec<FeatureRef>,
    pub partitions: usize,
    pub chunk_rows: usize,
    pub candidate_filter: bool,
}

pub(crate) async fn run(r: &Run) -> Result<TrainingSet, tessera_offline::Error> {
    let repo = tessera_offline::load_repo(&r.repo)
        .await
        .expect("repo loads");
    let engine =
        OfflineEngine::with_partitions(&repo.root, Arc::new(repo.catalog.clone()), r.partitions)
            .with_chunk_rows(r.chunk_rows)
            .with_candidate_filter(r.candidate_filter);
    let req = TrainingSetRequest {
        spine: r.spine.clone(),
        features: r.features.clone(),
        timestamp_column: "event_timestamp".into(),
        short_names: false,
    };
    let prepared = engine.prepare(&req).await?;
    engine.run(prepared, Arc::new(NoProgress)).await
}

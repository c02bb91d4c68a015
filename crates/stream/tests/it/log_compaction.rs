//! The offline log after compaction: many small pushes, merged into few files, hold the
//! same events for backfills (the `tessera-offline` reader) and for the engine itself
//! (replaying the whole log on a fresh start gives the same values).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, StringArray};
use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore};
use tessera_stream::{CompactionSettings, StreamConfig, StreamEngine};

use super::parity::{columns, defs, write_repo, Ev};

const T0: i64 = 1_780_000_000_000_000;

async fn open(dir: &std::path::Path, clock: Arc<AtomicI64>) -> StreamEngine {
    let repo = FeatureRepo::load(dir).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        snapshot_every: 7,
        ..StreamConfig::default()
    };
    StreamEngine::open(dir, Arc::new(repo.catalog), store, config)
        .await
        .unwrap()
}

/// Every event id a backfill reads from the log, sorted.
async fn backfill_ids(dir: &std::path::Path) -> Vec<String> {
    let repo = FeatureRepo::load(dir).unwrap();
    let ctx = tessera_offline::session(2);
    let source = &repo.catalog.sources()["plays"];
    let (df, _) = tessera_offline::open_source(&ctx, dir, source)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for b in df
        .select_columns(&["event_id"])
        .unwrap()
        .collect()
        .await
        .unwrap()
    {
        let a = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        ids.extend((0..a.len()).map(|i| a.value(i).to_string()));
    }
    ids.sort();
    ids
}

fn parquet_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("data/plays"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .count()
}

#[tokio::test]
async fn many_small_pushes_compact_to_few_files_with_the_same_events() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 3_600_000_000));
    let engine = open(d.path(), clock.clone()).await;
    let mut n = 0;
    for b in 0..60i64 {
        let evs: Vec<Ev> = (0..2)
            .map(|i| Ev {
                user: (b + i) % 5,
                item: b % 9,
                action: "play",
                dwell: Some(b as f64),
                ts: T0 + b * 1_000_000 + i,
                id: format!("e{b}-{i}"),
            })
            .collect();
        n += evs.len();
        let r = engine.ingest("plays", columns(&evs)).await.unwrap();
        assert_eq!(r.applied, 2);
    }
    engine.snapshot().await.unwrap();
    let before = backfill_ids(d.path()).await;
    assert_eq!(before.len(), n);
    assert_eq!(parquet_files(d.path()), 60);
    let now = clock.load(Ordering::SeqCst);
    let mut want = Vec::new();
    for u in 0..5 {
        want.push(
            engine
                .values_at("user_plays", &EntityKey::int("user_id", u), now)
                .await
                .unwrap(),
        );
    }

    let settings = CompactionSettings {
        min_files: 2,
        target_rows: 1000,
        grace: Duration::ZERO,
    };
    let reports = engine.compact_logs(&settings).await.unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(
        (r.merged_files, r.written_files, r.rows),
        (60, 1, n as u64),
        "{r:?}"
    );
    assert_eq!(parquet_files(d.path()), 1, "fewer files");
    assert_eq!(
        backfill_ids(d.path()).await,
        before,
        "the same events, once each"
    );

    // Ingestion goes on after a compaction, and those batches are read too.
    let more = [Ev {
        user: 1,
        item: 3,
        action: "play",
        dwell: Some(1.0),
        ts: T0 + 61_000_000,
        id: "late-1".into(),
    }];
    engine.ingest("plays", columns(&more)).await.unwrap();
    assert_eq!(backfill_ids(d.path()).await.len(), n + 1);
    drop(engine);

    // A fresh start (no checkpoint) rebuilds the states from the compacted log: the same
    // values as before the compaction, plus the event after it.
    std::fs::remove_dir_all(d.path().join(".tessera/stream")).unwrap();
    std::fs::remove_dir_all(d.path().join(".tessera/online")).unwrap();
    let engine = open(d.path(), clock.clone()).await;
    for u in [0, 2, 3, 4] {
        let got = engine
            .values_at("user_plays", &EntityKey::int("user_id", u), now)
            .await
            .unwrap();
        assert_eq!(got, want[u as usize], "user {u}");
    }
}

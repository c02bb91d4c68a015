//! Retention of the offline log and of stored states, through a running engine and on the
//! files: a row one second inside the retention stays, one second outside goes, a row
//! exactly at the cutoff stays, rows before 1970 go; wholly old files are deleted, files
//! that straddle the cutoff are rewritten.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, StringArray};
use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, OnlineStore};
use tessera_stream::{apply_log_retention, StreamConfig, StreamEngine};

use super::parity::{columns, defs, write_repo, Ev};

const T0: i64 = 1_780_000_000_000_000;
const SEC: i64 = 1_000_000;

fn ev(user: i64, ts: i64, id: &str) -> Ev {
    Ev {
        user,
        item: 1,
        action: "play",
        dwell: Some(1.0),
        ts,
        id: id.to_string(),
    }
}

async fn ids(dir: &std::path::Path) -> Vec<String> {
    let repo = FeatureRepo::load(dir).unwrap();
    let ctx = tessera_offline::session(1);
    let (df, _) = tessera_offline::open_source(&ctx, dir, &repo.catalog.sources()["plays"])
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in df
        .select_columns(&["event_id"])
        .unwrap()
        .collect()
        .await
        .unwrap()
    {
        let a = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..a.len()).map(|i| a.value(i).to_string()));
    }
    out.sort();
    out
}

#[tokio::test]
async fn old_log_rows_and_states_go_newer_stay() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("100000d"));
    let clock = Arc::new(AtomicI64::new(T0));
    let repo = FeatureRepo::load(d.path()).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let c = clock.clone();
    let config = StreamConfig {
        clock: Arc::new(move || c.load(Ordering::SeqCst)),
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(d.path(), Arc::new(repo.catalog), store, config)
        .await
        .unwrap();
    let cutoff = T0 - 10 * SEC;
    // Batch 1: wholly older than the cutoff (one before 1970).
    engine
        .ingest(
            "plays",
            columns(&[ev(1, -SEC, "pre-1970"), ev(1, cutoff - SEC, "out-1")]),
        )
        .await
        .unwrap();
    // Batch 2: straddles it.
    clock.store(T0 + SEC, Ordering::SeqCst);
    engine
        .ingest(
            "plays",
            columns(&[
                ev(2, cutoff - SEC, "out-2"),
                ev(2, cutoff, "at-cutoff"),
                ev(2, cutoff + SEC, "in-2"),
            ]),
        )
        .await
        .unwrap();
    // Batch 3: wholly newer.
    clock.store(T0 + 2 * SEC, Ordering::SeqCst);
    engine
        .ingest("plays", columns(&[ev(3, cutoff + SEC, "in-3")]))
        .await
        .unwrap();
    engine.snapshot().await.unwrap();

    // A dry run counts and changes nothing.
    let dry = engine
        .apply_retention(&[("plays".into(), cutoff)], &[], false)
        .await
        .unwrap();
    assert_eq!(dry.logs[0].removed_rows, 3, "{dry:?}");
    assert_eq!(ids(d.path()).await.len(), 6);

    let r = engine
        .apply_retention(&[("plays".into(), cutoff)], &[], true)
        .await
        .unwrap();
    let log = &r.logs[0];
    assert_eq!(
        (
            log.files,
            log.dropped_files,
            log.rewritten_files,
            log.removed_rows
        ),
        (3, 1, 1, 3),
        "{log:?}"
    );
    assert_eq!(ids(d.path()).await, ["at-cutoff", "in-2", "in-3"]);

    // Stored states: stamped by the batch that last touched them (the engine's clock).
    // User 1's state was last touched at T0, users 2 and 3 later.
    let views = [("user_plays".to_string(), T0 + SEC)];
    let dry = engine.apply_retention(&[], &views, false).await.unwrap();
    assert_eq!(dry.states, [("user_plays".to_string(), 1)], "{dry:?}");
    let done = engine.apply_retention(&[], &views, true).await.unwrap();
    assert_eq!(done.states, [("user_plays".to_string(), 1)]);
    let again = engine.apply_retention(&[], &views, true).await.unwrap();
    assert_eq!(again.states, [("user_plays".to_string(), 0)]);
    drop(engine);

    // On the files, without an engine: a second pass finds nothing more.
    let again =
        apply_log_retention(&d.path().join("data/plays"), "plays", "ts", cutoff, true).unwrap();
    assert_eq!((again.files, again.removed_rows), (2, 0), "{again:?}");
    // A cutoff one second later removes the row exactly at the old cutoff only.
    let later = apply_log_retention(
        &d.path().join("data/plays"),
        "plays",
        "ts",
        cutoff + 1,
        true,
    )
    .unwrap();
    assert_eq!(later.removed_rows, 1);
    assert_eq!(ids(d.path()).await, ["in-2", "in-3"]);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d.path().join("data/plays"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn retention_over_a_compacted_log_keeps_each_newer_event_once() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("100000d"));
    let repo = FeatureRepo::load(d.path()).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: Arc::new(|| T0),
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(d.path(), Arc::new(repo.catalog), store, config)
        .await
        .unwrap();
    let cutoff = T0 - 10 * SEC;
    for (i, ts) in [cutoff - 2 * SEC, cutoff - SEC, cutoff + SEC]
        .into_iter()
        .enumerate()
    {
        engine
            .ingest("plays", columns(&[ev(1, ts, &format!("e{i}"))]))
            .await
            .unwrap();
    }
    engine.snapshot().await.unwrap();
    // Merged into one file; the three batch files stay for the grace period.
    let settings = tessera_stream::CompactionSettings {
        min_files: 2,
        target_rows: 1000,
        grace: std::time::Duration::from_secs(3600),
    };
    let c = engine.compact_logs(&settings).await.unwrap();
    assert_eq!((c[0].written_files, c[0].kept_files), (1, 3), "{c:?}");
    let r = engine
        .apply_retention(&[("plays".into(), cutoff)], &[], true)
        .await
        .unwrap();
    // The merged file is rewritten; the two old batch files are deleted, the new one kept.
    assert_eq!(
        (
            r.logs[0].files,
            r.logs[0].dropped_files,
            r.logs[0].rewritten_files
        ),
        (4, 2, 1),
        "{:?}",
        r.logs
    );
    assert_eq!(ids(d.path()).await, ["e2"]);
}

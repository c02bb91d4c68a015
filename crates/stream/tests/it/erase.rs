//! Erasing an entity from the stream engine's files and its offline log while the engine
//! is stopped: the reopened engine has no state for it (nothing to replay either), the
//! other entities keep theirs, and the files no longer hold its key bytes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Int64Array};
use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore};
use tessera_stream::{
    collect_event_ids, engine_files, erase_entity_states_and_ids, rewrite_keeping, RewriteOptions,
    RowPredicate, StreamConfig, StreamEngine,
};

use super::parity::{columns, defs, write_repo, Ev};

const T0: i64 = 1_780_000_000_000_000;

async fn open(dir: &std::path::Path, clock: Arc<AtomicI64>) -> StreamEngine {
    let repo = FeatureRepo::load(dir).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        snapshot_every: 2,
        ..StreamConfig::default()
    };
    StreamEngine::open(dir, Arc::new(repo.catalog), store, config)
        .await
        .unwrap()
}

fn holds(path: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read(path)
        .unwrap()
        .windows(needle.len())
        .any(|w| w == needle)
}

#[tokio::test]
async fn an_erased_entity_is_gone_from_states_snapshots_and_log() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 3_600_000_000));
    let now = clock.load(Ordering::SeqCst);
    let erased = EntityKey::int("user_id", 1_234_567);
    let kept = EntityKey::int("user_id", 2);
    let before_kept;
    {
        let engine = open(d.path(), clock.clone()).await;
        for b in 0..5i64 {
            let evs: Vec<Ev> = (0..4)
                .map(|i| Ev {
                    user: if i % 2 == 0 { 1_234_567 } else { 2 },
                    item: 7,
                    action: "play",
                    dwell: Some(10.0),
                    ts: T0 + b * 60_000_000 + i,
                    id: format!("e{b}-{i}"),
                })
                .collect();
            engine.ingest("plays", columns(&evs)).await.unwrap();
        }
        assert!(engine
            .values_at("user_plays", &erased, now)
            .await
            .unwrap()
            .is_some());
        before_kept = engine.values_at("user_plays", &kept, now).await.unwrap();
    }
    let snapshots = &engine_files(d.path())[1];
    assert!(
        holds(snapshots, &erased.encode()),
        "the snapshot holds the entity before erasure"
    );

    let checkpoint = &engine_files(d.path())[0];
    assert!(
        holds(checkpoint, b"s:e0-0"),
        "the id log holds the event id"
    );
    let keep = RowPredicate::new(vec!["user_id".into()], |b| {
        let c = b.column_by_name("user_id").unwrap();
        let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
        Ok(c.iter()
            .map(|v| Some(v != Some(1_234_567)))
            .collect::<BooleanArray>())
    });
    // The event ids of the entity's log rows, read before the rows go.
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(d.path().join("data/plays"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    let ids = collect_event_ids(&files, "event_id", &keep).unwrap();
    assert_eq!(ids.len(), 10, "{ids:?}");
    let ids = vec![tessera_stream::SourceIds {
        source: "plays".into(),
        ids,
    }];
    let report =
        erase_entity_states_and_ids(d.path(), std::slice::from_ref(&erased), &ids).unwrap();
    let removed: u64 = report.iter().map(|r| r.states_removed).sum();
    assert!(removed >= 1, "{report:?}");
    let ids_removed: u64 = report.iter().map(|r| r.ids_removed).sum();
    assert_eq!(ids_removed, 10, "{report:?}");
    for b in 0..5 {
        for i in [0, 2] {
            let id = format!("s:e{b}-{i}");
            assert!(
                !holds(checkpoint, id.as_bytes()),
                "{id} is still in the checkpoint"
            );
        }
    }
    assert!(holds(checkpoint, b"s:e0-1"), "the other entity's ids stay");
    let mut log_rows_removed = 0;
    for e in std::fs::read_dir(d.path().join("data/plays"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "parquet") {
            log_rows_removed += rewrite_keeping(&e.path(), &keep, &RewriteOptions::default())
                .unwrap()
                .rows_removed();
        }
    }
    assert_eq!(log_rows_removed, 10);
    for f in engine_files(d.path()) {
        assert!(!holds(&f, &erased.encode()), "{}", f.display());
    }

    // Reopened: the erased entity reads as one never seen (nothing replayed), the other
    // one unchanged.
    let engine = open(d.path(), clock.clone()).await;
    let never = EntityKey::int("user_id", 99);
    assert_eq!(
        engine.values_at("user_plays", &erased, now).await.unwrap(),
        engine.values_at("user_plays", &never, now).await.unwrap()
    );
    assert_ne!(
        before_kept,
        engine.values_at("user_plays", &never, now).await.unwrap()
    );
    assert_eq!(
        engine.values_at("user_plays", &kept, now).await.unwrap(),
        before_kept
    );
}

#[tokio::test]
async fn a_running_engine_erases_memory_files_log_and_store() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 3_600_000_000));
    let now = clock.load(Ordering::SeqCst);
    let erased = EntityKey::int("user_id", 1_234_567);
    let kept = EntityKey::int("user_id", 2);
    let never = EntityKey::int("user_id", 99);
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: {
            let c = clock.clone();
            Arc::new(move || c.load(Ordering::SeqCst))
        },
        snapshot_every: 2,
        ..StreamConfig::default()
    };
    let repo = FeatureRepo::load(d.path()).unwrap();
    let engine = StreamEngine::open(d.path(), Arc::new(repo.catalog), store.clone(), config)
        .await
        .unwrap();
    for b in 0..5i64 {
        let evs: Vec<Ev> = (0..4)
            .map(|i| Ev {
                user: if i % 2 == 0 { 1_234_567 } else { 2 },
                item: 7,
                action: "play",
                dwell: Some(10.0),
                ts: T0 + b * 60_000_000 + i,
                id: format!("e{b}-{i}"),
            })
            .collect();
        engine.ingest("plays", columns(&evs)).await.unwrap();
    }
    let before_kept = engine.values_at("user_plays", &kept, now).await.unwrap();
    let keep = RowPredicate::new(vec!["user_id".into()], |b| {
        let c = b.column_by_name("user_id").unwrap();
        let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
        Ok(c.iter()
            .map(|v| Some(v != Some(1_234_567)))
            .collect::<BooleanArray>())
    });
    let r = engine
        .erase_entities(std::slice::from_ref(&erased), keep)
        .await
        .unwrap();
    assert_eq!(r.states_removed, 1, "{r:?}");
    assert!(r.stored_states_removed >= 1, "{r:?}");
    assert_eq!(r.log_rows_removed, 10, "{r:?}");
    assert_eq!(r.event_ids_removed, 10, "{r:?}");
    assert!(r.online_rows_removed >= 1, "{r:?}");
    let empty = engine.values_at("user_plays", &never, now).await.unwrap();
    assert_eq!(
        engine.values_at("user_plays", &erased, now).await.unwrap(),
        empty
    );
    assert_eq!(
        engine.values_at("user_plays", &kept, now).await.unwrap(),
        before_kept
    );
    assert_eq!(
        store
            .read("user_plays", std::slice::from_ref(&erased))
            .await
            .unwrap(),
        vec![None]
    );
    // A new event of the entity starts from nothing, not from its erased past.
    engine
        .ingest(
            "plays",
            columns(&[Ev {
                user: 1_234_567,
                item: 7,
                action: "play",
                dwell: Some(10.0),
                ts: T0 + 10 * 60_000_000,
                id: "after".into(),
            }]),
        )
        .await
        .unwrap();
    let fresh = engine.values_at("user_plays", &erased, now).await.unwrap();
    drop(engine);
    // Reopened from its files: the same (nothing of the erased past is replayed).
    let engine = open(d.path(), clock.clone()).await;
    assert_eq!(
        engine.values_at("user_plays", &erased, now).await.unwrap(),
        fresh
    );
    assert_eq!(
        engine.values_at("user_plays", &kept, now).await.unwrap(),
        before_kept
    );
}

/// Events of an erased entity (`StreamConfig::erased`) are dropped as they arrive, so a
/// redelivery cannot bring it back; the others are applied.
#[tokio::test]
async fn events_of_an_erased_entity_are_dropped() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 3_600_000_000));
    let now = clock.load(Ordering::SeqCst);
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: {
            let c = clock.clone();
            Arc::new(move || c.load(Ordering::SeqCst))
        },
        erased: Some(Arc::new(|name: &str, text: &str| {
            name == "user_id" && text == "1234567"
        })),
        ..StreamConfig::default()
    };
    let repo = FeatureRepo::load(d.path()).unwrap();
    let engine = StreamEngine::open(d.path(), Arc::new(repo.catalog), store, config)
        .await
        .unwrap();
    let evs: Vec<Ev> = (0..4)
        .map(|i| Ev {
            user: if i % 2 == 0 { 1_234_567 } else { 2 },
            item: 7,
            action: "play",
            dwell: Some(10.0),
            ts: T0 + i,
            id: format!("r-{i}"),
        })
        .collect();
    let r = engine.ingest("plays", columns(&evs)).await.unwrap();
    assert_eq!((r.erased, r.applied), (2, 2), "{r:?}");
    let erased = EntityKey::int("user_id", 1_234_567);
    let never = EntityKey::int("user_id", 99);
    assert_eq!(
        engine.values_at("user_plays", &erased, now).await.unwrap(),
        engine.values_at("user_plays", &never, now).await.unwrap()
    );
    assert_ne!(
        engine
            .values_at("user_plays", &EntityKey::int("user_id", 2), now)
            .await
            .unwrap(),
        engine.values_at("user_plays", &never, now).await.unwrap()
    );
}

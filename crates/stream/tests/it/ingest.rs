//! What one batch does: bad batches refused whole, duplicates and late events counted and
//! not applied, the offline log holding exactly the applied events, and a reopened engine
//! continuing where it stopped.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore, Value};
use tessera_stream::{Error, StreamConfig, StreamEngine};

use super::parity::{columns, defs, tessera_online_ts, write_repo, Ev};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_780_000_000_000_000;

fn ev(user: i64, ts: i64, id: &str) -> Ev {
    Ev {
        user,
        item: 7,
        action: "play",
        dwell: Some(10.0),
        ts,
        id: id.to_string(),
    }
}

async fn open(
    dir: &std::path::Path,
    clock: Arc<AtomicI64>,
) -> (StreamEngine, Arc<dyn OnlineStore>) {
    open_with(dir, clock, StreamConfig::default().snapshot_every).await
}

async fn open_with(
    dir: &std::path::Path,
    clock: Arc<AtomicI64>,
    snapshot_every: u64,
) -> (StreamEngine, Arc<dyn OnlineStore>) {
    let repo = FeatureRepo::load(dir).unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
    let config = StreamConfig {
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        snapshot_every,
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(dir, Arc::new(repo.catalog), store.clone(), config)
        .await
        .unwrap();
    (engine, store)
}

fn log_rows(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("data/plays")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "parquet") {
            let f = std::fs::File::open(e.path()).unwrap();
            let r = parquet::file::reader::SerializedFileReader::new(f).unwrap();
            use parquet::file::reader::FileReader;
            n += r.metadata().file_metadata().num_rows() as usize;
        }
    }
    n
}

#[tokio::test]
async fn batches_duplicates_lateness_and_restart() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let (engine, store) = open(d.path(), clock.clone()).await;
    let count = |vals: &Vec<Value>| vals[3].clone(); // count_1d (filter action = 'play')

    // A bad batch: one row without its key, one with a wrong type. Nothing is applied.
    let mut cols = columns(&[ev(1, T0, "a"), ev(1, T0 + 1, "b"), ev(2, T0 + 2, "c")]);
    cols[0].1[1] = Value::Null;
    cols[3].1[2] = Value::String("long".into());
    let e = engine.ingest("plays", cols).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::BadEvents {
                bad: 2,
                total: 3,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("row 1") && msg.contains("row 2") && msg.contains("user_id"),
        "{msg}"
    );
    assert!(!d.path().join("data/plays").exists() || log_rows(d.path()) == 0);
    // An unknown column and an unknown source are refused with hints.
    let mut cols = columns(&[ev(1, T0, "a")]);
    cols.push(("colour".into(), vec![Value::String("red".into())]));
    assert!(engine
        .ingest("plays", cols)
        .await
        .unwrap_err()
        .to_string()
        .contains("unknown column `colour`"));
    // A near miss of a declared column gets a suggestion.
    let mut cols = columns(&[ev(1, T0, "a")]);
    cols.retain(|(n, _)| n != "dwell_s");
    cols.push(("dwel_s".into(), vec![Value::Float64(1.0)]));
    let text = engine.ingest("plays", cols).await.unwrap_err().to_string();
    assert!(
        text.contains("unknown column `dwel_s` (hint: did you mean `dwell_s`?"),
        "{text}"
    );
    assert!(engine
        .ingest("nope", vec![])
        .await
        .unwrap_err()
        .to_string()
        .contains("stream sources: plays"));

    // Good events, one repeated in the batch, then redelivered.
    let batch = [
        ev(1, T0, "a"),
        ev(1, T0 + HOUR, "b"),
        ev(1, T0 + HOUR, "b"),
        ev(2, T0, "c"),
    ];
    let r = engine.ingest("plays", columns(&batch)).await.unwrap();
    assert_eq!((r.applied, r.duplicates, r.late), (3, 1, 0));
    let r = engine.ingest("plays", columns(&batch)).await.unwrap();
    assert_eq!((r.applied, r.duplicates), (0, 4));
    // Out of order within the lateness is applied; beyond it is late.
    let r = engine
        .ingest(
            "plays",
            columns(&[ev(1, T0 + HOUR / 2, "d"), ev(1, T0 - 2 * HOUR, "e")]),
        )
        .await
        .unwrap();
    assert_eq!((r.applied, r.late), (1, 1));
    // Too far in the future is refused.
    let r = engine
        .ingest("plays", columns(&[ev(1, T0 + 20 * HOUR, "f")]))
        .await
        .unwrap();
    assert_eq!((r.applied, r.future), (0, 1));
    let now = clock.load(Ordering::SeqCst);
    let v = engine
        .values_at("user_plays", &EntityKey::int("user_id", 1), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count(&v), Value::Int64(3));
    // The log holds exactly the applied events.
    assert_eq!(log_rows(d.path()), 4);
    drop(engine);

    // Reopen: the state, the ids and the lateness horizon survive.
    let (engine, store2) = open(d.path(), clock.clone()).await;
    let r = engine.ingest("plays", columns(&batch)).await.unwrap();
    assert_eq!((r.applied, r.duplicates), (0, 4));
    let v = engine
        .values_at("user_plays", &EntityKey::int("user_id", 1), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count(&v), Value::Int64(3));
    let rows = store2
        .read("user_plays", &[EntityKey::int("user_id", 1)])
        .await
        .unwrap();
    assert!(rows[0].is_some());
    let _ = (store, tessera_online_ts(0));
}

#[tokio::test]
async fn states_are_rebuilt_from_the_log_when_the_checkpoint_is_lost() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let (engine, _) = open(d.path(), clock.clone()).await;
    engine
        .ingest(
            "plays",
            columns(&[ev(1, T0, "a"), ev(1, T0 + HOUR, "b"), ev(3, T0, "c")]),
        )
        .await
        .unwrap();
    let key = EntityKey::int("user_id", 1);
    let now = clock.load(Ordering::SeqCst);
    let before = engine.values_at("user_plays", &key, now).await.unwrap();
    drop(engine);
    std::fs::remove_file(d.path().join(".tessera/stream/checkpoint.redb")).unwrap();
    let (engine, _) = open(d.path(), clock.clone()).await;
    assert_eq!(
        engine.values_at("user_plays", &key, now).await.unwrap(),
        before
    );
    // The rebuilt states and the log's event ids were checkpointed: a batch that touches
    // another entity, then a restart, keep user 1's state, and old ids stay duplicates.
    let r = engine
        .ingest(
            "plays",
            columns(&[ev(3, T0 + HOUR / 2, "z"), ev(1, T0, "a")]),
        )
        .await
        .unwrap();
    assert_eq!((r.applied, r.duplicates), (1, 1));
    drop(engine);
    let (engine, _) = open(d.path(), clock).await;
    assert_eq!(
        engine.values_at("user_plays", &key, now).await.unwrap(),
        before
    );
}

#[tokio::test]
async fn a_crash_in_the_first_batch_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let (engine, _) = open(d.path(), clock.clone()).await;
    drop(engine);
    // A log file of batch 0 that never committed (the process died after writing it).
    let stray = tessera_stream::part_path(&d.path().join("data/plays"), "plays", 0);
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"PAR1 unfinished").unwrap();
    let (engine, _) = open(d.path(), clock.clone()).await;
    assert!(!stray.exists(), "the uncommitted log file is removed");
    let r = engine
        .ingest("plays", columns(&[ev(1, T0, "a")]))
        .await
        .unwrap();
    assert_eq!(r.applied, 1);
    assert_eq!(log_rows(d.path()), 1);
}

/// States after a restart are the states before it whether the last batches are in the
/// snapshot or replayed from the log; ids stay duplicates across restarts and are forgotten
/// once beyond the lateness horizon; a batch whose log write fails applies nothing.
#[tokio::test]
async fn snapshots_replays_and_a_failed_log_write() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let now = clock.load(Ordering::SeqCst);
    let keys: Vec<EntityKey> = (1..=4).map(|u| EntityKey::int("user_id", u)).collect();
    let mut expected = Vec::new();
    {
        let (engine, _) = open_with(d.path(), clock.clone(), 3).await;
        // 7 batches: a snapshot after the 3rd and the 6th, the 7th only in the log.
        for b in 0..7i64 {
            let evs: Vec<Ev> = (0..5)
                .map(|i| {
                    ev(
                        1 + (b + i) % 4,
                        T0 + b * 60_000_000 + i,
                        &format!("e{b}-{i}"),
                    )
                })
                .collect();
            let r = engine.ingest("plays", columns(&evs)).await.unwrap();
            assert_eq!(r.applied, 5);
        }
        for k in &keys {
            expected.push(engine.values_at("user_plays", k, now).await.unwrap());
        }
        assert_eq!(engine.remembered_ids("plays").await.unwrap(), 35);
    }
    for phase in ["replayed", "replayed again"] {
        let (engine, store) = open_with(d.path(), clock.clone(), 3).await;
        for (k, want) in keys.iter().zip(&expected) {
            assert_eq!(
                &engine.values_at("user_plays", k, now).await.unwrap(),
                want,
                "{phase}"
            );
        }
        // The online store holds the same states.
        let rows = store.read("user_plays", &keys).await.unwrap();
        assert!(rows.iter().all(Option::is_some), "{phase}");
        let r = engine
            .ingest(
                "plays",
                columns(&[ev(1, T0, "e0-0"), ev(2, T0 + 6 * 60_000_000, "e6-4")]),
            )
            .await
            .unwrap();
        assert_eq!((r.applied, r.duplicates), (0, 2), "{phase}");
    }

    // A batch whose log cannot be written is refused and applies nothing; the next one,
    // once the log can be written again, applies as if the failed one never came.
    let (engine, store) = open_with(d.path(), clock.clone(), 3).await;
    let log = d.path().join("data/plays");
    let aside = d.path().join("data/plays-aside");
    std::fs::rename(&log, &aside).unwrap();
    std::fs::write(&log, b"not a directory").unwrap();
    let e = engine
        .ingest("plays", columns(&[ev(1, T0 + 7 * 60_000_000, "x1")]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("offline log"), "{e}");
    std::fs::remove_file(&log).unwrap();
    std::fs::rename(&aside, &log).unwrap();
    assert_eq!(
        engine.values_at("user_plays", &keys[0], now).await.unwrap(),
        expected[0],
        "the failed batch is not in memory"
    );
    let r = engine
        .ingest("plays", columns(&[ev(1, T0 + 7 * 60_000_000, "x1")]))
        .await
        .unwrap();
    assert_eq!(r.applied, 1);
    let after = engine
        .values_at("user_plays", &keys[0], now)
        .await
        .unwrap()
        .unwrap();
    let before = expected[0].clone().unwrap();
    assert_eq!(after[3], Value::Int64(before_count(&before) + 1));
    drop(engine);
    let (engine, _) = open_with(d.path(), clock.clone(), 3).await;
    assert_eq!(
        engine.values_at("user_plays", &keys[0], now).await.unwrap(),
        Some(after)
    );
    let _ = store;

    // Far later events move the lateness horizon: the old ids are forgotten.
    let later = T0 + 9 * HOUR;
    engine
        .ingest("plays", columns(&[ev(1, later, "late-mover")]))
        .await
        .unwrap();
    assert_eq!(engine.remembered_ids("plays").await.unwrap(), 1);
}

fn before_count(v: &[Value]) -> i64 {
    match &v[3] {
        Value::Int64(n) => *n,
        other => panic!("count_1d is {other:?}"),
    }
}

/// A checkpoint of an earlier build kept its snapshot in the checkpoint file itself: the
/// engine reads it once (and replays the batches after it), then writes its snapshots to the
/// snapshot file; the states are the same through both opens.
#[tokio::test]
async fn a_snapshot_kept_in_the_checkpoint_by_an_earlier_build_is_read_once() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let now = clock.load(Ordering::SeqCst);
    let keys: Vec<EntityKey> = (1..=4).map(|u| EntityKey::int("user_id", u)).collect();
    let batch = |b: i64| -> Vec<Ev> {
        (0..5)
            .map(|i| {
                ev(
                    1 + (b * 3 + i) % 4,
                    T0 + b * 60_000_000 + i,
                    &format!("e{b}-{i}"),
                )
            })
            .collect()
    };
    let mut expected = Vec::new();
    {
        let (engine, _) = open_with(d.path(), clock.clone(), 100).await;
        for b in 0..5 {
            engine.ingest("plays", columns(&batch(b))).await.unwrap();
        }
        engine.snapshot().await.unwrap();
        // One batch after the snapshot: only in the log.
        engine.ingest("plays", columns(&batch(5))).await.unwrap();
        for k in &keys {
            expected.push(engine.values_at("user_plays", k, now).await.unwrap());
        }
    }
    // Make the repository look like an earlier build's: the snapshot's states and sequence
    // in the checkpoint, no snapshot file.
    let stream_dir = d.path().join(".tessera/stream");
    let state = TableDefinition::<&[u8], &[u8]>::new("state/user_plays");
    let (covered, rows) = {
        let db = redb::Database::open(stream_dir.join("snapshots.redb")).unwrap();
        let txn = db.begin_read().unwrap();
        let progress = txn
            .open_table(TableDefinition::<&str, u64>::new("progress"))
            .unwrap();
        let covered = progress.get("plays").unwrap().unwrap().value();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = txn
            .open_table(state)
            .unwrap()
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect();
        (covered, rows)
    };
    assert_eq!(covered, 5, "the snapshot covers the first five batches");
    assert_eq!(rows.len(), 4);
    {
        let db = redb::Database::open(stream_dir.join("checkpoint.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(state).unwrap();
            for (k, v) in &rows {
                t.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    {
        let cp = tessera_stream::Checkpoint::open(&stream_dir.join("checkpoint.redb")).unwrap();
        let meta = cp.meta("plays").unwrap().unwrap();
        assert_eq!(meta.seq, 6);
        let meta = tessera_stream::SourceMeta {
            snapshot_seq: covered,
            ..meta
        };
        cp.commit_batch("plays", meta, 5, &[], &[]).unwrap();
    }
    std::fs::remove_file(stream_dir.join("snapshots.redb")).unwrap();
    // Without the log files the snapshot covers, only its states can give the values.
    for seq in 0..covered {
        std::fs::remove_file(tessera_stream::part_path(
            &d.path().join("data/plays"),
            "plays",
            seq,
        ))
        .unwrap();
    }

    for phase in ["from the checkpoint", "from the snapshot file"] {
        let (engine, _) = open_with(d.path(), clock.clone(), 100).await;
        for (k, want) in keys.iter().zip(&expected) {
            assert_eq!(
                &engine.values_at("user_plays", k, now).await.unwrap(),
                want,
                "{phase}"
            );
        }
        assert!(stream_dir.join("snapshots.redb").exists(), "{phase}");
        let r = engine
            .ingest("plays", columns(&[ev(1, T0, "e0-0")]))
            .await
            .unwrap();
        assert_eq!(r.duplicates, 1, "{phase}");
    }
}

/// Snapshots written in the background while batches keep coming (one due after every
/// batch) leave states that a restart reproduces exactly.
#[tokio::test]
async fn background_snapshots_while_ingesting_restart_to_the_same_states() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("1h"));
    let clock = Arc::new(AtomicI64::new(T0 + 10 * HOUR));
    let now = clock.load(Ordering::SeqCst);
    let keys: Vec<EntityKey> = (0..50).map(|u| EntityKey::int("user_id", u)).collect();
    let mut expected = Vec::new();
    {
        let (engine, _) = open_with(d.path(), clock.clone(), 1).await;
        for b in 0..40i64 {
            let evs: Vec<Ev> = (0..25)
                .map(|i| {
                    ev(
                        (b * 7 + i * 3) % 50,
                        T0 + b * 1_000_000 + i,
                        &format!("b{b}-{i}"),
                    )
                })
                .collect();
            assert_eq!(
                engine.ingest("plays", columns(&evs)).await.unwrap().applied,
                25
            );
        }
        for k in &keys {
            expected.push(engine.values_at("user_plays", k, now).await.unwrap());
        }
        // Dropped without a final snapshot: the restart replays what the last snapshot
        // (possibly still being written) does not cover.
    }
    for phase in ["first restart", "second restart"] {
        let (engine, _) = open_with(d.path(), clock.clone(), 1).await;
        for (k, want) in keys.iter().zip(&expected) {
            assert_eq!(
                &engine.values_at("user_plays", k, now).await.unwrap(),
                want,
                "{phase}: {k}"
            );
        }
    }
}

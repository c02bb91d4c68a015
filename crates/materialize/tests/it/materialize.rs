//! Materialisation from a generated repository into real stores, checked against a brute
//! force reference and against the offline engine's point-in-time answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::FeatureRepo;
use tessera_materialize::{
    materialize_view, MaterializeReport, MaterializeRequest, NoMaterializeProgress,
};
use tessera_offline::{LatestScan, NoProgress, OfflineEngine, TrainingSetRequest};
use tessera_online::{
    freshness, EmbeddedStore, EntityKey, FeatureRow, Freshness, OnlineStore, Stamp, Value,
    WriteBatch, WriteSummary,
};

use crate::fixtures::{self, Row, DAY_US, T0, USERS};

struct Setup {
    _dir: tempfile::TempDir,
    repo: FeatureRepo,
    rows: Vec<Row>,
    scan: LatestScan,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rows = fixtures::rows(4000);
    fixtures::write_repo(dir.path(), &rows);
    let repo = FeatureRepo::load(dir.path()).unwrap();
    let scan = LatestScan::with_partitions(&repo.root, Arc::new(repo.catalog.clone()), 3);
    Setup {
        _dir: dir,
        repo,
        rows,
        scan,
    }
}

async fn run(
    store: &Arc<dyn OnlineStore>,
    s: &Setup,
    start: Option<i64>,
    end: i64,
    batch_rows: usize,
) -> Result<MaterializeReport, tessera_materialize::Error> {
    let req = MaterializeRequest {
        view: "user_stats".into(),
        start_us: start,
        end_us: end,
        batch_rows,
        future: tessera_online::FutureBound::default(),
    };
    materialize_view(
        store.clone(),
        &s.scan,
        &req,
        Arc::new(NoMaterializeProgress),
    )
    .await
}

fn all_users() -> Vec<EntityKey> {
    (0..USERS).map(|u| EntityKey::int("user_id", u)).collect()
}

async fn read_all(store: &Arc<dyn OnlineStore>) -> Vec<Option<FeatureRow>> {
    store.read("user_stats", &all_users()).await.unwrap()
}

/// The store holds exactly the brute-force latest row of every user.
fn assert_matches(got: &[Option<FeatureRow>], want: &BTreeMap<i64, Row>, what: &str) {
    for (u, row) in got.iter().enumerate() {
        let u = u as i64;
        match (row, want.get(&u)) {
            (None, None) => {}
            (Some(r), Some(w)) => {
                let stamp = Stamp::new(w.ts, w.created.unwrap_or(Stamp::NO_CREATED));
                assert_eq!(r.stamp, stamp, "{what}: user {u} stamp");
                let f = w.f.map_or(Value::Null, Value::Float64);
                let s = w.s.clone().map_or(Value::Null, Value::String);
                assert_eq!(r.get("f"), Some(&f), "{what}: user {u} f");
                assert_eq!(r.get("i"), Some(&Value::Int64(w.i)), "{what}: user {u} i");
                assert_eq!(
                    r.get("i_again"),
                    Some(&Value::Int64(w.i)),
                    "{what}: user {u}"
                );
                assert_eq!(r.get("s"), Some(&s), "{what}: user {u} s");
            }
            (r, w) => panic!("{what}: user {u}: store has {r:?}, reference {w:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialised_rows_equal_the_latest_and_the_point_in_time_answer() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn OnlineStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let end = T0 + 7 * DAY_US + 12_345;

    let first = run(&store, &s, None, end, 97).await.unwrap();
    let want = fixtures::latest(&s.rows, None, end);
    assert_eq!(first.entities, want.len() as u64);
    assert_eq!(
        first.summary,
        WriteSummary {
            written: want.len() as u64,
            skipped: 0
        }
    );
    assert_eq!(first.high_water_mark, Some(end));
    assert_eq!(
        store.high_water_mark("user_stats").await.unwrap(),
        Some(end)
    );
    let got = read_all(&store).await;
    assert_matches(&got, &want, "first run");
    assert!(
        got.iter().any(Option::is_none),
        "late users are missing as of `end`"
    );

    // The online value at `end` is the training value at `end`: same rule, same data.
    let pit = point_in_time(&s, end).await;
    let (f, i) = (
        pit.column_by_name("user_stats__f")
            .unwrap()
            .as_primitive::<Float64Type>(),
        pit.column_by_name("user_stats__i")
            .unwrap()
            .as_primitive::<Int64Type>(),
    );
    let ttl = s.repo.catalog.view("user_stats").unwrap().ttl;
    let (mut present, mut expired) = (0, 0);
    for (u, row) in got.iter().enumerate() {
        match freshness(row.as_ref(), ttl, end) {
            Freshness::Present => {
                present += 1;
                let r = row.as_ref().unwrap();
                assert!(!i.is_null(u), "user {u}: online present, offline null");
                assert_eq!(r.get("i"), Some(&Value::Int64(i.value(u))), "user {u}");
                let want_f = if f.is_null(u) {
                    Value::Null
                } else {
                    Value::Float64(f.value(u))
                };
                assert_eq!(r.get("f"), Some(&want_f), "user {u}");
            }
            Freshness::Expired | Freshness::Missing => {
                expired += usize::from(row.is_some());
                assert!(
                    i.is_null(u),
                    "user {u}: offline has a value the store does not serve"
                );
            }
        }
    }
    assert!(
        present > 100 && expired > 0,
        "present {present}, expired {expired}"
    );

    // Idempotent: the same range again writes nothing.
    let again = run(&store, &s, None, end, 1000).await.unwrap();
    assert_eq!(
        again.summary,
        WriteSummary {
            written: 0,
            skipped: want.len() as u64
        }
    );
    assert_matches(&read_all(&store).await, &want, "second run");

    // A newer range, then an older one: nothing regresses, the mark never moves back.
    let later = T0 + 10 * DAY_US;
    let newer = run(&store, &s, Some(end), later, 1000).await.unwrap();
    assert!(newer.summary.written > 0);
    let want_later = fixtures::latest(&s.rows, None, later);
    assert_matches(
        &read_all(&store).await,
        &want_later,
        "after the newer range",
    );
    let older = run(&store, &s, None, T0 + 5 * DAY_US, 1000).await.unwrap();
    assert_eq!(
        older.summary.written, 0,
        "an older range never replaces newer rows"
    );
    assert_eq!(older.high_water_mark, Some(later));
    assert_eq!(
        store.high_water_mark("user_stats").await.unwrap(),
        Some(later)
    );
    assert_matches(
        &read_all(&store).await,
        &want_later,
        "after the older range",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_with_a_lower_bound_only_sees_its_rows() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn OnlineStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let (start, end) = (T0 + 8 * DAY_US, T0 + 9 * DAY_US);
    let report = run(&store, &s, Some(start), end, 50).await.unwrap();
    let want = fixtures::latest(&s.rows, Some(start), end);
    assert_eq!(report.entities, want.len() as u64);
    assert!(
        report.rows_scanned < s.rows.len() as u64,
        "row groups outside the range are pruned"
    );
    assert_matches(&read_all(&store).await, &want, "bounded range");
}

/// Fails every write after the first `ok` ones: a crash in the middle of a run.
#[derive(Debug)]
struct FailingAfter {
    inner: Arc<dyn OnlineStore>,
    ok: usize,
    seen: AtomicUsize,
}

#[async_trait::async_trait]
impl OnlineStore for FailingAfter {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn capabilities(&self) -> tessera_online::Capabilities {
        self.inner.capabilities()
    }
    async fn read(
        &self,
        v: &str,
        k: &[EntityKey],
    ) -> tessera_online::Result<Vec<Option<FeatureRow>>> {
        self.inner.read(v, k).await
    }
    async fn write(&self, batch: WriteBatch) -> tessera_online::Result<WriteSummary> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(tessera_online::Error::BadBatch {
                view: batch.view,
                reason: "injected failure".into(),
            });
        }
        self.inner.write(batch).await
    }
    async fn delete_entity(&self, k: &EntityKey) -> tessera_online::Result<u64> {
        self.inner.delete_entity(k).await
    }
    async fn high_water_mark(&self, v: &str) -> tessera_online::Result<Option<i64>> {
        self.inner.high_water_mark(v).await
    }
    async fn set_high_water_mark(&self, v: &str, ts: i64) -> tessera_online::Result<()> {
        self.inner.set_high_water_mark(v, ts).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_run_leaves_the_mark_and_a_rerun_completes() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let real: Arc<dyn OnlineStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let end = T0 + 10 * DAY_US;
    let failing: Arc<dyn OnlineStore> = Arc::new(FailingAfter {
        inner: real.clone(),
        ok: 2,
        seen: AtomicUsize::new(0),
    });
    let err = run(&failing, &s, None, end, 40).await.unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(
        real.high_water_mark("user_stats").await.unwrap(),
        None,
        "no mark after a failed run"
    );
    let partial = read_all(&real).await.iter().filter(|r| r.is_some()).count();
    assert!(
        partial > 0 && partial < USERS as usize,
        "the crash left part of the rows: {partial}"
    );

    let rerun = run(&real, &s, None, end, 40).await.unwrap();
    assert_eq!(
        rerun.summary.skipped, partial as u64,
        "rows written before the crash are skipped"
    );
    assert_eq!(real.high_water_mark("user_stats").await.unwrap(), Some(end));
    assert_matches(
        &read_all(&real).await,
        &fixtures::latest(&s.rows, None, end),
        "after the rerun",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialises_into_redis() {
    let s = setup();
    let redis = tessera_online::testkit::fresh_redis_store("materialize").await;
    let store: Arc<dyn OnlineStore> = Arc::new(redis.clone());
    let end = T0 + 6 * DAY_US;
    let report = run(&store, &s, None, end, 64).await.unwrap();
    let want = fixtures::latest(&s.rows, None, end);
    assert_eq!(report.summary.written, want.len() as u64);
    assert_matches(&read_all(&store).await, &want, "redis");
    let again = run(&store, &s, None, end, 64).await.unwrap();
    assert_eq!(again.summary.written, 0);
    redis.delete_all().await.unwrap();
}

/// The offline engine's training values for every user at `at`.
async fn point_in_time(s: &Setup, at: i64) -> RecordBatch {
    let spine = s._dir.path().join("spine.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..USERS)),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..USERS).map(|_| at),
            )),
        ],
    )
    .unwrap();
    fixtures::write_parquet(&spine, &batch);
    let engine = OfflineEngine::new(&s.repo.root, Arc::new(s.repo.catalog.clone()));
    let req = TrainingSetRequest {
        spine,
        features: tessera_core::FeatureRef::parse_list("user_stats:f,user_stats:i").unwrap(),
        timestamp_column: "event_timestamp".into(),
        short_names: false,
    };
    let prepared = engine.prepare(&req).await.unwrap();
    engine
        .run(prepared, Arc::new(NoProgress))
        .await
        .unwrap()
        .batch
}

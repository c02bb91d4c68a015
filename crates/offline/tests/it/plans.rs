//! The offline operators as DataFusion plans: `EXPLAIN` shows them, their metrics count
//! after a run, their memory is reserved in the session's pool (and released), and a tight
//! pool stops a run with an error naming the operator.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use datafusion::physical_plan::ExecutionPlan;
use futures::{FutureExt, StreamExt};
use tessera_core::FeatureRef;
use tessera_offline::{
    display_plan, metric, LatestRequest, LatestScan, NoProgress, OfflineEngine,
    PreparedTrainingSet, TrainingSetRequest,
};

use crate::fixtures::{write_parquet, write_repo};

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: stats, type: batch, path: data/stats.parquet, timestamp_field: ts }
  - { name: plays, type: batch, path: data/plays.parquet, timestamp_field: ts }
feature_views:
  - name: user_stats
    entities: [user]
    source: stats
    ttl: 7d
    features: [{ name: score, type: float64, classification: internal }]
  - name: user_plays
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - { function: count, windows: [1d] }
purposes: [{ name: training, allows: [internal] }]
"#;

const DAY_US: i64 = 86_400_000_000;
const USERS: i64 = 50;

fn micros(v: Vec<i64>) -> Arc<TimestampMicrosecondArray> {
    Arc::new(TimestampMicrosecondArray::from(v))
}

/// A repository with 2 000 feature rows, 2 000 play events and a 200-row spine.
fn repo(dir: &std::path::Path) {
    write_repo(dir, DEFS);
    let n = 2_000;
    let users: Vec<i64> = (0..n).map(|i| i % USERS).collect();
    let times: Vec<i64> = (0..n).map(|i| i * DAY_US / 100).collect();
    let ts = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        )
    };
    write_parquet(
        &dir.join("data/stats.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user_id", DataType::Int64, false),
                ts("ts"),
                Field::new("score", DataType::Float64, false),
            ])),
            vec![
                Arc::new(Int64Array::from(users.clone())),
                micros(times.clone()),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))),
            ],
        )
        .unwrap(),
    );
    write_parquet(
        &dir.join("data/plays.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user_id", DataType::Int64, false),
                ts("ts"),
                Field::new("action", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(Int64Array::from(users)),
                micros(times),
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "play"))),
            ],
        )
        .unwrap(),
    );
    let m = 200;
    write_parquet(
        &dir.join("spine.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user_id", DataType::Int64, false),
                ts("event_timestamp"),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values((0..m).map(|i| i % USERS))),
                micros((0..m).map(|i| 5 * DAY_US + i * DAY_US / 10).collect()),
            ],
        )
        .unwrap(),
    );
}

async fn prepared(dir: &std::path::Path, engine: &OfflineEngine) -> PreparedTrainingSet {
    let req = TrainingSetRequest {
        spine: dir.join("spine.parquet"),
        features: FeatureRef::parse_list("user_stats:score,user_plays:count_1d").unwrap(),
        timestamp_column: "event_timestamp".into(),
        short_names: false,
    };
    engine.prepare(&req).await.unwrap()
}

async fn engine(dir: &std::path::Path) -> OfflineEngine {
    let repo = tessera_offline::load_repo(dir).await.unwrap();
    OfflineEngine::with_partitions(&repo.root, Arc::new(repo.catalog.clone()), 2)
}

#[tokio::test]
async fn explain_shows_the_operators_and_analyze_counts_them() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    let engine = engine(d.path()).await;

    // Without running: the physical plans name the operators and their parameters.
    let prepared = prepared(d.path(), &engine).await;
    let shown = engine.explain(&prepared).await.unwrap();
    assert!(
        shown.contains("PointInTimeJoinExec: view=user_stats, source=stats, ttl=7d"),
        "{shown}"
    );
    assert!(shown.contains("WindowJoinExec: view=user_plays"), "{shown}");
    assert!(shown.contains("spine_rows=200"), "{shown}");
    // DataFusion's own EXPLAIN shows the logical node and the physical operator.
    let dfs = engine.plans(&prepared).unwrap();
    assert_eq!(dfs.len(), 2);
    let explained = dfs[0]
        .clone()
        .explain(false, false)
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = pretty_format_batches(&explained).unwrap().to_string();
    assert!(text.contains("PointInTimeJoin: view=user_stats"), "{text}");
    assert!(text.contains("PointInTimeJoinExec"), "{text}");

    // After a run: the metrics count the operators' rows and time.
    let set = engine.run(prepared, Arc::new(NoProgress)).await.unwrap();
    assert_eq!(set.batch.num_rows(), 200);
    assert_eq!(set.plans.len(), 2);
    for (plan, op) in set
        .plans
        .iter()
        .zip(["PointInTimeJoinExec", "WindowJoinExec"])
    {
        let p = plan.as_ref();
        assert_eq!(metric(p, op, "output_rows"), 200, "{op}");
        assert!(metric(p, op, "input_rows") > 0, "{op}");
        assert!(metric(p, op, "matched_rows") > 0, "{op}");
        assert!(metric(p, op, "elapsed_compute") > 0, "{op}");
        let analyzed = display_plan(p, true);
        assert!(
            analyzed.contains(op) && analyzed.contains("input_rows="),
            "{analyzed}"
        );
    }
    let stats = &set.views[0];
    assert_eq!(
        stats.rows_scanned as usize,
        metric(set.plans[0].as_ref(), "PointInTimeJoinExec", "input_rows")
    );
}

#[tokio::test]
async fn the_latest_row_scan_is_a_plan_too() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    let repo = tessera_offline::load_repo(d.path()).await.unwrap();
    let scan = LatestScan::with_partitions(&repo.root, Arc::new(repo.catalog.clone()), 2);
    let req = LatestRequest {
        view: "user_stats".into(),
        start_us: None,
        end_us: 10 * DAY_US,
    };
    let df = scan.plan(&req, Arc::new(NoProgress)).await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let shown = display_plan(plan.as_ref(), false);
    assert!(shown.contains("LatestRowExec: view=user_stats"), "{shown}");

    let rows = scan.run(&req, Arc::new(NoProgress)).await.unwrap();
    assert_eq!(rows.num_rows(), USERS as usize);
    let p = rows.plan.as_ref();
    assert_eq!(metric(p, "LatestRowExec", "output_rows"), USERS as usize);
    assert_eq!(
        metric(p, "LatestRowExec", "input_rows") as u64,
        rows.rows_scanned
    );
    assert!(rows.rows_scanned > 0);
    assert!(display_plan(p, true).contains("input_rows="));
}

#[tokio::test]
async fn memory_is_reserved_in_the_session_pool_and_released() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    // A pool too small for the spine-sized answers: the run stops, naming the operator.
    let tight = engine(d.path()).await.with_memory_limit(1_024);
    let prepared_tight = prepared(d.path(), &tight).await;
    let err = tight
        .run(prepared_tight, Arc::new(NoProgress))
        .await
        .expect_err("a 1 KiB pool is too small")
        .to_string();
    assert!(
        err.contains("Resources exhausted") && err.contains("JoinExec"),
        "{err}"
    );

    // Executing the plan reserves memory; dropping the stream (cancelling) releases it.
    let engine = engine(d.path()).await;
    let prepared = prepared(d.path(), &engine).await;
    let df = engine.plans(&prepared).unwrap().remove(0);
    let plan: Arc<dyn ExecutionPlan> = df.create_physical_plan().await.unwrap();
    let ctx = engine.context();
    let pool = ctx.runtime_env().memory_pool.clone();
    let mut stream = plan.execute(0, ctx.task_ctx()).unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 200);
    assert!(
        pool.reserved() > 0,
        "the output is accounted while the stream lives"
    );
    drop(stream);
    assert_eq!(pool.reserved(), 0);

    // Cancelled mid-run: polled once (the partition tasks start), then dropped. The tasks
    // are aborted with the stream and give their reservations back.
    let mut stream = plan.execute(0, ctx.task_ctx()).unwrap();
    let _ = stream.next().now_or_never();
    drop(stream);
    for _ in 0..500 {
        if pool.reserved() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pool.reserved(), 0, "an aborted run leaves nothing reserved");
}

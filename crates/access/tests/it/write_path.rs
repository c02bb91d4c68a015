//! The write path: rows checked against declared types, newer wins, device-only refused.

use tessera_access::{AccessConfig, Caller, Error, WriteRequest, WriteTarget};
use tessera_online::{KeyValue, Value};

use crate::fixtures::{layer, read, seeded_store};

fn columns(ts: &str, clicks: Value) -> Vec<(String, Vec<Value>)> {
    vec![
        ("user_id".into(), vec![Value::Int64(7)]),
        ("ts".into(), vec![Value::from(ts)]),
        ("clicks".into(), vec![clicks]),
        ("score".into(), vec![Value::Int64(2)]),
    ]
}

fn write(target: WriteTarget, columns: Vec<(String, Vec<Value>)>) -> WriteRequest {
    WriteRequest {
        target,
        columns,
        caller: Caller::consumer("ranker"),
    }
}

#[tokio::test]
async fn writes_newer_rows_and_coerces_types() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let now = chrono::Utc::now().to_rfc3339();
    let o = f
        .access
        .write(write(
            WriteTarget::PushSource("us".into()),
            columns(&now, Value::Float64(3.0)),
        ))
        .await
        .unwrap();
    assert_eq!((o.written(), o.skipped()), (1, 0));
    let o = f
        .access
        .write(write(
            WriteTarget::View("user_stats".into()),
            columns("2020-01-01T00:00:00", Value::Int64(1)),
        ))
        .await
        .unwrap();
    assert_eq!((o.written(), o.skipped()), (0, 1), "an older row loses");
    let r = f
        .access
        .read(read(
            &["user_stats:clicks", "user_stats:score"],
            vec![("user_id", vec![KeyValue::Int64(7)])],
        ))
        .await
        .unwrap();
    assert_eq!(r.columns[0].values, [Value::Int64(3)]);
    assert_eq!(r.columns[1].values, [Value::Float64(2.0)]);
}

#[tokio::test]
async fn every_problem_is_reported_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let mut cols = columns("not a time", Value::Float64(1.5));
    cols.push(("extra".into(), vec![Value::Null]));
    let err = f
        .access
        .write(write(WriteTarget::PushSource("us".into()), cols))
        .await
        .unwrap_err();
    let Error::BadRows { problems, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    let text = err.to_string();
    assert!(text.contains("\"not a time\" is not a timestamp"), "{text}");
    assert!(
        text.contains("column `clicks` row 0: expected int64, got the number 1.5"),
        "{text}"
    );
    assert!(text.contains("unknown column `extra`"), "{text}");
    let r = f
        .access
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(7)])],
        ))
        .await
        .unwrap();
    assert!(r.columns[0].values[0].is_null());
}

#[tokio::test]
async fn device_only_values_never_reach_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let mut cols = columns("2026-01-01", Value::Int64(1));
    cols.push(("local".into(), vec![Value::Float64(1.0)]));
    let err = f
        .access
        .write(write(WriteTarget::View("user_stats".into()), cols))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "denied");
}

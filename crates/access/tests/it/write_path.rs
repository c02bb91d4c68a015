//! The write path: rows checked against declared types, newer wins, device-only refused.

use std::sync::Arc;

use tessera_access::{
    AccessConfig, AccessLayer, Caller, Error, ErrorClass, WriteRequest, WriteTarget,
};
use tessera_audit::{AuditDecision, AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{KeyValue, Value};

use crate::fixtures::{layer, read, seeded_store, DEFINITIONS};

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

fn write_as(caller: Caller, target: WriteTarget) -> WriteRequest {
    WriteRequest {
        caller,
        ..write(target, columns("2026-01-01T00:00:00Z", Value::Int64(1)))
    }
}

#[tokio::test]
async fn a_consumer_writes_only_what_its_writes_cover() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    for (caller, target) in [
        (
            Caller::consumer("viewer"),
            WriteTarget::PushSource("us".into()),
        ),
        (
            Caller::consumer("viewer"),
            WriteTarget::View("user_stats".into()),
        ),
        (
            Caller::consumer("item_writer"),
            WriteTarget::PushSource("user_stats".into()),
        ),
        (
            Caller::local_as("alice", "viewer"),
            WriteTarget::PushSource("us".into()),
        ),
        (
            Caller::consumer("undeclared"),
            WriteTarget::PushSource("us".into()),
        ),
    ] {
        let who = caller.consumer_name().unwrap().to_string();
        let err = f
            .access
            .write(write_as(caller, target.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WriteDenied { .. }), "{err}");
        assert_eq!(
            (err.class(), err.code()),
            (ErrorClass::Denied, "write_denied")
        );
        let text = err.to_string();
        let named = match &target {
            WriteTarget::PushSource(s) if s == "us" => "push source `us`",
            _ => "feature view `user_stats`",
        };
        assert!(
            text.starts_with(&format!("consumer `{who}` may not write to {named}: its `writes:` does not cover feature view `user_stats` (hint: add ")),
            "{text}"
        );
    }
    // Nothing was written, and every refusal is audited as a denied write.
    let r = f
        .access
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(7)])],
        ))
        .await
        .unwrap();
    assert!(r.columns[0].values[0].is_null());
    f.audit.flush().await.unwrap();
    let records = f.log.tail(6).unwrap();
    let writes: Vec<(&str, AuditDecision)> = records[..5]
        .iter()
        .map(|r| (r.consumer.as_str(), r.decision))
        .collect();
    assert_eq!(
        writes,
        [
            ("viewer", AuditDecision::Deny),
            ("viewer", AuditDecision::Deny),
            ("item_writer", AuditDecision::Deny),
            ("local:alice as viewer", AuditDecision::Deny),
            ("undeclared", AuditDecision::Deny),
        ]
    );
    assert!(records[..5].iter().all(|r| r.action == "online_write"));
    assert!(
        records[0].reasons[0].contains("may not write"),
        "{:?}",
        records[0]
    );

    // A view of its own `writes:` or of a source it lists may be written; callers that are
    // not consumers are not limited.
    for caller in [
        Caller::consumer("ranker"),
        Caller::Anonymous,
        Caller::local("alice"),
        Caller::local_as("alice", "ranker"),
    ] {
        f.access
            .write(write_as(
                caller.clone(),
                WriteTarget::View("user_stats".into()),
            ))
            .await
            .unwrap_or_else(|e| panic!("{caller}: {e}"));
    }
    let item = WriteRequest {
        target: WriteTarget::View("item_stats".into()),
        columns: vec![
            ("item_id".into(), vec![Value::from("y")]),
            ("ts".into(), vec![Value::from("2026-01-01T00:00:00Z")]),
            ("pop".into(), vec![Value::Float64(0.5)]),
        ],
        caller: Caller::consumer("item_writer"),
    };
    f.access.write(item).await.unwrap();
}

#[tokio::test]
async fn a_push_to_a_source_needs_every_view_over_it() {
    // Two views over source `us`; `partial` may write only one of them.
    let defs = DEFINITIONS
        .replace(
            "  - name: item_stats\n",
            "  - name: user_more\n    entities: [user]\n    source: us\n    features:\n      - { name: clicks, type: int64, classification: internal }\n  - name: item_stats\n",
        )
        .replace(
            "consumers:\n",
            "consumers:\n  - { name: partial, token_env: T4, purposes: [analytics], writes: [user_stats] }\n  - { name: whole, token_env: T5, purposes: [analytics], writes: [us] }\n",
        );
    let catalog = Catalog::build(vec![
        Definitions::from_yaml_str(&defs, "f.yaml".as_ref()).unwrap()
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit =
        Arc::new(AuditSink::spawn(AuditLog::new(dir.path()), SinkConfig::default()).unwrap());
    let access = AccessLayer::new(
        Arc::new(catalog),
        seeded_store(&dir.path().join("online")).await,
        audit,
        AccessConfig::default(),
    );
    let err = access
        .write(write_as(
            Caller::consumer("partial"),
            WriteTarget::PushSource("us".into()),
        ))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("may not write to push source `us`: its `writes:` does not cover feature view `user_more` (hint: add `us` (or the names of its views) to `writes:` of consumer `partial`"),
        "{text}"
    );
    access
        .write(write_as(
            Caller::consumer("partial"),
            WriteTarget::View("user_stats".into()),
        ))
        .await
        .unwrap();
    let o = access
        .write(write_as(
            Caller::consumer("whole"),
            WriteTarget::PushSource("us".into()),
        ))
        .await
        .unwrap();
    assert_eq!(o.views.len(), 2);
}

/// A row stamped far in the future is refused (it would pin the entity's row: "newer wins"
/// skips every real write until then), saying which row, its time, the bound and the
/// setting; nothing of the request is written, and real writes go on landing.
#[tokio::test]
async fn far_future_rows_are_refused_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let mut cols = columns("9999-12-31T23:59:59Z", Value::Int64(9));
    for (name, values) in &mut cols {
        let v = match name.as_str() {
            "user_id" => Value::Int64(8),
            "ts" => Value::from(chrono::Utc::now().to_rfc3339().as_str()),
            _ => values[0].clone(),
        };
        values.insert(0, v);
    }
    let err = f
        .access
        .write(write(WriteTarget::PushSource("us".into()), cols))
        .await
        .unwrap_err();
    let Error::BadRows { problems, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    for part in [
        "row 1",
        "user_id=7",
        "9999-12-31T23:59:59Z",
        "5m",
        "writes.max_future",
    ] {
        assert!(p.contains(part), "`{part}` missing from: {p}");
    }
    let r = f
        .access
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(8)])],
        ))
        .await
        .unwrap();
    assert_eq!(
        r.columns[0].values,
        [Value::Null],
        "the good row was not written either"
    );
    // Within the bound (a few seconds ahead: clocks drift) is accepted.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    let o = f
        .access
        .write(write(
            WriteTarget::PushSource("us".into()),
            columns(&soon, Value::Int64(4)),
        ))
        .await
        .unwrap();
    assert_eq!((o.written(), o.skipped()), (1, 0));
    // The bound is a setting.
    let tight = AccessConfig {
        future: tessera_online::FutureBound::new(std::time::Duration::from_secs(1)),
        ..AccessConfig::default()
    };
    let dir2 = tempfile::tempdir().unwrap();
    let g = layer(seeded_store(dir2.path()).await, tight);
    let err = g
        .access
        .write(write(
            WriteTarget::PushSource("us".into()),
            columns(&soon, Value::Int64(4)),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 1s ahead"), "{err}");
}

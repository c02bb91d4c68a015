//! Issue 14, defects 1 and 7: pushes are checked for permission before their rows are
//! decoded, decoded in one linear pass within per-event and per-request key limits (413s
//! naming the setting), and every list echoed from a request is capped in the answer and
//! in the audit record.

use serde_json::json;
use tessera_server::Limits;

use crate::fixtures::{fresh_ts, rfc3339, Options, TestServer, DASHBOARD, RANKER};

/// `n` events, each with its own extra key `k{i}` beside the event columns.
fn events_with_distinct_keys(n: usize) -> String {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"user_id": i, "event_timestamp": "2026-04-02T00:00:00Z", format!("k{i}"): 1}))
        .collect();
    json!({"source": "user_src", "events": events}).to_string()
}

#[tokio::test]
async fn a_caller_that_may_not_push_is_refused_before_its_rows_are_decoded() {
    let (s, _) = TestServer::embedded().await;
    // `dashboard` may not write; its rows are not even valid (an object as a value), and
    // there are thousands of distinct keys: the answer is the 403, not a decode error.
    let mut body = events_with_distinct_keys(3000);
    body = body.replacen("\"k0\":1", "\"k0\":{\"nested\":true}", 1);
    let r = s.post("/v1/push", Some(DASHBOARD), &body).await;
    r.expect(403);
    assert_eq!(r.code(), "write_denied");
    let feast =
        r#"{"push_source_name": "user_src", "df": {"user_id": [{"no": 1}]}, "to": "online"}"#;
    let r = s.post("/push", Some(DASHBOARD), feast).await;
    r.expect(403);
    assert_eq!(r.code(), "write_denied");
    // The refusals are audited as denied writes.
    let denied = s
        .audit_records()
        .await
        .into_iter()
        .filter(|a| a.decision == tessera_audit::AuditDecision::Deny)
        .count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn keys_per_event_and_distinct_keys_per_request_are_limited() {
    let (s, _) = TestServer::embedded().await;
    // 8,000 events with distinct keys: refused at the 257th key, not decoded into a
    // 8,000 x 8,000 table.
    let r = s
        .post("/v1/push", Some(RANKER), &events_with_distinct_keys(8000))
        .await;
    r.expect(413);
    assert_eq!(r.code(), "too_many_keys");
    assert!(
        r.message().contains("more than 256 distinct keys"),
        "{}",
        r.text
    );
    assert!(
        r.message()
            .contains("`max_keys_per_request` under `server:`"),
        "{}",
        r.text
    );
    // One event with 250,000 keys: refused at the 257th.
    let mut event = serde_json::Map::new();
    for i in 0..250_000 {
        event.insert(format!("k{i}"), json!(i));
    }
    let body = json!({"source": "user_src", "events": [event]}).to_string();
    let r = s.post("/v1/push", Some(RANKER), &body).await;
    r.expect(413);
    assert!(
        r.message().contains("event 0 has more than 256 keys"),
        "{}",
        r.text
    );
    assert!(r.message().contains("`max_keys_per_event`"), "{}", r.text);
    // Columns count as keys too, on the Feast routes and for reads.
    let mut df = serde_json::Map::new();
    for i in 0..300 {
        df.insert(format!("c{i}"), json!([1]));
    }
    let body = json!({"push_source_name": "user_src", "df": df}).to_string();
    let r = s.post("/push", Some(RANKER), &body).await;
    r.expect(413);
    assert_eq!(r.code(), "too_many_keys");
    let mut keys = serde_json::Map::new();
    for i in 0..300 {
        keys.insert(format!("key{i}"), json!([1]));
    }
    let body = json!({"features": ["user_stats:f0"], "entities": keys}).to_string();
    let r = s.post("/v1/features", Some(RANKER), &body).await;
    r.expect(413);
    assert_eq!(r.code(), "too_many_keys");
}

#[tokio::test]
async fn the_key_limits_are_configurable() {
    let (s, _) = TestServer::embedded_with(Options {
        limits: Limits {
            max_keys_per_event: 3,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let ts = rfc3339(fresh_ts());
    let four = json!({"source": "user_src", "events": [
        {"user_id": 1, "event_timestamp": ts, "f0": 1.0, "i0": 1}
    ]});
    let r = s.post("/v1/push", Some(RANKER), &four.to_string()).await;
    r.expect(413);
    assert!(
        r.message().contains("this server's limit is 3"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn events_with_missing_keys_push_nulls_in_linear_time() {
    let (s, _) = TestServer::embedded().await;
    let ts = rfc3339(fresh_ts());
    // 5,000 events, each naming the columns in its own order: decoded into columns.
    let events: Vec<serde_json::Value> = (0..5000)
        .map(|i| {
            json!({"f0": 0.5, "user_id": 1000 + i, "i0": i, "age": 3, "diagnosis": "x",
                   "tags": ["a"], "seen_at": ts, "event_timestamp": ts})
        })
        .collect();
    let body = json!({"source": "user_src", "events": events}).to_string();
    let r = s.post("/v1/push", Some(RANKER), &body).await;
    r.expect(200);
    assert_eq!(r.json["written"], 5000);
}

#[tokio::test]
async fn lists_echoed_from_a_request_are_capped_in_answers_and_audit_records() {
    let (s, _) = TestServer::embedded().await;
    let features: Vec<String> = (0..100_000)
        .map(|i| format!("user_stats:nope{i}"))
        .collect();
    let body = json!({"features": features, "entities": {"user_id": [1]}}).to_string();
    let r = s.post("/v1/features", Some(RANKER), &body).await;
    r.expect(422);
    assert_eq!(r.code(), "unknown_feature");
    assert!(r.message().contains("nope0"), "{}", r.text);
    assert!(r.message().contains("… and 99980 more"), "{}", r.text);
    assert!(r.text.len() < 20_000, "a {} byte answer", r.text.len());
    let audit = s.audit_records().await;
    let rec = audit.last().unwrap();
    assert_eq!(
        rec.features.len(),
        21,
        "20 features and a count of the rest"
    );
    assert_eq!(rec.features[20], "… and 99980 more");
    let line = serde_json::to_string(rec).unwrap();
    assert!(line.len() < 20_000, "a {} byte audit line", line.len());
    // A single huge name is cut too.
    let huge = format!("user_stats:{}", "x".repeat(1_000_000));
    let body = json!({"features": [huge], "entities": {"user_id": [1]}}).to_string();
    let r = s.post("/v1/features", Some(RANKER), &body).await;
    r.expect(422);
    assert!(r.text.len() < 20_000, "a {} byte answer", r.text.len());
    let audit = s.audit_records().await;
    let line = serde_json::to_string(audit.last().unwrap()).unwrap();
    assert!(line.len() < 20_000, "a {} byte audit line", line.len());
}

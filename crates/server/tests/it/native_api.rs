//! `POST /v1/features`: typed values, per-value status, purpose in the body or a header.

use serde_json::json;

use crate::fixtures::{request, rfc3339, TestServer, DASHBOARD, RANKER};

#[tokio::test]
async fn typed_values_with_status_and_timestamps() {
    let (s, ts) = TestServer::embedded().await;
    let body = r#"{"features":["user_stats:seen_at","user_stats:f0","user_stats:tags"],"entities":{"user_id":[1,2,3,42]},"purpose":"ranking"}"#;
    let r = s.post("/v1/features", Some(RANKER), body).await;
    r.expect(200);
    let fresh = rfc3339(ts);
    let old = rfc3339(ts - 10 * 86_400_000_000);
    assert_eq!(
        r.json,
        json!({
            "consumer": "ranker",
            "purpose": "ranking",
            "entities": {"user_id": [1, 2, 3, 42]},
            "features": [
                {"feature": "user_stats:seen_at", "type": "timestamp",
                 "values": ["1970-01-01T00:00:00Z", null, "1970-01-01T00:00:00Z", null],
                 "statuses": ["present", "expired", "present", "missing"],
                 "event_timestamps": [fresh, old, fresh, null]},
                {"feature": "user_stats:f0", "type": "float64",
                 "values": [0.5, null, null, null],
                 "statuses": ["present", "expired", "null", "missing"],
                 "event_timestamps": [fresh, old, fresh, null]},
                {"feature": "user_stats:tags", "type": "list<string>",
                 "values": [["a", "b"], null, ["a", "b"], null],
                 "statuses": ["present", "expired", "present", "missing"],
                 "event_timestamps": [fresh, old, fresh, null]},
            ]
        })
    );
}

#[tokio::test]
async fn purpose_from_header_and_entity_rows() {
    let (s, _) = TestServer::embedded().await;
    let body = r#"{"features":["user_stats:f0"],"entity_rows":[{"user_id":1},{"user_id":3}]}"#;
    let r = s
        .send(request(
            "POST",
            "/v1/features",
            Some(DASHBOARD),
            body,
            &[("x-tessera-purpose", "analytics")],
        ))
        .await;
    r.expect(200);
    assert_eq!(r.json["purpose"], "analytics");
    assert_eq!(r.json["entities"], json!({"user_id": [1, 3]}));
    let r = s
        .send(request(
            "POST",
            "/v1/features",
            Some(DASHBOARD),
            r#"{"features":["user_stats:f0"],"entities":{"user_id":[1]},"purpose":"ranking"}"#,
            &[("x-tessera-purpose", "analytics")],
        ))
        .await;
    r.expect(400);
    assert_eq!(r.code(), "conflicting_purpose");
}

#[tokio::test]
async fn refuses_unknown_fields_and_ragged_rows() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"feature":["user_stats:f0"],"entities":{"user_id":[1]}}"#,
        )
        .await;
    r.expect(422);
    assert!(
        r.message().contains("unknown field `feature`"),
        "{}",
        r.text
    );
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features":["user_stats:f0"],"entity_rows":[{"user_id":1},{"item_id":"x"}]}"#,
        )
        .await;
    r.expect(422);
    assert_eq!(r.code(), "ragged_entities");
}

#[tokio::test]
async fn explain_prints_the_plan_and_reads_nothing() {
    let (s, _) = TestServer::embedded().await;
    let body = r#"{"features":["user_stats:f0","user_stats:age","user_stats:on_device"],"entities":{"user_id":[1]},"purpose":"analytics"}"#;
    let r = s
        .post("/v1/features?explain=true", Some(DASHBOARD), body)
        .await;
    r.expect(200);
    assert_eq!(r.json["explain"], true);
    assert_eq!(r.json["purpose"], "analytics");
    assert_eq!(r.json["channel"], "network");
    assert_eq!(r.json["allowed"], false);
    let f = &r.json["features"];
    assert_eq!(f[0]["provider"], "online");
    assert_eq!(f[0]["provider_name"], "embedded");
    assert_eq!(f[0]["decision"], "allow");
    assert_eq!(f[1]["decision"], "deny");
    assert_eq!(f[2]["provider"], serde_json::Value::Null);
    assert_eq!(f[2]["decision"], "deny");
    assert!(f[2]["problem"].as_str().unwrap().contains("device"));
    // Nothing was read, so nothing was audited.
    assert!(s.audit_records().await.is_empty());
    let r = s
        .post("/v1/features?explain=maybe", Some(DASHBOARD), body)
        .await;
    r.expect(422);
    assert_eq!(r.code(), "bad_query");
}

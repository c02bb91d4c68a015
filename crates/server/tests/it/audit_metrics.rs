//! Every read is audited; `/metrics` and `/health` answer.

use tessera_audit::AuditDecision;

use crate::fixtures::{request, TestServer, RANKER};

#[tokio::test]
async fn every_read_is_audited_with_its_decision() {
    let (s, _) = TestServer::embedded().await;
    s.post(
        "/get-online-features",
        Some(RANKER),
        r#"{"features":["user_stats:f0","user_stats:age"],"entities":{"user_id":[1,2,3]}}"#,
    )
    .await
    .expect(200);
    s.post(
        "/get-online-features",
        Some(RANKER),
        r#"{"features":["user_stats:nope"],"entities":{"user_id":[1]}}"#,
    )
    .await
    .expect(422);
    s.send(request(
        "POST",
        "/v1/features",
        Some(RANKER),
        r#"{"features":["user_stats:age"],"entities":{"user_id":[1]}}"#,
        &[("x-tessera-purpose", "analytics")],
    ))
    .await
    .expect(403);

    let audit = s.audit_records().await;
    assert_eq!(audit.len(), 3, "{audit:#?}");
    let ok = &audit[0];
    assert_eq!(ok.action, "online_read");
    assert_eq!(ok.consumer, "ranker");
    assert_eq!(ok.purpose, "ranking");
    assert_eq!(ok.features, ["user_stats:f0", "user_stats:age"]);
    assert_eq!(ok.rows, 3);
    assert_eq!(ok.decision, AuditDecision::Allow);
    assert!(ok.latency_us > 0);
    assert!(ok.time.ends_with('Z'));
    assert_eq!(audit[1].decision, AuditDecision::Error);
    assert!(audit[1].reasons[0].contains("user_stats:nope"));
    assert_eq!(audit[2].decision, AuditDecision::Deny);
    assert_eq!(audit[2].purpose, "analytics");
}

#[tokio::test]
async fn metrics_and_health() {
    let (s, _) = TestServer::embedded().await;
    s.send(request("GET", "/health", None, "", &[]))
        .await
        .expect(200);
    for _ in 0..3 {
        s.post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:f0"],"entities":{"user_id":[1,2]}}"#,
        )
        .await
        .expect(200);
    }
    s.post("/get-online-features", Some(RANKER), "{")
        .await
        .expect(400);
    let r = s.send(request("GET", "/metrics", None, "", &[])).await;
    r.expect(200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = &r.text;
    for line in [
        "tessera_http_requests_total{route=\"/get-online-features\",status=\"200\"} 3",
        "tessera_http_requests_total{route=\"/get-online-features\",status=\"400\"} 1",
        "tessera_http_requests_total{route=\"/health\",status=\"200\"} 1",
        "tessera_http_request_duration_seconds_count{route=\"/get-online-features\"} 4",
        "tessera_store_duration_seconds_count{store=\"embedded\",op=\"read\"} 3",
        "tessera_entities_read_total 6",
        "tessera_values_served_total 6",
        "# TYPE tessera_http_request_duration_seconds histogram",
        "tessera_audit_queue_depth",
    ] {
        assert!(m.contains(line), "missing `{line}` in:\n{m}");
    }
}

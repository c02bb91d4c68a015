//! Issue 14, defect 3: every request that carries a valid token is audited, whatever its
//! outcome — also when the server refuses it before the access layer sees it.

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use tessera_audit::AuditDecision;

use crate::fixtures::{request, TestServer, RANKER};

/// A header name and value.
type Header = (&'static str, &'static str);

/// (route, body, extra header) of requests refused after authentication.
const REFUSED: &[(&str, &str, Option<Header>)] = &[
    ("/get-online-features", "{not json", None),
    ("/get-online-features", "", None),
    (
        "/get-online-features",
        r#"{"entities": {"user_id": [1]}}"#,
        None,
    ),
    (
        "/get-online-features",
        r#"{"features": ["user_stats:f0"]}"#,
        None,
    ),
    (
        "/get-online-features",
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1], "item_id": []}}"#,
        None,
    ),
    (
        "/get-online-features",
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1]}, "purpose": "analytics"}"#,
        Some(("x-tessera-purpose", "ranking")),
    ),
    (
        "/v1/features",
        r#"{"features": ["user_stats:f0"], "entity_rows": [{"user_id": 1}, {"item_id": "a"}]}"#,
        None,
    ),
    (
        "/v1/features",
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1]}, "entity_rows": [{"user_id": 1}]}"#,
        None,
    ),
    (
        "/v1/features",
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1]}, "bogus": 1}"#,
        None,
    ),
    (
        "/v1/features?explain=maybe",
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1]}}"#,
        None,
    ),
    (
        "/push",
        r#"{"push_source_name": "user_src", "df": {"user_id": [1]}, "to": "offline"}"#,
        None,
    ),
    (
        "/push",
        r#"{"push_source_name": "user_src", "df": {"user_id": [1]}, "to": "sideways"}"#,
        None,
    ),
    ("/push", r#"{"push_source_name": "user_src"}"#, None),
    ("/push", r#"{"push_source_name": "nope", "df": {}}"#, None),
    (
        "/write-to-online-store",
        r#"{"feature_view_name": 7}"#,
        None,
    ),
    (
        "/v1/push",
        r#"{"source": "user_src", "events": [], "columns": {}}"#,
        None,
    ),
    (
        "/v1/push",
        r#"{"source": "user_src", "events": [{"user_id": {"a": 1}}]}"#,
        None,
    ),
];

#[tokio::test]
async fn refusals_before_the_access_layer_are_audited() {
    let (s, _) = TestServer::embedded().await;
    for (path, body, header) in REFUSED {
        let headers: Vec<(&str, &str)> = header.iter().copied().collect();
        let r = s
            .send(request("POST", path, Some(RANKER), body, &headers))
            .await;
        assert!(
            r.status.is_client_error(),
            "{path} {body}: {} {}",
            r.status,
            r.text
        );
    }
    // A purpose header that is not text.
    let mut req = request(
        "POST",
        "/get-online-features",
        Some(RANKER),
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1]}}"#,
        &[],
    );
    req.headers_mut().insert(
        "x-tessera-purpose",
        HeaderValue::from_bytes(b"\xffranking").unwrap(),
    );
    s.send(req).await.expect(400);

    let audit = s.audit_records().await;
    assert_eq!(audit.len(), REFUSED.len() + 1, "{audit:#?}");
    for rec in &audit {
        assert_eq!(rec.consumer, "ranker");
        assert_ne!(rec.decision, AuditDecision::Allow, "{rec:?}");
        assert!(
            rec.reasons.first().is_some_and(|r| r.starts_with('4')),
            "the reason starts with the status: {rec:?}"
        );
    }
    assert!(audit
        .iter()
        .any(|r| r.reasons[0].contains("offline_push_unsupported")));
    assert!(audit
        .iter()
        .any(|r| r.reasons[0].contains("ragged_entities")));
    assert!(audit
        .iter()
        .any(|r| r.reasons[0].contains("bad_purpose_header")));
    assert!(audit.iter().any(|r| r.action == "online_write"));
    assert!(audit.iter().any(|r| r.action == "online_read"));
}

#[tokio::test]
async fn requests_without_a_valid_token_are_not_audited() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .send(
            Request::builder()
                .method("POST")
                .uri("/v1/push")
                .header("authorization", "Bearer not-a-token-of-anyone")
                .body(Body::from("{"))
                .unwrap(),
        )
        .await;
    r.expect(401);
    assert!(s.audit_records().await.is_empty());
}

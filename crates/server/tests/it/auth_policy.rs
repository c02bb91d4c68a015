//! Authentication (401) and the policy gate (403 naming every refused feature).

use serde_json::json;
use tessera_access::AccessConfig;
use tessera_server::Auth;

use crate::fixtures::{request, Options, TestServer, DASHBOARD, RANKER};

const READ_F0: &str = r#"{"features":["user_stats:f0"],"entities":{"user_id":[1]}}"#;

#[tokio::test]
async fn missing_or_wrong_tokens_are_401() {
    let (s, _) = TestServer::embedded().await;
    for path in [
        "/get-online-features",
        "/v1/features",
        "/push",
        "/write-to-online-store",
    ] {
        let r = s.post(path, None, READ_F0).await;
        r.expect(401);
        assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"tessera\"");
        assert!(r.message().contains("Authorization: Bearer"), "{}", r.text);
        s.post(path, Some("not-a-token-of-anyone"), READ_F0)
            .await
            .expect(401);
    }
    let r = s
        .send(request(
            "POST",
            "/get-online-features",
            None,
            READ_F0,
            &[("authorization", "Basic dXNlcjpwYXNz")],
        ))
        .await;
    r.expect(401);
    // Nothing was read, so nothing was audited; the metrics count the failures.
    assert!(s.audit_records().await.is_empty());
    let m = s.send(request("GET", "/metrics", None, "", &[])).await;
    assert!(
        m.text.contains("tessera_auth_failures_total 9"),
        "{}",
        m.text
    );
}

#[tokio::test]
async fn refusals_name_every_feature_and_reason() {
    let (s, _) = TestServer::embedded().await;
    let body = r#"{"features":["user_stats:f0","user_stats:age","user_stats:diagnosis"],"entities":{"user_id":[1]}}"#;
    let r = s
        .send(request(
            "POST",
            "/get-online-features",
            Some(DASHBOARD),
            body,
            &[("x-tessera-purpose", "analytics")],
        ))
        .await;
    r.expect(403);
    assert_eq!(r.code(), "denied");
    assert_eq!(
        r.json["refusals"],
        json!([
            {"feature": "user_stats:age", "reason": "classified `personal`, which purpose `analytics` does not allow"},
            {"feature": "user_stats:diagnosis", "reason": "classified `sensitive`, which purpose `analytics` does not allow"},
        ])
    );
    assert!(r.json.get("results").is_none(), "no partial answer");

    // A purpose the consumer does not hold.
    let r = s
        .send(request(
            "POST",
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:diagnosis"],"entities":{"user_id":[1]}}"#,
            &[("x-tessera-purpose", "care")],
        ))
        .await;
    r.expect(403);
    assert!(
        r.message()
            .contains("consumer `ranker` does not hold purpose `care`"),
        "{}",
        r.text
    );

    // device_only never leaves the device, whatever the purpose.
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features":["user_stats:on_device"],"entities":{"user_id":[1]}}"#,
        )
        .await;
    r.expect(403);
    assert_eq!(
        r.json["refusals"][0]["reason"],
        "placed `device_only`: its values never leave the device"
    );

    let audit = s.audit_records().await;
    assert_eq!(audit.len(), 3);
    assert!(audit
        .iter()
        .all(|a| a.decision == tessera_audit::AuditDecision::Deny));
    assert_eq!(audit[0].consumer, "dashboard");
    assert_eq!(audit[0].purpose, "analytics");
    assert_eq!(audit[0].reasons.len(), 2);
    let m = s.send(request("GET", "/metrics", None, "", &[])).await;
    assert!(
        m.text
            .contains("tessera_policy_denials_total{reason=\"classification_not_allowed\"} 2"),
        "{}",
        m.text
    );
}

#[tokio::test]
async fn purpose_defaults_and_unknown_purposes() {
    let (s, _) = TestServer::embedded().await;
    // The ranker has a default purpose; the dashboard has none.
    s.post("/get-online-features", Some(RANKER), READ_F0)
        .await
        .expect(200);
    let r = s
        .post("/get-online-features", Some(DASHBOARD), READ_F0)
        .await;
    r.expect(422);
    assert_eq!(r.code(), "missing_purpose");
    assert!(r.message().contains("X-Tessera-Purpose"), "{}", r.text);
    let r = s
        .send(request(
            "POST",
            "/get-online-features",
            Some(RANKER),
            READ_F0,
            &[("x-tessera-purpose", "marketing")],
        ))
        .await;
    r.expect(422);
    assert_eq!(r.code(), "unknown_purpose");
    assert!(
        r.message().contains("known: analytics, care, ranking"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn auth_none_serves_anonymous_callers_with_the_policy_still_on() {
    let (s, _) = TestServer::embedded_with(Options {
        auth: Auth::None,
        access: AccessConfig {
            anonymous_purpose: Some("analytics".into()),
            ..AccessConfig::default()
        },
        ..Options::default()
    })
    .await;
    s.post("/get-online-features", None, READ_F0)
        .await
        .expect(200);
    let r = s
        .post(
            "/get-online-features",
            None,
            r#"{"features":["user_stats:age"],"entities":{"user_id":[1]}}"#,
        )
        .await;
    r.expect(403);
    let audit = s.audit_records().await;
    assert_eq!(audit[0].consumer, "anonymous");
}

/// Issue 14, defect 9: two consumers sharing a `token_env` are refused when the definitions
/// are validated (`tessera plan`), not when the server starts.
#[test]
fn a_shared_token_env_is_refused_at_plan() {
    let defs = crate::fixtures::DEFINITIONS
        .replace("token_env: DASHBOARD_TOKEN", "token_env: RANKER_TOKEN");
    let defs = tessera_core::Definitions::from_yaml_str(&defs, "features.yaml".as_ref()).unwrap();
    let err = tessera_core::Catalog::build(vec![defs])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has the same `token_env` (`RANKER_TOKEN`) as consumer"),
        "{err}"
    );
}

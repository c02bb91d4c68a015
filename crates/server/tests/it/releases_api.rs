//! `POST /v1/releases`: permission first (403, audited, before the body is read), a
//! release charged to the consumer's budget with its noisy answer, the refusal past the
//! budget (403 stating what is left), clear 4xx for bad requests, 501 without a releaser;
//! every outcome audited with its cost and the budget left.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tessera_audit::AuditDecision;
use tessera_core::{Catalog, EntityHasher, ReleaseCostDef};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{ReleaseContext, ReleaseRequest, TimeRange};
use tessera_online::EmbeddedStore;
use tessera_server::{app, ReleaseCall, ReleaseDone, ReleaseFailure, Releaser};

use crate::consent_api::{server_over, ADMIN, RANKER};
use crate::fixtures::TestServer;

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: plays, type: batch, path: plays.csv, timestamp_field: ts }]
feature_views:
  - name: play_facts
    entities: [user]
    source: plays
    features:
      - { name: genre, type: string, classification: public }
      - { name: secs, type: int64, classification: personal }
purposes:
  - { name: analytics, allows: [public], dp: { budget: { rho: 1.0, per: 30d } } }
  - { name: ranking, allows: [personal] }
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ranking] }
  - { name: admin, token_env: ADMIN_TOKEN, purposes: [analytics, ranking] }
releases:
  - name: per_genre
    source: plays
    entity: user
    query: histogram
    group_by: { column: genre, domain: [pop, rock] }
    max_rows: 2
    cost: { rho: 0.4 }
"#;

/// Runs declared releases over the test's repository (as `tessera serve` does).
#[derive(Debug)]
struct TestReleaser {
    root: PathBuf,
    catalog: Arc<Catalog>,
}

#[async_trait::async_trait]
impl Releaser for TestReleaser {
    async fn release(
        &self,
        consumer: &str,
        purpose: &str,
        call: ReleaseCall,
    ) -> Result<ReleaseDone, ReleaseFailure> {
        let (def, adhoc) = call.release_def(&self.catalog)?;
        let erased = HashSet::new();
        let cx = ReleaseContext {
            root: &self.root,
            catalog: &self.catalog,
            hasher: Arc::new(EntityHasher::from_key(b"test key")),
            erased: &erased,
        };
        let req = ReleaseRequest {
            release: def,
            consumer: consumer.into(),
            purpose: purpose.into(),
            cost: (call.rho.is_some() || call.epsilon.is_some()).then_some(ReleaseCostDef {
                rho: call.rho,
                epsilon: call.epsilon,
            }),
            range: TimeRange::default(),
            adhoc,
        };
        let now = chrono::Utc::now().timestamp_micros();
        match tessera_dp::run_release(&cx, &req, &mut ChaChaSource::seeded(1), now).await {
            Ok(a) => Ok(ReleaseDone {
                answer: serde_json::to_value(&a).unwrap(),
                audit_detail: a.audit_detail(),
                read: "source:plays".into(),
                groups: a.groups.len() as u64,
            }),
            Err(e) if e.is_refusal() => Err(ReleaseFailure::Refused(e.to_string())),
            Err(e) => Err(ReleaseFailure::Invalid(e.to_string())),
        }
    }
}

fn server(with_releaser: bool) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut csv = "user_id,ts,genre,secs\n".to_string();
    for u in 0..40 {
        for _ in 0..(1 + u % 4) {
            csv.push_str(&format!(
                "{u},2026-01-01T00:00:00Z,{},30\n",
                ["pop", "rock", "jazz"][u % 3]
            ));
        }
    }
    std::fs::write(root.join("plays.csv"), csv).unwrap();
    let store = Arc::new(EmbeddedStore::open(&root.join("online")).unwrap());
    let (mut s, _) = server_over(store, dir, DEFS);
    if with_releaser {
        let catalog = Arc::new(s.state.access.catalog().clone());
        s.state = s
            .state
            .clone()
            .with_releaser(Arc::new(TestReleaser { root, catalog }));
        s.router = app(s.state.clone());
    }
    s
}

#[tokio::test]
async fn releases_are_permitted_charged_refused_and_audited() {
    let s = server(true);
    // Permission first: a consumer with no budget is refused before its body is read.
    let r = s.post("/v1/releases", Some(RANKER), "{not json").await;
    r.expect(403);
    assert_eq!(r.code(), "release_denied");
    assert!(
        r.message()
            .contains("no purpose with a differential-privacy budget"),
        "{}",
        r.message()
    );
    // A purpose the consumer holds but without a budget.
    let r = s
        .post(
            "/v1/releases",
            Some(ADMIN),
            r#"{"release": "per_genre", "purpose": "ranking"}"#,
        )
        .await;
    r.expect(403);
    assert!(
        r.message().contains("for purpose `ranking`"),
        "{}",
        r.message()
    );
    // Bad bodies: unknown fields, an unknown release.
    let r = s
        .post(
            "/v1/releases",
            Some(ADMIN),
            r#"{"release": "per_genre", "rows": 1}"#,
        )
        .await;
    r.expect(422);
    assert_eq!(r.code(), "bad_request_shape");
    let r = s.post("/v1/releases", Some(ADMIN), "{not json").await;
    r.expect(400);
    let r = s
        .post("/v1/releases", Some(ADMIN), r#"{"release": "nope"}"#)
        .await;
    r.expect(422);
    assert_eq!(r.code(), "bad_release");
    assert!(
        r.message().contains("per_genre"),
        "the known releases: {}",
        r.message()
    );

    // The purpose is the consumer's only one with a budget; the declared cost is ρ = 0.4.
    let r = s
        .post("/v1/releases", Some(ADMIN), r#"{"release": "per_genre"}"#)
        .await;
    r.expect(200);
    let groups = r.json["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["group"], "pop");
    assert!(groups[0]["value"].is_number() && groups[0]["variance"].as_f64().unwrap() > 0.0);
    assert_eq!(r.json["mechanism"], "discrete_gaussian");
    assert_eq!(r.json["noise"]["count"]["sigma2"], 5.0, "2² / (2·0.4)");
    assert_eq!(r.json["budget"]["remaining_rho"], 0.6);

    let r = s
        .post(
            "/v1/releases",
            Some(ADMIN),
            r#"{"release": "per_genre", "epsilon": 0.5}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["mechanism"], "discrete_laplace");
    assert!((r.json["budget"]["remaining_rho"].as_f64().unwrap() - 0.475).abs() < 1e-12);

    let r = s
        .post(
            "/v1/releases",
            Some(ADMIN),
            r#"{"release": "per_genre", "purpose": "analytics", "rho": 0.5}"#,
        )
        .await;
    r.expect(403);
    assert_eq!(r.code(), "release_refused");
    assert!(
        r.message().contains("ρ = 0.475") && r.message().contains("resets at"),
        "{}",
        r.message()
    );

    let records: Vec<_> = s
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r.action == "dp_release")
        .collect();
    assert_eq!(records.len(), 8, "{records:#?}");
    let allowed: Vec<_> = records
        .iter()
        .filter(|r| r.decision == AuditDecision::Allow)
        .collect();
    assert_eq!(allowed.len(), 2);
    assert!(allowed[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("rho_remaining=0.6"));
    assert_eq!(allowed[0].consumer, "admin");
    assert_eq!(allowed[0].purpose, "analytics");
    let last = records.last().unwrap();
    assert_eq!(last.decision, AuditDecision::Deny);
    assert!(
        last.reasons[0].contains("release_refused"),
        "{:?}",
        last.reasons
    );
}

#[tokio::test]
async fn without_a_releaser_the_route_answers_501() {
    let s = server(false);
    let r = s
        .post("/v1/releases", Some(ADMIN), r#"{"release": "per_genre"}"#)
        .await;
    r.expect(501);
    assert_eq!(r.code(), "releases_unsupported");
}

#[tokio::test]
async fn adhoc_releases_are_gated_charged_and_audited() {
    let s = server(true);
    let post = |body: &'static str| s.post("/v1/releases", Some(ADMIN), body);
    // A query sent with the request: bounds, groups and cost in the body.
    let r = post(
        r#"{"adhoc": {"source": "plays", "entity": "user", "query": "histogram", "max_rows": 2,
            "group_by": {"column": "genre", "domain": ["pop", "rock", "jazz"]}}, "rho": 0.1}"#,
    )
    .await;
    r.expect(200);
    assert_eq!(r.json["release"], "adhoc_histogram");
    assert_eq!(r.json["groups"].as_array().unwrap().len(), 3);
    assert_eq!(r.json["noise"]["count"]["sigma2"], 20.0, "2² / (2·0.1)");
    assert_eq!(r.json["budget"]["remaining_rho"], 0.9);

    // The policy gate: a personal measure for a purpose that allows only public data, a
    // group column no feature classifies.
    let r = post(
        r#"{"adhoc": {"source": "plays", "entity": "user", "query": "sum", "max_rows": 2,
            "measure": {"column": "secs", "lo": 0, "hi": 60}}, "rho": 0.1}"#,
    )
    .await;
    r.expect(403);
    assert_eq!(r.code(), "release_refused");
    assert!(
        r.message()
            .contains("measure column `secs` of source `plays` is personal"),
        "{}",
        r.text
    );
    let r = post(
        r#"{"adhoc": {"source": "plays", "entity": "user", "query": "histogram", "max_rows": 2,
            "group_by": {"column": "user_id", "threshold_delta": 1e-7}}, "rho": 0.1}"#,
    )
    .await;
    r.expect(403);
    assert!(
        r.message()
            .contains("group column `user_id` of source `plays` has no classification"),
        "{}",
        r.text
    );

    // Bounds are required, never inferred; the cost too; one of `release` and `adhoc`.
    let r = post(
        r#"{"adhoc": {"source": "plays", "entity": "user", "query": "sum", "max_rows": 2,
            "measure": {"column": "secs"}}, "rho": 0.1}"#,
    )
    .await;
    r.expect(422);
    assert!(r.message().contains("missing field `lo`"), "{}", r.text);
    let r = post(
        r#"{"adhoc": {"source": "plays", "entity": "user", "query": "count", "max_rows": 2}}"#,
    )
    .await;
    r.expect(422);
    assert!(r.message().contains("no cost given"), "{}", r.text);
    let r = post(r#"{"release": "per_genre", "adhoc": {"source": "plays", "entity": "user", "query": "count", "max_rows": 2}}"#).await;
    r.expect(422);
    assert!(r.message().contains("not both"), "{}", r.text);
    let r = post(r#"{"adhoc": {"source": "plays", "query": "count", "max_rows": 2, "group_by": {"column": ["genre", "genre"], "domain": {"genre": ["pop"]}}}, "rho": 0.1}"#).await;
    r.expect(422);
    assert!(
        r.message().contains("names no `entity`") && r.message().contains("twice"),
        "{}",
        r.text
    );

    // Over the budget: refused with what is left.
    let r = post(r#"{"adhoc": {"source": "plays", "entity": "user", "query": "count", "max_rows": 2}, "rho": 0.95}"#).await;
    r.expect(403);
    assert!(r.message().contains("ρ = 0.9 of ρ = 1"), "{}", r.text);

    let records: Vec<_> = s
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r.action == "dp_release")
        .collect();
    assert_eq!(records.len(), 8, "{records:#?}");
    let ok = &records[0];
    assert_eq!(ok.decision, AuditDecision::Allow);
    let detail = ok.detail.as_deref().unwrap();
    assert!(
        detail.contains("cost: ρ = 0.1") && detail.contains("rho_remaining=0.9"),
        "{detail}"
    );
    assert!(
        detail.contains(r#"adhoc={"source":"plays""#),
        "the query is audited: {detail}"
    );
    assert_eq!(records[1].decision, AuditDecision::Deny);
    assert!(records[1].detail.as_deref().unwrap().starts_with("adhoc="));
}

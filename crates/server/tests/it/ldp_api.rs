//! `POST /v1/ldp/reports` and `GET /v1/ldp/{report}/estimates`: authentication first,
//! binary and JSON batches accumulated into a persisted sketch, one audit record per
//! batch with its count and nothing about devices, clear refusals (audited), estimates
//! gated by purpose, and the sketch surviving a restart.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tessera_ldp::wire::{cms_bits_to_hex, encode_batch, CONTENT_TYPE};
use tessera_ldp::{seeded_rng, LdpParams, Mechanism, Randomiser, Report};
use tessera_online::EmbeddedStore;
use tessera_server::{app, LdpSketches, ACTION_LDP_ESTIMATE, ACTION_LDP_REPORT};

use crate::consent_api::{server_over, ADMIN, RANKER};
use crate::fixtures::{request, TestServer};

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: user_src, type: batch, path: data/users.parquet, timestamp_field: ts }
  - { name: listening, type: device, timestamp_field: ts, device: { schema: { user_id: int64, genre: string } } }
feature_views:
  - name: user_stats
    entities: [user]
    source: user_src
    features: [{ name: plays, type: int64, classification: personal }]
  - name: taste
    entities: [user]
    source: listening
    features: [{ name: genre, type: string, classification: personal, placement: device_only }]
ldp_reports:
  - { name: genres, feature: "taste:genre", domain: { values: [jazz, rock, pop] }, mechanism: cms, epsilon: 8, k: 4, m: 64, cap: { epsilon: 8, per: 1d } }
  - { name: genres_h, feature: "taste:genre", domain: { open: true }, mechanism: hcms, epsilon: 8, k: 4, m: 64, cap: { epsilon: 8, per: 1d } }
purposes:
  - { name: ads, allows: [personal], requires_consent: true }
  - { name: ranking, allows: [personal] }
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ads, ranking], ldp_reports: [genres, genres_h] }
  - { name: admin, token_env: ADMIN_TOKEN, purposes: [ranking], consent: true, ldp_reports: [genres] }
"#;

fn with_ldp(mut server: TestServer, repo: &std::path::Path) -> TestServer {
    let sketches = LdpSketches::new(repo, server.state.access.catalog());
    server.state = server.state.clone().with_ldp(sketches);
    server.router = app(server.state.clone());
    server
}

fn server() -> (TestServer, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().to_path_buf();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let (server, _) = server_over(store, dir, DEFS);
    (with_ldp(server, &repo), repo)
}

fn binary(token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/v1/ldp/reports")
        .header("content-type", CONTENT_TYPE);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

fn reports(params: LdpParams, name: &str, genre: &str, n: usize, seed: u64) -> Vec<Report> {
    let r = Randomiser::new(params, name.as_bytes());
    let mut rng = seeded_rng(seed, 0);
    (0..n)
        .map(|_| r.randomise(genre.as_bytes(), &mut rng))
        .collect()
}

#[tokio::test]
async fn reports_accumulate_and_estimates_are_gated() {
    let (server, repo) = server();
    let cms = LdpParams::new(Mechanism::Cms, 8.0, 4, 64).unwrap();

    // Authentication first.
    let batch = encode_batch("genres", &cms, &reports(cms, "genres", "jazz", 10, 1)).unwrap();
    server.send(binary(None, batch.clone())).await.expect(401);

    // A binary batch (what devices send).
    let jazz = reports(cms, "genres", "jazz", 600, 2);
    let batch = encode_batch("genres", &cms, &jazz).unwrap();
    let r = server.send(binary(Some(RANKER), batch)).await;
    r.expect(200);
    assert_eq!(
        (r.json["accepted"].as_u64(), r.json["total"].as_u64()),
        (Some(600), Some(600))
    );

    // A JSON batch of the same report.
    let rock = reports(cms, "genres", "rock", 300, 3);
    let items: Vec<serde_json::Value> = rock
        .iter()
        .map(|r| match r {
            Report::Cms(c) => serde_json::json!({"row": c.row(), "bits": cms_bits_to_hex(c, 64)}),
            Report::Hcms(_) => unreachable!(),
        })
        .collect();
    let body = serde_json::json!({
        "report": "genres", "mechanism": "cms", "epsilon": 8.0, "k": 4, "m": 64, "reports": items,
    });
    let r = server
        .post("/v1/ldp/reports", Some(ADMIN), &body.to_string())
        .await;
    r.expect(200);
    assert_eq!(r.json["total"].as_u64(), Some(900));

    // Refusals: other parameters, an unknown report, a torn batch, an HCMS report in JSON
    // with a bad bit. None changes the sketch.
    let other = LdpParams::new(Mechanism::Cms, 4.0, 4, 64).unwrap();
    let batch = encode_batch("genres", &other, &reports(other, "genres", "pop", 5, 4)).unwrap();
    let r = server.send(binary(Some(RANKER), batch)).await;
    r.expect(422);
    assert_eq!(r.code(), "ldp_parameters_mismatch", "{}", r.text);
    // A report the consumer may not send (unknown, or not in its `ldp_reports:`): 403.
    let batch = encode_batch("nope", &cms, &reports(cms, "nope", "pop", 5, 5)).unwrap();
    let r = server.send(binary(Some(RANKER), batch.clone())).await;
    r.expect(403);
    assert_eq!(r.code(), "ldp_report_denied");
    let hcms = LdpParams::new(Mechanism::Hcms, 8.0, 4, 64).unwrap();
    let h = encode_batch("genres_h", &hcms, &reports(hcms, "genres_h", "pop", 5, 7)).unwrap();
    let r = server.send(binary(Some(ADMIN), h)).await;
    r.expect(403);
    assert!(
        r.message().contains("may not send reports of `genres_h`")
            && r.message().contains("genres"),
        "{}",
        r.text
    );
    let r = server
        .send(binary(Some(RANKER), batch[..batch.len() - 3].to_vec()))
        .await;
    r.expect(422);
    assert!(r.message().contains("reports of"), "{}", r.text);
    let bad = r#"{"report":"genres_h","mechanism":"hcms","epsilon":8,"k":4,"m":64,"reports":[{"row":0,"index":3,"bit":0}]}"#;
    let r = server.post("/v1/ldp/reports", Some(RANKER), bad).await;
    r.expect(422);
    assert!(r.message().contains("\"bit\": 1 or -1"), "{}", r.text);

    // An HCMS batch of the open-domain report.
    let batch = encode_batch("genres_h", &hcms, &reports(hcms, "genres_h", "pop", 400, 6)).unwrap();
    server.send(binary(Some(RANKER), batch)).await.expect(200);

    // Estimates: a purpose is required, and the consumer must hold it.
    let get = |path: &str, token: &str| request("GET", path, Some(token), "", &[]);
    let r = server.send(get("/v1/ldp/genres/estimates", RANKER)).await;
    r.expect(400);
    assert_eq!(r.code(), "missing_purpose");
    let r = server
        .send(get("/v1/ldp/genres/estimates?purpose=ads", ADMIN))
        .await;
    r.expect(403);
    let r = server
        .send(get("/v1/ldp/genres/estimates?purpose=ranking", RANKER))
        .await;
    r.expect(200);
    assert_eq!(r.json["reports"], 900);
    let est = |v: &str| {
        r.json["estimates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["value"] == v)
            .map(|e| (e["estimate"].as_f64().unwrap(), e["sd"].as_f64().unwrap()))
            .unwrap()
    };
    for (genre, truth) in [("jazz", 600.0), ("rock", 300.0), ("pop", 0.0)] {
        let (e, sd) = est(genre);
        assert!(
            (e - truth).abs() < 5.0 * sd,
            "{genre}: {e} ± {sd} vs {truth}"
        );
    }
    // The open domain needs candidates.
    let r = server
        .send(get("/v1/ldp/genres_h/estimates?purpose=ranking", RANKER))
        .await;
    r.expect(422);
    let r = server
        .send(get(
            "/v1/ldp/genres_h/estimates?purpose=ranking&candidates=pop,jazz",
            RANKER,
        ))
        .await;
    r.expect(200);
    let pop = r.json["estimates"][0]["estimate"].as_f64().unwrap();
    let sd = r.json["estimates"][0]["sd"].as_f64().unwrap();
    assert!((pop - 400.0).abs() < 5.0 * sd, "{pop} ± {sd}");

    // Audited in aggregate: one record per accepted batch with its count, nothing per device.
    let records = server.audit_records().await;
    let accepted: Vec<_> = records
        .iter()
        .filter(|r| {
            r.action == ACTION_LDP_REPORT && r.decision == tessera_audit::AuditDecision::Allow
        })
        .collect();
    assert_eq!(
        accepted.iter().map(|r| r.rows).collect::<Vec<_>>(),
        [600, 300, 400]
    );
    assert!(accepted.iter().all(|r| r.entities.is_empty()));
    let refused = records
        .iter()
        .filter(|r| {
            r.action == ACTION_LDP_REPORT && r.decision != tessera_audit::AuditDecision::Allow
        })
        .count();
    assert_eq!(refused, 5);
    assert!(records
        .iter()
        .any(|r| r.action == ACTION_LDP_ESTIMATE && r.purpose == "ranking"));

    // The sketch is on disk: a restarted server (new sketches over the same directory)
    // answers the same.
    assert!(tessera_server::sketch_path(&repo, "genres").exists());
    let restarted = with_ldp(
        {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
            server_over(store, dir, DEFS).0
        },
        &repo,
    );
    let again = restarted
        .send(get("/v1/ldp/genres/estimates?purpose=ranking", RANKER))
        .await;
    again.expect(200);
    assert_eq!(again.json["estimates"], r_estimates(&server).await);
}

#[tokio::test]
async fn a_consumer_without_permission_sends_no_reports() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().to_path_buf();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let defs = DEFS.replace(", ldp_reports: [genres] }", " }");
    let (server, _) = server_over(store, dir, &defs);
    let server = with_ldp(server, &repo);
    let cms = LdpParams::new(Mechanism::Cms, 8.0, 4, 64).unwrap();
    let batch = encode_batch("genres", &cms, &reports(cms, "genres", "jazz", 10, 1)).unwrap();
    let r = server.send(binary(Some(ADMIN), batch.clone())).await;
    r.expect(403);
    assert_eq!(r.code(), "ldp_report_denied");
    assert!(r.message().contains("ldp_reports: [genre"), "{}", r.text);
    assert!(
        !tessera_server::sketch_path(&repo, "genres").exists(),
        "nothing stored"
    );
    let records = server.audit_records().await;
    let denied: Vec<_> = records
        .iter()
        .filter(|r| r.action == ACTION_LDP_REPORT)
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].decision, tessera_audit::AuditDecision::Deny);
    // The same batch from a consumer that may send it is accepted.
    server.send(binary(Some(RANKER), batch)).await.expect(200);
}

async fn r_estimates(server: &TestServer) -> serde_json::Value {
    let r = server
        .send(request(
            "GET",
            "/v1/ldp/genres/estimates?purpose=ranking",
            Some(RANKER),
            "",
            &[],
        ))
        .await;
    r.json["estimates"].clone()
}

//! `POST /push` and `POST /write-to-online-store`: checked rows, newer wins, safe under
//! concurrency, read back at once.

use serde_json::json;

use tessera_audit::AuditDecision;
use tessera_server::Auth;

use crate::fixtures::{fresh_ts, rfc3339, Options, TestServer, DASHBOARD, RANKER};

/// A push body for user `user` at event time `ts` (µs) with `f0`.
fn push_body(user: i64, ts: i64, f0: f64) -> String {
    json!({
        "push_source_name": "user_src",
        "to": "online",
        "df": {
            "user_id": [user],
            "event_timestamp": [rfc3339(ts)],
            "created": [rfc3339(ts)],
            "f0": [f0], "i0": [7], "age": [40], "diagnosis": [null],
            "tags": [["x"]], "seen_at": ["2026-04-02T00:00:00"]
        }
    })
    .to_string()
}

async fn read_f0(s: &TestServer, user: i64) -> serde_json::Value {
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            &format!(r#"{{"features":["user_stats:f0","user_stats:seen_at"],"entities":{{"user_id":[{user}]}}}}"#),
        )
        .await;
    r.expect(200);
    r.json
}

#[tokio::test]
async fn push_then_read_back_and_older_rows_lose() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    let r = s
        .post("/push", Some(RANKER), &push_body(50, ts, 4.25))
        .await;
    r.expect(200);
    assert!(r.text.is_empty(), "Feast answers an empty body");
    assert_eq!(r.headers["x-tessera-rows-written"], "1");
    let j = read_f0(&s, 50).await;
    assert_eq!(j["results"][1]["values"], json!([4.25]));
    assert_eq!(j["results"][1]["statuses"], json!(["PRESENT"]));
    assert_eq!(j["results"][1]["event_timestamps"], json!([rfc3339(ts)]));
    assert_eq!(j["results"][2]["values"], json!(["2026-04-02T00:00:00Z"]));

    // An older row is skipped, not an error.
    let r = s
        .post("/push", Some(RANKER), &push_body(50, ts - 1_000_000, 9.0))
        .await;
    r.expect(200);
    assert_eq!(r.headers["x-tessera-rows-skipped"], "1");
    assert_eq!(read_f0(&s, 50).await["results"][1]["values"], json!([4.25]));

    // write-to-online-store names the view and answers `null`.
    let body = push_body(50, ts + 1_000_000, 5.5).replace(
        r#""push_source_name":"user_src","#,
        r#""feature_view_name":"user_stats","#,
    );
    let body = body.replace(r#""to":"online","#, "");
    let r = s.post("/write-to-online-store", Some(RANKER), &body).await;
    r.expect(200);
    assert_eq!(r.text, "null");
    assert_eq!(read_f0(&s, 50).await["results"][1]["values"], json!([5.5]));

    let audit = s.audit_records().await;
    let writes: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "online_write")
        .collect();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[0].consumer, "ranker");
    assert!(writes[0].features.contains(&"user_stats:f0".to_string()));
    assert_eq!(
        writes[1].detail.as_deref(),
        Some("written 0, skipped as older 1")
    );
}

#[tokio::test]
async fn concurrent_pushes_never_fail_and_the_newest_wins() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    let pushes = (0..32).map(|i| {
        let body = push_body(60 + (i % 4), ts + i * 1_000_000, i as f64);
        let router = s.router.clone();
        async move {
            use tower::ServiceExt;
            let req = crate::fixtures::request("POST", "/push", Some(RANKER), &body, &[]);
            router.oneshot(req).await.unwrap().status().as_u16()
        }
    });
    let statuses = futures::future::join_all(pushes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    for u in 0..4 {
        let newest = (0..32).filter(|i| i % 4 == u).max().unwrap();
        let j = read_f0(&s, 60 + u).await;
        assert_eq!(
            j["results"][1]["values"],
            json!([newest as f64]),
            "user {u}"
        );
    }
}

#[tokio::test]
async fn rows_are_checked_against_declared_types() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    let bad = push_body(70, ts, 1.0)
        .replace(r#""f0":[1.0]"#, r#""f0":["abc"]"#)
        .replace(r#""i0":[7]"#, r#""i0":[7.5]"#);
    let r = s.post("/push", Some(RANKER), &bad).await;
    r.expect(422);
    assert_eq!(r.code(), "bad_rows");
    let m = r.message();
    assert!(
        m.contains("column `f0` row 0: expected float64, got the string \"abc\""),
        "{m}"
    );
    assert!(
        m.contains("column `i0` row 0: expected int64, got the number 7.5"),
        "{m}"
    );

    let missing = push_body(70, ts, 1.0).replace(r#""age":[40],"#, "");
    let r = s.post("/push", Some(RANKER), &missing).await;
    r.expect(422);
    assert!(
        r.message()
            .contains("feature column `age` of view `user_stats` is missing"),
        "{}",
        r.text
    );

    let extra = push_body(70, ts, 1.0).replace(r#""age":[40],"#, r#""age":[40],"agee":[1],"#);
    let r = s.post("/push", Some(RANKER), &extra).await;
    r.expect(422);
    assert!(r.message().contains("unknown column `agee`"), "{}", r.text);

    let bad_ts = push_body(70, ts, 1.0).replace(&rfc3339(ts), "last tuesday");
    let r = s.post("/push", Some(RANKER), &bad_ts).await;
    r.expect(422);
    assert!(
        r.message().contains("\"last tuesday\" is not a timestamp"),
        "{}",
        r.text
    );

    let wrong_key = push_body(70, ts, 1.0).replace(r#""user_id":[70]"#, r#""user_id":["70"]"#);
    let r = s.post("/push", Some(RANKER), &wrong_key).await;
    r.expect(422);
    assert!(
        r.message()
            .contains("join key `user_id` holds integer values"),
        "{}",
        r.text
    );

    // Nothing of the refused pushes was written.
    let j = read_f0(&s, 70).await;
    assert_eq!(j["results"][1]["statuses"], json!(["NOT_FOUND"]));
}

#[tokio::test]
async fn refused_pushes() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    let body = push_body(80, ts, 1.0).replace(r#""to":"online""#, r#""to":"online_and_offline""#);
    let r = s.post("/push", Some(RANKER), &body).await;
    r.expect(422);
    assert_eq!(r.code(), "offline_push_unsupported");

    let body = push_body(80, ts, 1.0).replace("user_src", "nope");
    let r = s.post("/push", Some(RANKER), &body).await;
    r.expect(422);
    assert_eq!(r.code(), "unknown_push_source");
    assert!(
        r.message()
            .contains("known: archive, item_src, item_stats, user_src, user_stats"),
        "{}",
        r.text
    );
    let body = push_body(80, ts, 1.0).replace("user_src", "user_srcs");
    let r = s.post("/push", Some(RANKER), &body).await;
    r.expect(422);
    assert!(
        r.message().contains("did you mean `user_src`?"),
        "{}",
        r.text
    );

    let body = push_body(80, ts, 1.0).replace(r#""age":[40],"#, r#""age":[40],"on_device":[1.0],"#);
    let r = s.post("/push", Some(RANKER), &body).await;
    r.expect(403);
    assert_eq!(
        r.json["refusals"][0],
        json!({"feature": "user_stats:on_device", "reason": "placed `device_only`: its values never leave the device"})
    );
}

#[tokio::test]
async fn a_consumer_pushes_only_to_what_its_writes_cover() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    // `dashboard` declares no `writes:`.
    let r = s
        .post("/push", Some(DASHBOARD), &push_body(90, ts, 1.0))
        .await;
    r.expect(403);
    assert_eq!(r.code(), "write_denied");
    assert!(
        r.message().starts_with(
            "consumer `dashboard` may not write to push source `user_src`: its `writes:` does not cover feature view `user_stats` (hint: add `user_src`"
        ),
        "{}",
        r.text
    );
    let body = push_body(90, ts, 1.0).replace(
        r#""push_source_name":"user_src","#,
        r#""feature_view_name":"user_stats","#,
    );
    let r = s
        .post("/write-to-online-store", Some(DASHBOARD), &body)
        .await;
    r.expect(403);
    assert_eq!(r.code(), "write_denied");
    assert!(
        r.message()
            .contains("may not write to feature view `user_stats`"),
        "{}",
        r.text
    );
    // Nothing was written; both refusals are audited as denied writes.
    let j = read_f0(&s, 90).await;
    assert_eq!(j["results"][1]["statuses"], json!(["NOT_FOUND"]));
    let denied: Vec<_> = s
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r.action == "online_write")
        .map(|r| (r.consumer, r.decision))
        .collect();
    assert_eq!(
        denied,
        [
            ("dashboard".to_string(), AuditDecision::Deny),
            ("dashboard".to_string(), AuditDecision::Deny)
        ]
    );
    // `ranker` may (its `writes:` lists the source).
    s.post("/push", Some(RANKER), &push_body(90, ts, 1.0))
        .await
        .expect(200);
}

#[tokio::test]
async fn anonymous_callers_may_push() {
    let (s, _) = TestServer::embedded_with(Options {
        auth: Auth::None,
        ..Options::default()
    })
    .await;
    let r = s.post("/push", None, &push_body(91, fresh_ts(), 1.0)).await;
    r.expect(200);
    assert_eq!(r.headers["x-tessera-rows-written"], "1");
}

/// Issue 14, defect 4: a far-future row would pin the entity ("newer wins" skips every real
/// write until then). It is refused with the row, its time, the bound and the setting, and
/// the entity's real writes go on landing.
#[tokio::test]
async fn a_far_future_write_is_refused_and_pins_nothing() {
    let (s, _) = TestServer::embedded().await;
    let ts = fresh_ts();
    let far = push_body(70, 0, 1.0)
        .replace(
            r#""push_source_name":"user_src","#,
            r#""feature_view_name":"user_stats","#,
        )
        .replace(r#""to":"online","#, "")
        .replace(&rfc3339(0), "9999-12-31T23:59:59Z");
    let r = s.post("/write-to-online-store", Some(RANKER), &far).await;
    r.expect(422);
    for part in [
        "row 0",
        "user_id=70",
        "9999-12-31T23:59:59Z",
        "writes.max_future",
    ] {
        assert!(r.text.contains(part), "`{part}` missing from {}", r.text);
    }
    let r = s.post("/push", Some(RANKER), &push_body(70, ts, 2.5)).await;
    r.expect(200);
    assert_eq!(r.headers["x-tessera-rows-written"], "1");
    assert_eq!(read_f0(&s, 70).await["results"][1]["values"], json!([2.5]));
}

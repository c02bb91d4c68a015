//! Bad input is a 4xx that says what to fix — never a 500, never a crash.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::Request;
use tessera_access::AccessConfig;
use tessera_server::Limits;

use crate::fixtures::{request, Options, TestServer, RANKER};

async fn post(s: &TestServer, body: &str) -> crate::fixtures::Response {
    s.post("/get-online-features", Some(RANKER), body).await
}

#[tokio::test]
async fn malformed_and_misshapen_json() {
    let (s, _) = TestServer::embedded().await;
    let r = post(&s, r#"{"features": ["user_stats:f0"], "entities": "#).await;
    r.expect(400);
    assert_eq!(r.code(), "malformed_json");
    assert!(r.message().contains("line 1"), "{}", r.text);
    let r = post(&s, "").await;
    r.expect(400);
    assert_eq!(r.code(), "empty_body");
    let r = post(
        &s,
        r#"{"features": "user_stats:f0", "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "bad_request_shape");
    let r = post(&s, r#"{"features": ["user_stats:f0"]}"#).await;
    r.expect(422);
    assert_eq!(r.code(), "missing_entities");
    let r = post(&s, r#"{"entities": {"user_id": [1]}}"#).await;
    r.expect(422);
    assert_eq!(r.code(), "no_features");
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "feature_service": "ranker_v1", "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "features_and_service");
}

#[tokio::test]
async fn unknown_names_are_named() {
    let (s, _) = TestServer::embedded().await;
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0", "user_stats:nope", "nope_view:x", "bad"], "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "unknown_feature");
    let m = r.message();
    assert!(m.contains("`bad` is not a feature reference"), "{m}");
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0", "user_stats:nope", "nope_view:x"], "entities": {"user_id": [1]}}"#,
    )
    .await;
    let m = r.message();
    assert!(
        m.contains("unknown feature `user_stats:nope` (known: age, diagnosis, f0"),
        "{m}"
    );
    assert!(m.contains("unknown feature view `nope_view`"), "{m}");
    let r = post(
        &s,
        r#"{"feature_service": "nope", "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "unknown_feature_service");
    assert!(r.message().contains("known: ranker_v1"), "{}", r.text);
    let r = post(
        &s,
        r#"{"features": ["archive:old"], "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "view_not_online");
}

#[tokio::test]
async fn entity_keys_of_the_wrong_type_or_name() {
    let (s, _) = TestServer::embedded().await;
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1, "2"]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "wrong_key_type");
    assert!(
        r.message()
            .contains("join key `user_id` holds integer values, but entity 1 is the string \"2\""),
        "{}",
        r.text
    );
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1.5]}}"#,
    )
    .await;
    r.expect(422);
    assert!(r.message().contains("an integer or a string"), "{}", r.text);
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [null]}}"#,
    )
    .await;
    r.expect(422);
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"userid": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "unused_join_key");
    assert!(
        r.message().contains("requested views use: user_id"),
        "{}",
        r.text
    );
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0", "item_stats:popularity"], "entities": {"user_id": [1]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "missing_join_key");
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1, 2], "item_id": ["a"]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "ragged_entities");
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1, 2], "user_id": [3]}}"#,
    )
    .await;
    r.expect(422);
    assert_eq!(r.code(), "repeated_join_key");
    assert!(
        r.message()
            .starts_with("join key `user_id` is given twice (hint: "),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn limits_on_entities_and_body_size() {
    let (s, _) = TestServer::embedded_with(Options {
        access: AccessConfig {
            max_entities: 5,
            ..Options::default().access
        },
        limits: Limits {
            max_body_bytes: 2048,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let r = post(
        &s,
        r#"{"features": ["user_stats:f0"], "entities": {"user_id": [1,2,3,4,5,6]}}"#,
    )
    .await;
    r.expect(413);
    assert_eq!(r.code(), "too_many_entities");
    assert!(r.message().contains("at most 5"), "{}", r.text);
    let big = format!(
        r#"{{"features": ["user_stats:f0"], "entities": {{"user_id": [{}]}}}}"#,
        vec!["1"; 2000].join(",")
    );
    let r = post(&s, &big).await;
    r.expect(413);
    assert_eq!(r.code(), "body_too_large");
    // Without a Content-Length (chunked), the limit holds as well.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(Bytes::from(big.clone().into_bytes()))];
    let req = Request::builder()
        .method("POST")
        .uri("/get-online-features")
        .header("authorization", format!("Bearer {RANKER}"))
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    s.send(req).await.expect(413);
}

#[tokio::test]
async fn slow_clients_get_408() {
    let (s, _) = TestServer::embedded_with(Options {
        limits: Limits {
            body_read_timeout: Duration::from_millis(200),
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let (tx, body) = slow_body();
    let req = Request::builder()
        .method("POST")
        .uri("/get-online-features")
        .header("authorization", format!("Bearer {RANKER}"))
        .body(body)
        .unwrap();
    let r = s.send(req).await;
    drop(tx);
    r.expect(408);
    assert_eq!(r.code(), "body_timeout");
}

/// A body that sends a first chunk and then nothing until the sender is dropped.
fn slow_body() -> (tokio::sync::mpsc::Sender<()>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
    let first = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(
        b"{\"features\":",
    ))]);
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await;
        None::<(Result<Bytes, std::io::Error>, _)>
    });
    (
        tx,
        Body::from_stream(futures::StreamExt::chain(first, rest)),
    )
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let (s, _) = TestServer::embedded().await;
    let r = s.send(request("GET", "/nope", None, "", &[])).await;
    r.expect(404);
    assert!(
        r.message().contains("POST /get-online-features"),
        "{}",
        r.text
    );
    let r = s
        .send(request("GET", "/get-online-features", None, "", &[]))
        .await;
    r.expect(405);
    assert_eq!(r.code(), "method_not_allowed");
}

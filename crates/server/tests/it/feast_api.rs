//! `POST /get-online-features` in Feast's shape.

use serde_json::json;

use crate::fixtures::{rfc3339, TestServer, RANKER};

const EPOCH: &str = "1970-01-01T00:00:00Z";

#[tokio::test]
async fn answers_in_feasts_shape_with_every_status() {
    let (s, ts) = TestServer::embedded().await;
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:f0","user_stats:i0"],"entities":{"user_id":[1,2,3,99]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.headers["content-type"], "application/json");
    let fresh = rfc3339(ts);
    let old = rfc3339(ts - 10 * 86_400_000_000);
    assert_eq!(
        r.json,
        json!({
            "results": [
                {"values": [1, 2, 3, 99], "statuses": ["PRESENT", "PRESENT", "PRESENT", "PRESENT"],
                 "event_timestamps": [EPOCH, EPOCH, EPOCH, EPOCH]},
                {"values": [0.5, null, null, null],
                 "statuses": ["PRESENT", "OUTSIDE_MAX_AGE", "NULL_VALUE", "NOT_FOUND"],
                 "event_timestamps": [fresh, old, fresh, EPOCH]},
                {"values": [1, null, 3, null],
                 "statuses": ["PRESENT", "OUTSIDE_MAX_AGE", "PRESENT", "NOT_FOUND"],
                 "event_timestamps": [fresh, old, fresh, EPOCH]},
            ],
            "metadata": {"feature_names": ["user_id", "f0", "i0"]}
        })
    );
}

#[tokio::test]
async fn columns_come_back_in_request_order() {
    let (s, _) = TestServer::embedded().await;
    let feats = ["i0", "tags", "f0", "age", "seen_at"];
    let body = json!({
        "features": feats.iter().map(|f| format!("user_stats:{f}")).collect::<Vec<_>>(),
        "entities": {"user_id": [1]}
    });
    let r = s
        .post("/get-online-features", Some(RANKER), &body.to_string())
        .await;
    r.expect(200);
    let names: Vec<&str> = r.json["metadata"]["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, ["user_id", "i0", "tags", "f0", "age", "seen_at"]);
    let values: Vec<&serde_json::Value> = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["values"][0])
        .collect();
    assert_eq!(
        values,
        [
            &json!(1),
            &json!(1),
            &json!(["a", "b"]),
            &json!(0.5),
            &json!(31),
            &json!(EPOCH)
        ]
    );
}

#[tokio::test]
async fn full_feature_names_and_name_collisions() {
    let (s, _) = TestServer::embedded().await;
    let body = r#"{"features":["user_stats:f0","item_stats:f0"],"entities":{"user_id":[1],"item_id":["a7"]}}"#;
    let r = s.post("/get-online-features", Some(RANKER), body).await;
    r.expect(422);
    assert_eq!(r.code(), "feature_name_collision");
    assert!(r.message().contains("full feature names"), "{}", r.text);

    let body = r#"{"features":["user_stats:f0","item_stats:f0"],"entities":{"user_id":[1],"item_id":["a7"]},"full_feature_names":true}"#;
    let r = s.post("/get-online-features", Some(RANKER), body).await;
    r.expect(200);
    assert_eq!(
        r.json["metadata"]["feature_names"],
        json!(["user_id", "item_id", "user_stats__f0", "item_stats__f0"])
    );
    assert_eq!(r.json["results"][2]["values"], json!([0.5]));
    assert_eq!(r.json["results"][3]["values"], json!([1.5]));
}

#[tokio::test]
async fn feature_service_reads_several_views_with_its_purpose() {
    let (s, _) = TestServer::embedded().await;
    let body =
        r#"{"feature_service":"ranker_v1","entities":{"user_id":[1,2],"item_id":["a7","zz"]}}"#;
    let r = s.post("/get-online-features", Some(RANKER), body).await;
    r.expect(200);
    assert_eq!(
        r.json["metadata"]["feature_names"],
        json!(["user_id", "item_id", "f0", "age", "popularity"])
    );
    assert_eq!(r.json["results"][4]["values"], json!([0.9, null]));
    assert_eq!(
        r.json["results"][4]["statuses"],
        json!(["PRESENT", "NOT_FOUND"])
    );
    let audit = s.audit_records().await;
    let last = audit.last().unwrap();
    assert_eq!(last.purpose, "ranking");
    assert_eq!(
        last.features,
        ["user_stats:f0", "user_stats:age", "item_stats:popularity"]
    );
}

#[tokio::test]
async fn feast_sdk_extra_fields_are_accepted_and_view_wildcards_expand() {
    let (s, _) = TestServer::embedded().await;
    let body = r#"{"features":["item_stats:*"],"entities":{"item_id":["a7"]},"full_feature_names":false,"include_feature_view_version_metadata":false}"#;
    let r = s.post("/get-online-features", Some(RANKER), body).await;
    r.expect(200);
    assert_eq!(
        r.json["metadata"]["feature_names"],
        json!(["item_id", "popularity", "f0"])
    );
}

#[tokio::test]
async fn zero_entities_is_an_empty_answer() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:f0"],"entities":{"user_id":[]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["results"][1]["values"], json!([]));
}

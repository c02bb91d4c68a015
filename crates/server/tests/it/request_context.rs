//! Request-context fields for on-demand features over every read route: `POST /v1/features`
//! (`context`), `POST /get-online-features` (`context`, or `request_context`) and gRPC
//! `GetFeatures` (`context`). The fixture's `user_now:f0_boosted` is `f0 * boost +
//! hour_of_day`; user 1 has `f0 = 0.5`, user 3 a null `f0`.

use std::collections::HashMap;

use tessera_server::grpc::proto::{
    key_value, value, GetFeaturesRequest, KeyColumn, KeyValue, Value,
};
use tonic::Code;

use crate::fixtures::{TestServer, RANKER};

#[tokio::test]
async fn native_route_computes_on_demand_features_from_context() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_now:f0_boosted", "user_now:evening", "user_now:i0_plus_one"],
                "entities": {"user_id": [1, 3]}, "context": {"hour_of_day": 20, "boost": 3.0}}"#,
        )
        .await;
    r.expect(200);
    let f = &r.json["features"];
    assert_eq!(
        f[0]["values"],
        serde_json::json!([21.5, null]),
        "{}",
        r.text
    );
    assert_eq!(f[0]["statuses"], serde_json::json!(["present", "null"]));
    assert_eq!(f[1]["values"], serde_json::json!([true, true]));
    assert_eq!(f[2]["values"], serde_json::json!([2, 4]));
    // Another context, another value: nothing is cached across requests.
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_now:f0_boosted", "user_now:evening"], "entities": {"user_id": [1]},
                "context": {"hour_of_day": 7, "boost": 2}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["features"][0]["values"], serde_json::json!([8.0]));
    assert_eq!(r.json["features"][1]["values"], serde_json::json!([false]));
    // A missing field and a mistyped one are the caller's to fix.
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_now:f0_boosted"], "entities": {"user_id": [1]}, "context": {"boost": 1.0}}"#,
        )
        .await;
    r.expect(422);
    assert_eq!(r.code(), "missing_context", "{}", r.text);
    assert!(r.message().contains("hour_of_day"), "{}", r.text);
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_now:f0_boosted"], "entities": {"user_id": [1]}, "context": {"hour_of_day": "late", "boost": 1.0}}"#,
        )
        .await;
    r.expect(422);
    assert_eq!(r.code(), "bad_context", "{}", r.text);
    // A feature that reads no request field needs no context.
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["user_now:i0_plus_one"], "entities": {"user_id": [1]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["features"][0]["values"], serde_json::json!([2]));
}

#[tokio::test]
async fn feast_route_takes_context_too() {
    let (s, _) = TestServer::embedded().await;
    for field in ["context", "request_context"] {
        let body = format!(
            r#"{{"features": ["user_stats:f0", "user_now:f0_boosted"], "entities": {{"user_id": [1, 3]}},
                "full_feature_names": true, "{field}": {{"hour_of_day": 20, "boost": 3.0}}}}"#
        );
        let r = s.post("/get-online-features", Some(RANKER), &body).await;
        r.expect(200);
        assert_eq!(
            r.json["metadata"]["feature_names"],
            serde_json::json!(["user_id", "user_stats__f0", "user_now__f0_boosted"]),
            "{}",
            r.text
        );
        let col = &r.json["results"][2];
        assert_eq!(col["values"], serde_json::json!([21.5, null]), "{}", r.text);
        assert_eq!(
            col["statuses"],
            serde_json::json!(["PRESENT", "NULL_VALUE"])
        );
    }
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features": ["user_now:f0_boosted"], "entities": {"user_id": [1]}}"#,
        )
        .await;
    r.expect(422);
    assert_eq!(r.code(), "missing_context", "{}", r.text);
}

fn int_value(n: i64) -> Value {
    Value {
        kind: Some(value::Kind::Int64Value(n)),
    }
}

fn double_value(f: f64) -> Value {
    Value {
        kind: Some(value::Kind::DoubleValue(f)),
    }
}

#[tokio::test]
async fn grpc_takes_context() {
    let (s, _) = TestServer::embedded().await;
    let mut grpc = s.grpc().await;
    let client = &mut grpc.client;
    let read = |context: HashMap<String, Value>| {
        let mut r = tonic::Request::new(GetFeaturesRequest {
            features: vec!["user_now:f0_boosted".into(), "user_now:evening".into()],
            entities: vec![KeyColumn {
                name: "user_id".into(),
                values: vec![KeyValue {
                    kind: Some(key_value::Kind::Int64Value(1)),
                }],
            }],
            context,
            ..Default::default()
        });
        r.metadata_mut()
            .insert("authorization", format!("Bearer {RANKER}").parse().unwrap());
        r
    };
    let ctx = HashMap::from([
        ("hour_of_day".to_string(), int_value(20)),
        ("boost".to_string(), double_value(3.0)),
    ]);
    let r = client.get_features(read(ctx)).await.unwrap().into_inner();
    assert_eq!(r.features[0].feature, "user_now:f0_boosted");
    assert_eq!(r.features[0].values, vec![double_value(21.5)]);
    assert_eq!(
        r.features[1].values,
        vec![Value {
            kind: Some(value::Kind::BoolValue(true))
        }]
    );
    let e = client
        .get_features(read(HashMap::from([(
            "boost".to_string(),
            double_value(1.0),
        )])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("hour_of_day"), "{e:?}");
    grpc.stop().await;
}

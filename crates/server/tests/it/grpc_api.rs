//! The gRPC API over a real listener: same semantics as `/v1/features` and `/push`.

use tessera_server::grpc::proto::{
    key_value, value, Column, GetFeaturesRequest, KeyColumn, KeyValue, PushRequest, Value,
    ValueStatus,
};
use tonic::Code;

use crate::fixtures::{fresh_ts, TestServer, DASHBOARD, RANKER};

fn ints(name: &str, ids: &[i64]) -> KeyColumn {
    KeyColumn {
        name: name.into(),
        values: ids
            .iter()
            .map(|i| KeyValue {
                kind: Some(key_value::Kind::Int64Value(*i)),
            })
            .collect(),
    }
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn v(kind: value::Kind) -> Value {
    Value { kind: Some(kind) }
}

#[tokio::test]
async fn get_features_push_and_errors_over_grpc() {
    let (s, ts) = TestServer::embedded().await;
    let mut grpc = s.grpc().await;
    let client = &mut grpc.client;

    let read = GetFeaturesRequest {
        features: vec!["user_stats:i0".into(), "user_stats:f0".into()],
        entities: vec![ints("user_id", &[1, 2, 3, 9])],
        ..Default::default()
    };
    let r = client
        .get_features(with_token(read.clone(), RANKER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.consumer, "ranker");
    assert_eq!(r.purpose, "ranking");
    assert_eq!(r.features[0].feature, "user_stats:i0");
    assert_eq!(r.features[1].r#type, "float64");
    assert_eq!(r.features[1].values[0], v(value::Kind::DoubleValue(0.5)));
    let statuses: Vec<ValueStatus> = r.features[1]
        .statuses
        .iter()
        .map(|s| ValueStatus::try_from(*s).unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            ValueStatus::Present,
            ValueStatus::Expired,
            ValueStatus::NullValue,
            ValueStatus::Missing
        ]
    );
    assert_eq!(r.features[1].event_timestamps_us[0], ts);
    assert_eq!(r.features[1].event_timestamps_us[3], 0);

    // Errors map to gRPC codes with messages that say what to fix.
    let e = client.get_features(read.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut denied = with_token(
        GetFeaturesRequest {
            features: vec!["user_stats:age".into()],
            entities: vec![ints("user_id", &[1])],
            ..Default::default()
        },
        DASHBOARD,
    );
    denied
        .metadata_mut()
        .insert("x-tessera-purpose", "analytics".parse().unwrap());
    let e = client.get_features(denied).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message()
            .contains("user_stats:age: classified `personal`"),
        "{}",
        e.message()
    );
    let e = client
        .get_features(with_token(
            GetFeaturesRequest {
                features: vec!["user_stats:nope".into()],
                entities: vec![ints("user_id", &[1])],
                ..Default::default()
            },
            RANKER,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("unknown feature `user_stats:nope`"),
        "{}",
        e.message()
    );

    // Push, then read back.
    let t = fresh_ts() + 1_000_000;
    let push = PushRequest {
        feature_view_name: "item_stats".into(),
        columns: vec![
            Column {
                name: "item_id".into(),
                values: vec![v(value::Kind::StringValue("g1".into()))],
            },
            Column {
                name: "ts".into(),
                values: vec![v(value::Kind::TimestampUs(t))],
            },
            Column {
                name: "popularity".into(),
                values: vec![v(value::Kind::DoubleValue(0.125))],
            },
            Column {
                name: "f0".into(),
                values: vec![Value { kind: None }],
            },
        ],
        ..Default::default()
    };
    // `dashboard` may not write (no `writes:`); `ranker` may.
    let e = client
        .push(with_token(push.clone(), DASHBOARD))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{}", e.message());
    assert!(
        e.message().starts_with(
            "write_denied: consumer `dashboard` may not write to feature view `item_stats`"
        ),
        "{}",
        e.message()
    );
    let p = client
        .push(with_token(push, RANKER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.written, p.skipped), (1, 0));
    let r = client
        .get_features(with_token(
            GetFeaturesRequest {
                features: vec!["item_stats:popularity".into(), "item_stats:f0".into()],
                entities: vec![KeyColumn {
                    name: "item_id".into(),
                    values: vec![KeyValue {
                        kind: Some(key_value::Kind::StringValue("g1".into())),
                    }],
                }],
                ..Default::default()
            },
            RANKER,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.features[0].values[0], v(value::Kind::DoubleValue(0.125)));
    assert_eq!(r.features[1].statuses[0], ValueStatus::NullValue as i32);

    grpc.stop().await;
    let m = s.state.metrics.render(&s.state.access);
    assert!(
        m.contains("route=\"/tessera.serving.v1.FeatureService/GetFeatures\",status=\"200\"} 2"),
        "{m}"
    );
}

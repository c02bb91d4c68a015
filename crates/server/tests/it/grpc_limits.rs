//! Issue 14, guarantee 16: gRPC has the HTTP server's limits — the largest message, a bound
//! on connections, an idle timeout — and its own bad-input answers, audited.

use std::time::Duration;

use tessera_server::grpc::proto::feature_service_client::FeatureServiceClient;
use tessera_server::grpc::proto::{
    key_value, GetFeaturesRequest, KeyColumn, KeyValue, PushRequest,
};
use tessera_server::Limits;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;

use crate::fixtures::{Options, TestServer, RANKER};

fn with_token<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {RANKER}").parse().unwrap());
    r
}

fn read(ids: usize) -> GetFeaturesRequest {
    GetFeaturesRequest {
        features: vec!["user_stats:f0".into()],
        entities: vec![KeyColumn {
            name: "user_id".into(),
            values: (0..ids as i64)
                .map(|i| KeyValue {
                    kind: Some(key_value::Kind::Int64Value(i)),
                })
                .collect(),
        }],
        ..Default::default()
    }
}

async fn serve(
    limits: Limits,
) -> (
    TestServer,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let (s, _) = TestServer::embedded_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tessera_server::serve_grpc(
        listener,
        s.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    (s, addr, stop)
}

#[tokio::test]
async fn messages_over_the_limit_and_bad_input_are_refused_and_audited() {
    let (s, addr, stop) = serve(Limits {
        max_body_bytes: 1024,
        max_keys_per_request: 10,
        ..Limits::default()
    })
    .await;
    let mut client = FeatureServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = client
        .get_features(with_token(read(5_000)))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    // A small read works on the same server.
    client.get_features(with_token(read(2))).await.unwrap();
    // Bad input: no target, too many join keys.
    let err = client
        .push(with_token(PushRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("bad_push_target: "), "{err:?}");
    let mut many = read(1);
    many.entities = (0..20)
        .map(|i| KeyColumn {
            name: format!("k{i}"),
            values: vec![],
        })
        .collect();
    let err = client.get_features(with_token(many)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().starts_with("too_many_keys: "), "{err:?}");
    // Both refusals are audited, as is the read.
    let audit = s.audit_records().await;
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert!(
        audit[1].reasons[0].starts_with("422 bad_push_target"),
        "{audit:#?}"
    );
    assert!(
        audit[2].reasons[0].starts_with("413 too_many_keys"),
        "{audit:#?}"
    );
    stop.send(()).unwrap();
}

#[tokio::test]
async fn connections_are_bounded_and_idle_ones_closed() {
    let (_s, addr, stop) = serve(Limits {
        max_connections: 1,
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    // An idle connection holds the only slot, then is closed.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Meanwhile a second connection is closed at once.
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("the connection beyond the limit is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let closed = async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue, // the server's HTTP/2 preface
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the idle connection is closed");
    // The slot is free again.
    let mut client = FeatureServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client.get_features(with_token(read(1))).await.unwrap();
    stop.send(()).unwrap();
}

//! Issue 14, guarantee 16: gRPC has the HTTP server's limits — the largest message, a bound
//! on connections, an idle timeout, a bounded drain on shutdown — and its own bad-input
//! answers, audited.

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
    let (s, addr, stop, _) = serve_joined(limits).await;
    (s, addr, stop)
}

/// As [`serve`], with the server's task, which ends when the server has stopped.
async fn serve_joined(
    limits: Limits,
) -> (
    TestServer,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<tessera_server::Result<()>>,
) {
    let (s, _) = TestServer::embedded_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tessera_server::serve_grpc(
        listener,
        s.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    (s, addr, stop, task)
}

/// Opens a raw HTTP/2 connection and starts a `GetFeatures` call whose request stays open
/// (headers sent, body not yet): a call in flight for as long as the test likes.
async fn open_call(
    addr: std::net::SocketAddr,
) -> (
    h2::SendStream<axum::body::Bytes>,
    h2::client::ResponseFuture,
    tokio::task::JoinHandle<()>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{addr}/tessera.serving.v1.FeatureService/GetFeatures"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {RANKER}"))
        .body(())
        .unwrap();
    let (response, body) = client.send_request(request, false).unwrap();
    (body, response, driver)
}

/// A gRPC message frame: uncompressed, length-prefixed.
fn grpc_frame(msg: &impl prost::Message) -> axum::body::Bytes {
    let payload = msg.encode_to_vec();
    let mut frame = Vec::with_capacity(payload.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.into()
}

#[tokio::test]
async fn shutdown_drains_calls_in_flight_then_stops_within_the_drain_timeout() {
    let (_s, addr, stop, task) = serve_joined(Limits {
        drain_timeout: Duration::from_secs(2),
        ..Limits::default()
    })
    .await;
    // A call in flight when the shutdown begins finishes, answered in full.
    let (mut body, response, _driver) = open_call(addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are no longer served once the shutdown has begun.
    let refused = match TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(mut c) => {
            let mut buf = [0u8; 64];
            matches!(
                tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await,
                Ok(Ok(0) | Err(_)) | Err(_)
            )
        }
    };
    assert!(
        refused,
        "a connection opened during the drain is not served"
    );
    body.send_data(grpc_frame(&read(3)), true).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("the call in flight is answered during the drain")
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.unwrap();
        let _ = stream.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    let trailers = stream.trailers().await.unwrap().expect("grpc trailers");
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.to_str().unwrap()),
        Some("0"),
        "{trailers:?}"
    );
    assert!(got.len() > 5, "a response message arrived");
    // With nothing left in flight the server stops well before the drain timeout.
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_call_that_never_finishes_is_cut_at_the_drain_timeout() {
    let (_s, addr, stop, task) = serve_joined(Limits {
        drain_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let (_body, _response, _driver) = open_call(addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops at the drain timeout, not when the call ends")
        .unwrap()
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "the server waited for the call in flight"
    );
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

//! A test feature repository, data written straight into an online store, and helpers that
//! drive the router with `oneshot`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tessera_access::{AccessConfig, AccessLayer, ContentProvider, KeyType};
use tessera_audit::{AuditLog, AuditRecord, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};
use tessera_server::grpc::proto::feature_service_client::FeatureServiceClient;
use tessera_server::{app, AppState, Auth, Limits, Metrics, TokenTable};
use tower::ServiceExt;

pub(crate) const RANKER: &str = "ranker-token-0123456789abcdef";
pub(crate) const DASHBOARD: &str = "dashboard-token-0123456789abcdef";

pub(crate) const DEFINITIONS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: user_src, type: batch, path: data/users.parquet, timestamp_field: event_timestamp, created_timestamp_field: created }
  - { name: item_src, type: batch, path: data/items.parquet, timestamp_field: ts }
feature_views:
  - name: user_stats
    entities: [user]
    source: user_src
    ttl: 7d
    features:
      - { name: f0, type: float64, classification: internal }
      - { name: i0, type: int64, classification: internal }
      - { name: age, type: int64, classification: personal }
      - { name: diagnosis, type: string, classification: sensitive }
      - { name: tags, type: list<string>, classification: internal }
      - { name: seen_at, type: timestamp, classification: internal }
      - { name: on_device, type: float64, classification: internal, placement: device_only }
  - name: item_stats
    entities: [item]
    source: item_src
    ttl: 1d
    features:
      - { name: popularity, type: float64, classification: public }
      - { name: f0, type: float64, classification: public }
  - name: item_meta
    entities: [item]
    source: item_src
    provider: content
    features:
      - { name: title, type: string, classification: public }
      - { name: length_s, type: int64, classification: public }
  - name: archive
    entities: [user]
    source: user_src
    online: false
    features: [{ name: old, type: int64, classification: internal }]
purposes:
  - { name: ranking, allows: [public, internal, personal] }
  - { name: analytics, allows: [public, internal] }
  - { name: care, allows: [public, internal, personal, sensitive] }
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ranking, analytics], default_purpose: ranking, writes: [user_src, item_stats] }
  - { name: dashboard, token_env: DASHBOARD_TOKEN, purposes: [analytics] }
feature_services:
  - { name: ranker_v1, purpose: ranking, features: [user_stats:f0, user_stats:age, item_stats:popularity] }
on_demand_views:
  - name: user_now
    inputs: [user_stats:f0, user_stats:i0]
    request: [{ name: hour_of_day, type: int64 }, { name: boost, type: float64 }]
    features:
      - { name: f0_boosted, type: float64, expression: "f0 * boost + hour_of_day" }
      - { name: evening, type: bool, expression: "hour_of_day >= 18" }
      - { name: i0_plus_one, type: int64, expression: "i0 + 1" }
"#;

pub(crate) fn catalog() -> Catalog {
    Catalog::build(vec![Definitions::from_yaml_str(
        DEFINITIONS,
        "features.yaml".as_ref(),
    )
    .unwrap()])
    .unwrap()
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// The event time of fresh rows: an hour ago, on a whole second.
pub(crate) fn fresh_ts() -> i64 {
    (now_us() - HOUR_US) / 1_000_000 * 1_000_000
}

/// Rows every test starts from:
/// - user 1: fresh, every feature set;
/// - user 2: ten days old (expired under the 7d TTL);
/// - user 3: fresh, `f0` null;
/// - item "a7": fresh.
pub(crate) async fn seed(store: &dyn OnlineStore) -> i64 {
    let ts = fresh_ts();
    let names: Vec<String> = ["f0", "i0", "age", "diagnosis", "tags", "seen_at"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut b = WriteBatch::new("user_stats", names);
    let row = |f0: Value, i0: i64| {
        vec![
            f0,
            Value::Int64(i0),
            Value::Int64(30 + i0),
            Value::from("none"),
            Value::List(vec![Value::from("a"), Value::from("b")]),
            Value::Timestamp(0),
        ]
    };
    b.push(
        EntityKey::int("user_id", 1),
        Stamp::new(ts, ts),
        row(Value::Float64(0.5), 1),
    );
    b.push(
        EntityKey::int("user_id", 2),
        Stamp::new(ts - 10 * DAY_US, Stamp::NO_CREATED),
        row(Value::Float64(2.5), 2),
    );
    b.push(
        EntityKey::int("user_id", 3),
        Stamp::new(ts, ts),
        row(Value::Null, 3),
    );
    store.write(b).await.unwrap();
    let mut b = WriteBatch::new("item_stats", vec!["popularity".into(), "f0".into()]);
    b.push(
        EntityKey::string("item_id", "a7"),
        Stamp::new(ts, Stamp::NO_CREATED),
        vec![Value::Float64(0.9), Value::Float64(1.5)],
    );
    store.write(b).await.unwrap();
    ts
}

/// A server over a store, with everything it needs.
pub(crate) struct TestServer {
    pub router: Router,
    pub audit: Arc<AuditSink>,
    pub audit_log: AuditLog,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

pub(crate) struct Options {
    pub auth: Auth,
    pub access: AccessConfig,
    pub limits: Limits,
    /// The content provider's table (`provider: content` views), when the test has one.
    pub content: Option<Arc<dyn OnlineStore>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            auth: Auth::Bearer(Arc::new(
                TokenTable::new(vec![
                    (RANKER.into(), "ranker".into()),
                    (DASHBOARD.into(), "dashboard".into()),
                ])
                .unwrap(),
            )),
            access: AccessConfig {
                key_types: HashMap::from([
                    ("user_id".to_string(), KeyType::Int64),
                    ("item_id".to_string(), KeyType::String),
                ]),
                ..AccessConfig::default()
            },
            limits: Limits::default(),
            content: None,
        }
    }
}

/// `serve_grpc` over a test server's state on a loopback port, with a connected client.
pub(crate) struct GrpcServer {
    pub client: FeatureServiceClient<tonic::transport::Channel>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<tessera_server::Result<()>>,
}

impl GrpcServer {
    /// Shuts the server down and checks it stopped cleanly.
    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

impl TestServer {
    /// Starts the gRPC service over this server's state.
    pub(crate) async fn grpc(&self) -> GrpcServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tessera_server::serve_grpc(
            listener,
            self.state.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let client = FeatureServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        GrpcServer { client, stop, task }
    }

    /// A server over a fresh embedded store with the seed rows.
    pub(crate) async fn embedded() -> (Self, i64) {
        Self::embedded_with(Options::default()).await
    }

    pub(crate) async fn embedded_with(opts: Options) -> (Self, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
        let ts = seed(store.as_ref()).await;
        (Self::over(store, dir, opts), ts)
    }

    pub(crate) fn over(store: Arc<dyn OnlineStore>, dir: tempfile::TempDir, opts: Options) -> Self {
        let audit_log = AuditLog::new(&dir.path().join("audit"));
        let audit = Arc::new(
            AuditSink::spawn(
                audit_log.clone(),
                SinkConfig {
                    flush_interval: Duration::from_millis(1),
                    ..SinkConfig::default()
                },
            )
            .unwrap(),
        );
        let metrics = Arc::new(Metrics::new(store.name()));
        let catalog = Arc::new(catalog());
        let mut builder = AccessLayer::builder(catalog.clone(), audit.clone(), opts.access)
            .online_store(store)
            .observer(metrics.clone());
        if let Some(table) = opts.content {
            builder = builder.provider(Arc::new(ContentProvider::new(catalog, table)));
        }
        let access = builder.build();
        let state = AppState::new(Arc::new(access), opts.auth, opts.limits, metrics);
        Self {
            router: app(state.clone()),
            audit,
            audit_log,
            state,
            _dir: dir,
        }
    }

    /// Sends a request; returns the status, headers and body as JSON (`Null` when empty,
    /// a string when not JSON).
    pub(crate) async fn send(&self, req: Request<Body>) -> Response {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(text.clone()))
        };
        // The Feast routes answer errors as Feast's server does: a JSON string holding the
        // error object (see `feast_errors`); tests read the object.
        let json = match json {
            serde_json::Value::String(inner)
                if status.is_client_error() || status.is_server_error() =>
            {
                serde_json::from_str(&inner).unwrap_or(serde_json::Value::String(inner))
            }
            other => other,
        };
        Response {
            status,
            headers,
            json,
            text,
        }
    }

    /// `POST path` with a JSON body and, when given, a bearer token.
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Response {
        self.send(request("POST", path, token, body, &[])).await
    }

    /// Every audit record written so far.
    pub(crate) async fn audit_records(&self) -> Vec<AuditRecord> {
        self.audit.flush().await.unwrap();
        self.audit_log.tail(10_000).unwrap()
    }
}

pub(crate) fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
    pub text: String,
}

impl Response {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self
    }

    /// The error code of an error body.
    pub(crate) fn code(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// The message of an error body.
    pub(crate) fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

/// The RFC 3339 form of a µs timestamp, as the server writes it.
pub(crate) fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

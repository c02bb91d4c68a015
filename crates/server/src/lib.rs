//! Tessera's feature server: HTTP in front of the access layer.
//!
//! ```text
//!  client ──HTTP/1.1──► accept loop (connection limit, header timeout, graceful drain)
//!                          │
//!                          ▼
//!   track middleware (route × status counters, latency histograms, error log)
//!                          │
//!     ┌────────────────────┼─────────────────────────┬──────────────────┐
//!     ▼                    ▼                         ▼                  ▼
//!  POST /get-online-features  POST /push            POST /v1/features   GET /health
//!  (Feast 0.67 shape)         POST /write-to-online-store (native,      GET /metrics
//!                             (Feast 0.67 shape)    typed, versioned)   (Prometheus)
//!     │  bearer token → consumer (auth) · body read within size/time limits · JSON decoded
//!     ▼
//!  tessera_access::AccessLayer: resolve → policy gate → concurrent store reads → merge
//!  in request order with per-value status → buffered audit record
//! ```
//!
//! Feast's SDK works unchanged with `online_store: {type: remote, path: http://host:port}`
//! and `auth: {type: kubernetes, user_token: <token>}`; it sends no purpose, so the
//! consumer's `default_purpose` (or a feature service's purpose) applies. Unlike Feast, an
//! unknown feature is a 422 that names it, columns come back in request order, the TTL is
//! applied on read, concurrent pushes are safe, and every read is purpose-checked and audited.
//!
//! Every client mistake is a 4xx JSON error saying what to fix ([`ApiError`]); shutting down
//! (SIGTERM, Ctrl-C) drains in-flight requests and flushes the audit log ([`serve`]).
//!
//! The same reads and writes are offered over gRPC ([`grpc`], `tessera.serving.v1.FeatureService`
//! in `proto/`, compiled with protox at build time: no `protoc` needed), with the same
//! authentication, policy, audit and metrics; [`serve_grpc`] runs it on its own port.
//!
//! # Example
//! ```no_run
//! # async fn run(access: std::sync::Arc<tessera_access::AccessLayer>, metrics: std::sync::Arc<tessera_server::Metrics>) -> Result<(), tessera_server::Error> {
//! use tessera_server::{serve, shutdown_signal, AppState, Auth, Limits};
//! let state = AppState::new(access, Auth::None, Limits::default(), metrics);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:6566").await.unwrap();
//! serve(listener, state, shutdown_signal()).await
//! # }
//! ```

mod api_error;
mod auth;
mod body_decode;
mod config;
mod conn_guard;
mod erase_route;
mod error;
mod feast_read;
mod feast_write;
pub mod grpc;
mod grpc_serve;
mod hyper_errors;
mod json_body;
mod ldp_route;
mod ldp_sketches;
mod metrics;
mod native_consent;
mod native_push;
mod native_read;
mod purpose;
mod push_decode;
mod push_request;
mod read_body;
mod refusal_audit;
mod releases_route;
mod routes;
mod serve;
mod state;

pub use api_error::{error_chain, ApiError, ErrorDetail, FeastError};
pub use auth::{Auth, TokenTable, MIN_TOKEN_LEN};
pub use body_decode::{decode_request_body, DecodedBody, RequestBody};
pub use config::Limits;
pub use erase_route::{EraseKey, Eraser, ACTION_ERASE, MAX_ERASE_ENTITIES};
pub use error::{Error, Result};
pub use grpc::GrpcService;
pub use grpc_serve::serve_grpc;
pub use ldp_route::{ACTION_LDP_ESTIMATE, ACTION_LDP_REPORT, MAX_LDP_BATCH, MAX_LDP_CANDIDATES};
pub use ldp_sketches::{sketch_path, LdpSketches, LDP_DIR};
pub use metrics::{InFlight, Metrics, Route};
pub use purpose::PURPOSE_HEADER;
pub use releases_route::{ReleaseCall, ReleaseDone, ReleaseFailure, Releaser, ACTION_RELEASE};
pub use routes::app;
pub use serve::{flush_audit, serve, serve_http, shutdown_signal};
pub use state::AppState;

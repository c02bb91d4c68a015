//! Integration tests of the feature server: one binary, topical modules. The router is
//! driven with `tower::ServiceExt::oneshot` over a temporary embedded store (and a real
//! Redis in `redis_store`), except `lifecycle`, which uses a real listener.

#![allow(clippy::unwrap_used, missing_docs)]

mod audit_metrics;
mod auth_policy;
mod bad_input;
mod cohort_api;
mod connections;
mod consent_api;
mod content_view;
mod feast_api;
mod feast_errors;
mod fixtures;
mod fuzz_corpus;
mod grpc_api;
mod grpc_limits;
mod ldp_api;
mod lifecycle;
mod minimised_routes;
mod native_api;
mod push;
mod redis_store;
mod refusal_audit;
mod releases_api;
mod request_context;
mod server_limits;
mod stream_push;

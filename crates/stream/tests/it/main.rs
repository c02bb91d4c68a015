//! Integration tests of the stream engine: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod composite_keys;
mod errors;
mod ingest;
mod nats;
mod parity;

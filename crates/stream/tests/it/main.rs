//! Integration tests of the stream engine: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod ingest;
mod nats;
mod parity;

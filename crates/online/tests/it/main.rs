//! Integration tests of the online stores: one binary, topical modules.
//! The Redis tests use the server at `TESSERA_REDIS_URL` (default `redis://127.0.0.1:6379/0`)
//! under a key prefix unique to the test, and remove their keys afterwards.

#![allow(clippy::unwrap_used, missing_docs)]

mod conformance;
mod erasing_compaction;
mod retention;

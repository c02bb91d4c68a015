//! The integration tests of `tessera-ldp`: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod sketch_algebra;
mod statistics;
mod wire_format;

//! The integration tests of `tessera-dp`: one binary, one module per topic.

#![allow(clippy::unwrap_used, missing_docs)]

mod accountant;
mod release_variance;
mod releases;
mod samplers;

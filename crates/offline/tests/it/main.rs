//! Integration tests of the offline engine: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod bad_input;
mod differential;
mod fixtures;
mod movielens;
mod plans;
mod reference;
mod shapes;
mod spine_roundtrip;
mod windows;

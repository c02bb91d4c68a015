//! Integration tests of the expression language: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod checking;
mod semantics;

//! Integration tests of the consent log: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod append_new;

//! Integration tests of the access layer: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod entity_digests;
mod fixtures;
mod minimised_reads;
mod providers;
mod read_path;
mod write_path;

//! Integration tests of `tessera-aggregate`: one binary, one module per topic.
//!
//! The properties are the crate's promises: order and merge-tree independence,
//! encodings that round-trip and never panic on damage, sketch error bounds, and
//! parity of the batch path, the tiled (stream) path and a brute-force reference.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod ddsketch_accuracy;
mod encoding_robustness;
mod filter_fuzz;
mod hll_accuracy;
mod merge_order;
mod window_parity;

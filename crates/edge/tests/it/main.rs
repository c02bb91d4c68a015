//! Integration tests of the device runtime: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod aggregation_parity;
mod cloud_statuses;
mod erase;
mod fixtures;
mod ldp_report;
mod local_store;
mod minimised_device;
mod remote_cache;
mod retention;
mod test_server;
mod wire_capture;

//! Integration tests of the device runtime: one binary, topical modules.

mod aggregation_parity;
mod fixtures;
mod local_store;
mod remote_cache;
mod test_server;
mod wire_capture;

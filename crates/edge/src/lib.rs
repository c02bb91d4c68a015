//! Tessera's device runtime (placeholder docs, replaced below).

pub mod cli;
mod clock;
mod cloud_cache;
mod cloud_client;
mod cloud_request;
mod cloud_response;
mod column;
mod device;
mod device_config;
mod device_definitions;
mod device_values;
mod entity_keys;
mod error;
mod event;
mod local_store;
mod remote;

pub use cloud_request::{CloudFeature, CloudRequest};
pub use column::Status;
pub use device::{Device, RequestContext};
pub use device_config::DeviceConfig;
pub use device_definitions::{catalog_from_repo, catalog_from_yaml};
pub use device_values::{DeviceValue, DeviceValues};
pub use error::{Error, Result};
pub use event::{Event, EventValue};
pub use local_store::LocalStore;

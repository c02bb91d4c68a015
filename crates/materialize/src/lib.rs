//! Materialisation: copy the latest row per entity of a feature view, for a range of event
//! times, from the offline engine (`tessera-offline`'s `LatestScan`) into an online store
//! (`tessera-online`'s `OnlineStore`); aggregation views get their per-entity states.
//! This crate sits above both, so the online store (and everything that serves from it:
//! the access layer, the server, the device) does not depend on DataFusion.
//! See [`materialize_view`] for the guarantees (idempotent, never regresses, resumable).

mod error;
mod materialize;

pub use error::{Error, Result};
pub use materialize::{
    materialize_view, MaterializeProgress, MaterializeReport, MaterializeRequest,
    NoMaterializeProgress, Stage, DEFAULT_BATCH_ROWS,
};

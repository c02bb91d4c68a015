//! Erasure of entities from every tier Tessera manages (`tessera erase`); see
//! `docs/ERASURE.md`. A journal makes it crash-safe and idempotent ([`journal`]); each tier
//! is one function of [`tiers`]; [`byte_scan`] proves the result at the byte level.

pub(crate) mod byte_scan;
pub(crate) mod journal;
pub(crate) mod live;
pub(crate) mod report;
pub(crate) mod subject;
pub(crate) mod tiers;
pub(crate) mod tombstone_store;
pub(crate) mod tombstones;

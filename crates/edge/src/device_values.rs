//! [`DeviceValues`]: the answer to a device read. It deliberately does not implement
//! `Serialize`: device-only values stay in the app's memory unless the app itself copies
//! them out.

use std::sync::Arc;

use tessera_access::ReadPlan;
use tessera_core::FeatureRef;
use tessera_online::Value;

use tessera_access::{FeatureColumn as Column, ValueStatus as Status};

/// One column per feature, in request order; one value, status and event time per entity.
#[derive(Debug, Clone)]
pub struct DeviceValues {
    pub(crate) plan: Arc<ReadPlan>,
    pub(crate) columns: Vec<Column>,
    pub(crate) entities: usize,
}

/// One value of a [`DeviceValues`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceValue<'a> {
    /// The value ([`Value::Null`] unless the status is present or stale).
    pub value: &'a Value,
    /// Its status.
    pub status: Status,
    /// Its event time, µs since the epoch, when known.
    pub event_ts: Option<i64>,
}

impl DeviceValues {
    /// The features, resolved (`view:*` expanded), in request order.
    pub fn features(&self) -> &[FeatureRef] {
        self.plan.features()
    }

    /// The kind of provider that answered each feature, aligned with
    /// [`DeviceValues::features`] (`device`, `remote`, `on_demand` on a device).
    pub fn providers(&self) -> &[tessera_access::ProviderKind] {
        self.plan.providers()
    }

    /// The number of entities.
    pub fn entities(&self) -> usize {
        self.entities
    }

    /// The value of `feature` (`view:feature`) for entity `entity`, if both exist.
    pub fn get(&self, feature: &str, entity: usize) -> Option<DeviceValue<'_>> {
        let (view, name) = feature.split_once(':')?;
        let i = self
            .features()
            .iter()
            .position(|f| f.view == view && f.feature == name)?;
        self.at(i, entity)
    }

    /// The value of the `i`-th feature for entity `entity`.
    pub fn at(&self, i: usize, entity: usize) -> Option<DeviceValue<'_>> {
        let c = self.columns.get(i)?;
        Some(DeviceValue {
            value: c.values.get(entity)?,
            status: *c.statuses.get(entity)?,
            event_ts: *c.event_ts.get(entity)?,
        })
    }

    /// The statuses of one feature, per entity.
    pub fn statuses(&self, i: usize) -> &[Status] {
        self.columns.get(i).map_or(&[], |c| c.statuses.as_slice())
    }
}

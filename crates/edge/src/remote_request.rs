//! What the device may ask of the cloud. This is where `device_only` is enforced by types:
//!
//! - a [`RemoteFeature`] can only be made, by [`RemoteFeature::new`], from a feature the
//!   catalog places in the `cloud` (over a source that is not `type: device`);
//! - the wire request, [`RemoteRequest`], holds only `RemoteFeature`s, the join-key values of
//!   their views, and the purpose. It has no field for request context or for any value, so
//!   nothing the device recorded can be put into it;
//! - values read from the local store are [`tessera_online::Value`]s inside
//!   [`crate::DeviceValues`], neither of which implements `Serialize`.
//!
//! The wire-capture test (`tests/it/wire_capture.rs`) checks the bytes that actually cross
//! the network against a real `tessera serve`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::ser::Serializer;
use serde::Serialize;
use tessera_access::wire::{KeyColumns, NativeReadRequest};
use tessera_access::EntityRows;
use tessera_core::{Catalog, FeatureRef, Placement, SourceType};

use crate::error::{Error, Result};

/// A feature the cloud answers. Only [`RemoteFeature::new`] makes one, and it refuses every
/// feature that is not placed in the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteFeature {
    feature: Arc<FeatureRef>,
    join_keys: Arc<[Arc<str>]>,
}

impl RemoteFeature {
    /// The cloud feature `r`: it must resolve, not be placed `device_only`, and live in a
    /// view whose source is not `type: device`; otherwise [`Error::NotCloud`] (or the
    /// resolution error).
    pub fn new(catalog: &Catalog, r: &FeatureRef) -> Result<Self> {
        let resolved = catalog.feature(r).map_err(Error::Definitions)?;
        let on_device = catalog
            .source_of(resolved.view)
            .is_ok_and(|s| s.source_type == SourceType::Device);
        // `device` features of cloud views may be read from the cloud (they may leave the
        // device); `device_only` ones and anything over a device source may not.
        if resolved.feature.placement == Placement::DeviceOnly || on_device {
            return Err(Error::NotCloud {
                feature: r.to_string(),
                placement: if on_device && resolved.feature.placement == Placement::Cloud {
                    Placement::Device
                } else {
                    resolved.feature.placement
                },
            });
        }
        Ok(Self {
            feature: Arc::new(r.clone()),
            join_keys: catalog
                .join_keys(resolved.view)
                .into_iter()
                .map(|k| Arc::from(k.as_str()))
                .collect(),
        })
    }

    /// The reference.
    pub fn feature_ref(&self) -> &FeatureRef {
        &self.feature
    }

    /// The join keys of its view.
    pub(crate) fn join_keys(&self) -> &[Arc<str>] {
        &self.join_keys
    }
}

impl Serialize for RemoteFeature {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.feature)
    }
}

/// The body of one `POST /v1/features` from the device: cloud features, the join keys
/// their views need (and no other), the purpose. Nothing else can be put in: the wire body
/// (the server's own [`NativeReadRequest`]) is built here, from those three, and its
/// `context` is never set.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRequest {
    features: Vec<RemoteFeature>,
    body: NativeReadRequest,
}

impl RemoteRequest {
    /// A request for `features` of the entities `rows` (indices into `entities`).
    pub(crate) fn new(
        features: Vec<RemoteFeature>,
        entities: &EntityRows,
        rows: &[usize],
        purpose: &str,
    ) -> Result<Self> {
        let needed: BTreeSet<&str> = features
            .iter()
            .flat_map(|f| f.join_keys.iter().map(|k| k.as_ref()))
            .collect();
        let mut cols = Vec::with_capacity(needed.len());
        for key in needed {
            let (_, values) = entities
                .columns()
                .find(|(name, _)| *name == key)
                .ok_or_else(|| Error::BadInput {
                    message: format!(
                        "the cloud features need join key `{key}`, which the read does not give"
                    ),
                    hint: format!("add `{key}` to the entity keys"),
                })?;
            let picked = rows
                .iter()
                .map(|&i| {
                    values.get(i).cloned().ok_or_else(|| Error::BadInput {
                        message: format!("entity {i} has no `{key}`"),
                        hint: "give every join key for every entity".into(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            cols.push((key.to_string(), picked));
        }
        let body = NativeReadRequest {
            features: Some(features.iter().map(|f| f.feature.to_string()).collect()),
            entities: Some(KeyColumns(cols)),
            purpose: Some(purpose.to_string()),
            ..NativeReadRequest::default()
        };
        Ok(Self { features, body })
    }

    /// The features asked for.
    pub fn features(&self) -> &[RemoteFeature] {
        &self.features
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.body).map_err(|e| Error::Remote {
            message: format!("cannot encode the request: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_online::KeyValue;

    const YAML: &str = r#"
entities: [{ name: user, join_keys: [user_id] }, { name: session, join_keys: [session_id] }]
sources:
  - { name: s, type: batch, path: s.csv, timestamp_field: ts }
  - { name: d, type: device, timestamp_field: ts, device: { schema: { session_id: string, user_id: int64 } } }
feature_views:
  - name: cloud
    entities: [user]
    source: s
    features:
      - { name: a, type: int64, classification: internal }
      - { name: home, type: string, classification: sensitive, placement: device_only }
      - { name: country, type: string, classification: internal, placement: device }
  - name: local
    entities: [session]
    source: d
    aggregations: [{ function: count, windows: [1h], placement: device, classification: internal }]
purposes: [{ name: p, allows: [internal, sensitive] }]
"#;

    #[test]
    fn only_cloud_features_and_their_keys_go_out() {
        let c = crate::catalog_from_yaml(YAML).unwrap();
        let f = |s: &str| FeatureRef::parse(s).unwrap();
        let err = RemoteFeature::new(&c, &f("cloud:home"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("placed `device_only`"), "{err}");
        // Over a device source: never asked of the cloud, whatever its placement.
        let err = RemoteFeature::new(&c, &f("local:count_1h"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cloud:") || err.contains("local:count_1h"),
            "{err}"
        );
        assert!(RemoteFeature::new(&c, &f("cloud:nope")).is_err());
        let a = RemoteFeature::new(&c, &f("cloud:a")).unwrap();
        let country = RemoteFeature::new(&c, &f("cloud:country")).unwrap();
        let rows = EntityRows::new(vec![
            (
                "session_id".into(),
                vec![KeyValue::from("s-secret-1"), KeyValue::from("s-secret-2")],
            ),
            (
                "user_id".into(),
                vec![KeyValue::Int64(7), KeyValue::Int64(8)],
            ),
        ])
        .unwrap();
        let req = RemoteRequest::new(vec![a, country], &rows, &[1], "p").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&req.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"features": ["cloud:a", "cloud:country"], "entities": {"user_id": [8]}, "purpose": "p"})
        );
    }
}

//! `type: device` sources: signals that exist only on the device (recent plays, session
//! context, locale, network type …). The device runtime (`tessera-edge`) records their
//! events into its local store and computes the views over them there, with the same
//! window aggregations as the cloud; no cloud process reads or stores them.
//!
//! ```yaml
//! sources:
//!   - name: device_plays
//!     type: device
//!     timestamp_field: ts
//!     device: { schema: { user_id: int64, item_id: int64, dwell_s: int64, action: string } }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classification::Placement;
use crate::definitions::{FeatureViewDef, SourceDef, SourceType};
use crate::feature_type::FeatureType;

/// The extra settings of a `type: device` source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDef {
    /// Column → type of the events (besides the timestamp, which is `timestamp`).
    pub schema: BTreeMap<String, FeatureType>,
}

/// Problems with a source's device settings, as (message, hint).
pub(crate) fn check_device_source(s: &SourceDef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |m: String, h: &str| out.push((m, h.to_string()));
    if s.source_type == SourceType::Device && !s.path.is_empty() {
        bad(
            format!("is `type: device` but has `path: {}`", s.path),
            "device signals never reach files in the cloud; remove `path`",
        );
    }
    match (s.source_type, &s.device) {
        (SourceType::Device, None) => bad(
            "is `type: device` but has no `device:` settings".into(),
            "add `device: { schema: { user_id: int64, ... } }` (the signal columns and their types)",
        ),
        (SourceType::Device, Some(d)) => {
            if s.stream.is_some() {
                bad(
                    "is `type: device` but has `stream:` settings".into(),
                    "remove `stream:` (a device source is fed by the device runtime)",
                );
            }
            if d.schema.is_empty() {
                bad(
                    "has an empty `device.schema`".into(),
                    "list the signal columns and their types, e.g. `schema: { user_id: int64, locale: string }`",
                );
            }
            if let Some(t) = d.schema.get(&s.timestamp_field) {
                if *t != FeatureType::Timestamp {
                    bad(
                        format!(
                            "declares the timestamp column `{}` as {t} in `device.schema`",
                            s.timestamp_field
                        ),
                        "leave it out of the schema (it is always a timestamp) or declare it `timestamp`",
                    );
                }
            }
            for (col, t) in &d.schema {
                if matches!(t, FeatureType::Bytes | FeatureType::List(_)) {
                    bad(
                        format!("device column `{col}` has type {t}"),
                        "device events carry scalars: int64, int32, float64, float32, bool, string, timestamp",
                    );
                }
            }
        }
        (_, Some(_)) => bad(
            format!(
                "has `device:` settings but `type: {}`",
                match s.source_type {
                    SourceType::Batch => "batch",
                    _ => "stream",
                }
            ),
            "set `type: device`, or remove `device:`",
        ),
        (_, None) => {}
    }
    out
}

/// Problems with a view over a `type: device` source, as (message, hint): its values exist
/// only on the device, so every feature must be placed `device` or `device_only`, and every
/// projected feature must read a declared column.
pub(crate) fn check_device_view(view: &FeatureViewDef, s: &SourceDef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(d) = &s.device else {
        return out;
    };
    for f in &view.features {
        if f.placement == Placement::Cloud {
            out.push((
                format!(
                    "feature `{}` is placed `cloud`, but its source `{}` is `type: device`",
                    f.name, s.name
                ),
                "add `placement: device_only` (never leaves the device) or `placement: device` to the feature or aggregation".into(),
            ));
        }
        if f.derived.is_some() {
            continue;
        }
        match d.schema.get(f.source_column()) {
            None if f.source_column() != s.timestamp_field => out.push((
                format!(
                    "feature `{}` reads column `{}`, which device source `{}` does not declare",
                    f.name,
                    f.source_column(),
                    s.name
                ),
                format!(
                    "add it to the source's `device.schema` (declared: {})",
                    d.schema.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
            Some(t) if t != &f.dtype && !(widens(t, &f.dtype)) => out.push((
                format!(
                    "feature `{}` is declared {} but device column `{}` is {t}",
                    f.name,
                    f.dtype,
                    f.source_column()
                ),
                "declare the feature with the column's type".into(),
            )),
            _ => {}
        }
    }
    out
}

/// Whether a column of type `from` feeds a feature of type `to` without loss.
fn widens(from: &FeatureType, to: &FeatureType) -> bool {
    matches!(
        (from, to),
        (FeatureType::Int32, FeatureType::Int64) | (FeatureType::Float32, FeatureType::Float64)
    )
}

#[cfg(test)]
mod tests {
    use crate::{Catalog, Definitions, Placement};
    use std::path::Path;

    const DEVICE: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - name: plays
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, dwell_s: int64, action: string, locale: string } }
feature_views:
  - name: recent
    entities: [user]
    source: plays
    aggregations:
      - { function: count, windows: [1h], placement: device_only }
      - { column: dwell_s, function: sum, windows: [1d], placement: device }
  - name: context
    entities: [user]
    source: plays
    features: [{ name: locale, type: string, classification: personal, placement: device_only }]
"#;

    fn build(yaml: &str) -> Result<Catalog, String> {
        let defs =
            Definitions::from_yaml_str(yaml, Path::new("d.yaml")).map_err(|e| e.to_string())?;
        Catalog::build(vec![defs]).map_err(|e| e.to_string())
    }

    #[test]
    fn device_sources_and_views_validate() {
        let c = build(DEVICE).unwrap();
        let v = c.view("recent").unwrap();
        assert_eq!(v.features[0].placement, Placement::DeviceOnly);
        assert!(
            c.view_spec(v).unwrap().is_some(),
            "typed from the device schema"
        );
        let yaml = serde_yaml::to_string(&c.definitions()).unwrap();
        assert!(!yaml.contains("path"), "no empty path written: {yaml}");
    }

    #[test]
    fn device_mistakes_are_named() {
        let cloud = DEVICE.replace(", placement: device }", " }");
        let err = build(&cloud).unwrap_err();
        assert!(
            err.contains("is placed `cloud`, but its source `plays` is `type: device`"),
            "{err}"
        );
        let no_schema = DEVICE.replace(
            "device: { schema: { user_id: int64, dwell_s: int64, action: string, locale: string } }",
            "path: x.parquet",
        );
        let err = build(&no_schema).unwrap_err();
        assert!(err.contains("has no `device:` settings"), "{err}");
        assert!(err.contains("has `path: x.parquet`"), "{err}");
        let undeclared = DEVICE.replace("locale: string } }", "lang: string } }");
        let err = build(&undeclared).unwrap_err();
        assert!(
            err.contains("reads column `locale`, which device source `plays` does not declare"),
            "{err}"
        );
        let batch = DEVICE.replace("type: device", "type: batch\n    path: p.parquet");
        let err = build(&batch).unwrap_err();
        assert!(
            err.contains("has `device:` settings but `type: batch`"),
            "{err}"
        );
    }
}

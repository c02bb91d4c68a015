//! [`TransformList`]: the minimising transform of each minimised feature of an audit record,
//! shared rather than copied — a cached read plan hands every record the same map, an `Arc`
//! clone, instead of two `String`s per feature.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `view:feature` → transform (`bucketize[18,25,35,50,65]`); reads as a `BTreeMap`, written
/// and read as a JSON object.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TransformList(Arc<BTreeMap<String, String>>);

impl TransformList {
    /// The map.
    pub fn new(transforms: Arc<BTreeMap<String, String>>) -> Self {
        Self(transforms)
    }

    /// Whether no feature was minimised.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for TransformList {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl fmt::Debug for TransformList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<BTreeMap<String, String>> for TransformList {
    fn from(m: BTreeMap<String, String>) -> Self {
        Self(Arc::new(m))
    }
}

impl Serialize for TransformList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TransformList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditRecord;

    #[test]
    fn left_out_when_empty_and_round_trips() {
        let mut rec = AuditRecord::now("online_read", "c", "p");
        let json = serde_json::to_string(&rec).unwrap();
        assert!(!json.contains("transforms"), "{json}");
        rec.transforms =
            BTreeMap::from([("v:age".to_string(), "bucketize[18]".to_string())]).into();
        let json = serde_json::to_string(&rec).unwrap();
        assert!(
            json.contains(r#""transforms":{"v:age":"bucketize[18]"}"#),
            "{json}"
        );
        let back: AuditRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.transforms["v:age"], "bucketize[18]");
        let old: AuditRecord =
            serde_json::from_str(&json.replace(r#""transforms":{"v:age":"bucketize[18]"},"#, ""))
                .unwrap();
        assert!(old.transforms.is_empty());
    }
}

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A reference to one feature: `view:feature`, as in Feast.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureRef {
    /// The feature view.
    pub view: String,
    /// The feature within the view.
    pub feature: String,
}

impl FeatureRef {
    /// Builds a reference from its parts.
    pub fn new(view: impl Into<String>, feature: impl Into<String>) -> Self {
        Self {
            view: view.into(),
            feature: feature.into(),
        }
    }

    /// Parses `view:feature`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason| Error::BadFeatureRef {
            text: text.to_string(),
            reason,
        };
        let t = text.trim();
        let (view, feature) = t.split_once(':').ok_or_else(|| bad("it has no `:`"))?;
        if view.is_empty() {
            return Err(bad("the view name is empty"));
        }
        if feature.is_empty() {
            return Err(bad("the feature name is empty"));
        }
        if feature.contains(':') {
            return Err(bad("it has more than one `:`"));
        }
        Ok(Self::new(view, feature))
    }

    /// Parses a comma-separated list of references.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }

    /// The output column name in training sets: `view__feature`.
    pub fn column_name(&self) -> String {
        format!("{}__{}", self.view, self.feature)
    }
}

impl fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.view, self.feature)
    }
}

impl Serialize for FeatureRef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FeatureRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FeatureRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        let r = FeatureRef::parse("user_stats:f0").unwrap();
        assert_eq!(r, FeatureRef::new("user_stats", "f0"));
        assert_eq!(FeatureRef::parse(&r.to_string()).unwrap(), r);
        assert_eq!(r.column_name(), "user_stats__f0");
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["f0", ":f0", "v:", "a:b:c", ""] {
            assert!(FeatureRef::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(FeatureRef::parse_list("a:b, c:d,").unwrap().len(), 2);
    }
}

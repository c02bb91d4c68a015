//! [`FeatureList`]: the features of an audit record, shared rather than copied — a reader
//! that audits the same feature list on every request (a cached read plan) hands the
//! record the plan's list, an `Arc` clone, instead of a `String` per feature.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The features of an audit record (`view:feature`), in order; reads as a `[String]`,
/// written and read as a JSON array of strings.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FeatureList(Arc<[String]>);

impl FeatureList {
    /// The list.
    pub fn new(features: Arc<[String]>) -> Self {
        Self(features)
    }
}

impl Deref for FeatureList {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for FeatureList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl From<Vec<String>> for FeatureList {
    fn from(v: Vec<String>) -> Self {
        Self(v.into())
    }
}

impl From<Arc<[String]>> for FeatureList {
    fn from(v: Arc<[String]>) -> Self {
        Self(v)
    }
}

impl FromIterator<String> for FeatureList {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T, const N: usize> PartialEq<[T; N]> for FeatureList
where
    String: PartialEq<T>,
{
    fn eq(&self, other: &[T; N]) -> bool {
        self.0.len() == N && self.0.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl<T> PartialEq<Vec<T>> for FeatureList
where
    String: PartialEq<T>,
{
    fn eq(&self, other: &Vec<T>) -> bool {
        self.0.len() == other.len() && self.0.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl Serialize for FeatureList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FeatureList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_compares_and_round_trips_as_a_list() {
        let shared: Arc<[String]> = vec!["v:a".to_string(), "v:b".to_string()].into();
        let list = FeatureList::new(shared.clone());
        assert!(Arc::ptr_eq(&list.0, &shared), "no copy");
        assert_eq!(list, ["v:a", "v:b"]);
        assert_eq!(list, vec!["v:a".to_string(), "v:b".to_string()]);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["v:a","v:b"]"#);
        let back: FeatureList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
        assert_eq!(back.join(","), "v:a,v:b");
    }
}

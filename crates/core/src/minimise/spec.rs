//! [`MinimiseSpec`]: one `minimise` entry as written in YAML.

use serde::{Deserialize, Serialize};

/// One minimisation entry as written: exactly one transform (`keep` comes with its
/// optional `other`). Checked by [`Transform::from_spec`](crate::Transform::from_spec)
/// when the catalog is built, so every problem is reported with file, object and hint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimiseSpec {
    /// Strictly increasing boundaries: numbers become labels `"<18"`, `"18-25"`, `">=65"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketize: Option<Vec<f64>>,
    /// A duration (`1h`, `1d`): timestamps are truncated to that UTC period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coarsen: Option<String>,
    /// Keep the first N characters of a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<u64>,
    /// Round to the nearest multiple of this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<f64>,
    /// `[lo, hi]`: values below `lo` become `lo`, above `hi` become `hi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<Vec<f64>>,
    /// The values kept as they are; any other becomes `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
    /// What `keep` turns every other value into (default `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// A keyed hash of the value under the key in an environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonymise: Option<PseudonymiseSpec>,
}

/// `pseudonymise: { key_env: VAR }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PseudonymiseSpec {
    /// The environment variable holding the key (use one key per purpose).
    pub key_env: String,
}

impl MinimiseSpec {
    /// The names of the transforms this entry sets (`other` is part of `keep`).
    pub fn named(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                out.push(name);
            }
        };
        add(self.bucketize.is_some(), "bucketize");
        add(self.coarsen.is_some(), "coarsen");
        add(self.truncate.is_some(), "truncate");
        add(self.round.is_some(), "round");
        add(self.clip.is_some(), "clip");
        add(self.keep.is_some(), "keep");
        add(self.pseudonymise.is_some(), "pseudonymise");
        out
    }
}

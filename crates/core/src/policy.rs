//! The policy model: which (consumer, purpose) may read which features.
//!
//! A purpose allows a set of classifications; a consumer holds a set of purposes; a feature
//! placed `device_only` never leaves the device. [`Catalog::check_access`] applies these
//! rules to one read and returns a [`Decision`] that names every refused feature.
//!
//! A purpose reads a classification it does not allow only through its own `minimise`
//! entry for the feature; [`Catalog::planned_form`] gives each allowed feature's effective
//! form (raw or a minimising transform), which every reader applies after fetching.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::classification::{Classification, Placement};
use crate::feature_ref::FeatureRef;

/// The outcome of a policy check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "refusals", rename_all = "snake_case")]
pub enum Decision {
    /// Every feature may be read.
    Allow,
    /// Nothing is returned; each refusal names a feature (or the request) and why.
    Deny(Vec<Refusal>),
}

impl Decision {
    /// Whether the read is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// One reason a read is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The refused feature, or `None` when the whole request is refused.
    pub feature: Option<FeatureRef>,
    /// Why.
    pub reason: RefusalReason,
}

/// Why a read is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefusalReason {
    /// The purpose does not allow the feature's classification.
    ClassificationNotAllowed {
        /// The feature's classification.
        classification: Classification,
        /// The purpose named by the request.
        purpose: String,
    },
    /// The consumer does not hold the purpose.
    PurposeNotHeld {
        /// The consumer.
        consumer: String,
        /// The purpose named by the request.
        purpose: String,
    },
    /// The purpose is not declared.
    UnknownPurpose {
        /// The purpose named by the request.
        purpose: String,
    },
    /// The feature is `device_only` and the read would take it off the device.
    DeviceOnly,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(feat) = &self.feature {
            write!(f, "{feat}: ")?;
        }
        match &self.reason {
            RefusalReason::ClassificationNotAllowed {
                classification,
                purpose,
            } => write!(
                f,
                "classified `{classification}`, which purpose `{purpose}` does not allow"
            ),
            RefusalReason::PurposeNotHeld { consumer, purpose } => {
                write!(f, "consumer `{consumer}` does not hold purpose `{purpose}`")
            }
            RefusalReason::UnknownPurpose { purpose } => write!(f, "unknown purpose `{purpose}`"),
            RefusalReason::DeviceOnly => {
                f.write_str("placed `device_only`: its values never leave the device")
            }
        }
    }
}

/// Where the values of a read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadChannel {
    /// Into a training set or another offline output.
    Offline,
    /// Over the network to a caller.
    Network,
    /// Stays on the device that holds it.
    Device,
}

impl Catalog {
    /// Checks one read. `consumer` is `None` for a local, unauthenticated user (the CLI);
    /// a named consumer must hold the purpose. Every refused feature is listed.
    pub fn check_access(
        &self,
        consumer: Option<&str>,
        purpose: &str,
        features: &[FeatureRef],
        channel: ReadChannel,
    ) -> Decision {
        let Some(p) = self.purposes.get(purpose) else {
            return Decision::Deny(vec![Refusal {
                feature: None,
                reason: RefusalReason::UnknownPurpose {
                    purpose: purpose.to_string(),
                },
            }]);
        };
        let mut refusals = Vec::new();
        if let Some(name) = consumer {
            let held = self
                .consumers
                .get(name)
                .is_some_and(|c| c.purposes.iter().any(|x| x == purpose));
            if !held {
                refusals.push(Refusal {
                    feature: None,
                    reason: RefusalReason::PurposeNotHeld {
                        consumer: name.to_string(),
                        purpose: purpose.to_string(),
                    },
                });
            }
        }
        for r in features {
            let Ok(resolved) = self.feature(r) else {
                continue; // unknown features are an input error, reported before policy
            };
            let f = resolved.feature;
            // A `minimise` entry of the purpose lets it read the feature in reduced form.
            if !p.allows.contains(&f.classification) && !self.purpose_minimises(purpose, r) {
                refusals.push(Refusal {
                    feature: Some(r.clone()),
                    reason: RefusalReason::ClassificationNotAllowed {
                        classification: f.classification,
                        purpose: purpose.to_string(),
                    },
                });
            }
            if f.placement == Placement::DeviceOnly && channel != ReadChannel::Device {
                refusals.push(Refusal {
                    feature: Some(r.clone()),
                    reason: RefusalReason::DeviceOnly,
                });
            }
        }
        if refusals.is_empty() {
            Decision::Allow
        } else {
            Decision::Deny(refusals)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Definitions;
    use std::path::Path;

    fn catalog() -> Catalog {
        let yaml = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
feature_views:
  - name: v
    entities: [user]
    source: s
    features:
      - { name: p, type: float64, classification: personal }
      - { name: i, type: int64, classification: internal }
      - { name: d, type: string, classification: internal, placement: device_only }
purposes:
  - { name: ranking, allows: [public, internal, personal] }
  - { name: analytics, allows: [public, internal] }
consumers: [{ name: ranker, token_env: T, purposes: [ranking] }]
"#;
        Catalog::build(vec![
            Definitions::from_yaml_str(yaml, Path::new("t")).unwrap()
        ])
        .unwrap()
    }

    #[test]
    fn purpose_limits_classifications() {
        let c = catalog();
        let feats = [FeatureRef::new("v", "p"), FeatureRef::new("v", "i")];
        assert!(c
            .check_access(None, "ranking", &feats, ReadChannel::Offline)
            .is_allowed());
        let Decision::Deny(r) = c.check_access(None, "analytics", &feats, ReadChannel::Offline)
        else {
            panic!("analytics must not read personal data");
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].feature, Some(FeatureRef::new("v", "p")));
    }

    #[test]
    fn consumer_must_hold_purpose_and_device_only_stays_home() {
        let c = catalog();
        let feats = [FeatureRef::new("v", "i")];
        assert!(!c
            .check_access(Some("ranker"), "analytics", &feats, ReadChannel::Network)
            .is_allowed());
        assert!(c
            .check_access(Some("ranker"), "ranking", &feats, ReadChannel::Network)
            .is_allowed());
        let d = [FeatureRef::new("v", "d")];
        assert!(!c
            .check_access(None, "ranking", &d, ReadChannel::Offline)
            .is_allowed());
        assert!(c
            .check_access(None, "ranking", &d, ReadChannel::Device)
            .is_allowed());
        assert!(!c
            .check_access(None, "nope", &d, ReadChannel::Device)
            .is_allowed());
    }

    #[test]
    fn a_purpose_reads_an_unallowed_classification_only_minimised() {
        let yaml = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
feature_views:
  - name: v
    entities: [user]
    source: s
    features:
      - { name: age, type: int64, classification: personal }
      - { name: p, type: float64, classification: personal }
      - { name: d, type: int64, classification: internal, placement: device_only }
purposes:
  - name: analytics
    allows: [public, internal]
    minimise:
      v:age: { bucketize: [18, 65] }
      v:d: { clip: [0, 5] }
"#;
        let c = Catalog::build(vec![
            Definitions::from_yaml_str(yaml, Path::new("t")).unwrap()
        ])
        .unwrap();
        let age = [FeatureRef::new("v", "age")];
        assert!(c
            .check_access(None, "analytics", &age, ReadChannel::Network)
            .is_allowed());
        let form = c.planned_form("analytics", None, &age[0]).unwrap().unwrap();
        assert_eq!(form.to_string(), "v:age → bucketize[18,65] → string");
        assert!(!c
            .check_access(
                None,
                "analytics",
                &[FeatureRef::new("v", "p")],
                ReadChannel::Network
            )
            .is_allowed());
        // Minimising does not take a device_only feature off the device.
        let d = [FeatureRef::new("v", "d")];
        assert!(!c
            .check_access(None, "analytics", &d, ReadChannel::Network)
            .is_allowed());
        assert!(c
            .check_access(None, "analytics", &d, ReadChannel::Device)
            .is_allowed());
    }
}

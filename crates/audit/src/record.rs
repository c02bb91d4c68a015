//! [`AuditRecord`]: one audited request, and its [`AuditDecision`].

use serde::{Deserialize, Serialize};

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    /// The read happened.
    Allow,
    /// The read was refused; `reasons` say why.
    Deny,
    /// The read was allowed but failed (bad input, I/O).
    Error,
}

/// One audited read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When (RFC 3339, UTC, microseconds).
    pub time: String,
    /// What kind of read: `training_set`, `online_read`, …
    pub action: String,
    /// Who: a consumer name, `anonymous`, `local:<user>` for the CLI, or
    /// `local:<user> as <consumer>` for a CLI command run with `--consumer`.
    pub consumer: String,
    /// Why.
    pub purpose: String,
    /// The features read (`view:feature`).
    pub features: crate::FeatureList,
    /// The minimising transform applied to each minimised feature (`view:feature` →
    /// `bucketize[18,25,35,50,65]`); features read raw are not listed.
    #[serde(default, skip_serializing_if = "crate::TransformList::is_empty")]
    pub transforms: crate::TransformList,
    /// Rows produced or entities read.
    pub rows: u64,
    /// The decision.
    pub decision: AuditDecision,
    /// Why a read was refused or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// How long it took, in microseconds.
    #[serde(default)]
    pub latency_us: u64,
    /// Free-form detail, e.g. the output file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The entities read, as keyed hashes (never the clear key): one digest per (join key,
    /// value) pair, `tessera_core::EntityHasher::digest(&[(key, value)])`, distinct. Empty (and left out) when none were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
}

impl AuditRecord {
    /// A record stamped now, allowed, with no features yet.
    pub fn now(action: &str, consumer: &str, purpose: &str) -> Self {
        Self {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            action: action.to_string(),
            consumer: consumer.to_string(),
            purpose: purpose.to_string(),
            features: crate::FeatureList::default(),
            transforms: crate::TransformList::default(),
            rows: 0,
            decision: AuditDecision::Allow,
            reasons: Vec::new(),
            latency_us: 0,
            detail: None,
            entities: Vec::new(),
        }
    }
}

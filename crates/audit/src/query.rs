//! [`AuditQuery`]: the filters of `tessera audit query`.

use crate::{AuditDecision, AuditRecord};

/// Filters for [`crate::AuditLog::query`]; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Consumer name: matches the consumer's own records and those of local operators
    /// acting as it (`local:<user> as <consumer>`).
    pub consumer: Option<String>,
    /// Purpose name.
    pub purpose: Option<String>,
    /// Decision.
    pub decision: Option<AuditDecision>,
    /// Records that read a feature of this view or this `view:feature`.
    pub feature: Option<String>,
    /// Records at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Action.
    pub action: Option<String>,
}

impl AuditQuery {
    pub(crate) fn matches(&self, r: &AuditRecord) -> bool {
        self.consumer.as_ref().is_none_or(|c| {
            *c == r.consumer
                || r.consumer
                    .strip_suffix(c.as_str())
                    .and_then(|rest| rest.strip_suffix(" as "))
                    .is_some_and(|user| user.starts_with("local:"))
        }) && self.purpose.as_ref().is_none_or(|p| *p == r.purpose)
            && self.decision.is_none_or(|d| d == r.decision)
            && self.action.as_ref().is_none_or(|a| *a == r.action)
            && self
                .since
                .as_ref()
                .is_none_or(|s| r.time.as_str() >= s.as_str())
            && self.feature.as_ref().is_none_or(|f| {
                r.features
                    .iter()
                    .any(|x| x == f || x.split(':').next() == Some(f.as_str()))
            })
    }
}

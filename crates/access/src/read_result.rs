//! [`ReadResult`]: the values of a read, one column per feature in request order, each value
//! with its [`ValueStatus`] and event timestamp.

use std::sync::Arc;

use tessera_online::Value;

use crate::entity_rows::EntityRows;
use crate::read_plan::ReadPlan;

/// What a provider held for one (entity, feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueStatus {
    /// A value within the view's TTL.
    Present,
    /// The store holds no row for the entity, or the row does not carry the feature.
    Missing,
    /// The row is older than the view's TTL allows now. Its value is withheld (null), as a
    /// point-in-time join would withhold it, so online and training values agree; its event
    /// timestamp is reported.
    Expired,
    /// The row is fresh and holds a null for the feature.
    Null,
    /// The source refused this value (a remote server's policy gate, say); it is null.
    Refused,
    /// A cached value older than its TTL, served because its source is unreachable. The
    /// value is given; its event timestamp says how old it is.
    Stale,
    /// The provider did not answer in time and nothing is cached; the value is null.
    Unavailable,
    /// The purpose requires consent and the entity's consent for it is not in force; the
    /// value is withheld (null).
    NoConsent,
    /// A cohort value built from fewer distinct contributors than its `min_contributors`
    /// threshold; the value is withheld (null).
    Suppressed,
    /// The entity was erased; nothing is held about it (null). A device that receives this
    /// status drops what it cached about the entity.
    Erased,
}

impl ValueStatus {
    /// Every status, in the order of [`ValueStatus::as_str`]'s table.
    pub const ALL: [ValueStatus; 10] = [
        ValueStatus::Present,
        ValueStatus::Missing,
        ValueStatus::Expired,
        ValueStatus::Null,
        ValueStatus::Refused,
        ValueStatus::Stale,
        ValueStatus::Unavailable,
        ValueStatus::NoConsent,
        ValueStatus::Suppressed,
        ValueStatus::Erased,
    ];

    /// The status named `name` (as [`ValueStatus::as_str`] spells it), `None` for any other
    /// text.
    ///
    /// ```
    /// use tessera_access::ValueStatus;
    /// assert_eq!(ValueStatus::parse("stale"), Some(ValueStatus::Stale));
    /// assert_eq!(ValueStatus::parse("fresh"), None);
    /// ```
    pub fn parse(name: &str) -> Option<ValueStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// `present`, `missing`, `expired`, `null`, `refused`, `stale`, `unavailable`,
    /// `no_consent`, `suppressed`, `erased`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ValueStatus::Present => "present",
            ValueStatus::Missing => "missing",
            ValueStatus::Expired => "expired",
            ValueStatus::Null => "null",
            ValueStatus::Refused => "refused",
            ValueStatus::Stale => "stale",
            ValueStatus::Unavailable => "unavailable",
            ValueStatus::NoConsent => "no_consent",
            ValueStatus::Suppressed => "suppressed",
            ValueStatus::Erased => "erased",
        }
    }

    /// Whether the value is given (present or stale).
    pub fn has_value(&self) -> bool {
        matches!(self, ValueStatus::Present | ValueStatus::Stale)
    }
}

/// The values of one feature for every entity of the request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureColumn {
    /// One value per entity; [`Value::Null`] unless the status is present or stale.
    pub values: Vec<Value>,
    /// One status per entity.
    pub statuses: Vec<ValueStatus>,
    /// The row's event time (µs since the epoch) per entity; `None` when missing.
    pub event_ts: Vec<Option<i64>>,
}

impl FeatureColumn {
    /// An empty column with room for `n` entities.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            event_ts: Vec::with_capacity(n),
        }
    }

    /// `n` nulls with `status` and no event time.
    pub fn filled(n: usize, status: ValueStatus) -> Self {
        Self {
            values: vec![Value::Null; n],
            statuses: vec![status; n],
            event_ts: vec![None; n],
        }
    }

    /// Appends one entity's value.
    pub fn push(&mut self, value: Value, status: ValueStatus, ts: Option<i64>) {
        self.values.push(value);
        self.statuses.push(status);
        self.event_ts.push(ts);
    }

    /// The number of entities.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the column holds no entity.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether values, statuses and event times all hold `n` entries.
    pub fn has_len(&self, n: usize) -> bool {
        self.values.len() == n && self.statuses.len() == n && self.event_ts.len() == n
    }
}

/// The answer to a read.
#[derive(Debug)]
pub struct ReadResult {
    /// The resolved plan: feature references, types, names, the purpose.
    pub plan: Arc<ReadPlan>,
    /// The entities, as the request gave them.
    pub entities: EntityRows,
    /// One column per feature, aligned with `plan.features()`.
    pub columns: Vec<FeatureColumn>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        use ValueStatus as S;
        for s in [
            S::Present,
            S::Missing,
            S::Expired,
            S::Null,
            S::Refused,
            S::Stale,
            S::Unavailable,
            S::NoConsent,
            S::Suppressed,
            S::Erased,
        ] {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("fresh"), None);
    }
}

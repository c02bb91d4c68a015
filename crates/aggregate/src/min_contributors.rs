//! [`MinContributors`]: the k-threshold of a cohort aggregation. A value built from fewer
//! than `k` distinct contributors (distinct values of the `by` column among the events
//! in its window) is suppressed.
//!
//! The contributor count is one more monoid state carried beside the aggregate: an
//! exact `count_distinct` over the `by` column, with the same window and filter, kept in
//! the same tiles ([`crate::ViewState`] holds it after the view's own aggregates, and
//! the batch backfill folds it with [`crate::window_values`]). [`MinContributors::admits`]
//! is the one check every tier applies to the finished count. The set is exact (no
//! sketch error); its memory grows with the number of distinct contributors per tile.

use serde::{Deserialize, Serialize};

use crate::agg_function::AggFunction;
use crate::aggregation::Aggregation;
use crate::data_type::InputType;
use crate::error::{Error, Result};
use tessera_value::Value;

/// At least `k` distinct values of column `by` must have contributed to a value for it
/// to be shown.
///
/// ```
/// use tessera_aggregate::{MinContributors, Value};
/// let m = MinContributors::new(3, "user_id")?;
/// assert!(!m.admits(&Value::Int64(2)));
/// assert!(m.admits(&Value::Int64(3)));
/// assert!(MinContributors::new(0, "user_id").is_err());
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinContributors {
    k: u64,
    by: String,
}

impl MinContributors {
    /// `k` must be at least 1; `by` names the contributor column.
    pub fn new(k: u64, by: impl Into<String>) -> Result<Self> {
        if k == 0 {
            return Err(Error::InvalidParameter {
                function: "min_contributors".into(),
                reason: "k must be at least 1".into(),
            });
        }
        Ok(MinContributors { k, by: by.into() })
    }

    /// The threshold.
    pub fn k(&self) -> u64 {
        self.k
    }

    /// The contributor column.
    pub fn by(&self) -> &str {
        &self.by
    }

    /// The state that counts contributors: an exact distinct count (it takes values of
    /// any scalar type; the input type recorded is nominal).
    pub fn contributor_aggregation() -> Aggregation {
        // `count_distinct` accepts every scalar type, so this cannot fail; the fallback
        // keeps library code free of `expect`.
        Aggregation::new(AggFunction::CountDistinct, Some(InputType::String))
            .unwrap_or_else(|_| Aggregation::count_events())
    }

    /// Whether a finished contributor count reaches `k` (the one check every tier makes).
    pub fn admits(&self, count: &Value) -> bool {
        match count {
            Value::Int64(n) => u64::try_from(*n).is_ok_and(|n| n >= self.k),
            _ => false,
        }
    }

    /// `value` when `count` reaches `k`, else `None` (suppressed).
    pub fn finish(&self, value: Value, count: &Value) -> Option<Value> {
        self.admits(count).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_contributor_once() {
        let agg = MinContributors::contributor_aggregation();
        let mut s = agg.new_state();
        for _ in 0..100 {
            s.update(&Value::from("u1"), 0);
        }
        s.update(&Value::Int64(7), 0);
        assert_eq!(s.finish(), Value::Int64(2));
        let m = MinContributors::new(2, "user_id").unwrap();
        assert_eq!(
            m.finish(Value::Int64(9), &s.finish()),
            Some(Value::Int64(9))
        );
        let m = MinContributors::new(3, "user_id").unwrap();
        assert_eq!(m.finish(Value::Int64(9), &s.finish()), None);
        assert!(!m.admits(&Value::Null));
    }
}

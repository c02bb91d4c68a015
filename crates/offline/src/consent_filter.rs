//! Consent in training sets: for a purpose with `requires_consent: true`, a spine row keeps
//! its feature values only if the entity's consent for the purpose was in force at the
//! row's time **and** is in force when the set is generated — so a withdrawal removes the
//! entity from every later training set. Rows without consent keep their spine columns
//! (keys, time, label) with null features, and are counted. The same store and the same
//! rule ([`tessera_consent::ConsentHistory::in_force`]) as the online gate: an entity is
//! identified by any of its join-key values in the spine.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::TimeUnit;
use arrow::record_batch::RecordBatch;
use tessera_consent::ConsentStore;
use tessera_core::{ArrowValues, Catalog, Value};

use crate::error::{Error, Result};
use crate::timestamps::to_epoch;

/// What [`apply_consent`] withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsentOutcome {
    /// Spine rows whose features were withheld (null) for lack of consent.
    pub withheld: usize,
}

/// Nulls the `feature_columns` of every row of `batch` without consent for `purpose` in
/// force at its time (column `ts_column`) and at `now_us`. Does nothing for a purpose
/// that does not require consent.
pub fn apply_consent(
    catalog: &Catalog,
    store: &ConsentStore,
    purpose: &str,
    batch: RecordBatch,
    feature_columns: &[String],
    ts_column: &str,
    now_us: i64,
) -> Result<(RecordBatch, ConsentOutcome)> {
    if !catalog
        .purposes()
        .get(purpose)
        .is_some_and(|p| p.requires_consent)
    {
        return Ok((batch, ConsentOutcome::default()));
    }
    let schema = batch.schema();
    let key_names: Vec<&str> = catalog
        .entities()
        .values()
        .flat_map(|e| e.join_keys.iter().map(String::as_str))
        .filter(|k| schema.field_with_name(k).is_ok() && !feature_columns.iter().any(|f| f == k))
        .collect();
    let ts = batch.column_by_name(ts_column).ok_or_else(|| {
        Error::Internal(format!(
            "the training set has no spine time column `{ts_column}`"
        ))
    })?;
    let (times, nulls) = to_epoch(ts, TimeUnit::Microsecond, "spine timestamp")?;
    let keys = key_names
        .iter()
        .filter_map(|k| batch.column_by_name(k).map(|c| (*k, c)))
        .map(|(k, c)| ArrowValues::new(c).map(|v| (k, v)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut withhold = vec![true; batch.num_rows()];
    for (row, w) in withhold.iter_mut().enumerate() {
        if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            continue;
        }
        let t = times[row];
        *w = !keys.iter().any(|(name, values)| {
            let text = match values.get(row) {
                Value::Int64(i) => i.to_string(),
                Value::String(s) => s,
                _ => return false,
            };
            let d = store.digest(name, &text);
            store.in_force(&d, purpose, t) && store.in_force(&d, purpose, now_us)
        });
    }
    let withheld = withhold.iter().filter(|w| **w).count();
    if withheld == 0 {
        return Ok((batch, ConsentOutcome { withheld }));
    }
    let mask = BooleanArray::from(withhold);
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if feature_columns.iter().any(|n| n == f.name()) {
                arrow::compute::nullif(c.as_ref(), &mask)
            } else {
                Ok(Arc::clone(c) as ArrayRef)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((
        RecordBatch::try_new(schema, columns)?,
        ConsentOutcome { withheld },
    ))
}

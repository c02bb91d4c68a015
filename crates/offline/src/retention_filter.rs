//! The retention filter of source scans: rows older than a source's (or a view's)
//! retention are never read, even while an external source still holds them
//! ([`tessera_core::retention`]).
//!
//! The filter is exact in the column's own unit: a row is kept when its event time,
//! converted to µs as the offline operators convert it (finer units truncated towards the
//! past), is at or after the cutoff `now − retention`.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{cast, lit, Expr};

use crate::error::Result;
use crate::timestamps::factor;

/// The time now, in µs since the epoch.
pub(crate) fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `df` without the rows whose `ts_col` is older than `retention` before `now_us`
/// (unchanged when `retention` is `None`).
pub(crate) fn keep_retained(
    df: DataFrame,
    ts_col: &str,
    retention: Option<Duration>,
    now_us: i64,
) -> Result<DataFrame> {
    let Some(retention) = retention else {
        return Ok(df);
    };
    let cutoff = tessera_core::retention::cutoff_us(retention, now_us);
    let Ok(field) = df.schema().field_with_unqualified_name(ts_col) else {
        return Ok(df); // the schema check reports a missing timestamp column
    };
    let c = Expr::Column(Column::new_unqualified(ts_col));
    let expr = match field.data_type() {
        DataType::Timestamp(unit, tz) => {
            // µs per source unit (1 when finer) and source units per µs (1 when coarser).
            let coarse = factor(*unit, TimeUnit::Microsecond);
            let fine = factor(TimeUnit::Microsecond, *unit);
            // Kept: floor(s * coarse / fine) >= cutoff ⟺ s >= ceil(cutoff / coarse) * fine.
            let bound = ceil_div(cutoff, coarse).checked_mul(fine);
            let Some(bound) = bound else {
                // The cutoff does not fit the column's unit: every value is after it.
                return Ok(df);
            };
            let v = match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(Some(bound), tz.clone()),
                TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(bound), tz.clone()),
                TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(bound), tz.clone()),
                TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(bound), tz.clone()),
            };
            c.gt_eq(lit(v))
        }
        _ => {
            // Dates and text: compared as the operators read them, as UTC microseconds.
            let utc: Option<Arc<str>> = Some(Arc::from("UTC"));
            cast(c, DataType::Timestamp(TimeUnit::Microsecond, utc.clone()))
                .gt_eq(lit(ScalarValue::TimestampMicrosecond(Some(cutoff), utc)))
        }
    };
    Ok(df.filter(expr)?)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::ceil_div;

    #[test]
    fn ceil_div_rounds_up_for_negatives_too() {
        assert_eq!(ceil_div(7, 2), 4);
        assert_eq!(ceil_div(-7, 2), -3);
        assert_eq!(ceil_div(-6, 2), -3);
        assert_eq!(ceil_div(6, 1), 6);
    }
}

//! The one time-range filter the offline operators push into their source scans.
//!
//! The operators compare event times as integers in some unit (µs for the latest-row scan
//! and the window join, the finest unit of the inputs for the point-in-time join), after
//! converting the source's timestamps to that unit — finer source units truncate towards
//! the past ([`to_epoch`](crate::timestamps)). The filter says the same in the column's own
//! unit, so Parquet statistics can skip row groups. It is never narrower than the range:
//! the operators re-check every row exactly, so it may keep a few rows too many, never drop
//! one that belongs.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::prelude::{lit, Expr};

use crate::timestamps::factor;

/// `lo <= col <= hi` for event times in `[lo, hi]` (`lo: None` for no lower bound), both in
/// `unit`, written in the column's own unit. `None` when the column is not a timestamp or
/// no bound can be written (one that does not fit in the column's unit is left out).
pub(crate) fn time_filter(
    col: &str,
    dt: &DataType,
    unit: TimeUnit,
    lo: Option<i64>,
    hi: i64,
) -> Option<Expr> {
    let DataType::Timestamp(src, tz) = dt else {
        return None;
    };
    let coarse = factor(*src, unit); // `unit`s per source unit (1 when the source is finer)
    let fine = factor(unit, *src); // source units per `unit` (1 when the source is coarser)
                                   // A source value `s` is `floor(s / fine) * coarse` in `unit`: in range when
                                   // `lo.div_euclid(coarse) * fine <= s <= hi.div_euclid(coarse) * fine + fine - 1` (the
                                   // lower bound floored, so possibly looser).
    let lo = lo.and_then(|lo| lo.div_euclid(coarse).checked_mul(fine));
    let hi = hi
        .div_euclid(coarse)
        .checked_mul(fine)
        .and_then(|h| h.checked_add(fine - 1));
    let scalar = |v: i64| match src {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(v), tz.clone()),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(v), tz.clone()),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(v), tz.clone()),
    };
    let c = Expr::Column(Column::new_unqualified(col));
    let lower = lo.map(|lo| c.clone().gt_eq(lit(scalar(lo))));
    let upper = hi.map(|hi| c.lt_eq(lit(scalar(hi))));
    match (lower, upper) {
        (Some(l), Some(u)) => Some(l.and(u)),
        (l, u) => l.or(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from `latest.rs` (the latest-row scan's own filter, now this one): bounds in µs.
    #[test]
    fn time_filter_covers_the_range_in_the_source_unit() {
        let time_filter = |c: &str, dt: &DataType, start: Option<i64>, end: i64| {
            time_filter(c, dt, TimeUnit::Microsecond, start, end)
        };
        let dt = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let f = time_filter("t", &dt, Some(5), 7).unwrap().to_string();
        assert!(f.contains("5000") && f.contains("7999"), "{f}");
        let dt = DataType::Timestamp(TimeUnit::Second, None);
        let f = time_filter("t", &dt, Some(-1), 1_500_000)
            .unwrap()
            .to_string();
        assert!(f.contains("-1") && f.contains("TimestampSecond(1"), "{f}");
        assert!(time_filter("t", &DataType::Utf8, None, 0).is_none());
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, None);
        assert!(time_filter("t", &ns, None, i64::MAX).is_none());
    }

    #[test]
    fn the_filter_never_drops_a_row_in_range() {
        use crate::timestamps::to_epoch;
        use arrow::array::{ArrayRef, TimestampNanosecondArray, TimestampSecondArray};
        use std::sync::Arc;
        // Nanosecond source, µs range: the last ns of the last µs is in.
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
            4_999, 5_000, 7_999, 8_000,
        ]));
        let (us, _) = to_epoch(&ns, TimeUnit::Microsecond, "t").unwrap();
        assert_eq!(us, vec![4, 5, 7, 8]);
        let f = time_filter("t", ns.data_type(), TimeUnit::Microsecond, Some(5), 7)
            .unwrap()
            .to_string();
        assert!(f.contains("5000") && f.contains("7999"), "{f}");
        // Second source, ns range (the point-in-time join's finest unit).
        let s: ArrayRef = Arc::new(TimestampSecondArray::from(vec![1, 2]));
        let f = time_filter(
            "t",
            s.data_type(),
            TimeUnit::Nanosecond,
            Some(1_500_000_000),
            2_000_000_000,
        )
        .unwrap()
        .to_string();
        assert!(
            f.contains("TimestampSecond(1") && f.contains("TimestampSecond(2"),
            "{f}"
        );
    }
}

//! Event times as plain `i64`s in one unit, whatever type the file stored them in.
//!
//! Timestamps of any unit and zone, dates and ISO-8601 strings are converted to integers
//! since the Unix epoch (UTC; timestamps without a zone are read as UTC) in the finest unit
//! the inputs of one join use, so no precision is lost. Values that do not fit (e.g. year
//! 9999 in nanoseconds) saturate to the extreme instant, never wrap: such a row is later
//! than any time a nanosecond column can hold, which is exactly how it compares.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use crate::error::{Error, Result};

/// The unit a column of this type is compared in, or `None` if it is not a time.
pub(crate) fn unit_of(dt: &DataType) -> Option<TimeUnit> {
    match dt {
        DataType::Timestamp(u, _) => Some(*u),
        DataType::Date32 => Some(TimeUnit::Second),
        DataType::Date64 => Some(TimeUnit::Millisecond),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(TimeUnit::Microsecond),
        _ => None,
    }
}

/// How many `fine` units make one `coarse` unit.
pub(crate) fn factor(coarse: TimeUnit, fine: TimeUnit) -> i64 {
    fn exp(u: TimeUnit) -> u32 {
        match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 3,
            TimeUnit::Microsecond => 6,
            TimeUnit::Nanosecond => 9,
        }
    }
    10_i64.pow(exp(fine).saturating_sub(exp(coarse)))
}

/// The finer of two units.
pub(crate) fn finer(a: TimeUnit, b: TimeUnit) -> TimeUnit {
    if factor(a, b) >= factor(b, a) {
        b
    } else {
        a
    }
}

/// A duration in `unit`, saturating.
pub(crate) fn duration_in(d: std::time::Duration, unit: TimeUnit) -> i64 {
    let n = match unit {
        TimeUnit::Second => d.as_secs() as u128,
        TimeUnit::Millisecond => d.as_millis(),
        TimeUnit::Microsecond => d.as_micros(),
        TimeUnit::Nanosecond => d.as_nanos(),
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Converts a time column to `i64` values in `unit`; null slots hold `None` in the validity.
/// `what` names the column for error messages.
pub(crate) fn to_epoch(
    array: &ArrayRef,
    unit: TimeUnit,
    what: &str,
) -> Result<(Vec<i64>, Option<arrow::buffer::NullBuffer>)> {
    let scaled = |values: &[i64], from: TimeUnit| -> Result<Vec<i64>> {
        let f = factor(from, unit);
        let down = factor(unit, from);
        if down > 1 {
            // `from` is finer than `unit`: truncate towards the past.
            return Ok(values.iter().map(|v| v.div_euclid(down)).collect());
        }
        if f == 1 {
            return Ok(values.to_vec());
        }
        // Saturate: an instant beyond what `unit` can express lies after (or before) every
        // instant the other inputs can hold, so it compares correctly as the extreme value.
        Ok(values.iter().map(|v| v.saturating_mul(f)).collect())
    };
    let nulls = array.logical_nulls();
    let values = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled(
            array.as_primitive::<TimestampSecondType>().values(),
            TimeUnit::Second,
        )?,
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(
            array.as_primitive::<TimestampMillisecondType>().values(),
            TimeUnit::Millisecond,
        )?,
        DataType::Timestamp(TimeUnit::Microsecond, _) => scaled(
            array.as_primitive::<TimestampMicrosecondType>().values(),
            TimeUnit::Microsecond,
        )?,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => scaled(
            array.as_primitive::<TimestampNanosecondType>().values(),
            TimeUnit::Nanosecond,
        )?,
        DataType::Date32 => {
            let days: Vec<i64> = array
                .as_primitive::<Date32Type>()
                .values()
                .iter()
                .map(|d| i64::from(*d) * 86_400)
                .collect();
            scaled(&days, TimeUnit::Second)?
        }
        DataType::Date64 => scaled(
            array.as_primitive::<Date64Type>().values(),
            TimeUnit::Millisecond,
        )?,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let parsed = cast(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
            )
            .map_err(|e| Error::Request {
                message: format!("{what}: cannot read text as timestamps: {e}"),
                hint: "write timestamps as ISO 8601, e.g. 2026-01-31T12:00:00Z".to_string(),
            })?;
            return to_epoch(&parsed, unit, what);
        }
        other => {
            return Err(Error::Request {
                message: format!("{what} has type {other}, which is not a timestamp"),
                hint: "use a timestamp, date or ISO-8601 string column".to_string(),
            })
        }
    };
    Ok((values, nulls))
}

/// Values of a created-time column, in an order that only needs to compare rows with each
/// other: a time column is converted like [`to_epoch`]; an integer column (a version or
/// sequence number) is taken as is.
pub(crate) fn to_created_order(
    array: &ArrayRef,
    unit: TimeUnit,
    what: &str,
) -> Result<(Vec<i64>, Option<arrow::buffer::NullBuffer>)> {
    if array.data_type().is_integer() {
        let a = cast(array, &DataType::Int64)?;
        let nulls = a.logical_nulls();
        return Ok((
            a.as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec(),
            nulls,
        ));
    }
    to_epoch(array, unit, what)
}

/// Whether a column can break ties: a time, or an integer version.
pub(crate) fn is_created_type(dt: &DataType) -> bool {
    unit_of(dt).is_some() || (dt.is_integer() && *dt != DataType::UInt64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, StringArray, TimestampMillisecondArray};

    #[test]
    fn converts_units_and_types() {
        let a: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(1_000), None]));
        let (v, n) = to_epoch(&a, TimeUnit::Microsecond, "t").unwrap();
        assert_eq!(v[0], 1_000_000);
        assert!(n.unwrap().is_null(1));
        let d: ArrayRef = Arc::new(Date32Array::from(vec![1]));
        assert_eq!(to_epoch(&d, TimeUnit::Second, "d").unwrap().0, vec![86_400]);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["1970-01-01T00:00:01Z"]));
        assert_eq!(
            to_epoch(&s, TimeUnit::Millisecond, "s").unwrap().0,
            vec![1_000]
        );
        assert_eq!(
            finer(TimeUnit::Second, TimeUnit::Nanosecond),
            TimeUnit::Nanosecond
        );
    }

    #[test]
    fn overflow_saturates_instead_of_wrapping() {
        let a: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            253_402_300_799_000,
            -253_402_300_799_000,
        ]));
        assert_eq!(
            to_epoch(&a, TimeUnit::Nanosecond, "t").unwrap().0,
            vec![i64::MAX, i64::MIN]
        );
    }
}

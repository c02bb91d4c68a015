//! From Arrow arrays to [`Value`]s and [`KeyValue`]s, one column at a time (each array is
//! downcast once, not once per row).
//!
//! Integers of up to 64 bits become `Int64` (a `uint64` above `i64::MAX` is an error), floats
//! `Float64`, text `String`, binary `Bytes`, timestamps of any unit and dates `Timestamp` in
//! µs (nanoseconds truncate towards the past), lists `List`. Dictionary arrays are read
//! through their values.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

use crate::error::{Error, Result};
use tessera_value::KeyValue;
use tessera_value::Value;

const US_PER_DAY: i64 = 86_400_000_000;

fn unsupported(column: &str, dt: &DataType, hint: &'static str) -> Error {
    Error::UnsupportedType {
        column: column.to_string(),
        data_type: dt.to_string(),
        hint,
    }
}

macro_rules! primitive {
    ($array:expr, $t:ty, $f:expr) => {{
        let a = $array.as_primitive::<$t>();
        let f = $f;
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    Ok(Value::Null)
                } else {
                    f(a.value(i))
                }
            })
            .collect::<Result<Vec<Value>>>()
    }};
}

/// The values of one column, row by row (`column` names it in errors).
pub fn column_values(column: &str, array: &dyn Array) -> Result<Vec<Value>> {
    use DataType as D;
    let ok = |v: Value| Ok::<_, Error>(v);
    match array.data_type() {
        D::Null => Ok(vec![Value::Null; array.len()]),
        D::Boolean => {
            let a = array.as_boolean();
            Ok((0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                })
                .collect())
        }
        D::Int8 => primitive!(array, Int8Type, |v: i8| ok(Value::Int64(v.into()))),
        D::Int16 => primitive!(array, Int16Type, |v: i16| ok(Value::Int64(v.into()))),
        D::Int32 => primitive!(array, Int32Type, |v: i32| ok(Value::Int64(v.into()))),
        D::Int64 => primitive!(array, Int64Type, |v: i64| ok(Value::Int64(v))),
        D::UInt8 => primitive!(array, UInt8Type, |v: u8| ok(Value::Int64(v.into()))),
        D::UInt16 => primitive!(array, UInt16Type, |v: u16| ok(Value::Int64(v.into()))),
        D::UInt32 => primitive!(array, UInt32Type, |v: u32| ok(Value::Int64(v.into()))),
        D::UInt64 => primitive!(array, UInt64Type, |v: u64| i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| Error::OutOfRange {
                column: column.to_string(),
                value: v.to_string(),
            })),
        D::Float16 => {
            let wide = cast(array, &D::Float64).map_err(|e| Error::UnsupportedType {
                column: column.to_string(),
                data_type: format!("{} ({e})", array.data_type()),
                hint: "store the column as float32 or float64",
            })?;
            column_values(column, wide.as_ref())
        }
        D::Float32 => primitive!(array, Float32Type, |v: f32| ok(Value::Float64(v.into()))),
        D::Float64 => primitive!(array, Float64Type, |v: f64| ok(Value::Float64(v))),
        D::Timestamp(TimeUnit::Second, _) => primitive!(array, TimestampSecondType, |v: i64| ok(
            Value::Timestamp(v.saturating_mul(1_000_000))
        )),
        D::Timestamp(TimeUnit::Millisecond, _) => {
            primitive!(array, TimestampMillisecondType, |v: i64| ok(
                Value::Timestamp(v.saturating_mul(1_000))
            ))
        }
        D::Timestamp(TimeUnit::Microsecond, _) => {
            primitive!(array, TimestampMicrosecondType, |v: i64| ok(
                Value::Timestamp(v)
            ))
        }
        D::Timestamp(TimeUnit::Nanosecond, _) => {
            primitive!(array, TimestampNanosecondType, |v: i64| ok(
                Value::Timestamp(v.div_euclid(1_000))
            ))
        }
        D::Date32 => primitive!(array, Date32Type, |v: i32| ok(Value::Timestamp(
            i64::from(v) * US_PER_DAY
        ))),
        D::Date64 => primitive!(array, Date64Type, |v: i64| ok(Value::Timestamp(
            v.saturating_mul(1_000)
        ))),
        D::Utf8 => Ok(strings(array.as_string::<i32>().iter())),
        D::LargeUtf8 => Ok(strings(array.as_string::<i64>().iter())),
        D::Utf8View => Ok(strings(array.as_string_view().iter())),
        D::Binary => Ok(bytes(array.as_binary::<i32>().iter())),
        D::LargeBinary => Ok(bytes(array.as_binary::<i64>().iter())),
        D::BinaryView => Ok(bytes(array.as_binary_view().iter())),
        D::FixedSizeBinary(_) => Ok(bytes(array.as_fixed_size_binary().iter())),
        D::List(_) => lists(column, array.as_list::<i32>().iter()),
        D::LargeList(_) => lists(column, array.as_list::<i64>().iter()),
        D::FixedSizeList(_, _) => lists(column, array.as_fixed_size_list().iter()),
        D::Dictionary(_, value_type) => {
            let plain = cast(array, value_type).map_err(|e| Error::UnsupportedType {
                column: column.to_string(),
                data_type: format!("{} ({e})", array.data_type()),
                hint: "store the column without dictionary encoding",
            })?;
            column_values(column, plain.as_ref())
        }
        other => Err(unsupported(
            column,
            other,
            "declare the feature as int64, float64, bool, string, bytes, timestamp or list<…>",
        )),
    }
}

fn strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Vec<Value> {
    it.map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
        .collect()
}

fn bytes<'a>(it: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<Value> {
    it.map(|v| v.map_or(Value::Null, |b| Value::Bytes(b.to_vec())))
        .collect()
}

fn lists(column: &str, it: impl Iterator<Item = Option<ArrayRef>>) -> Result<Vec<Value>> {
    it.map(|v| match v {
        None => Ok(Value::Null),
        Some(items) => column_values(column, items.as_ref()).map(Value::List),
    })
    .collect()
}

/// The values of one join-key column, row by row; `None` where the key is null.
pub fn key_values(column: &str, array: &dyn Array) -> Result<Vec<Option<KeyValue>>> {
    use DataType as D;
    match array.data_type() {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
            let a = cast(array, &D::Int64).map_err(|e| Error::UnsupportedType {
                column: column.to_string(),
                data_type: format!("{} ({e})", array.data_type()),
                hint: "use integer or string join keys",
            })?;
            Ok(a.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(KeyValue::Int64))
                .collect())
        }
        D::UInt64 => array
            .as_primitive::<UInt64Type>()
            .iter()
            .map(|v| {
                v.map(|v| {
                    i64::try_from(v)
                        .map(KeyValue::Int64)
                        .map_err(|_| Error::OutOfRange {
                            column: column.to_string(),
                            value: v.to_string(),
                        })
                })
                .transpose()
            })
            .collect(),
        D::Utf8 => Ok(key_strings(array.as_string::<i32>().iter())),
        D::LargeUtf8 => Ok(key_strings(array.as_string::<i64>().iter())),
        D::Utf8View => Ok(key_strings(array.as_string_view().iter())),
        D::Dictionary(_, value_type) => {
            let plain: ArrayRef = cast(array, value_type).map_err(|e| Error::UnsupportedType {
                column: column.to_string(),
                data_type: format!("{} ({e})", array.data_type()),
                hint: "use integer or string join keys",
            })?;
            key_values(column, plain.as_ref())
        }
        other => Err(unsupported(
            column,
            other,
            "use integer or string join keys",
        )),
    }
}

fn key_strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<KeyValue>> {
    it.map(|v| v.map(|s| KeyValue::String(s.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Date32Array, DictionaryArray, Float32Array, Int32Array, ListArray, StringArray,
        TimestampNanosecondArray, UInt64Array,
    };

    #[test]
    fn converts_scalars_and_nulls() {
        let a = Int32Array::from(vec![Some(1), None]);
        assert_eq!(
            column_values("c", &a).unwrap(),
            vec![Value::Int64(1), Value::Null]
        );
        let f = Float32Array::from(vec![1.5]);
        assert_eq!(column_values("c", &f).unwrap(), vec![Value::Float64(1.5)]);
        let t = TimestampNanosecondArray::from(vec![-1, 1_999]);
        assert_eq!(
            column_values("c", &t).unwrap(),
            vec![Value::Timestamp(-1), Value::Timestamp(1)]
        );
        let d = Date32Array::from(vec![1]);
        assert_eq!(
            column_values("c", &d).unwrap(),
            vec![Value::Timestamp(US_PER_DAY)]
        );
        let s = StringArray::from(vec![Some("x"), None]);
        assert_eq!(
            column_values("c", &s).unwrap(),
            vec![Value::from("x"), Value::Null]
        );
    }

    #[test]
    fn converts_lists_and_dictionaries() {
        let l = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ]);
        assert_eq!(
            column_values("c", &l).unwrap(),
            vec![Value::List(vec![Value::Int64(1), Value::Null]), Value::Null]
        );
        let d: DictionaryArray<Int32Type> = vec!["a", "b", "a"].into_iter().collect();
        assert_eq!(
            column_values("c", &d).unwrap(),
            vec![Value::from("a"), Value::from("b"), Value::from("a")]
        );
    }

    #[test]
    fn keys_and_range_errors() {
        let k = Int32Array::from(vec![Some(7), None]);
        assert_eq!(
            key_values("k", &k).unwrap(),
            vec![Some(KeyValue::Int64(7)), None]
        );
        let big = UInt64Array::from(vec![u64::MAX]);
        assert!(key_values("k", &big).is_err());
        assert!(column_values("k", &big).is_err());
        let f = Float32Array::from(vec![1.0]);
        assert!(key_values("k", &f).is_err());
    }
}

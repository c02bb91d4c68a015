//! Arrow columns ↔ aggregation values ([`Value`]): how the batch backfill, materialisation
//! and the stream engine hand Arrow data to `tessera_aggregate`, and turn its results back
//! into Arrow columns of the declared feature type.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;
use tessera_aggregate::Value;

use crate::feature_type::FeatureType;

/// One Arrow column read as [`Value`]s: integers as `Int64`, floats as `Float64`, strings,
/// booleans, and times (any unit, dates) as `Timestamp` µs. Other types read as `Null`.
#[derive(Debug, Clone)]
pub enum ArrowValues {
    /// Integers (cast to i64).
    Int(arrow::array::Int64Array),
    /// Floats (cast to f64).
    Float(arrow::array::Float64Array),
    /// Booleans.
    Bool(arrow::array::BooleanArray),
    /// Strings (cast to Utf8).
    Str(arrow::array::StringArray),
    /// Times in µs.
    Time(arrow::array::TimestampMicrosecondArray),
    /// A type aggregations do not read.
    Other(usize),
}

impl ArrowValues {
    /// Prepares `array` for reading values one at a time.
    pub fn new(array: &ArrayRef) -> Result<Self, ArrowError> {
        use DataType as D;
        Ok(match array.data_type() {
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
                ArrowValues::Int(cast(array, &D::Int64)?.as_primitive().clone())
            }
            D::Float16 | D::Float32 | D::Float64 => {
                ArrowValues::Float(cast(array, &D::Float64)?.as_primitive().clone())
            }
            D::Boolean => ArrowValues::Bool(array.as_boolean().clone()),
            D::Utf8 | D::LargeUtf8 | D::Utf8View => {
                ArrowValues::Str(cast(array, &D::Utf8)?.as_string::<i32>().clone())
            }
            D::Timestamp(_, _) | D::Date32 | D::Date64 => ArrowValues::Time(
                cast(array, &D::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive()
                    .clone(),
            ),
            _ => ArrowValues::Other(array.len()),
        })
    }

    /// The value at `row`.
    pub fn get(&self, row: usize) -> Value {
        match self {
            ArrowValues::Int(a) if a.is_valid(row) => Value::Int64(a.value(row)),
            ArrowValues::Float(a) if a.is_valid(row) => Value::Float64(a.value(row)),
            ArrowValues::Bool(a) if a.is_valid(row) => Value::Bool(a.value(row)),
            ArrowValues::Str(a) if a.is_valid(row) => Value::String(a.value(row).to_string()),
            ArrowValues::Time(a) if a.is_valid(row) => Value::Timestamp(a.value(row)),
            _ => Value::Null,
        }
    }
}

/// Builds an Arrow column of `dtype` (the feature's declared type) from aggregation
/// results. A value of another shape becomes null.
pub fn values_to_array(values: &[Value], dtype: &FeatureType) -> ArrayRef {
    fn scalar(values: &[Value], dtype: &FeatureType) -> ArrayRef {
        match dtype {
            FeatureType::Int32 | FeatureType::Int64 => {
                let mut b = Int64Builder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Value::Int64(n) => Some(*n),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Float32 | FeatureType::Float64 => {
                let mut b = Float64Builder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Value::Float64(f) => Some(*f),
                        Value::Int64(n) => Some(*n as f64),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Bool => {
                let mut b = BooleanBuilder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Value::Bool(x) => Some(*x),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Value::Timestamp(t) => Some(*t),
                        _ => None,
                    });
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
            FeatureType::String | FeatureType::Bytes | FeatureType::List(_) => {
                let mut b = StringBuilder::with_capacity(values.len(), values.len() * 8);
                for v in values {
                    match v {
                        Value::String(s) => b.append_value(s),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        }
    }
    match dtype {
        FeatureType::List(inner) => {
            // last_k: a list of scalars, built element by element.
            let mut flat = Vec::new();
            let mut lens = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::List(items) => {
                        lens.push(Some(items.len()));
                        flat.extend(items.iter().cloned());
                    }
                    _ => lens.push(None),
                }
            }
            let child = scalar(&flat, inner);
            let field = Arc::new(arrow::datatypes::Field::new(
                "item",
                child.data_type().clone(),
                true,
            ));
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut nulls = Vec::with_capacity(values.len());
            let mut at = 0i32;
            for l in &lens {
                at += l.unwrap_or(0) as i32;
                offsets.push(at);
                nulls.push(l.is_some());
            }
            let list = arrow::array::ListArray::new(
                field,
                arrow::buffer::OffsetBuffer::new(offsets.into()),
                child,
                Some(arrow::buffer::NullBuffer::from(nulls)),
            );
            Arc::new(list)
        }
        other => scalar(values, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};

    #[test]
    fn round_trips_scalars_and_lists() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
        let c = ArrowValues::new(&a).unwrap();
        let vals: Vec<Value> = (0..3).map(|i| c.get(i)).collect();
        assert_eq!(vals, vec![Value::Int64(1), Value::Null, Value::Int64(3)]);
        let out = values_to_array(&vals, &FeatureType::Int64);
        assert_eq!(out.null_count(), 1);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let c = ArrowValues::new(&s).unwrap();
        assert_eq!(c.get(1), Value::String("b".into()));
        let lists = vec![
            Value::List(vec![Value::Int64(7), Value::Int64(8)]),
            Value::Null,
            Value::List(vec![]),
        ];
        let l = values_to_array(&lists, &FeatureType::List(Box::new(FeatureType::Int64)));
        assert_eq!(l.len(), 3);
        assert_eq!(l.null_count(), 1);
    }
}

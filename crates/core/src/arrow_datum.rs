//! Arrow columns ↔ aggregation values ([`Datum`]): how the batch backfill, materialisation
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
use tessera_aggregate::Datum;

use crate::feature_type::FeatureType;

/// One Arrow column read as [`Datum`]s: integers as `Int64`, floats as `Float64`, strings,
/// booleans, and times (any unit, dates) as `Timestamp` µs. Other types read as `Null`.
#[derive(Debug, Clone)]
pub enum DatumColumn {
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

impl DatumColumn {
    /// Prepares `array` for reading values one at a time.
    pub fn new(array: &ArrayRef) -> Result<Self, ArrowError> {
        use DataType as D;
        Ok(match array.data_type() {
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
                DatumColumn::Int(cast(array, &D::Int64)?.as_primitive().clone())
            }
            D::Float16 | D::Float32 | D::Float64 => {
                DatumColumn::Float(cast(array, &D::Float64)?.as_primitive().clone())
            }
            D::Boolean => DatumColumn::Bool(array.as_boolean().clone()),
            D::Utf8 | D::LargeUtf8 | D::Utf8View => {
                DatumColumn::Str(cast(array, &D::Utf8)?.as_string::<i32>().clone())
            }
            D::Timestamp(_, _) | D::Date32 | D::Date64 => DatumColumn::Time(
                cast(array, &D::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive()
                    .clone(),
            ),
            _ => DatumColumn::Other(array.len()),
        })
    }

    /// The value at `row`.
    pub fn get(&self, row: usize) -> Datum {
        match self {
            DatumColumn::Int(a) if a.is_valid(row) => Datum::Int64(a.value(row)),
            DatumColumn::Float(a) if a.is_valid(row) => Datum::Float64(a.value(row)),
            DatumColumn::Bool(a) if a.is_valid(row) => Datum::Bool(a.value(row)),
            DatumColumn::Str(a) if a.is_valid(row) => Datum::String(a.value(row).to_string()),
            DatumColumn::Time(a) if a.is_valid(row) => Datum::Timestamp(a.value(row)),
            _ => Datum::Null,
        }
    }
}

/// Builds an Arrow column of `dtype` (the feature's declared type) from aggregation
/// results. A value of another shape becomes null.
pub fn datums_to_array(values: &[Datum], dtype: &FeatureType) -> ArrayRef {
    fn scalar(values: &[Datum], dtype: &FeatureType) -> ArrayRef {
        match dtype {
            FeatureType::Int32 | FeatureType::Int64 => {
                let mut b = Int64Builder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Datum::Int64(n) => Some(*n),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Float32 | FeatureType::Float64 => {
                let mut b = Float64Builder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Datum::Float64(f) => Some(*f),
                        Datum::Int64(n) => Some(*n as f64),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Bool => {
                let mut b = BooleanBuilder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Datum::Bool(x) => Some(*x),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            FeatureType::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(values.len());
                for v in values {
                    b.append_option(match v {
                        Datum::Timestamp(t) => Some(*t),
                        _ => None,
                    });
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
            FeatureType::String | FeatureType::Bytes | FeatureType::List(_) => {
                let mut b = StringBuilder::with_capacity(values.len(), values.len() * 8);
                for v in values {
                    match v {
                        Datum::String(s) => b.append_value(s),
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
                    Datum::List(items) => {
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
        let c = DatumColumn::new(&a).unwrap();
        let vals: Vec<Datum> = (0..3).map(|i| c.get(i)).collect();
        assert_eq!(vals, vec![Datum::Int64(1), Datum::Null, Datum::Int64(3)]);
        let out = datums_to_array(&vals, &FeatureType::Int64);
        assert_eq!(out.null_count(), 1);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let c = DatumColumn::new(&s).unwrap();
        assert_eq!(c.get(1), Datum::String("b".into()));
        let lists = vec![
            Datum::List(vec![Datum::Int64(7), Datum::Int64(8)]),
            Datum::Null,
            Datum::List(vec![]),
        ];
        let l = datums_to_array(&lists, &FeatureType::List(Box::new(FeatureType::Int64)));
        assert_eq!(l.len(), 3);
        assert_eq!(l.null_count(), 1);
    }
}

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The declared type of a feature. Written in YAML as `int64`, `float64`, `bool`, `string`,
/// `bytes`, `timestamp`, `int32`, `float32` or `list<T>` of a scalar type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureType {
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    String,
    /// Raw bytes.
    Bytes,
    /// An instant, stored as microseconds since the epoch (UTC).
    Timestamp,
    /// A variable-length list of a scalar type.
    List(Box<FeatureType>),
}

impl FeatureType {
    /// Parses the YAML spelling.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        let scalar = |s: &str| -> Option<FeatureType> {
            Some(match s {
                "int32" => FeatureType::Int32,
                "int64" | "int" => FeatureType::Int64,
                "float32" | "float" => FeatureType::Float32,
                "float64" | "double" => FeatureType::Float64,
                "bool" | "boolean" => FeatureType::Bool,
                "string" | "str" => FeatureType::String,
                "bytes" => FeatureType::Bytes,
                "timestamp" | "unix_timestamp" => FeatureType::Timestamp,
                _ => return None,
            })
        };
        if let Some(s) = scalar(&t) {
            return Ok(s);
        }
        let inner = t
            .strip_prefix("list<")
            .and_then(|r| r.strip_suffix('>'))
            .or_else(|| t.strip_suffix("_list"));
        match inner.and_then(|i| scalar(i.trim())) {
            Some(inner) => Ok(FeatureType::List(Box::new(inner))),
            None => Err(Error::BadFeatureType {
                text: text.to_string(),
            }),
        }
    }

    /// The Arrow type values of this feature have in batches Tessera produces.
    pub fn arrow_type(&self) -> DataType {
        match self {
            FeatureType::Int32 => DataType::Int32,
            FeatureType::Int64 => DataType::Int64,
            FeatureType::Float32 => DataType::Float32,
            FeatureType::Float64 => DataType::Float64,
            FeatureType::Bool => DataType::Boolean,
            FeatureType::String => DataType::Utf8,
            FeatureType::Bytes => DataType::Binary,
            FeatureType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
            }
            FeatureType::List(inner) => {
                DataType::List(Arc::new(Field::new("item", inner.arrow_type(), true)))
            }
        }
    }

    /// Whether a source column of Arrow type `source` can hold values of this feature
    /// without loss (it is cast to [`FeatureType::arrow_type`] when read).
    pub fn accepts(&self, source: &DataType) -> bool {
        use DataType as D;
        match self {
            FeatureType::Int32 => {
                matches!(source, D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16)
            }
            FeatureType::Int64 => matches!(
                source,
                D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32
            ),
            FeatureType::Float32 => matches!(source, D::Float16 | D::Float32),
            FeatureType::Float64 => matches!(source, D::Float16 | D::Float32 | D::Float64),
            FeatureType::Bool => matches!(source, D::Boolean),
            FeatureType::String => matches!(source, D::Utf8 | D::LargeUtf8 | D::Utf8View),
            FeatureType::Bytes => matches!(
                source,
                D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)
            ),
            FeatureType::Timestamp => matches!(source, D::Timestamp(_, _) | D::Date32 | D::Date64),
            FeatureType::List(inner) => match source {
                D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) | D::ListView(f) => {
                    inner.accepts(f.data_type())
                }
                _ => false,
            },
        }
    }
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureType::Int32 => f.write_str("int32"),
            FeatureType::Int64 => f.write_str("int64"),
            FeatureType::Float32 => f.write_str("float32"),
            FeatureType::Float64 => f.write_str("float64"),
            FeatureType::Bool => f.write_str("bool"),
            FeatureType::String => f.write_str("string"),
            FeatureType::Bytes => f.write_str("bytes"),
            FeatureType::Timestamp => f.write_str("timestamp"),
            FeatureType::List(inner) => write!(f, "list<{inner}>"),
        }
    }
}

impl Serialize for FeatureType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FeatureType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FeatureType::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for s in [
            "int64",
            "float64",
            "bool",
            "string",
            "timestamp",
            "list<int64>",
            "list<float64>",
            "list<string>",
        ] {
            assert_eq!(FeatureType::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            FeatureType::parse("int64_list").unwrap().to_string(),
            "list<int64>"
        );
        assert!(FeatureType::parse("list<list<int64>>").is_err());
        assert!(FeatureType::parse("decimal").is_err());
    }

    #[test]
    fn accepts_lossless_sources_only() {
        assert!(FeatureType::Int64.accepts(&DataType::Int32));
        assert!(!FeatureType::Int64.accepts(&DataType::Float64));
        assert!(!FeatureType::Int64.accepts(&DataType::UInt64));
        assert!(FeatureType::String.accepts(&DataType::Utf8View));
        assert!(!FeatureType::Float64.accepts(&DataType::Utf8));
    }
}

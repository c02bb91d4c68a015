//! [`ExprType`]: the types of expression values.

use std::fmt;

use tessera_aggregate::Value;

/// The type of an input, a request field or an expression's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprType {
    /// `true` / `false`.
    Bool,
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// UTF-8 text.
    String,
    /// Instants (µs since the epoch).
    Timestamp,
}

impl ExprType {
    /// `bool`, `int64`, `float64`, `string`, `timestamp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExprType::Bool => "bool",
            ExprType::Int64 => "int64",
            ExprType::Float64 => "float64",
            ExprType::String => "string",
            ExprType::Timestamp => "timestamp",
        }
    }

    /// Whether a value of this type is a number.
    pub fn is_numeric(&self) -> bool {
        matches!(self, ExprType::Int64 | ExprType::Float64)
    }

    /// Whether `d` (non-null) is a value of this type.
    pub fn holds(&self, d: &Value) -> bool {
        matches!(
            (self, d),
            (_, Value::Null)
                | (ExprType::Bool, Value::Bool(_))
                | (ExprType::Int64, Value::Int64(_))
                | (ExprType::Float64, Value::Float64(_))
                | (ExprType::String, Value::String(_))
                | (ExprType::Timestamp, Value::Timestamp(_))
        )
    }
}

impl fmt::Display for ExprType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

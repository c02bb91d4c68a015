//! The column types an aggregation reads ([`InputType`]) and produces ([`OutputType`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use tessera_value::Value;

/// The type of the column an aggregation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// 64-bit signed integer.
    Int64,
    /// 64-bit IEEE float.
    Float64,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    String,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
}

impl InputType {
    /// The input type of a scalar value, `None` for `Null`, `Bytes` and `List`.
    ///
    /// ```
    /// use tessera_aggregate::{InputType, Value};
    /// assert_eq!(InputType::of(&Value::Timestamp(1)), Some(InputType::Timestamp));
    /// assert_eq!(InputType::of(&Value::Null), None);
    /// ```
    pub fn of(value: &Value) -> Option<InputType> {
        match value {
            Value::Null | Value::Bytes(_) | Value::List(_) => None,
            Value::Bool(_) => Some(InputType::Bool),
            Value::Int64(_) => Some(InputType::Int64),
            Value::Float64(_) => Some(InputType::Float64),
            Value::String(_) => Some(InputType::String),
            Value::Timestamp(_) => Some(InputType::Timestamp),
        }
    }

    /// `int64` or `float64`.
    pub fn is_numeric(self) -> bool {
        matches!(self, InputType::Int64 | InputType::Float64)
    }

    /// Lower-case name, as used in definitions and messages.
    pub fn name(self) -> &'static str {
        match self {
            InputType::Int64 => "int64",
            InputType::Float64 => "float64",
            InputType::Bool => "bool",
            InputType::String => "string",
            InputType::Timestamp => "timestamp",
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of an aggregation's result: an input type, or a list of one (`last_k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// 64-bit signed integer.
    Int64,
    /// 64-bit IEEE float.
    Float64,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    String,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
    /// A list of values of one input type, most recent first.
    List(InputType),
}

impl From<InputType> for OutputType {
    fn from(input: InputType) -> Self {
        match input {
            InputType::Int64 => OutputType::Int64,
            InputType::Float64 => OutputType::Float64,
            InputType::Bool => OutputType::Bool,
            InputType::String => OutputType::String,
            InputType::Timestamp => OutputType::Timestamp,
        }
    }
}

impl fmt::Display for OutputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputType::Int64 => f.write_str("int64"),
            OutputType::Float64 => f.write_str("float64"),
            OutputType::Bool => f.write_str("bool"),
            OutputType::String => f.write_str("string"),
            OutputType::Timestamp => f.write_str("timestamp"),
            OutputType::List(inner) => write!(f, "list<{inner}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(InputType::Float64.to_string(), "float64");
        assert_eq!(
            OutputType::List(InputType::String).to_string(),
            "list<string>"
        );
        assert_eq!(OutputType::from(InputType::Bool), OutputType::Bool);
        assert!(InputType::Int64.is_numeric());
        assert!(!InputType::Timestamp.is_numeric());
    }
}

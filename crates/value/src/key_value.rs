//! [`KeyValue`]: the value of one join key, owned or borrowed.

use std::fmt;

/// The value of one join key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// An integer key (every signed and unsigned integer type up to 32 bits, and `int64`).
    Int64(i64),
    /// A text key.
    String(String),
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Int64(v) => write!(f, "{v}"),
            KeyValue::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A borrowed join-key value (encoding keys straight from request columns, without copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValueRef<'a> {
    /// An integer key.
    Int64(i64),
    /// A text key.
    String(&'a str),
}

impl From<i64> for KeyValue {
    fn from(v: i64) -> Self {
        KeyValue::Int64(v)
    }
}

impl From<&str> for KeyValue {
    fn from(v: &str) -> Self {
        KeyValue::String(v.to_string())
    }
}

impl From<String> for KeyValue {
    fn from(v: String) -> Self {
        KeyValue::String(v)
    }
}

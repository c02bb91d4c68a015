//! [`Value`]: one feature value as the online store keeps it, and its byte encoding.

use std::fmt;

use crate::error::{Error, Result};
use crate::varint::{self, Reader};

/// One feature value. Narrower Arrow types widen on the way in: `int32` is kept as
/// [`Value::Int64`], `float32` as [`Value::Float64`], dates as [`Value::Timestamp`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (a null in the source).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int64(i64),
    /// A float.
    Float64(f64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An instant: microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A list (elements may be null).
    List(Vec<Value>),
}

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT64: u8 = 3;
const FLOAT64: u8 = 4;
const STRING: u8 = 5;
const BYTES: u8 = 6;
const TIMESTAMP: u8 = 7;
const LIST: u8 = 8;

/// Lists nest at most this deep when decoding, so damaged bytes cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Appends the encoding: a tag byte, then fixed 8 bytes (little-endian) for numbers and
    /// timestamps, or a varint length and the bytes for text, bytes and lists.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(NULL),
            Value::Bool(false) => out.push(FALSE),
            Value::Bool(true) => out.push(TRUE),
            Value::Int64(v) => {
                out.push(INT64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Float64(v) => {
                out.push(FLOAT64);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            Value::String(s) => {
                out.push(STRING);
                varint::put(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bytes(b) => {
                out.push(BYTES);
                varint::put(out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Timestamp(v) => {
                out.push(TIMESTAMP);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::List(items) => {
                out.push(LIST);
                varint::put(out, items.len() as u64);
                for v in items {
                    v.encode_into(out);
                }
            }
        }
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Self::decode_depth(r, 0)
    }

    fn decode_depth(r: &mut Reader<'_>, depth: usize) -> Result<Self> {
        Ok(match r.u8()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT64 => Value::Int64(i64::from_le_bytes(r.array8()?)),
            FLOAT64 => Value::Float64(f64::from_bits(u64::from_le_bytes(r.array8()?))),
            STRING => Value::String(r.str()?.to_string()),
            BYTES => {
                let n = r.len()?;
                Value::Bytes(r.take(n)?.to_vec())
            }
            TIMESTAMP => Value::Timestamp(i64::from_le_bytes(r.array8()?)),
            LIST => {
                if depth >= MAX_DEPTH {
                    return Err(Error::Corrupt {
                        what: "value",
                        reason: "lists nested too deep",
                    });
                }
                // Every element takes at least one byte, so `len` bounds the allocation.
                let n = r.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Self::decode_depth(r, depth + 1)?);
                }
                Value::List(items)
            }
            _ => {
                return Err(Error::Corrupt {
                    what: "value",
                    reason: "unknown type tag",
                })
            }
        })
    }
}

impl fmt::Display for Value {
    /// Human-readable: text quoted, bytes in hex, timestamps as µs since the epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int64(v) => write!(f, "{v}"),
            Value::Float64(v) => write!(f, "{v}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
            Value::Timestamp(us) => write!(f, "{us}us"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int64(-5),
            Value::Float64(1.5),
            Value::Float64(f64::NAN),
            Value::String("héllo".into()),
            Value::Bytes(vec![0, 255]),
            Value::Timestamp(1_700_000_000_000_000),
            Value::List(vec![Value::Int64(1), Value::Null, Value::List(vec![])]),
        ];
        let mut buf = Vec::new();
        for v in &values {
            v.encode_into(&mut buf);
        }
        let mut r = Reader::new(&buf, "value");
        for v in &values {
            let back = Value::decode_from(&mut r).unwrap();
            match (v, &back) {
                (Value::Float64(a), Value::Float64(b)) if a.is_nan() => assert!(b.is_nan()),
                _ => assert_eq!(v, &back),
            }
        }
        assert!(r.is_empty());
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        for bytes in [
            &[99u8][..],
            &[INT64, 1, 2],
            &[STRING, 10, b'a'],
            &[LIST, 200],
        ] {
            assert!(Value::decode_from(&mut Reader::new(bytes, "value")).is_err());
        }
        let deep: Vec<u8> = std::iter::repeat_n([LIST, 1], 40).flatten().collect();
        assert!(Value::decode_from(&mut Reader::new(&deep, "value")).is_err());
    }
}

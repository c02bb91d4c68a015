//! The byte encoding of a [`Value`] as the online store keeps it.

use tessera_value::Value;

use crate::error::{Error, Result};
use crate::varint::{self, Reader};

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

/// Appends the encoding of `value`: a tag byte, then fixed 8 bytes (little-endian) for
/// numbers and timestamps, or a varint length and the bytes for text, bytes and lists.
pub(crate) fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
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
                encode_value(v, out);
            }
        }
    }
}

/// Reads one value written by [`encode_value`].
pub(crate) fn decode_value(r: &mut Reader<'_>) -> Result<Value> {
    decode_depth(r, 0)
}

fn decode_depth(r: &mut Reader<'_>, depth: usize) -> Result<Value> {
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
                items.push(decode_depth(r, depth + 1)?);
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
            encode_value(v, &mut buf);
        }
        let mut r = Reader::new(&buf, "value");
        for v in &values {
            let back = decode_value(&mut r).unwrap();
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
            assert!(decode_value(&mut Reader::new(bytes, "value")).is_err());
        }
        let deep: Vec<u8> = std::iter::repeat_n([LIST, 1], 40).flatten().collect();
        assert!(decode_value(&mut Reader::new(&deep, "value")).is_err());
    }
}

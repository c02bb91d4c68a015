//! The byte format shared by every state: varints, zigzag integers, floats,
//! strings and [`Value`]s, with a bounds-checked [`Reader`].
//!
//! Layout rules: unsigned integers are LEB128 varints, signed ones zigzag
//! varints, floats 8 little-endian bytes of their bit pattern, strings a varint
//! byte length then UTF-8. Every length read is checked against the bytes that
//! remain before anything is allocated, so damaged input is an [`Error`], never a
//! panic or a huge allocation.

use crate::error::{Error, Result};
use tessera_value::Value;

/// The version byte that leads every top-level encoding of this crate.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Deepest `List` nesting accepted when decoding a [`Value`].
const MAX_DATUM_DEPTH: usize = 16;

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT64: u8 = 3;
const TAG_FLOAT64: u8 = 4;
const TAG_STRING: u8 = 5;
const TAG_TIMESTAMP: u8 = 6;
const TAG_LIST: u8 = 7;
const TAG_BYTES: u8 = 8;

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_varint128(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

pub(crate) fn put_zigzag128(out: &mut Vec<u8>, v: i128) {
    put_varint128(out, ((v << 1) ^ (v >> 127)) as u128);
}

pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// `put_bytes` of the canonical encoding of `Int64(v)` (or `Timestamp(v)` when
/// `timestamp`), written directly.
pub(crate) fn put_int_key(out: &mut Vec<u8>, v: i64, timestamp: bool) {
    let z = zigzag(v);
    put_varint(out, 1 + varint_len(z) as u64);
    out.push(if timestamp { TAG_TIMESTAMP } else { TAG_INT64 });
    put_varint(out, z);
}

/// `put_bytes` of the canonical encoding of `String(s)`, written directly.
pub(crate) fn put_str_key(out: &mut Vec<u8>, s: &str) {
    let n = s.len() as u64;
    put_varint(out, 1 + varint_len(n) as u64 + n);
    out.push(TAG_STRING);
    put_str(out, s);
}

/// Writes `d` exactly (float bit patterns are kept as they are).
pub(crate) fn put_datum(out: &mut Vec<u8>, d: &Value) {
    put_datum_inner(out, d, false);
}

/// Writes `d` canonically, for hashing and distinct counting: `-0.0` is written
/// as `0.0` and every `NaN` as one quiet `NaN`, so values that are equal as SQL
/// values have equal bytes.
pub(crate) fn put_datum_canonical(out: &mut Vec<u8>, d: &Value) {
    put_datum_inner(out, d, true);
}

fn put_datum_inner(out: &mut Vec<u8>, d: &Value, canonical: bool) {
    match d {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int64(v) => {
            out.push(TAG_INT64);
            put_zigzag(out, *v);
        }
        Value::Float64(x) => {
            out.push(TAG_FLOAT64);
            let x = if canonical && *x == 0.0 {
                0.0
            } else if canonical && x.is_nan() {
                f64::NAN
            } else {
                *x
            };
            put_f64(out, x);
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            put_str(out, s);
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            put_bytes(out, b);
        }
        Value::Timestamp(v) => {
            out.push(TAG_TIMESTAMP);
            put_zigzag(out, *v);
        }
        Value::List(items) => {
            out.push(TAG_LIST);
            put_varint(out, items.len() as u64);
            for item in items {
                put_datum_inner(out, item, canonical);
            }
        }
    }
}

/// A cursor over encoded bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// An [`Error::Decode`] at the current position.
    pub(crate) fn error(&self, reason: &'static str) -> Error {
        Error::Decode {
            offset: self.pos,
            reason,
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads the leading version byte and checks it.
    pub(crate) fn version(&mut self) -> Result<()> {
        let found = self.u8()?;
        if found != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found,
                supported: FORMAT_VERSION,
            });
        }
        Ok(())
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error("varint overflows 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    pub(crate) fn varint128(&mut self) -> Result<u128> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.u8()?;
            let bits = u128::from(b & 0x7f);
            if shift == 126 && bits > 3 {
                return Err(self.error("varint overflows 128 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error("varint longer than 19 bytes"))
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64> {
        Ok(unzigzag(self.varint()?))
    }

    pub(crate) fn zigzag128(&mut self) -> Result<i128> {
        let v = self.varint128()?;
        Ok(((v >> 1) as i128) ^ -((v & 1) as i128))
    }

    pub(crate) fn f64(&mut self) -> Result<f64> {
        let bytes = self.take(8)?;
        let mut arr = [0u8; 8];
        arr.copy_from_slice(bytes);
        Ok(f64::from_bits(u64::from_le_bytes(arr)))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error("length runs past the end of input"));
        }
        let slice = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| self.error("length runs past the end of input"))?;
        self.pos += n;
        Ok(slice)
    }

    /// Reads an element count and checks that `count * min_size` bytes remain,
    /// so a damaged count cannot make the caller allocate without bound.
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.error("count too large"))?;
        if n.saturating_mul(min_size.max(1)) > self.remaining() {
            return Err(self.error("count exceeds the remaining input"));
        }
        Ok(n)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| Error::Decode {
            offset: start,
            reason: "string is not valid UTF-8",
        })
    }

    pub(crate) fn datum(&mut self) -> Result<Value> {
        self.datum_at_depth(0)
    }

    fn datum_at_depth(&mut self, depth: usize) -> Result<Value> {
        Ok(match self.u8()? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT64 => Value::Int64(self.zigzag()?),
            TAG_FLOAT64 => Value::Float64(self.f64()?),
            TAG_STRING => Value::String(self.str()?.to_owned()),
            TAG_BYTES => Value::Bytes(self.bytes()?.to_vec()),
            TAG_TIMESTAMP => Value::Timestamp(self.zigzag()?),
            TAG_LIST => {
                if depth >= MAX_DATUM_DEPTH {
                    return Err(self.error("lists nested too deeply"));
                }
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.datum_at_depth(depth + 1)?);
                }
                Value::List(items)
            }
            _ => return Err(self.error("unknown value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_zigzag(&mut out, v);
            assert_eq!(Reader::new(&out).zigzag().unwrap(), v);
        }
        for v in [0i128, -1, i128::MIN, i128::MAX, 1 << 100] {
            let mut out = Vec::new();
            put_zigzag128(&mut out, v);
            assert_eq!(Reader::new(&out).zigzag128().unwrap(), v);
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[]).u8().is_err());
    }

    #[test]
    fn datums_round_trip() {
        let d = Value::List(vec![
            Value::Null,
            Value::Bool(true),
            Value::Int64(-5),
            Value::Float64(-0.0),
            Value::from("héllo"),
            Value::Timestamp(1_700_000_000_000_000),
            Value::List(vec![]),
        ]);
        let mut out = Vec::new();
        put_datum(&mut out, &d);
        let back = Reader::new(&out).datum().unwrap();
        assert_eq!(back, d);
        if let Value::List(items) = back {
            assert!(matches!(items[3], Value::Float64(x) if x.is_sign_negative()));
        }
    }

    #[test]
    fn canonical_floats() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        put_datum_canonical(&mut a, &Value::Float64(-0.0));
        put_datum_canonical(&mut b, &Value::Float64(0.0));
        assert_eq!(a, b);
    }

    #[test]
    fn huge_lengths_and_deep_lists_are_errors() {
        // A string claiming 2^60 bytes.
        let mut out = vec![TAG_STRING];
        put_varint(&mut out, 1 << 60);
        assert!(Reader::new(&out).datum().is_err());
        // Lists nested past the limit.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[TAG_LIST, 1]);
        }
        deep.push(TAG_NULL);
        assert!(Reader::new(&deep).datum().is_err());
        // Invalid UTF-8.
        assert!(Reader::new(&[TAG_STRING, 1, 0xff]).datum().is_err());
    }
}

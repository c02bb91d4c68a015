//! [`FeatureRow`]: the latest stored row of one entity in one view, its [`Stamp`] and the
//! byte encoding every backend stores.
//!
//! ```text
//!  byte 0       format version (1)
//!  bytes 1..9   event_ts   as u64 big-endian with the sign bit flipped
//!  bytes 9..17  created_ts as u64 big-endian with the sign bit flipped
//!  then         varint feature count, per feature: varint name length, name, Value
//! ```
//!
//! Flipping the sign bit makes the 16 stamp bytes compare, byte by byte, in the same order as
//! `(event_ts, created_ts)`, so a backend can decide "newer wins" without decoding the row
//! (the Redis store's Lua script does exactly that).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::varint::{self, Reader};
use tessera_value::Value;

/// When a row was true: the ordering key of "newer wins". Rows compare by `event_ts`, then
/// by `created_ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The event time, µs since the Unix epoch.
    pub event_ts: i64,
    /// When the row was written at the source, µs since the Unix epoch; [`Stamp::NO_CREATED`]
    /// when the source has no created column or the value is null (it sorts below any value).
    pub created_ts: i64,
}

impl Stamp {
    /// The `created_ts` of a row without one.
    pub const NO_CREATED: i64 = i64::MIN;

    /// A stamp.
    pub fn new(event_ts: i64, created_ts: i64) -> Self {
        Self {
            event_ts,
            created_ts,
        }
    }
}

/// The latest values of one entity in one feature view, as read from a store.
///
/// Values are keyed by feature name: a feature that was added to the view after the row was
/// written is simply absent ([`FeatureRow::get`] returns `None`), never another feature's value.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// When the row was true.
    pub stamp: Stamp,
    /// The values by feature name.
    pub values: BTreeMap<String, Value>,
}

impl FeatureRow {
    /// The value of a feature, or `None` when the row does not hold that feature.
    pub fn get(&self, feature: &str) -> Option<&Value> {
        self.values.get(feature)
    }

    /// Decodes a stored row.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let stamp = decode_stamp(bytes)?;
        let mut r = Reader::new(&bytes[HEADER_LEN..], "row");
        let n = r.len()?;
        let mut values = BTreeMap::new();
        for _ in 0..n {
            let name = r.str()?.to_string();
            let value = crate::value_encoding::decode_value(&mut r)?;
            values.insert(name, value);
        }
        if !r.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(Self { stamp, values })
    }
}

/// The requested features of one stored row, as read by
/// [`crate::OnlineStore::read_selected`]: its stamp and one entry per requested feature, in
/// the order asked (`None`: the row does not hold that feature).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedRow {
    /// When the row was true.
    pub stamp: Stamp,
    /// The values, aligned with the requested features.
    pub values: Vec<Option<Value>>,
}

impl SelectedRow {
    /// Decodes only `features` of a stored row: names are compared in place (no `String`
    /// per feature), values of other features are skipped. Damaged rows are refused as
    /// [`FeatureRow::decode`] refuses them.
    pub fn decode(bytes: &[u8], features: &[&str]) -> Result<Self> {
        let stamp = decode_stamp(bytes)?;
        let mut r = Reader::new(&bytes[HEADER_LEN..], "row");
        let n = r.len()?;
        let mut values = vec![None; features.len()];
        // Rows are written in the view's feature order, and requests mostly ask in that
        // order too: try the feature after the last one found before searching.
        let mut next = 0;
        for _ in 0..n {
            let name = r.str()?;
            let value = crate::value_encoding::decode_value(&mut r)?;
            let at = if features.get(next) == Some(&name) {
                Some(next)
            } else {
                features.iter().position(|f| *f == name)
            };
            if let Some(i) = at {
                values[i] = Some(value);
                next = i + 1;
            }
        }
        if !r.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(Self { stamp, values })
    }

    /// The `features` of a whole decoded row.
    pub fn from_row(mut row: FeatureRow, features: &[&str]) -> Self {
        Self {
            stamp: row.stamp,
            values: features.iter().map(|f| row.values.remove(*f)).collect(),
        }
    }
}

const VERSION: u8 = 1;
const SIGN: u64 = 1 << 63;
/// Version byte plus the two stamps.
pub(crate) const HEADER_LEN: usize = 17;

fn corrupt(reason: &'static str) -> Error {
    Error::Corrupt {
        what: "row",
        reason,
    }
}

/// Appends the encoding of one row; `names` and `values` are aligned.
pub(crate) fn encode_row(stamp: Stamp, names: &[String], values: &[Value], out: &mut Vec<u8>) {
    out.push(VERSION);
    out.extend_from_slice(&((stamp.event_ts as u64) ^ SIGN).to_be_bytes());
    out.extend_from_slice(&((stamp.created_ts as u64) ^ SIGN).to_be_bytes());
    varint::put(out, names.len() as u64);
    for (name, value) in names.iter().zip(values) {
        varint::put(out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        crate::value_encoding::encode_value(value, out);
    }
}

/// Reads only the stamp of an encoded row.
pub(crate) fn decode_stamp(bytes: &[u8]) -> Result<Stamp> {
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("truncated"));
    }
    if bytes[0] != VERSION {
        return Err(corrupt("unknown format version"));
    }
    let mut r = Reader::new(&bytes[1..HEADER_LEN], "row");
    let event = u64::from_be_bytes(r.array8()?) ^ SIGN;
    let created = u64::from_be_bytes(r.array8()?) ^ SIGN;
    Ok(Stamp::new(event as i64, created as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(stamp: Stamp) -> Vec<u8> {
        let mut b = Vec::new();
        encode_row(stamp, &["a".into()], &[Value::Int64(1)], &mut b);
        b
    }

    #[test]
    fn round_trips() {
        let stamp = Stamp::new(-5, Stamp::NO_CREATED);
        let names = vec!["a".to_string(), "b".to_string()];
        let mut b = Vec::new();
        encode_row(stamp, &names, &[Value::Int64(1), Value::Null], &mut b);
        let row = FeatureRow::decode(&b).unwrap();
        assert_eq!(row.stamp, stamp);
        assert_eq!(row.get("a"), Some(&Value::Int64(1)));
        assert_eq!(row.get("b"), Some(&Value::Null));
        assert_eq!(row.get("c"), None);
    }

    #[test]
    fn stamp_bytes_sort_like_stamps() {
        let stamps = [
            Stamp::new(i64::MIN, i64::MIN),
            Stamp::new(-1, 5),
            Stamp::new(0, Stamp::NO_CREATED),
            Stamp::new(0, -1),
            Stamp::new(0, 0),
            Stamp::new(1, i64::MAX),
            Stamp::new(i64::MAX, 0),
        ];
        for a in stamps {
            for b in stamps {
                let (ea, eb) = (encoded(a), encoded(b));
                assert_eq!(
                    ea[1..HEADER_LEN].cmp(&eb[1..HEADER_LEN]),
                    a.cmp(&b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn decodes_only_the_selected_features() {
        let stamp = Stamp::new(7, 8);
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let mut b = Vec::new();
        let values = [Value::Int64(1), Value::String("x".into()), Value::Null];
        encode_row(stamp, &names, &values, &mut b);
        let row = SelectedRow::decode(&b, &["c", "missing", "a"]).unwrap();
        assert_eq!(row.stamp, stamp);
        assert_eq!(
            row.values,
            vec![Some(Value::Null), None, Some(Value::Int64(1))]
        );
        let whole = FeatureRow::decode(&b).unwrap();
        assert_eq!(SelectedRow::from_row(whole, &["c", "missing", "a"]), row);
        assert!(SelectedRow::decode(&b[..b.len() - 1], &["a"]).is_err());
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(SelectedRow::decode(&trailing, &["a"]).is_err());
    }

    #[test]
    fn refuses_damage() {
        assert!(FeatureRow::decode(&[1, 2, 3]).is_err());
        let mut b = encoded(Stamp::new(1, 1));
        b[0] = 9;
        assert!(FeatureRow::decode(&b).is_err());
    }
}

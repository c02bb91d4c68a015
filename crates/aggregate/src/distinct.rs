//! Exact `count_distinct` state: the set of distinct values.

use std::collections::BTreeSet;

use crate::datum::Datum;
use crate::encoding::{put_bytes, put_datum_canonical, put_varint, Reader};
use crate::error::Result;

/// The distinct non-missing values seen, each stored as its canonical encoding
/// in a `BTreeSet`, so iteration (and therefore the encoded state) is
/// deterministic. Values equal as SQL values are one value (`0.0` and `-0.0`).
/// Memory grows with the number of distinct values: use
/// `approx_count_distinct` when that is unbounded.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct DistinctSet {
    keys: BTreeSet<Vec<u8>>,
}

impl DistinctSet {
    /// Offers a non-missing value.
    pub(crate) fn update(&mut self, v: &Datum) {
        let mut key = Vec::new();
        put_datum_canonical(&mut key, v);
        self.keys.insert(key);
    }

    pub(crate) fn merge(&mut self, other: &DistinctSet) {
        for k in &other.keys {
            if !self.keys.contains(k) {
                self.keys.insert(k.clone());
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.keys.len() as u64);
        for k in &self.keys {
            put_bytes(out, k);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        // Each key takes at least a length byte and a tag byte.
        let n = r.count(2)?;
        let mut keys = BTreeSet::new();
        let mut prev: Option<&[u8]> = None;
        for _ in 0..n {
            let k = r.bytes()?;
            if prev.is_some_and(|p| p >= k) {
                return Err(r.error("distinct values out of order or repeated"));
            }
            let v = Reader::new(k).datum()?;
            let mut canonical = Vec::with_capacity(k.len());
            put_datum_canonical(&mut canonical, &v);
            if canonical != k || v.is_missing() {
                return Err(r.error("distinct value is not one canonical value"));
            }
            keys.insert(k.to_vec());
            prev = Some(k);
        }
        Ok(DistinctSet { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_values() {
        let mut s = DistinctSet::default();
        for v in ["a", "b", "a", "c", "b"] {
            s.update(&Datum::from(v));
        }
        s.update(&Datum::Float64(0.0));
        s.update(&Datum::Float64(-0.0));
        assert_eq!(s.len(), 4);
        let mut t = DistinctSet::default();
        t.update(&Datum::from("d"));
        t.update(&Datum::from("a"));
        s.merge(&t);
        assert_eq!(s.len(), 5);
    }
}

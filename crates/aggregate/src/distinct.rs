//! Exact `count_distinct` state: the set of distinct values.

use std::collections::BTreeSet;

use crate::datum::Datum;
use crate::encoding::{put_bytes, put_datum_canonical, put_varint, Reader};
use crate::error::Result;

/// The distinct non-missing values seen. Values equal as SQL values are one value (`0.0`
/// and `-0.0`). Memory grows with the number of distinct values: use
/// `approx_count_distinct` when that is unbounded.
///
/// A set of only integers, only timestamps or only strings keeps them as such (an
/// aggregation's input has one type, so this is the common case: no encoding and no
/// allocation per integer); anything else, or a mix, keeps each value's canonical
/// encoding. Either way the encoded state lists the canonical encodings in byte order, so
/// it is a pure function of the set, and equality compares sets, not representations.
#[derive(Clone, Debug, Default)]
pub(crate) struct DistinctSet {
    keys: Keys,
}

#[derive(Clone, Debug, Default)]
enum Keys {
    #[default]
    Empty,
    Int(BTreeSet<i64>),
    Time(BTreeSet<i64>),
    Str(BTreeSet<String>),
    /// Canonical encodings (`put_datum_canonical`).
    Bytes(BTreeSet<Vec<u8>>),
}

impl Keys {
    fn len(&self) -> usize {
        match self {
            Keys::Empty => 0,
            Keys::Int(s) | Keys::Time(s) => s.len(),
            Keys::Str(s) => s.len(),
            Keys::Bytes(s) => s.len(),
        }
    }

    /// Calls `f` with each value's canonical encoding, in no particular order.
    fn each_encoded(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = Vec::new();
        let mut put = |d: &Datum, f: &mut dyn FnMut(&[u8])| {
            buf.clear();
            put_datum_canonical(&mut buf, d);
            f(&buf);
        };
        match self {
            Keys::Empty => {}
            Keys::Int(s) => s.iter().for_each(|v| put(&Datum::Int64(*v), &mut f)),
            Keys::Time(s) => s.iter().for_each(|v| put(&Datum::Timestamp(*v), &mut f)),
            Keys::Str(s) => s
                .iter()
                .for_each(|v| put(&Datum::String(v.clone()), &mut f)),
            Keys::Bytes(s) => s.iter().for_each(|k| f(k)),
        }
    }

    /// The canonical encodings, sorted: one buffer and the ranges of its keys.
    fn sorted_encoded(&self) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut buf = Vec::new();
        let mut ranges = Vec::with_capacity(self.len());
        self.each_encoded(|k| {
            let start = buf.len();
            buf.extend_from_slice(k);
            ranges.push((start, buf.len()));
        });
        if !matches!(self, Keys::Bytes(_)) {
            ranges.sort_unstable_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
        }
        (buf, ranges)
    }

    /// Inserts a canonical encoding, first turning a typed set into encodings (a value of
    /// another kind arrived).
    fn insert_encoded(&mut self, key: &[u8]) {
        if let Keys::Bytes(set) = self {
            if !set.contains(key) {
                set.insert(key.to_vec());
            }
            return;
        }
        let mut set = BTreeSet::new();
        self.each_encoded(|k| {
            set.insert(k.to_vec());
        });
        set.insert(key.to_vec());
        *self = Keys::Bytes(set);
    }
}

impl DistinctSet {
    /// Offers a non-missing value.
    pub(crate) fn update(&mut self, v: &Datum) {
        match (&mut self.keys, v) {
            (Keys::Int(s), Datum::Int64(x)) | (Keys::Time(s), Datum::Timestamp(x)) => {
                s.insert(*x);
            }
            (Keys::Str(s), Datum::String(x)) => {
                if !s.contains(x.as_str()) {
                    s.insert(x.clone());
                }
            }
            (Keys::Empty, Datum::Int64(x)) => self.keys = Keys::Int(BTreeSet::from([*x])),
            (Keys::Empty, Datum::Timestamp(x)) => self.keys = Keys::Time(BTreeSet::from([*x])),
            (Keys::Empty, Datum::String(x)) => self.keys = Keys::Str(BTreeSet::from([x.clone()])),
            (keys, v) => {
                let mut key = Vec::new();
                put_datum_canonical(&mut key, v);
                keys.insert_encoded(&key);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &DistinctSet) {
        match (&mut self.keys, &other.keys) {
            (_, Keys::Empty) => {}
            (Keys::Empty, theirs) => self.keys = theirs.clone(),
            (Keys::Int(a), Keys::Int(b)) | (Keys::Time(a), Keys::Time(b)) => {
                a.extend(b.iter().copied());
            }
            (Keys::Str(a), Keys::Str(b)) => {
                for s in b {
                    if !a.contains(s) {
                        a.insert(s.clone());
                    }
                }
            }
            (mine, theirs) => theirs.each_encoded(|k| mine.insert_encoded(k)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.keys.len() as u64);
        let (buf, ranges) = self.keys.sorted_encoded();
        for (a, b) in ranges {
            put_bytes(out, &buf[a..b]);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        // Each key takes at least a length byte and a tag byte.
        let n = r.count(2)?;
        let mut set = DistinctSet::default();
        let mut prev: Option<&[u8]> = None;
        let mut canonical = Vec::new();
        for _ in 0..n {
            let k = r.bytes()?;
            if prev.is_some_and(|p| p >= k) {
                return Err(r.error("distinct values out of order or repeated"));
            }
            let v = Reader::new(k).datum()?;
            canonical.clear();
            put_datum_canonical(&mut canonical, &v);
            if canonical != k || v.is_missing() {
                return Err(r.error("distinct value is not one canonical value"));
            }
            set.update(&v);
            prev = Some(k);
        }
        Ok(set)
    }
}

impl PartialEq for DistinctSet {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (a, ra) = self.keys.sorted_encoded();
        let (b, rb) = other.keys.sorted_encoded();
        ra.iter().zip(&rb).all(|(x, y)| a[x.0..x.1] == b[y.0..y.1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(s: &DistinctSet) -> Vec<u8> {
        let mut out = Vec::new();
        s.encode(&mut out);
        out
    }

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

    #[test]
    fn typed_and_encoded_sets_agree() {
        // The same values through a typed set and through canonical encodings.
        let values: Vec<Datum> = [5, -3, 300, 0, 5, i64::MIN, i64::MAX, 127, 128]
            .into_iter()
            .map(Datum::Int64)
            .collect();
        let mut typed = DistinctSet::default();
        let mut bytes = DistinctSet {
            keys: Keys::Bytes(BTreeSet::new()),
        };
        for v in &values {
            typed.update(v);
            bytes.update(v);
        }
        assert!(matches!(typed.keys, Keys::Int(_)));
        assert_eq!(typed.len(), 8);
        assert_eq!(typed, bytes);
        assert_eq!(encoded(&typed), encoded(&bytes));
        let back = DistinctSet::decode(&mut Reader::new(&encoded(&typed))).unwrap();
        assert_eq!(back, typed);
        assert_eq!(encoded(&back), encoded(&typed));
    }

    #[test]
    fn a_mix_of_kinds_falls_back_to_encodings() {
        let mut a = DistinctSet::default();
        a.update(&Datum::Int64(1));
        a.update(&Datum::from("x"));
        a.update(&Datum::Timestamp(1));
        assert!(matches!(a.keys, Keys::Bytes(_)));
        assert_eq!(a.len(), 3);
        let mut ints = DistinctSet::default();
        ints.update(&Datum::Int64(1));
        ints.update(&Datum::Int64(2));
        let mut strs = DistinctSet::default();
        strs.update(&Datum::from("x"));
        strs.update(&Datum::from("y"));
        let mut m = ints.clone();
        m.merge(&strs);
        assert_eq!(m.len(), 4);
        let mut n = strs.clone();
        n.merge(&ints);
        assert_eq!(m, n);
        assert_eq!(encoded(&m), encoded(&n));
        m.merge(&a);
        assert_eq!(m.len(), 5);
    }
}

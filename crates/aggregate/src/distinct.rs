//! Exact `count_distinct` state: the set of distinct values.

use std::collections::BTreeSet;

use crate::encoding::{
    put_bytes, put_datum_canonical, put_int_key, put_str_key, put_varint, Reader,
};
use crate::error::Result;
use tessera_value::Value;

/// The distinct non-missing values seen. Values equal as SQL values are one value (`0.0`
/// and `-0.0`). Memory grows with the number of distinct values: use
/// `approx_count_distinct` when that is unbounded.
///
/// A set of only integers, only timestamps or only strings keeps them as such (an
/// aggregation's input has one type, so this is the common case: no encoding and no
/// allocation per integer); anything else, or a mix, keeps each value's canonical
/// encoding.
/// The encoded state lists each value's canonical encoding in the set's order — numeric
/// for integers and timestamps, byte order for strings and for encodings — so it is a pure
/// function of the set (the representation is too: typed exactly when every value has the
/// one kind), and equal sets give equal bytes.
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

    /// Calls `f` with each value's canonical encoding, in the set's order.
    fn each_encoded(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = Vec::new();
        let mut put = |d: &Value, f: &mut dyn FnMut(&[u8])| {
            buf.clear();
            put_datum_canonical(&mut buf, d);
            f(&buf);
        };
        match self {
            Keys::Empty => {}
            Keys::Int(s) => s.iter().for_each(|v| put(&Value::Int64(*v), &mut f)),
            Keys::Time(s) => s.iter().for_each(|v| put(&Value::Timestamp(*v), &mut f)),
            Keys::Str(s) => s
                .iter()
                .for_each(|v| put(&Value::String(v.clone()), &mut f)),
            Keys::Bytes(s) => s.iter().for_each(|k| f(k)),
        }
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
    pub(crate) fn update(&mut self, v: &Value) {
        match (&mut self.keys, v) {
            (Keys::Int(s), Value::Int64(x)) | (Keys::Time(s), Value::Timestamp(x)) => {
                s.insert(*x);
            }
            (Keys::Str(s), Value::String(x)) => {
                if !s.contains(x.as_str()) {
                    s.insert(x.clone());
                }
            }
            (Keys::Empty, Value::Int64(x)) => self.keys = Keys::Int(BTreeSet::from([*x])),
            (Keys::Empty, Value::Timestamp(x)) => self.keys = Keys::Time(BTreeSet::from([*x])),
            (Keys::Empty, Value::String(x)) => self.keys = Keys::Str(BTreeSet::from([x.clone()])),
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
        match &self.keys {
            Keys::Empty => {}
            Keys::Int(s) => s.iter().for_each(|v| put_int_key(out, *v, false)),
            Keys::Time(s) => s.iter().for_each(|v| put_int_key(out, *v, true)),
            Keys::Str(s) => s.iter().for_each(|v| put_str_key(out, v)),
            Keys::Bytes(s) => s.iter().for_each(|k| put_bytes(out, k)),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        // Each key takes at least a length byte and a tag byte.
        let n = r.count(2)?;
        let mut set = DistinctSet::default();
        let mut canonical = Vec::new();
        let mut listed: Vec<&[u8]> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.bytes()?;
            let v = Reader::new(k).datum()?;
            canonical.clear();
            put_datum_canonical(&mut canonical, &v);
            if canonical != k || v.is_missing() {
                return Err(r.error("distinct value is not one canonical value"));
            }
            set.update(&v);
            listed.push(k);
        }
        if set.len() != n {
            return Err(r.error("distinct value repeated"));
        }
        // The values must be listed in the set's own order (what `encode` writes), or in
        // byte order of their encodings (what states written before typed sets hold; they
        // encode in the set's order again once re-written).
        let mut i = 0;
        let mut in_order = true;
        set.keys.each_encoded(|k| {
            in_order &= listed.get(i) == Some(&k);
            i += 1;
        });
        if !in_order && !listed.windows(2).all(|w| w[0] < w[1]) {
            return Err(r.error("distinct values out of order"));
        }
        Ok(set)
    }
}

impl PartialEq for DistinctSet {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.encode(&mut a);
        other.encode(&mut b);
        a == b
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
            s.update(&Value::from(v));
        }
        s.update(&Value::Float64(0.0));
        s.update(&Value::Float64(-0.0));
        assert_eq!(s.len(), 4);
        let mut t = DistinctSet::default();
        t.update(&Value::from("d"));
        t.update(&Value::from("a"));
        s.merge(&t);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn direct_key_writes_equal_length_prefixed_canonical_encodings() {
        let long = "é".repeat(100);
        let values = [
            Value::Int64(0),
            Value::Int64(-1),
            Value::Int64(63),
            Value::Int64(64),
            Value::Int64(i64::MIN),
            Value::Int64(i64::MAX),
            Value::Timestamp(-5),
            Value::from(""),
            Value::from("abc"),
            Value::from(long.as_str()),
        ];
        for v in values {
            let mut canonical = Vec::new();
            put_datum_canonical(&mut canonical, &v);
            let mut want = Vec::new();
            put_bytes(&mut want, &canonical);
            let mut got = Vec::new();
            match &v {
                Value::Int64(x) => put_int_key(&mut got, *x, false),
                Value::Timestamp(x) => put_int_key(&mut got, *x, true),
                Value::String(x) => put_str_key(&mut got, x),
                _ => unreachable!(),
            }
            assert_eq!(got, want, "{v:?}");
        }
    }

    #[test]
    fn typed_and_encoded_sets_agree() {
        // The same values through a typed set and through canonical encodings.
        let values: Vec<Value> = [5, -3, 300, 0, 5, i64::MIN, i64::MAX, 127, 128]
            .into_iter()
            .map(Value::Int64)
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
        assert_eq!(bytes.len(), 8);
        // The same canonical encodings; the typed set lists them in numeric order.
        let listed = |k: &Keys| {
            let mut all = Vec::new();
            k.each_encoded(|e| all.push(e.to_vec()));
            all
        };
        let mut sorted = listed(&typed.keys);
        sorted.sort();
        assert_eq!(sorted, listed(&bytes.keys));
        let back = DistinctSet::decode(&mut Reader::new(&encoded(&typed))).unwrap();
        assert_eq!(back, typed);
        assert_eq!(encoded(&back), encoded(&typed));
    }

    #[test]
    fn decode_takes_the_set_order_or_the_byte_order() {
        let mut s = DistinctSet::default();
        for v in [2, -3, 200] {
            s.update(&Value::Int64(v));
        }
        let listed = |vals: &[i64]| {
            let mut out = Vec::new();
            put_varint(&mut out, vals.len() as u64);
            for v in vals {
                let mut k = Vec::new();
                put_datum_canonical(&mut k, &Value::Int64(*v));
                put_bytes(&mut out, &k);
            }
            out
        };
        // The set's order is numeric ...
        let bytes = encoded(&s);
        assert_eq!(bytes, listed(&[-3, 2, 200]));
        assert_eq!(DistinctSet::decode(&mut Reader::new(&bytes)).unwrap(), s);
        // ... the encodings' byte order differs (zigzag: 2 -> 4, -3 -> 5) and still reads,
        // as states written before typed sets hold it.
        let by_bytes = listed(&[2, -3, 200]);
        assert_eq!(DistinctSet::decode(&mut Reader::new(&by_bytes)).unwrap(), s);
        // Any other order, or a repeated value, is refused.
        assert!(DistinctSet::decode(&mut Reader::new(&listed(&[200, -3, 2]))).is_err());
        assert!(DistinctSet::decode(&mut Reader::new(&listed(&[-3, -3, 2]))).is_err());
    }

    #[test]
    fn a_mix_of_kinds_falls_back_to_encodings() {
        let mut a = DistinctSet::default();
        a.update(&Value::Int64(1));
        a.update(&Value::from("x"));
        a.update(&Value::Timestamp(1));
        assert!(matches!(a.keys, Keys::Bytes(_)));
        assert_eq!(a.len(), 3);
        let mut ints = DistinctSet::default();
        ints.update(&Value::Int64(1));
        ints.update(&Value::Int64(2));
        let mut strs = DistinctSet::default();
        strs.update(&Value::from("x"));
        strs.update(&Value::from("y"));
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

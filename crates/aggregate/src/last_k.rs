//! `last` and `last_k` states: the values with the greatest `(ts, value)`.

use std::cmp::Ordering;

use crate::encoding::{put_datum, put_varint, put_zigzag, Reader};
use crate::error::Result;
use tessera_value::Value;

/// Largest `k` accepted for `last_k`.
pub const MAX_LAST_K: usize = 1000;

fn cmp_entry(a: &(i64, Value), b: &(i64, Value)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.total_cmp(&b.1))
}

/// The `k` entries with the greatest `(ts, value)` under [`Value::total_cmp`],
/// kept sorted most recent first. Ties on `ts` are broken by the greater value, so
/// the kept multiset (and hence the state) never depends on arrival order. The
/// same event applied twice is kept twice: de-duplication is the caller's job.
/// `last` is this state with `k = 1`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LastK {
    k: usize,
    items: Vec<(i64, Value)>,
}

impl LastK {
    pub(crate) fn new(k: usize) -> Self {
        LastK {
            k: k.clamp(1, MAX_LAST_K),
            items: Vec::new(),
        }
    }

    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Offers a non-missing value at `ts`.
    pub(crate) fn update(&mut self, v: &Value, ts: i64) {
        if self.items.len() >= self.k {
            if let Some(smallest) = self.items.last() {
                let o = smallest.0.cmp(&ts).then_with(|| smallest.1.total_cmp(v));
                if o != Ordering::Less {
                    return;
                }
            }
        }
        let entry = (ts, v.clone());
        let at = self
            .items
            .partition_point(|e| cmp_entry(e, &entry) != Ordering::Less);
        self.items.insert(at, entry);
        self.items.truncate(self.k);
    }

    pub(crate) fn merge(&mut self, other: &LastK) {
        if other.items.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity((self.items.len() + other.items.len()).min(self.k));
        let (mut a, mut b) = (
            std::mem::take(&mut self.items).into_iter().peekable(),
            other.items.iter().peekable(),
        );
        while merged.len() < self.k {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => cmp_entry(x, y) != Ordering::Less,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next().cloned() };
            if let Some(e) = next {
                merged.push(e);
            }
        }
        self.items = merged;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The most recent value, `Null` when empty.
    pub(crate) fn finish_last(&self) -> Value {
        self.items.first().map_or(Value::Null, |(_, v)| v.clone())
    }

    /// The kept values, most recent first (an empty list when empty).
    pub(crate) fn finish_list(&self) -> Value {
        Value::List(self.items.iter().map(|(_, v)| v.clone()).collect())
    }

    /// Writes the entries (not `k`, which belongs to the definition).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.items.len() as u64);
        let mut prev: Option<i64> = None;
        for (ts, v) in &self.items {
            match prev {
                // Most recent first: later entries are never newer.
                Some(p) => put_varint(out, p.abs_diff(*ts)),
                None => put_zigzag(out, *ts),
            }
            prev = Some(*ts);
            put_datum(out, v);
        }
    }

    pub(crate) fn decode(k: usize, r: &mut Reader<'_>) -> Result<Self> {
        if k == 0 || k > MAX_LAST_K {
            return Err(r.error("last_k with k outside 1..=1000"));
        }
        // Each entry takes at least two bytes (a timestamp and a value tag).
        let n = r.count(2)?;
        if n > k {
            return Err(r.error("more entries than k"));
        }
        let mut items: Vec<(i64, Value)> = Vec::with_capacity(n);
        for _ in 0..n {
            let ts = match items.last() {
                None => r.zigzag()?,
                Some((p, _)) => {
                    let d = r.varint()?;
                    i64::try_from(i128::from(*p) - i128::from(d))
                        .map_err(|_| r.error("timestamp out of range"))?
                }
            };
            let v = r.datum()?;
            if v.is_missing() {
                return Err(r.error("last_k holds a missing value"));
            }
            let entry = (ts, v);
            if let Some(prev) = items.last() {
                if cmp_entry(prev, &entry) == Ordering::Less {
                    return Err(r.error("last_k entries out of order"));
                }
            }
            items.push(entry);
        }
        Ok(LastK { k, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_most_recent_with_value_tie_break() {
        let mut s = LastK::new(3);
        s.update(&Value::Int64(1), 10);
        s.update(&Value::Int64(5), 30);
        s.update(&Value::Int64(2), 30);
        s.update(&Value::Int64(9), 5);
        s.update(&Value::Int64(4), 20);
        assert_eq!(
            s.finish_list(),
            Value::List(vec![Value::Int64(5), Value::Int64(2), Value::Int64(4)])
        );
        assert_eq!(s.finish_last(), Value::Int64(5));
    }

    #[test]
    fn merge_keeps_top_k_of_union() {
        let mut a = LastK::new(2);
        a.update(&Value::from("x"), 1);
        a.update(&Value::from("y"), 4);
        let mut b = LastK::new(2);
        b.update(&Value::from("z"), 3);
        b.update(&Value::from("y"), 4);
        a.merge(&b);
        assert_eq!(
            a.finish_list(),
            Value::List(vec![Value::from("y"), Value::from("y")])
        );
    }
}

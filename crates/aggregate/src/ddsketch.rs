//! `approx_percentile` state: DDSketch with relative accuracy α = 0.01.
//!
//! A value `x > 0` goes to bucket `i = ceil(ln(x) / ln γ)` with
//! `γ = (1 + α) / (1 − α)`, so bucket `i` holds `(γ^(i−1), γ^i]`; negative values go
//! to a mirror store keyed by the bucket of `|x|`; exact zeros are counted apart.
//! Buckets are never collapsed, so the state is a pure function of the multiset
//! of inputs (any order gives the same bytes). Memory is one entry per distinct
//! bucket: values spanning a ratio `R` use at most `ln R / ln γ ≈ 50·ln R`
//! buckets per sign, e.g. ~1,050 for 1e-3..1e6 and ~36,000 for the whole f64
//! range; realistic feature data stays at a few thousand.
//!
//! The quantile follows the DDSketch paper: with `n` values, rank `q·(n−1)`, walk
//! the buckets in value order until the running count exceeds the rank, and
//! return the bucket's representative `±2γ^i/(γ+1)`. The returned `x̂` satisfies
//! `|x̂ − x| ≤ α·|x|` where `x` is the exact element of 0-based rank
//! `⌊q·(n−1)⌋` in sorted order (up to ~1e-11 relative of float rounding).
//! Non-finite values are ignored.

use std::collections::BTreeMap;

use crate::det_math;
use crate::encoding::{put_varint, put_zigzag, Reader};
use crate::error::Result;

/// The relative accuracy of every quantile.
pub const DDSKETCH_ALPHA: f64 = 0.01;
const GAMMA: f64 = (1.0 + DDSKETCH_ALPHA) / (1.0 - DDSKETCH_ALPHA);

#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct DDSketch {
    zero: u64,
    pos: BTreeMap<i32, u64>,
    neg: BTreeMap<i32, u64>,
}

fn ln_gamma() -> f64 {
    det_math::ln(GAMMA)
}

/// Bucket index of a positive finite value.
fn bucket(x: f64) -> i32 {
    // |ln x| <= 745 for every positive finite f64, so this is within ±37,700.
    (det_math::ln(x) / ln_gamma()).ceil() as i32
}

/// The representative value of bucket `i`: `2γ^i/(γ+1)`, within α of every
/// value in `(γ^(i−1), γ^i]`.
fn representative(i: i32) -> f64 {
    // γ^(i-1) · 2γ/(γ+1) keeps the intermediate inside the f64 range.
    let v = det_math::powi(GAMMA, i.saturating_sub(1)) * (2.0 * GAMMA / (GAMMA + 1.0));
    v.min(f64::MAX)
}

impl DDSketch {
    /// Offers a value; non-finite values are ignored.
    pub(crate) fn update(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if x == 0.0 {
            self.zero = self.zero.saturating_add(1);
        } else if x > 0.0 {
            let c = self.pos.entry(bucket(x)).or_insert(0);
            *c = c.saturating_add(1);
        } else {
            let c = self.neg.entry(bucket(-x)).or_insert(0);
            *c = c.saturating_add(1);
        }
    }

    pub(crate) fn merge(&mut self, other: &DDSketch) {
        self.zero = self.zero.saturating_add(other.zero);
        for (mine, theirs) in [(&mut self.pos, &other.pos), (&mut self.neg, &other.neg)] {
            for (&i, &c) in theirs {
                let e = mine.entry(i).or_insert(0);
                *e = e.saturating_add(c);
            }
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.pos
            .values()
            .chain(self.neg.values())
            .fold(self.zero, |a, &c| a.saturating_add(c))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The `q`-quantile estimate, `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let mut seen: u64 = 0;
        // Most negative first: the largest |x| bucket of the negative store.
        for (&i, &c) in self.neg.iter().rev() {
            seen = seen.saturating_add(c);
            if seen as f64 > rank {
                return Some(-representative(i));
            }
        }
        seen = seen.saturating_add(self.zero);
        if seen as f64 > rank {
            return Some(0.0);
        }
        for (&i, &c) in &self.pos {
            seen = seen.saturating_add(c);
            if seen as f64 > rank {
                return Some(representative(i));
            }
        }
        // Only reachable through float rounding of `rank`: the maximum.
        if let Some((&i, _)) = self.pos.last_key_value() {
            Some(representative(i))
        } else if self.zero > 0 {
            Some(0.0)
        } else {
            self.neg.first_key_value().map(|(&i, _)| -representative(i))
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.zero);
        for store in [&self.neg, &self.pos] {
            put_varint(out, store.len() as u64);
            let mut prev: Option<i32> = None;
            for (&i, &c) in store {
                match prev {
                    Some(p) => put_varint(out, u64::from(i.abs_diff(p))),
                    None => put_zigzag(out, i64::from(i)),
                }
                put_varint(out, c);
                prev = Some(i);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let zero = r.varint()?;
        let mut stores = [BTreeMap::new(), BTreeMap::new()];
        for store in &mut stores {
            let n = r.count(2)?;
            let mut prev: Option<i64> = None;
            for _ in 0..n {
                let i = match prev {
                    None => r.zigzag()?,
                    Some(p) => {
                        let d = r.varint()?;
                        if d == 0 {
                            return Err(r.error("sketch buckets out of order"));
                        }
                        i64::try_from(d)
                            .ok()
                            .and_then(|d| p.checked_add(d))
                            .ok_or_else(|| r.error("sketch bucket out of range"))?
                    }
                };
                let index = i32::try_from(i).map_err(|_| r.error("sketch bucket out of range"))?;
                let c = r.varint()?;
                if c == 0 {
                    return Err(r.error("empty sketch bucket"));
                }
                store.insert(index, c);
                prev = Some(i);
            }
        }
        let [neg, pos] = stores;
        Ok(DDSketch { zero, pos, neg })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_hold() {
        for x in [1e-300, 1e-9, 0.5, 1.0, 1.0202, 3.7, 1e6, 1e300] {
            let i = bucket(x);
            let hat = representative(i);
            assert!(
                (hat - x).abs() <= DDSKETCH_ALPHA * x * (1.0 + 1e-12),
                "{x}: {hat}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_small_set() {
        let mut s = DDSketch::default();
        assert_eq!(s.quantile(0.5), None);
        for x in [-10.0, 0.0, 1.0, 2.0, 3.0, 100.0] {
            s.update(x);
        }
        let check = |q: f64, exact: f64| {
            let got = s.quantile(q).unwrap();
            assert!(
                (got - exact).abs() <= DDSKETCH_ALPHA * exact.abs() + 1e-12,
                "{q}: {got}"
            );
        };
        check(0.0, -10.0);
        check(0.2, 0.0);
        check(0.5, 1.0);
        check(0.99, 3.0);
        check(1.0, 100.0);
    }
}

//! `approx_count_distinct` state: HyperLogLog with 2^12 registers.
//!
//! Each non-missing value is hashed with the stable XXH64 of its canonical bytes
//! ([`crate::hash`]). The top 12 bits pick one of 4096 registers; the register
//! keeps the largest "rank" (leading zeros of the other 52 bits, plus one) seen.
//! The standard error of the estimate is about 1.04/√4096 ≈ 1.6 %; see
//! [`HyperLogLog::estimate`] for the estimator.
//!
//! Small sets are stored *sparse*: a sorted list of `(register, rank)` for the
//! non-zero registers. Once more than 1024 registers are non-zero (when the list
//! would take more memory than the 4096 dense bytes) the state turns *dense*.
//! Register values only grow, so the representation is a pure function of the
//! register contents, which are a pure function of the set of hashed values:
//! any update and merge order gives the same state, byte for byte.

use crate::encoding::{put_varint, Reader};
use crate::error::Result;
use crate::hash::hash_datum;
use tessera_value::Value;

/// Register-index bits.
pub(crate) const PRECISION: u32 = 12;
/// Number of registers.
pub(crate) const REGISTERS: usize = 1 << PRECISION;
/// Largest possible rank: 64 - 12 + 1.
const MAX_RANK: u8 = (64 - PRECISION + 1) as u8;
/// Most non-zero registers kept in the sparse list (4 bytes each in memory).
const SPARSE_MAX: usize = REGISTERS / 4;

const FORM_SPARSE: u8 = 0;
const FORM_DENSE: u8 = 1;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HyperLogLog {
    /// Non-zero registers, sorted by register index, at most [`SPARSE_MAX`].
    Sparse(Vec<(u16, u8)>),
    /// All registers; more than [`SPARSE_MAX`] of them are non-zero.
    Dense(Box<[u8]>),
}

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog::Sparse(Vec::new())
    }
}

fn index_and_rank(hash: u64) -> (u16, u8) {
    let index = (hash >> (64 - PRECISION)) as u16;
    let rest = hash << PRECISION;
    let rank = (rest.leading_zeros() + 1).min(u32::from(MAX_RANK)) as u8;
    (index, rank)
}

impl HyperLogLog {
    /// Offers a non-missing value; `scratch` is reused for its canonical bytes.
    pub(crate) fn update(&mut self, v: &Value, scratch: &mut Vec<u8>) {
        let (index, rank) = index_and_rank(hash_datum(v, scratch));
        self.set_max(index, rank);
    }

    fn set_max(&mut self, index: u16, rank: u8) {
        match self {
            HyperLogLog::Dense(regs) => {
                if let Some(r) = regs.get_mut(usize::from(index)) {
                    *r = (*r).max(rank);
                }
            }
            HyperLogLog::Sparse(list) => {
                match list.binary_search_by_key(&index, |&(i, _)| i) {
                    Ok(at) => {
                        if let Some(e) = list.get_mut(at) {
                            e.1 = e.1.max(rank);
                        }
                    }
                    Err(at) => list.insert(at, (index, rank)),
                }
                if list.len() > SPARSE_MAX {
                    self.densify();
                }
            }
        }
    }

    fn densify(&mut self) {
        if let HyperLogLog::Sparse(list) = self {
            let mut regs = vec![0u8; REGISTERS].into_boxed_slice();
            for &(i, r) in list.iter() {
                if let Some(slot) = regs.get_mut(usize::from(i)) {
                    *slot = r;
                }
            }
            *self = HyperLogLog::Dense(regs);
        }
    }

    pub(crate) fn merge(&mut self, other: &HyperLogLog) {
        match other {
            HyperLogLog::Sparse(list) => {
                for &(i, r) in list {
                    self.set_max(i, r);
                }
            }
            HyperLogLog::Dense(theirs) => {
                self.densify();
                if let HyperLogLog::Dense(mine) = self {
                    for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                        *m = (*m).max(*t);
                    }
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            HyperLogLog::Sparse(list) => list.is_empty(),
            HyperLogLog::Dense(_) => false,
        }
    }

    /// Calls `f` with every register value, zero or not, in index order.
    fn for_each_register(&self, mut f: impl FnMut(u8)) {
        match self {
            HyperLogLog::Dense(regs) => regs.iter().for_each(|&r| f(r)),
            HyperLogLog::Sparse(list) => {
                for _ in 0..(REGISTERS - list.len()) {
                    f(0);
                }
                for &(_, r) in list {
                    f(r);
                }
            }
        }
    }

    /// The cardinality estimate, by Ertl's improved estimator ("New cardinality
    /// estimation algorithms for HyperLogLog sketches", 2017). It is the classic
    /// raw estimate `α·m²/Σ2^-M[j]` with the zero registers (the linear-counting
    /// information) and the saturated registers folded in analytically through
    /// the `σ` and `τ` series, so it needs no switch between linear counting and
    /// the raw estimate and no empirical bias tables. The classic switch at
    /// `2.5·m` leaves a bias of about +2.5 % around 10,000 distinct values for
    /// 4096 registers, outside the 3σ = 4.9 % envelope; this estimator stays
    /// unbiased, with standard error ≈ 1.04/√m ≈ 1.6 %, across the whole range,
    /// and counts small sets exactly or nearly so. It uses only IEEE `+ - * /`
    /// and `sqrt` (correctly rounded everywhere), so it is the same on every
    /// platform.
    pub(crate) fn estimate(&self) -> i64 {
        let q = (64 - PRECISION) as usize;
        let mut counts = [0u32; 64];
        self.for_each_register(|r| {
            if let Some(c) = counts.get_mut(usize::from(r)) {
                *c += 1;
            }
        });
        let m = REGISTERS as f64;
        let at = |k: usize| f64::from(counts.get(k).copied().unwrap_or(0));
        if at(0) == m {
            return 0;
        }
        let mut z = m * tau(1.0 - at(q + 1) / m);
        for k in (1..=q).rev() {
            z = 0.5 * (z + at(k));
        }
        z += m * sigma(at(0) / m);
        // α∞ = 1 / (2 ln 2).
        const TWO_LN_2: f64 = 1.386_294_361_119_890_6;
        (m * m / (TWO_LN_2 * z)).round() as i64
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            HyperLogLog::Sparse(list) => {
                out.push(FORM_SPARSE);
                put_varint(out, list.len() as u64);
                let mut prev: Option<u16> = None;
                for &(i, r) in list {
                    let delta = match prev {
                        Some(p) => i.saturating_sub(p),
                        None => i,
                    };
                    put_varint(out, u64::from(delta));
                    out.push(r);
                    prev = Some(i);
                }
            }
            HyperLogLog::Dense(regs) => {
                out.push(FORM_DENSE);
                out.extend_from_slice(regs);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8()? {
            FORM_SPARSE => {
                let n = r.count(2)?;
                if n > SPARSE_MAX {
                    return Err(r.error("sparse HyperLogLog too long"));
                }
                let mut list = Vec::with_capacity(n);
                let mut prev: Option<u16> = None;
                for _ in 0..n {
                    let delta = r.varint()?;
                    let index = match prev {
                        Some(_) if delta == 0 => {
                            return Err(r.error("sparse registers out of order"));
                        }
                        // A delta past u64 (damaged input) is out of range too; unchecked
                        // it wrapped to an index below the previous one (an unsorted list).
                        Some(p) => u64::from(p).saturating_add(delta),
                        None => delta,
                    };
                    if index >= REGISTERS as u64 {
                        return Err(r.error("register index out of range"));
                    }
                    let rank = r.u8()?;
                    if rank == 0 || rank > MAX_RANK {
                        return Err(r.error("register rank out of range"));
                    }
                    let index = index as u16;
                    list.push((index, rank));
                    prev = Some(index);
                }
                Ok(HyperLogLog::Sparse(list))
            }
            FORM_DENSE => {
                let regs = r.take(REGISTERS)?;
                if regs.iter().any(|&x| x > MAX_RANK) {
                    return Err(r.error("register rank out of range"));
                }
                if regs.iter().filter(|&&x| x != 0).count() <= SPARSE_MAX {
                    return Err(r.error("dense HyperLogLog with few registers set"));
                }
                Ok(HyperLogLog::Dense(regs.to_vec().into_boxed_slice()))
            }
            _ => Err(r.error("unknown HyperLogLog form")),
        }
    }
}

/// `σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k−1)` (Ertl), for `x` in `[0, 1)`.
fn sigma(x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let (mut x, mut y, mut z) = (x, 1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// `τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k) / 3` (Ertl), for `x` in `[0, 1]`.
fn tau(x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    let (mut x, mut y, mut z) = (x, 1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hll_of(range: std::ops::Range<i64>) -> HyperLogLog {
        let mut h = HyperLogLog::default();
        let mut scratch = Vec::new();
        for i in range {
            h.update(&Value::Int64(i), &mut scratch);
        }
        h
    }

    #[test]
    fn small_sets_are_exact_and_sparse() {
        assert_eq!(HyperLogLog::default().estimate(), 0);
        for n in [1, 2, 5, 10, 50] {
            let h = hll_of(0..n);
            assert!(matches!(h, HyperLogLog::Sparse(_)));
            assert_eq!(h.estimate(), n);
        }
        let h = hll_of(0..500);
        assert!((h.estimate() - 500).abs() <= 10, "{}", h.estimate());
    }

    #[test]
    fn switch_to_dense_keeps_the_estimate() {
        let h = hll_of(0..20_000);
        assert!(matches!(h, HyperLogLog::Dense(_)));
        let e = h.estimate() as f64;
        assert!((e - 20_000.0).abs() / 20_000.0 < 0.05, "{e}");
        // Merging a dense into a sparse and a sparse into a dense agree.
        let mut a = hll_of(0..100);
        a.merge(&hll_of(100..20_000));
        let mut b = hll_of(100..20_000);
        b.merge(&hll_of(0..100));
        assert_eq!(a, b);
        assert_eq!(a, h);
    }

    #[test]
    fn encoding_round_trips() {
        for h in [hll_of(0..0), hll_of(0..30), hll_of(0..5000)] {
            let mut out = Vec::new();
            h.encode(&mut out);
            let back = HyperLogLog::decode(&mut Reader::new(&out)).unwrap();
            assert_eq!(back, h);
        }
    }

    /// Found by the `aggregate_state` fuzz target: a sparse register's delta so large that
    /// adding it to the previous index overflowed (a panic with overflow checks, an
    /// unsorted register list without).
    #[test]
    fn a_sparse_delta_past_u64_is_refused_not_wrapped() {
        let mut out = vec![FORM_SPARSE];
        crate::encoding::put_varint(&mut out, 2); // two registers
        crate::encoding::put_varint(&mut out, 5); // index 5
        out.push(1);
        crate::encoding::put_varint(&mut out, u64::MAX); // 5 + u64::MAX
        out.push(1);
        let err = HyperLogLog::decode(&mut Reader::new(&out)).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}

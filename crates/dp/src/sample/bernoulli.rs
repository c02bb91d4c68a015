//! Exact Bernoulli trials: Bernoulli(n/d), and Bernoulli(exp(-γ)) for a rational γ ≥ 0
//! (Canonne, Kamath & Steinke 2020, Algorithms 1 and 2).

use super::uniform::UniformSource;

/// 1 with probability `n / d` (`d > 0`, `n ≤ d`), from one uniform integer below `d`.
#[inline]
pub fn bernoulli<R: UniformSource + ?Sized>(rng: &mut R, n: u128, d: u128) -> bool {
    rng.below_u128(d) < n
}

/// 1 with probability exp(-n/d) (`d > 0`), exactly.
///
/// For γ = n/d ≤ 1 (Algorithm 1): draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until one is
/// 0; the answer is whether that k is odd (the probability is Σ (-γ)^j / j! = exp(-γ)).
/// For γ > 1 (Algorithm 2): ⌊γ⌋ trials of Bernoulli(exp(-1)) must all succeed, then one of
/// Bernoulli(exp(-(γ - ⌊γ⌋))).
pub fn bernoulli_exp<R: UniformSource + ?Sized>(rng: &mut R, n: u128, d: u128) -> bool {
    debug_assert!(d > 0);
    let whole = n / d;
    let mut k = 0;
    while k < whole {
        if !bernoulli_exp_unit(rng, 1, 1) {
            return false;
        }
        k += 1;
    }
    bernoulli_exp_unit(rng, n % d, d)
}

/// Algorithm 1: Bernoulli(exp(-n/d)) for n ≤ d.
#[inline]
fn bernoulli_exp_unit<R: UniformSource + ?Sized>(rng: &mut R, n: u128, d: u128) -> bool {
    if n == 0 {
        return true;
    }
    let mut k: u128 = 1;
    loop {
        // Bernoulli(γ/k) = Bernoulli(n / (d·k)); d·k overflows only after ~2^64 rounds.
        let Some(dk) = d.checked_mul(k) else {
            return k % 2 == 1;
        };
        if !bernoulli(rng, n, dk) {
            return k % 2 == 1;
        }
        k += 1;
    }
}

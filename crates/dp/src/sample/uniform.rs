//! Sources of uniform random integers: the one thing every sampler consumes.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{Error, Result};

/// A source of independent, uniformly distributed 64-bit words. The samplers turn these
/// into exact Bernoulli, discrete Laplace and discrete Gaussian draws with integer
/// arithmetic only.
pub trait UniformSource {
    /// The next 64 uniform bits.
    fn next_u64(&mut self) -> u64;

    /// Uniform in `[0, n)`, exactly (Lemire's multiply-and-reject); `n` must be positive.
    fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `[0, n)` for a 128-bit `n` (positive), exactly: draws of the bit width of
    /// `n - 1`, rejected until below `n`.
    fn below_u128(&mut self, n: u128) -> u128 {
        debug_assert!(n > 0);
        if let Ok(small) = u64::try_from(n) {
            return u128::from(self.below(small));
        }
        let bits = 128 - (n - 1).leading_zeros();
        let mask = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        loop {
            let x = ((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())) & mask;
            if x < n {
                return x;
            }
        }
    }
}

/// ChaCha20, a cryptographically secure generator. [`ChaChaSource::from_os`] seeds it from
/// the operating system (what every release uses); [`ChaChaSource::seeded`] makes runs
/// reproducible and is for tests only.
#[derive(Debug, Clone)]
pub struct ChaChaSource(ChaCha20Rng);

impl ChaChaSource {
    /// A generator seeded with 256 bits from the operating system.
    pub fn from_os() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::NoRandomness(e.to_string()))?;
        Ok(Self(ChaCha20Rng::from_seed(seed)))
    }

    /// A reproducible generator. For tests only: its output is predictable, so noise drawn
    /// from it protects nothing.
    pub fn seeded(seed: u64) -> Self {
        Self(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl UniformSource for ChaChaSource {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = ChaChaSource::seeded(1);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[r.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
        let big = (1u128 << 100) + 3;
        for _ in 0..100 {
            assert!(r.below_u128(big) < big);
        }
        assert_eq!(r.below(1), 0);
    }
}

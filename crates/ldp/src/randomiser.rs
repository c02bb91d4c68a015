//! The device side: a value in, a privatised report out.

use rand_core::{CryptoRng, RngCore, SeedableRng, TryRngCore};

use crate::error::{Error, Result};
use crate::hash_family::HashFamily;
use crate::params::{LdpParams, Mechanism};
use crate::report::{CmsReport, HcmsReport, Report};

/// The client randomiser of one report definition. The same code runs on a device
/// and in the simulator ([`Simulation`](crate::Simulation)).
#[derive(Debug, Clone)]
pub struct Randomiser {
    params: LdpParams,
    hashes: HashFamily,
}

impl Randomiser {
    /// The randomiser for `params` with the hash family keyed by `hash_key` (the
    /// report's name).
    pub fn new(params: LdpParams, hash_key: &[u8]) -> Self {
        Self {
            params,
            hashes: HashFamily::new(hash_key, params.m()),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &LdpParams {
        &self.params
    }

    /// The hash family.
    pub fn hashes(&self) -> &HashFamily {
        &self.hashes
    }

    /// One report of `value`, with randomness from `rng`.
    pub fn randomise<R: RngCore + CryptoRng>(&self, value: &[u8], rng: &mut R) -> Report {
        let mut out = match self.params.mechanism() {
            Mechanism::Cms => Report::Cms(CmsReport::default()),
            Mechanism::Hcms => Report::Hcms(HcmsReport {
                row: 0,
                index: 0,
                plus: false,
            }),
        };
        self.randomise_into(value, rng, &mut out);
        out
    }

    /// One report of `value` written into `out`, reusing its buffer (a simulation
    /// of many devices allocates nothing per device).
    pub fn randomise_into<R: RngCore + CryptoRng>(
        &self,
        value: &[u8],
        rng: &mut R,
        out: &mut Report,
    ) {
        match self.params.mechanism() {
            Mechanism::Cms => {
                if !matches!(out, Report::Cms(_)) {
                    *out = Report::Cms(CmsReport::default());
                }
                if let Report::Cms(report) = out {
                    self.cms(value, rng, report);
                }
            }
            Mechanism::Hcms => *out = Report::Hcms(self.hcms(value, rng)),
        }
    }

    /// CMS: pick row j uniformly, one-hot at `h_j(value)` encoded ±1 (−1 everywhere
    /// else), each coordinate flipped with probability `1 / (1 + e^(ε/2))`.
    fn cms<R: RngCore + CryptoRng>(&self, value: &[u8], rng: &mut R, out: &mut CmsReport) {
        let m = self.params.m() as usize;
        let flip = self.params.flip();
        let row = uniform_below(rng, self.params.k());
        let hot = self.hashes.bucket(row, value) as usize;
        out.row = row;
        out.bits.clear();
        out.bits.resize(m.div_ceil(64), 0);
        for (w, word) in out.bits.iter_mut().enumerate() {
            let len = (m - w * 64).min(64);
            let mut acc = 0u64;
            let mut b = 0;
            while b < len {
                // Two coordinates per 64-bit draw.
                let r = rng.next_u64();
                acc |= u64::from(flip.flips(r as u32)) << b;
                if b + 1 < len {
                    acc |= u64::from(flip.flips((r >> 32) as u32)) << (b + 1);
                }
                b += 2;
            }
            // −1 is bit 0, so a flipped −1 is a set bit: the bits are the flips,
            // except at the hot coordinate (+1), where they are the flip inverted.
            *word = acc;
        }
        out.bits[hot / 64] ^= 1 << (hot % 64);
    }

    /// HCMS: pick row j and coefficient l uniformly; the bit is the l-th entry of
    /// the Hadamard transform of the one-hot vector at `h_j(value)`,
    /// `(−1)^popcount(l & h_j(value))`, flipped with probability `1 / (1 + e^ε)`.
    fn hcms<R: RngCore + CryptoRng>(&self, value: &[u8], rng: &mut R) -> HcmsReport {
        let row = uniform_below(rng, self.params.k());
        let index = uniform_below(rng, self.params.m());
        let hot = self.hashes.bucket(row, value);
        let plus = (index & hot).count_ones() & 1 == 0;
        let flipped = self.params.flip().flips(rng.next_u32());
        HcmsReport {
            row,
            index,
            plus: plus ^ flipped,
        }
    }
}

/// A uniform integer in `[0, n)` by rejection (no modulo bias); `n ≥ 1`.
fn uniform_below<R: RngCore>(rng: &mut R, n: u32) -> u32 {
    let n64 = u64::from(n.max(1));
    let zone = (1u64 << 32) / n64 * n64;
    loop {
        let x = u64::from(rng.next_u32());
        if x < zone {
            return (x % n64) as u32;
        }
    }
}

/// The production random number generator: ChaCha20 seeded with 32 bytes from the
/// operating system (`getrandom`), a fresh one per report batch.
pub fn os_rng() -> Result<rand_chacha::ChaCha20Rng> {
    let mut seed = [0u8; 32];
    rand_core::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|source| Error::Randomness { source })?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}

/// A seeded generator, for tests and simulations only: never on a device.
pub fn seeded_rng(seed: u64, stream: u64) -> rand_chacha::ChaCha20Rng {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_flip_rate_matches() {
        let params = LdpParams::new(Mechanism::Cms, 2.0, 4, 100).unwrap();
        let r = Randomiser::new(params, b"t");
        let mut rng = seeded_rng(1, 0);
        let mut ones_hot = 0u32;
        let mut ones_cold = 0u64;
        let n = 4000;
        for _ in 0..n {
            let Report::Cms(rep) = r.randomise(b"x", &mut rng) else {
                panic!()
            };
            rep.check(&params).unwrap();
            let hot = r.hashes.bucket(rep.row, b"x");
            for i in 0..100 {
                if rep.is_plus(i) {
                    if i == hot {
                        ones_hot += 1;
                    } else {
                        ones_cold += 1;
                    }
                }
            }
        }
        let p = params.flip().probability();
        let cold_rate = ones_cold as f64 / (n as f64 * 99.0);
        let hot_rate = f64::from(ones_hot) / f64::from(n);
        assert!((cold_rate - p).abs() < 0.01, "{cold_rate} vs {p}");
        assert!(
            (hot_rate - (1.0 - p)).abs() < 0.03,
            "{hot_rate} vs {}",
            1.0 - p
        );
    }

    #[test]
    fn uniform_below_covers() {
        let mut rng = seeded_rng(2, 0);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[uniform_below(&mut rng, 5) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 900 && c < 1100), "{seen:?}");
    }

    #[test]
    fn os_rng_works() {
        let mut a = os_rng().unwrap();
        let mut b = os_rng().unwrap();
        assert_ne!(a.next_u64(), b.next_u64());
    }
}

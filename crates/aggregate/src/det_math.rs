//! Deterministic `ln` and integer powers built only from IEEE-754 `+ - * /`.
//!
//! `f64::ln` and `f64::powi` call the platform's math library, whose last-bit
//! rounding differs between targets (glibc, musl, Apple, Android). DDSketch bucket
//! indices and the HyperLogLog linear-counting estimate depend on these functions,
//! and a state built on a phone must equal the one built in the cloud, byte for
//! byte. Basic IEEE operations are correctly rounded everywhere (Rust does not
//! fuse multiply-adds unless asked), so these versions give the same bits on
//! every platform. `ln` is accurate to a few ulps, `powi` to about `|n|` ulps:
//! both far inside every bound this crate documents.

/// ln(2) split so that `e * LN2_HI` is exact for any binary exponent (fdlibm).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// Natural logarithm of a positive finite `x`. Returns `-inf` for `0`, `NaN`
/// for negative or `NaN` input and `+inf` for `+inf`.
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let (mut bits, mut exp) = (x.to_bits(), 0i32);
    if x < f64::MIN_POSITIVE {
        // Subnormal: scale by 2^54 (exact) to normalise.
        bits = (x * 18_014_398_509_481_984.0).to_bits();
        exp = -54;
    }
    exp += ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    // ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), |s| <= 0.1716.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut poly = 0.0;
    for k in (0..=12).rev() {
        poly = poly * s2 + 1.0 / f64::from(2 * k + 1);
    }
    let e = f64::from(exp);
    e * LN2_HI + (e * LN2_LO + 2.0 * s * poly)
}

/// `base^n` by repeated squaring: relative error about `|n|` ulps (≤ 5e-12
/// for every DDSketch bucket), far below the sketch's 1 % accuracy.
pub(crate) fn powi(base: f64, n: i32) -> f64 {
    let (mut b, mut e) = if n < 0 {
        (1.0 / base, n.unsigned_abs())
    } else {
        (base, n.unsigned_abs())
    };
    let mut acc = 1.0;
    while e > 0 {
        if e & 1 == 1 {
            acc *= b;
        }
        e >>= 1;
        if e > 0 {
            b *= b;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_std_closely() {
        let mut x = 1e-310;
        while x < 1e300 {
            let (a, b) = (ln(x), x.ln());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "{x}: {a} vs {b}"
            );
            x *= 1.37;
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!((ln(std::f64::consts::E) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn powi_matches_std_closely() {
        let g = 1.01 / 0.99;
        for n in [-3000, -17, -1, 0, 1, 2, 5, 100, 3000] {
            let (a, b) = (powi(g, n), g.powi(n));
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{n}: {a} vs {b}");
        }
    }
}

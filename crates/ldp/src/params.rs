//! The parameters of a local-DP report: mechanism, ε, and the sketch size k × m.

use crate::error::{invalid, Result};

/// The largest k (hash functions, sketch rows) and m (sketch columns): a row index
/// and a column index travel as 16-bit integers on the wire.
pub const MAX_DIMENSION: u32 = 65_536;

/// The largest ε accepted for one report. Beyond it a report is nearly the raw value.
pub const MAX_EPSILON: f64 = 20.0;

/// Which randomiser a report uses (Apple, "Learning with Privacy at Scale", 2017).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// Count-Mean-Sketch: the device sends m bits and a row index.
    Cms,
    /// Hadamard Count-Mean-Sketch: the device sends one bit, a row index and a
    /// column index; m must be a power of two.
    Hcms,
}

impl Mechanism {
    /// `cms` or `hcms`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Cms => "cms",
            Mechanism::Hcms => "hcms",
        }
    }

    /// Parses `cms` or `hcms`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "cms" => Ok(Mechanism::Cms),
            "hcms" => Ok(Mechanism::Hcms),
            other => Err(invalid(
                "mechanism",
                format!("`{other}` is not a mechanism; use `cms` (Count-Mean-Sketch) or `hcms` (Hadamard Count-Mean-Sketch)"),
            )),
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Mechanism::Cms => 1,
            Mechanism::Hcms => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Mechanism::Cms),
            2 => Some(Mechanism::Hcms),
            _ => None,
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked set of parameters: build with [`LdpParams::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LdpParams {
    mechanism: Mechanism,
    epsilon: f64,
    k: u32,
    m: u32,
    flip: FlipProbability,
}

impl LdpParams {
    /// Checks the parameters: `0 < ε ≤ 20`, `1 ≤ k ≤ 65536`, `2 ≤ m ≤ 65536`, and m a
    /// power of two for HCMS (the Hadamard transform needs one).
    pub fn new(mechanism: Mechanism, epsilon: f64, k: u32, m: u32) -> Result<Self> {
        if !(epsilon.is_finite() && epsilon > 0.0 && epsilon <= MAX_EPSILON) {
            return Err(invalid(
                "epsilon",
                format!("{epsilon} is out of range; ε must be > 0 and ≤ {MAX_EPSILON} (typical: 1 to 8)"),
            ));
        }
        if k == 0 || k > MAX_DIMENSION {
            return Err(invalid(
                "k",
                format!("{k} is out of range; k (hash functions) must be 1 to {MAX_DIMENSION} (typical: 16 to 2048)"),
            ));
        }
        if !(2..=MAX_DIMENSION).contains(&m) {
            return Err(invalid(
                "m",
                format!("{m} is out of range; m (sketch columns) must be 2 to {MAX_DIMENSION} (typical: 1024)"),
            ));
        }
        if mechanism == Mechanism::Hcms && !m.is_power_of_two() {
            return Err(invalid(
                "m",
                format!(
                    "{m} is not a power of two, which hcms needs (the Hadamard transform); use {}",
                    m.next_power_of_two().min(MAX_DIMENSION)
                ),
            ));
        }
        let per_coordinate = match mechanism {
            // Changing the value changes two coordinates of the one-hot vector.
            Mechanism::Cms => epsilon / 2.0,
            Mechanism::Hcms => epsilon,
        };
        Ok(Self {
            mechanism,
            epsilon,
            k,
            m,
            flip: FlipProbability::new(per_coordinate),
        })
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// ε of one report, as declared.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The number of hash functions (sketch rows).
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The number of sketch columns.
    pub fn m(&self) -> u32 {
        self.m
    }

    /// The flip probability the randomiser uses.
    pub fn flip(&self) -> FlipProbability {
        self.flip
    }

    /// ε the randomiser actually guarantees: the flip probability is a multiple of
    /// 2^-32 rounded up, so this is at most [`LdpParams::epsilon`].
    pub fn realised_epsilon(&self) -> f64 {
        let p = self.flip.probability();
        let per_coordinate = ((1.0 - p) / p).ln();
        match self.mechanism {
            Mechanism::Cms => 2.0 * per_coordinate,
            Mechanism::Hcms => per_coordinate,
        }
    }

    /// Checks that a report or sketch made with `other` can join one made with these.
    pub fn check_same(&self, other: &LdpParams) -> Result<()> {
        if self == other {
            return Ok(());
        }
        Err(crate::error::Error::ParameterMismatch {
            reason: format!("expected {self}, got {other}"),
        })
    }
}

impl std::fmt::Display for LdpParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ε={} k={} m={}",
            self.mechanism, self.epsilon, self.k, self.m
        )
    }
}

/// The probability with which the randomiser flips one ±1 coordinate:
/// `1 / (1 + e^ε')` (ε' = ε/2 for CMS, ε for HCMS), held exactly as an integer
/// threshold over 32-bit random words: a coordinate flips when a uniform 32-bit
/// word is below the threshold. The threshold is rounded up, so the realised
/// probability is never below the ideal one (the privacy never weaker), and the
/// estimator uses the realised value, so it stays exactly unbiased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlipProbability {
    threshold: u64,
}

impl FlipProbability {
    fn new(epsilon_per_coordinate: f64) -> Self {
        let p = 1.0 / (1.0 + epsilon_per_coordinate.exp());
        let scaled = (p * 4_294_967_296.0).ceil();
        // 0 < p ≤ 1/2, so the threshold is in [1, 2^31].
        let threshold = scaled.clamp(1.0, 2_147_483_648.0) as u64;
        Self { threshold }
    }

    /// `true` (flip) with the realised probability, from one uniform 32-bit word.
    #[inline]
    pub(crate) fn flips(self, word: u32) -> bool {
        u64::from(word) < self.threshold
    }

    /// The realised flip probability p (a multiple of 2^-32).
    pub fn probability(self) -> f64 {
        self.threshold as f64 / 4_294_967_296.0
    }

    /// The debiasing constant `c = 1 / (1 − 2p)` (Apple's `c_ε`).
    pub fn debias(self) -> f64 {
        1.0 / (1.0 - 2.0 * self.probability())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_ranges() {
        assert!(LdpParams::new(Mechanism::Cms, 0.0, 16, 1024).is_err());
        assert!(LdpParams::new(Mechanism::Cms, 4.0, 0, 1024).is_err());
        assert!(LdpParams::new(Mechanism::Cms, 4.0, 16, 1).is_err());
        assert!(LdpParams::new(Mechanism::Cms, 4.0, 16, 1000).is_ok());
        let err = LdpParams::new(Mechanism::Hcms, 4.0, 16, 1000).unwrap_err();
        assert!(err.to_string().contains("use 1024"), "{err}");
        assert!(Mechanism::parse("laplace").is_err());
    }

    #[test]
    fn realised_epsilon_is_close_and_not_above() {
        for mech in [Mechanism::Cms, Mechanism::Hcms] {
            for eps in [0.5, 1.0, 4.0, 8.0, 16.0] {
                let p = LdpParams::new(mech, eps, 4, 1024).unwrap();
                let r = p.realised_epsilon();
                assert!(r <= eps + 1e-12 && r > eps - 0.01, "{mech} {eps} {r}");
            }
        }
    }

    #[test]
    fn debias_matches_apple() {
        let p = LdpParams::new(Mechanism::Cms, 4.0, 4, 1024).unwrap();
        let e = 2f64.exp();
        assert!((p.flip().debias() - (e + 1.0) / (e - 1.0)).abs() < 1e-6);
    }
}

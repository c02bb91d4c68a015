//! A budget per period, a release's cost, and their conversions.

use serde::Serialize;

/// A ρ-zCDP budget per period, and the δ its group selections may spend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// ρ per period.
    pub rho: f64,
    /// δ per period for releases that select their groups by thresholding (0: none may).
    pub delta: f64,
    /// The period's length in µs; periods are consecutive windows of this length counted
    /// from 1970-01-01T00:00:00Z.
    pub period_us: i64,
    /// The period as written (`30d`).
    pub per: String,
}

impl Budget {
    /// The period holding `now_us`: [start, end).
    pub fn period_at(&self, now_us: i64) -> (i64, i64) {
        let p = self.period_us.max(1);
        let start = now_us.div_euclid(p) * p;
        (start, start.saturating_add(p))
    }
}

impl From<&tessera_core::DpBudget> for Budget {
    fn from(b: &tessera_core::DpBudget) -> Self {
        Self {
            rho: b.rho,
            delta: b.delta,
            period_us: i64::try_from(b.period.as_micros()).unwrap_or(i64::MAX),
            per: b.per.clone(),
        }
    }
}

/// What one release costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    /// ρ (zCDP). An ε-DP mechanism costs ε²/2.
    pub rho: f64,
    /// δ of a thresholding group selection (0 without one).
    pub delta: f64,
    /// The ε a discrete-Laplace release was asked for (for reporting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

impl Cost {
    /// The cost of a ρ-zCDP release.
    pub fn rho(rho: f64) -> Self {
        Self {
            rho,
            delta: 0.0,
            epsilon: None,
        }
    }

    /// The cost of an ε-DP release: ρ = ε²/2 (pure ε-DP implies ε²/2-zCDP).
    pub fn epsilon(epsilon: f64) -> Self {
        Self {
            rho: epsilon * epsilon / 2.0,
            delta: 0.0,
            epsilon: Some(epsilon),
        }
    }

    /// For messages: `ρ = 0.05` or `ε = 0.3 (ρ = 0.045)`, with δ when there is one.
    pub fn describe(&self) -> String {
        let mut s = match self.epsilon {
            Some(e) => format!(
                "ε = {} (ρ = {})",
                crate::accountant::round(e),
                crate::accountant::round(self.rho)
            ),
            None => format!("ρ = {}", crate::accountant::round(self.rho)),
        };
        if self.delta > 0.0 {
            s.push_str(&format!(", δ = {}", self.delta));
        }
        s
    }
}

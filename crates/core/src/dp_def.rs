//! Differential-privacy definitions: a purpose's budget (`dp: { budget: … }`) and the
//! releasable queries (`releases:`). See `docs/DIFFERENTIAL_PRIVACY.md`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `dp:` of a purpose: its budget of noisy aggregate releases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDpDef {
    /// The budget per (consumer, period).
    pub budget: DpBudgetDef,
}

/// A budget as declared: `{ rho: 0.5, per: 30d }` (ρ-zCDP, optionally with a `delta` for
/// releases that select their groups by thresholding) or `{ epsilon: 1.0, delta: 1e-6,
/// per: 30d }` ((ε, δ)-DP, converted to ρ by [`rho_for_epsilon_delta`] with half of δ; the
/// other half is left for group selections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpBudgetDef {
    /// ρ (zCDP) per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// ε per period (with `delta`), instead of `rho`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// δ per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// The period (`30d`, `1w`, `24h`).
    pub per: String,
}

/// A budget resolved to ρ-zCDP.
#[derive(Debug, Clone, PartialEq)]
pub struct DpBudget {
    /// ρ per period.
    pub rho: f64,
    /// δ per period for thresholding group selections (0: none allowed).
    pub delta: f64,
    /// The period.
    pub period: Duration,
    /// The period as written.
    pub per: String,
}

/// The largest ρ whose zCDP guarantee implies (ε, δ)-DP by Bun & Steinke's conversion
/// (ρ-zCDP ⇒ (ρ + 2·√(ρ·ln(1/δ)), δ)-DP): ρ = (√(ln(1/δ) + ε) − √ln(1/δ))². Conservative:
/// tighter conversions exist, so the (ε, δ) actually achieved is at most the one declared.
pub fn rho_for_epsilon_delta(epsilon: f64, delta: f64) -> f64 {
    let l = (1.0 / delta).ln();
    let r = (l + epsilon).sqrt() - l.sqrt();
    r * r
}

impl DpBudgetDef {
    /// The budget in ρ, or what is wrong with it.
    pub fn resolve(&self) -> Result<DpBudget, String> {
        let period = crate::duration::parse_duration(&self.per).map_err(|e| e.to_string())?;
        if period.is_zero() {
            return Err("`per` must be a positive duration".into());
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let delta = self.delta.unwrap_or(0.0);
        if self.delta.is_some() && !(positive(delta) && delta < 1.0) {
            return Err(format!("`delta` {delta} must be in (0, 1)"));
        }
        let (rho, delta) = match (self.rho, self.epsilon) {
            (Some(rho), None) if positive(rho) => (rho, delta),
            (None, Some(eps)) if positive(eps) => {
                if self.delta.is_none() {
                    return Err("an `epsilon` budget needs a `delta` (e.g. 1e-6)".into());
                }
                (rho_for_epsilon_delta(eps, delta / 2.0), delta / 2.0)
            }
            (Some(_), Some(_)) => {
                return Err("declare `rho` or `epsilon` (with `delta`), not both".into())
            }
            (None, None) => return Err("declare `rho` or `epsilon` (with `delta`)".into()),
            _ => return Err("`rho` and `epsilon` must be positive numbers".into()),
        };
        Ok(DpBudget {
            rho,
            delta,
            period,
            per: self.per.clone(),
        })
    }
}

/// What a release computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseQuery {
    /// The number of rows (per group, when grouped).
    Count,
    /// The sum of the measure, clipped (per group, when grouped).
    Sum,
    /// The mean of the measure: a noisy sum over a noisy count, each with half the cost.
    Mean,
    /// The number of rows per group (a grouped count).
    Histogram,
}

impl ReleaseQuery {
    /// Parses `count`, `sum`, `mean`, `histogram`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "count" => Some(Self::Count),
            "sum" => Some(Self::Sum),
            "mean" => Some(Self::Mean),
            "histogram" => Some(Self::Histogram),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Mean => "mean",
            Self::Histogram => "histogram",
        }
    }

    /// Whether it needs a measure column.
    pub fn needs_measure(self) -> bool {
        matches!(self, Self::Sum | Self::Mean)
    }
}

/// The noise: discrete Gaussian (cost in ρ) or discrete Laplace (cost in ε).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseMechanism {
    /// Discrete Gaussian, ρ-zCDP.
    Gaussian,
    /// Discrete Laplace, ε-DP.
    Laplace,
}

/// A release's cost: `{ rho: 0.05 }` (Gaussian) or `{ epsilon: 0.3 }` (Laplace).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseCostDef {
    /// ρ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

impl ReleaseCostDef {
    /// The mechanism it implies, or what is wrong.
    pub fn mechanism(&self) -> Result<ReleaseMechanism, String> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        match (self.rho, self.epsilon) {
            (Some(r), None) if ok(r) => Ok(ReleaseMechanism::Gaussian),
            (None, Some(e)) if ok(e) => Ok(ReleaseMechanism::Laplace),
            (Some(_), Some(_)) => Err("give `rho` or `epsilon`, not both".into()),
            (None, None) => Err("give `rho` (Gaussian noise) or `epsilon` (Laplace noise)".into()),
            _ => Err("the cost must be a positive number".into()),
        }
    }
}

/// How a release groups: by one public column, over a declared domain or over the groups a
/// DP thresholding step selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupByDef {
    /// The column (of the source, or of the lookup).
    pub column: String,
    /// The public domain: exactly these groups are released (rows of other values are
    /// dropped), each with its noisy value, zero or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Vec<String>>,
    /// Instead of a domain: release the groups whose noisy count passes a threshold set so
    /// that a group held by one entity appears with probability at most this δ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_delta: Option<f64>,
}

/// The measure of a sum or mean: a numeric column, clipped to `[lo, hi]` and scaled to
/// integers in units of `precision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureDef {
    /// The column.
    pub column: String,
    /// The lower clipping bound.
    pub lo: f64,
    /// The upper clipping bound.
    pub hi: f64,
    /// The unit values are rounded to (default 1): 0.1 keeps one decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
}

/// Public attributes joined to the rows before grouping: `{ source: item_catalog, on:
/// item_id, columns: [genre] }`. The lookup source is treated as public.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupDef {
    /// The source holding the attributes.
    pub source: String,
    /// The column both sources share.
    pub on: String,
    /// The columns taken from it.
    pub columns: Vec<String>,
}

/// A releasable query (`releases:`): what it reads, how contributions are bounded, how it
/// groups, and its noise and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDef {
    /// Unique name.
    pub name: String,
    /// The source read (or `view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A feature view whose source is read (instead of `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// The entity whose contributions are bounded (a person, usually `user`); defaults to
    /// the view's entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// A SQL filter on the source's rows (`action = 'play'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Public attributes joined from another source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupDef>,
    /// What it computes.
    pub query: ReleaseQuery,
    /// How it groups (required for `histogram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupByDef>,
    /// The measure (required for `sum` and `mean`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureDef>,
    /// The most rows one entity contributes (a keyed-hash sample of its rows beyond that).
    pub max_rows: u32,
    /// The noise; defaults to the one the cost implies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<ReleaseMechanism>,
    /// The default cost of one run (a run may give its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ReleaseCostDef>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ReleaseDef {
    /// What is wrong with the release on its own (names are checked against the catalog
    /// elsewhere).
    pub fn check_shape(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |m: &str, h: &str| out.push((m.to_string(), h.to_string()));
        match (&self.source, &self.view) {
            (Some(_), Some(_)) => bad("names both `source` and `view`", "keep one"),
            (None, None) => bad(
                "names no `source` or `view`",
                "add `source: NAME` or `view: NAME`",
            ),
            _ => {}
        }
        if self.max_rows == 0 {
            bad(
                "`max_rows` is 0",
                "each entity must contribute at least 1 row",
            );
        }
        if self.query.needs_measure() != self.measure.is_some() {
            if self.query.needs_measure() {
                bad(
                    &format!("a `{}` release needs a `measure`", self.query.name()),
                    "add `measure: { column: C, lo: 0, hi: 100 }`",
                );
            } else {
                bad(
                    &format!("a `{}` release takes no `measure`", self.query.name()),
                    "remove `measure`, or use `query: sum` or `mean`",
                );
            }
        }
        if self.query == ReleaseQuery::Histogram && self.group_by.is_none() {
            bad(
                "a `histogram` release needs a `group_by`",
                "add `group_by: { column: C, domain: [a, b] }`",
            );
        }
        if let Some(m) = &self.measure {
            let p = m.precision.unwrap_or(1.0);
            if !(m.lo.is_finite() && m.hi.is_finite() && m.lo < m.hi) {
                bad(
                    "the measure's bounds must be finite with `lo < hi`",
                    "e.g. `lo: 0, hi: 600`",
                );
            }
            if !(p.is_finite() && p > 0.0) {
                bad(
                    "the measure's `precision` must be positive",
                    "e.g. `precision: 0.1`",
                );
            }
        }
        if let Some(g) = &self.group_by {
            match (&g.domain, g.threshold_delta) {
                (Some(_), Some(_)) => bad(
                    "`group_by` has both a `domain` and a `threshold_delta`",
                    "declare the public domain, or let a threshold select the groups, not both",
                ),
                (None, None) => bad(
                    "`group_by` needs a public `domain` or a `threshold_delta`",
                    "add `domain: [a, b, c]` (groups known in advance) or `threshold_delta: 1e-7`",
                ),
                (Some(d), None) => {
                    let mut seen = std::collections::BTreeSet::new();
                    if d.is_empty() {
                        bad("`group_by.domain` is empty", "list the groups to release");
                    }
                    for v in d {
                        if !seen.insert(v) {
                            bad(
                                &format!("`group_by.domain` lists `{v}` twice"),
                                "list each group once",
                            );
                        }
                    }
                }
                (None, Some(delta)) => {
                    if !(delta.is_finite() && delta > 0.0 && delta < 1e-3) {
                        bad(
                            "`group_by.threshold_delta` must be in (0, 0.001)",
                            "e.g. `threshold_delta: 1e-7`",
                        );
                    }
                    if self.query != ReleaseQuery::Histogram && self.query != ReleaseQuery::Count {
                        bad(
                            "groups selected by a threshold are for `count` and `histogram`",
                            "declare the public `domain` of a grouped sum or mean",
                        );
                    }
                }
            }
        }
        if let Some(c) = &self.cost {
            match c.mechanism() {
                Err(e) => bad(&format!("`cost`: {e}"), "e.g. `cost: { rho: 0.05 }`"),
                Ok(m) if self.mechanism.is_some_and(|d| d != m) => bad(
                    "the `mechanism` does not match the cost",
                    "a Gaussian release costs `rho`, a Laplace release costs `epsilon`",
                ),
                Ok(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_delta_converts_conservatively() {
        let rho = rho_for_epsilon_delta(1.0, 1e-6);
        // ρ + 2√(ρ ln(1/δ)) = ε exactly at the conversion.
        let eps = rho + 2.0 * (rho * (1e6f64).ln()).sqrt();
        assert!((eps - 1.0).abs() < 1e-12, "{rho} {eps}");
        assert!(rho > 0.0 && rho < 1.0 / 2.0);
    }

    #[test]
    fn budgets_resolve_or_say_why() {
        let b = |y: &str| serde_yaml::from_str::<DpBudgetDef>(y).unwrap().resolve();
        let r = b("{ rho: 0.5, per: 30d }").unwrap();
        assert_eq!((r.rho, r.delta), (0.5, 0.0));
        assert_eq!(r.period, Duration::from_secs(30 * 86_400));
        let r = b("{ epsilon: 1.0, delta: 1e-6, per: 1d }").unwrap();
        assert_eq!(r.delta, 5e-7);
        assert!((r.rho - rho_for_epsilon_delta(1.0, 5e-7)).abs() < 1e-15);
        assert!(b("{ epsilon: 1.0, per: 1d }")
            .unwrap_err()
            .contains("needs a `delta`"));
        assert!(b("{ rho: 0.5, epsilon: 1, per: 1d }")
            .unwrap_err()
            .contains("not both"));
        assert!(b("{ rho: -1, per: 1d }").is_err());
        assert!(b("{ rho: 1, per: 0s }").is_err());
    }
}

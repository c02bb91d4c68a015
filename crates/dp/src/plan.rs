//! A release's plan: its groups, bounds, sensitivities, calibrated noise and cost, derived
//! from its definition and the cost asked for; and the noisy aggregation of bounded rows.
//!
//! Sensitivities (add or remove one entity, which contributes at most `max_rows` rows):
//!
//! | query | L1 (Laplace) | L2 (Gaussian) |
//! |---|---|---|
//! | count, histogram | max_rows | max_rows (all its rows may fall in one group) |
//! | sum | max_rows · M | max_rows · M |
//!
//! with M = max(|lo|, |hi|) in units of the measure's precision. A mean is a noisy sum
//! over a noisy count, each calibrated with half the cost. The bound on rows holds per
//! entity across all groups, so grouping by several columns (one group per key tuple)
//! changes none of these.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tessera_core::{ReleaseCostDef, ReleaseDef, ReleaseMechanism, ReleaseQuery};

use crate::bounding::{Row, Scaling};
use crate::budget::Cost;
use crate::error::{Error, Result};
use crate::noise::{Noise, NoiseInfo};
use crate::sample::UniformSource;

/// How groups are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Groups {
    /// One group: the whole (filtered) data.
    All,
    /// The key tuples of the declared domains' product, released in this order.
    Domain(Vec<Vec<String>>),
    /// Key tuples whose noisy count reaches this threshold (within the columns' declared
    /// domains, for those that have one).
    Threshold {
        /// δ of the selection.
        delta: f64,
        /// The threshold τ on the noisy count.
        tau: i64,
    },
}

/// Everything a release needs besides its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The release's name (or `adhoc` for a query from flags).
    pub name: String,
    /// What it computes.
    pub query: ReleaseQuery,
    /// How it groups.
    pub groups: Groups,
    /// The group columns, in order (empty: not grouped).
    pub group_columns: Vec<String>,
    /// The declared domain of each group column (`None`: selected by the threshold).
    pub group_domains: Vec<Option<BTreeSet<String>>>,
    /// The most rows per entity.
    pub max_rows: u32,
    /// The measure's bounds and unit (sum, mean).
    pub scaling: Option<Scaling>,
    /// The noise on counts (count, histogram, mean).
    pub count_noise: Option<Noise>,
    /// The noise on sums, in units (sum, mean).
    pub sum_noise: Option<Noise>,
    /// What it costs.
    pub cost: Cost,
    /// The mechanism.
    pub mechanism: ReleaseMechanism,
}

impl Plan {
    /// The plan of `def` at `cost` (its own default cost when `None`).
    pub fn new(def: &ReleaseDef, cost: Option<ReleaseCostDef>) -> Result<Self> {
        let bad = |message: String, hint: &str| Error::Query {
            release: def.name.clone(),
            message,
            hint: hint.to_string(),
        };
        if let Some((m, h)) = def.check_shape().into_iter().next() {
            return Err(bad(m, &h));
        }
        let cost_def = cost.or(def.cost).ok_or_else(|| {
            bad(
                "no cost given".into(),
                "give `rho` (--rho R: Gaussian noise) or `epsilon` (--epsilon E: Laplace noise), or declare `cost:` on the release",
            )
        })?;
        let mechanism = cost_def
            .mechanism()
            .map_err(|e| bad(e, "e.g. --rho 0.05"))?;
        if let Some(m) = def.mechanism {
            if m != mechanism {
                return Err(bad(
                    format!("release `{}` uses {:?} noise, but the cost given is for the other mechanism", def.name, m),
                    "a Gaussian release costs rho (--rho), a Laplace release costs epsilon (--epsilon)",
                ));
            }
        }
        let mut cost = match mechanism {
            ReleaseMechanism::Gaussian => Cost::rho(cost_def.rho.unwrap_or(0.0)),
            ReleaseMechanism::Laplace => Cost::epsilon(cost_def.epsilon.unwrap_or(0.0)),
        };
        let max_rows = u64::from(def.max_rows);
        let scaling = def
            .measure
            .as_ref()
            .map(|m| Scaling::new(m.lo, m.hi, m.precision.unwrap_or(1.0)));
        let parts = if def.query == ReleaseQuery::Mean {
            2.0
        } else {
            1.0
        };
        let calibrate = |sensitivity: u64| -> Result<Noise> {
            match mechanism {
                ReleaseMechanism::Gaussian => Noise::gaussian(sensitivity, cost.rho / parts),
                ReleaseMechanism::Laplace => {
                    Noise::laplace(sensitivity, cost.epsilon.unwrap_or(0.0) / parts)
                }
            }
        };
        let count_noise = match def.query {
            ReleaseQuery::Sum => None,
            _ => Some(calibrate(max_rows)?),
        };
        let sum_noise = match (&scaling, def.query.needs_measure()) {
            (Some(s), true) => {
                let m = s.max_abs_units().max(1);
                let sens = max_rows.checked_mul(m).ok_or_else(|| {
                    bad(
                        "the sum's sensitivity overflows".into(),
                        "narrow the bounds",
                    )
                })?;
                Some(calibrate(sens)?)
            }
            _ => None,
        };
        let (groups, group_columns, group_domains) = match &def.group_by {
            None => (Groups::All, Vec::new(), Vec::new()),
            Some(g) => {
                let domains = g.domains();
                let sets = domains
                    .iter()
                    .map(|d| d.map(|v| v.iter().cloned().collect::<BTreeSet<_>>()))
                    .collect();
                let groups = if g.fully_declared() {
                    Groups::Domain(product(&domains))
                } else {
                    let delta = g.threshold_delta.unwrap_or(0.0);
                    let tau = count_noise
                        .as_ref()
                        .map_or(0, |n| n.threshold(max_rows, delta));
                    cost.delta = delta;
                    Groups::Threshold { delta, tau }
                };
                (groups, g.columns().to_vec(), sets)
            }
        };
        Ok(Self {
            name: def.name.clone(),
            query: def.query,
            groups,
            group_columns,
            group_domains,
            max_rows: def.max_rows,
            scaling,
            count_noise,
            sum_noise,
            cost,
            mechanism,
        })
    }

    /// Whether a row takes part (before bounding): when grouped, rows with no key tuple
    /// (a null value) or a value outside a column's declared domain are dropped.
    pub fn keeps(&self, row: &Row) -> bool {
        if self.groups == Groups::All {
            return true;
        }
        row.group.as_ref().is_some_and(|key| {
            key.len() == self.group_domains.len()
                && key
                    .iter()
                    .zip(&self.group_domains)
                    .all(|(v, d)| d.as_ref().is_none_or(|d| d.contains(v)))
        })
    }

    /// The noise stated for counts and sums (value units).
    pub fn noise_info(&self) -> (Option<NoiseInfo>, Option<NoiseInfo>) {
        let max_rows = u64::from(self.max_rows);
        let count = self.count_noise.as_ref().map(|n| n.info(max_rows, 1.0));
        let sum = match (&self.sum_noise, &self.scaling) {
            (Some(n), Some(s)) => Some(n.info(max_rows * s.max_abs_units().max(1), s.precision)),
            _ => None,
        };
        (count, sum)
    }

    /// The noisy answer over `rows`, already bounded ([`crate::bounding::bound_rows`]).
    pub fn aggregate<R: UniformSource + ?Sized>(
        &self,
        rows: &[Row],
        rng: &mut R,
    ) -> Vec<GroupValue> {
        let mut acc: BTreeMap<Option<Vec<String>>, (i64, i128)> = BTreeMap::new();
        for r in rows {
            let key = match self.groups {
                Groups::All => None,
                _ => r.group.clone(),
            };
            let e = acc.entry(key).or_insert((0, 0));
            e.0 += 1;
            if let (Some(s), Some(v)) = (&self.scaling, r.value) {
                e.1 += i128::from(s.units(v));
            }
        }
        let keys: Vec<Option<Vec<String>>> = match &self.groups {
            Groups::All => vec![None],
            Groups::Domain(d) => d.iter().cloned().map(Some).collect(),
            Groups::Threshold { .. } => acc.keys().cloned().collect(),
        };
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let (count, sum) = acc.get(&k).copied().unwrap_or((0, 0));
            let noisy_count = self.count_noise.as_ref().map(|n| count + n.sample(rng));
            if let (Groups::Threshold { tau, .. }, Some(c)) = (&self.groups, noisy_count) {
                if c < *tau {
                    continue;
                }
            }
            let unit = self.scaling.map_or(1.0, |s| s.precision);
            let noisy_sum = self
                .sum_noise
                .as_ref()
                .map(|n| (sum + i128::from(n.sample(rng))) as f64 * unit);
            let count_var = self.count_noise.as_ref().map_or(0.0, Noise::variance);
            let sum_var = self
                .sum_noise
                .as_ref()
                .map_or(0.0, |n| n.variance() * unit * unit);
            let (value, variance) = match self.query {
                ReleaseQuery::Count | ReleaseQuery::Histogram => {
                    (noisy_count.map(|c| c as f64), count_var)
                }
                ReleaseQuery::Sum => (noisy_sum, sum_var),
                ReleaseQuery::Mean => match (noisy_sum, noisy_count) {
                    (Some(s), Some(c)) if c > 0 => {
                        let c = c as f64;
                        let lo = self.scaling.map_or(f64::MIN, |x| x.lo_units as f64 * unit);
                        let hi = self.scaling.map_or(f64::MAX, |x| x.hi_units as f64 * unit);
                        let m = (s / c).clamp(lo, hi);
                        // The delta method: Var(S/C) ≈ (Var S + m²·Var C) / C².
                        (Some(m), (sum_var + m * m * count_var) / (c * c))
                    }
                    _ => (None, f64::NAN),
                },
            };
            out.push(GroupValue {
                group: k.map(GroupKey::from),
                value,
                variance,
                count: if self.query == ReleaseQuery::Mean {
                    noisy_count.map(|c| c as f64)
                } else {
                    None
                },
                sum: if self.query == ReleaseQuery::Mean {
                    noisy_sum
                } else {
                    None
                },
            });
        }
        out
    }
}

/// The product of the declared domains, in column order, each domain in its declared order.
fn product(domains: &[Option<&Vec<String>>]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for d in domains.iter().flatten() {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                d.iter().map(move |v| {
                    let mut t = prefix.clone();
                    t.push(v.clone());
                    t
                })
            })
            .collect();
    }
    out
}

/// A released group's key: its value (grouped by one column), or its tuple of values (by
/// several, in the order of `group_by`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GroupKey {
    /// One group column.
    One(String),
    /// Several group columns.
    Tuple(Vec<String>),
}

impl From<Vec<String>> for GroupKey {
    fn from(mut key: Vec<String>) -> Self {
        if key.len() == 1 {
            Self::One(key.remove(0))
        } else {
            Self::Tuple(key)
        }
    }
}

impl GroupKey {
    /// The key for display: the value, or the tuple's values joined by `, `.
    pub fn label(&self) -> String {
        match self {
            Self::One(v) => v.clone(),
            Self::Tuple(vs) => vs.join(", "),
        }
    }

    /// The value of a one-column key.
    pub fn as_one(&self) -> Option<&str> {
        match self {
            Self::One(v) => Some(v),
            Self::Tuple(_) => None,
        }
    }
}

/// One released group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupValue {
    /// The group (`null` when not grouped): a value, or a tuple of values when grouped by
    /// several columns.
    pub group: Option<GroupKey>,
    /// The noisy answer (`null` for a mean whose noisy count is not positive).
    pub value: Option<f64>,
    /// The variance of its noise (for a mean, the delta-method approximation).
    pub variance: f64,
    /// A mean's noisy count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    /// A mean's noisy sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
}

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

/// The most groups a release's declared domains may describe (the product of their sizes).
pub const MAX_DOMAIN_GROUPS: usize = 100_000;

/// The most columns a release may group by.
pub const MAX_GROUP_COLUMNS: usize = 8;

/// The column or columns a release groups by: `genre`, or `[country, genre]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupColumns {
    /// One column.
    One(String),
    /// Several: one group per tuple of their values.
    Many(Vec<String>),
}

impl GroupColumns {
    /// The columns, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(c) => std::slice::from_ref(c),
            Self::Many(cs) => cs,
        }
    }
}

impl From<&str> for GroupColumns {
    fn from(c: &str) -> Self {
        Self::One(c.to_string())
    }
}

/// The public domain of a release's groups: a list of values (one group column), or a list
/// per column (`{ country: [fr, de], genre: [pop, rock] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupDomain {
    /// The values of the one group column.
    Values(Vec<String>),
    /// The values of each column that has a declared domain.
    PerColumn(std::collections::BTreeMap<String, Vec<String>>),
}

/// How a release groups: by one or more public columns, each over a declared domain, with
/// the groups of the columns that have none selected by a DP thresholding step over the
/// key tuples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupByDef {
    /// The column or columns (of the source, or of the lookup).
    #[serde(alias = "columns")]
    pub column: GroupColumns,
    /// The public domain: groups of other values are dropped; when every column has one,
    /// exactly the tuples of their product are released, each with its noisy value, zero
    /// or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<GroupDomain>,
    /// For columns without a domain: release the tuples whose noisy count passes a
    /// threshold set so that a tuple held by one entity appears with probability at most
    /// this δ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_delta: Option<f64>,
}

impl GroupByDef {
    /// One column over a public domain.
    pub fn domain(column: &str, values: Vec<String>) -> Self {
        Self {
            column: column.into(),
            domain: Some(GroupDomain::Values(values)),
            threshold_delta: None,
        }
    }

    /// The group columns, in order.
    pub fn columns(&self) -> &[String] {
        self.column.as_slice()
    }

    /// The declared domain of each group column (`None`: selected by the threshold).
    pub fn domains(&self) -> Vec<Option<&Vec<String>>> {
        let cols = self.columns();
        match &self.domain {
            None => vec![None; cols.len()],
            Some(GroupDomain::Values(v)) if cols.len() == 1 => vec![Some(v)],
            Some(GroupDomain::Values(_)) => vec![None; cols.len()],
            Some(GroupDomain::PerColumn(m)) => cols.iter().map(|c| m.get(c)).collect(),
        }
    }

    /// Whether every group column has a declared domain (no threshold selection).
    pub fn fully_declared(&self) -> bool {
        self.domains().iter().all(Option::is_some)
    }

    /// What is wrong with the grouping on its own: one (message, hint) per problem.
    fn check(&self, query: ReleaseQuery, bad: &mut impl FnMut(&str, &str)) {
        let cols = self.columns();
        if cols.is_empty() {
            bad(
                "`group_by` names no column",
                "e.g. `group_by: { column: genre, domain: [pop, rock] }`",
            );
            return;
        }
        if cols.len() > MAX_GROUP_COLUMNS {
            bad(
                &format!("`group_by` names {} columns", cols.len()),
                &format!("group by at most {MAX_GROUP_COLUMNS} columns"),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in cols {
            if !seen.insert(c) {
                bad(
                    &format!("`group_by` names column `{c}` twice"),
                    "name each column once",
                );
            }
        }
        match &self.domain {
            Some(GroupDomain::Values(_)) if cols.len() > 1 => bad(
                "`group_by.domain` is one list, but the release groups by several columns",
                &format!(
                    "give a list per column: `domain: {{ {}: [a, b] }}`",
                    cols[0]
                ),
            ),
            Some(GroupDomain::PerColumn(m)) => {
                for c in m.keys() {
                    if !cols.contains(c) {
                        bad(
                            &format!("`group_by.domain` lists values of `{c}`, which is not a group column"),
                            &format!("the group columns: {}", cols.join(", ")),
                        );
                    }
                }
            }
            _ => {}
        }
        let domains = self.domains();
        let mut product: usize = 1;
        for (c, d) in cols.iter().zip(&domains) {
            let Some(d) = d else { continue };
            product = product.saturating_mul(d.len());
            if d.is_empty() {
                bad(
                    &format!("the domain of `{c}` is empty"),
                    "list the groups to release",
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in d.iter() {
                if !seen.insert(v) {
                    bad(
                        &format!("the domain of `{c}` lists `{v}` twice"),
                        "list each group once",
                    );
                }
            }
        }
        if product > MAX_DOMAIN_GROUPS {
            bad(
                &format!("the declared domains describe {product} groups"),
                &format!("at most {MAX_DOMAIN_GROUPS}: shorten the domains, or let a `threshold_delta` select the groups"),
            );
        }
        let undeclared: Vec<&str> = cols
            .iter()
            .zip(&domains)
            .filter(|(_, d)| d.is_none())
            .map(|(c, _)| c.as_str())
            .collect();
        match (undeclared.is_empty(), self.threshold_delta) {
            (true, Some(_)) => bad(
                "`group_by` has both a `domain` for every column and a `threshold_delta`",
                "declare the public domain, or let a threshold select the groups, not both",
            ),
            (false, None) => bad(
                &format!(
                    "`group_by` column{} {} need{} a public `domain`, or the release a `threshold_delta`",
                    if undeclared.len() > 1 { "s" } else { "" },
                    undeclared.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                    if undeclared.len() > 1 { "" } else { "s" }
                ),
                if cols.len() == 1 {
                    "add `domain: [a, b, c]` (groups known in advance) or `threshold_delta: 1e-7`"
                } else {
                    "add `domain: { COLUMN: [a, b] }` for each column whose groups are known in advance, or `threshold_delta: 1e-7`"
                },
            ),
            (false, Some(delta)) => {
                if !(delta.is_finite() && delta > 0.0 && delta < 1e-3) {
                    bad(
                        "`group_by.threshold_delta` must be in (0, 0.001)",
                        "e.g. `threshold_delta: 1e-7`",
                    );
                }
                if query != ReleaseQuery::Histogram && query != ReleaseQuery::Count {
                    bad(
                        "groups selected by a threshold are for `count` and `histogram`",
                        "declare the public `domain` of every group column of a grouped sum or mean",
                    );
                }
            }
            (true, None) => {}
        }
    }
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

/// An ad-hoc release: a query sent with the request (`POST /v1/releases` `adhoc`,
/// `tessera release --query FILE.json`) rather than declared under `releases:`. It has the
/// declared form's fields except a name, a `lookup` (whose source would be trusted as
/// public without review), a mechanism and a default cost (the request gives the cost).
/// Its bounds are part of the query, never inferred from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdhocReleaseDef {
    /// The source read (or `view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A feature view whose source is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// The entity whose contributions are bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// A filter on the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// What it computes.
    pub query: ReleaseQuery,
    /// How it groups (required for `histogram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupByDef>,
    /// The measure and its clipping bounds (required for `sum` and `mean`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureDef>,
    /// The most rows one entity contributes (required).
    pub max_rows: u32,
}

impl AdhocReleaseDef {
    /// The release it describes, named `adhoc_<query>`.
    pub fn to_release(&self) -> ReleaseDef {
        ReleaseDef {
            name: format!("adhoc_{}", self.query.name()),
            source: self.source.clone(),
            view: self.view.clone(),
            entity: self.entity.clone(),
            filter: self.filter.clone(),
            lookup: None,
            query: self.query,
            group_by: self.group_by.clone(),
            measure: self.measure.clone(),
            max_rows: self.max_rows,
            mechanism: None,
            cost: None,
            description: None,
        }
    }
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
            g.check(self.query, &mut bad);
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

    fn release(group_by: &str, query: &str) -> ReleaseDef {
        serde_yaml::from_str(&format!(
            "{{ name: r, source: s, entity: user, query: {query}, max_rows: 2, group_by: {group_by} }}"
        ))
        .unwrap()
    }

    fn problems(group_by: &str, query: &str) -> String {
        release(group_by, query)
            .check_shape()
            .into_iter()
            .map(|(m, h)| format!("{m} (hint: {h})"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn group_by_takes_one_column_or_several() {
        let one = release("{ column: genre, domain: [pop, rock] }", "histogram");
        let g = one.group_by.as_ref().unwrap();
        assert_eq!(g.columns(), ["genre"]);
        assert!(g.fully_declared());
        let two = release(
            "{ columns: [country, genre], domain: { country: [fr, de] }, threshold_delta: 1e-7 }",
            "histogram",
        );
        let g = two.group_by.as_ref().unwrap();
        assert_eq!(g.columns(), ["country", "genre"]);
        assert_eq!(
            g.domains(),
            [Some(&vec!["fr".to_string(), "de".to_string()]), None]
        );
        assert!(two.check_shape().is_empty(), "{:?}", two.check_shape());
        let full = release(
            "{ column: [country, genre], domain: { country: [fr], genre: [pop, rock] } }",
            "sum",
        );
        assert!(full.group_by.as_ref().unwrap().fully_declared());
        // Round trip: the single-string form stays a string.
        let yaml = serde_yaml::to_string(&one).unwrap();
        assert!(yaml.contains("column: genre"), "{yaml}");
    }

    #[test]
    fn group_by_problems_are_named_with_a_fix() {
        let p = problems(
            "{ column: [country, genre], domain: [fr, de] }",
            "histogram",
        );
        assert!(
            p.contains("`group_by.domain` is one list, but the release groups by several columns"),
            "{p}"
        );
        assert!(p.contains("domain: { country: [a, b] }"), "{p}");
        let p = problems(
            "{ column: [country, genre], domain: { country: [fr] } }",
            "histogram",
        );
        assert!(
            p.contains(
                "column `genre` needs a public `domain`, or the release a `threshold_delta`"
            ),
            "{p}"
        );
        let p = problems("{ column: [country, genre], domain: { country: [fr], genre: [pop] }, threshold_delta: 1e-7 }", "count");
        assert!(
            p.contains("both a `domain` for every column and a `threshold_delta`"),
            "{p}"
        );
        let p = problems(
            "{ column: [country, country], domain: { country: [fr, fr], city: [x] } }",
            "count",
        );
        assert!(p.contains("names column `country` twice"), "{p}");
        assert!(
            p.contains("lists values of `city`, which is not a group column"),
            "{p}"
        );
        assert!(
            p.contains("the domain of `country` lists `fr` twice"),
            "{p}"
        );
        let p = problems(
            "{ column: [a, b], domain: { a: [x] }, threshold_delta: 1e-7 }",
            "sum",
        );
        assert!(p.contains("for `count` and `histogram`"), "{p}");
        let many: Vec<String> = (0..400).map(|i| format!("v{i}")).collect();
        let d = format!("[{}]", many.join(", "));
        let p = problems(
            &format!("{{ column: [a, b], domain: {{ a: {d}, b: {d} }} }}"),
            "count",
        );
        assert!(p.contains("describe 160000 groups"), "{p}");
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

//! Running a release end to end: permission, plan, early budget check, scan, bounding,
//! noise, the charge (synced before the answer exists for the caller), the answer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tessera_core::{Catalog, EntityHasher, ReleaseCostDef, ReleaseDef};

use crate::accountant::{format_us, Accountant, BudgetStatus};
use crate::bounding::bound_rows;
use crate::budget::{Budget, Cost};
use crate::error::{Error, Result};
use crate::noise::NoiseInfo;
use crate::plan::{GroupValue, Groups, Plan};
use crate::sample::UniformSource;
use crate::scan::{ranker, scan, TimeRange};

/// One release asked for.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The query (declared, or built from flags).
    pub release: ReleaseDef,
    /// Who asks: its budget is charged.
    pub consumer: String,
    /// For which purpose (it must declare `dp.budget`).
    pub purpose: String,
    /// The cost of this run (the release's declared cost when `None`).
    pub cost: Option<ReleaseCostDef>,
    /// The rows' time range.
    pub range: TimeRange,
    /// Whether the query came with the request (not declared under `releases:`): checked
    /// like a declared release, then by the policy gate ([`tessera_core::adhoc_refusals`]).
    pub adhoc: bool,
}

/// The noise stated with an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseSummary {
    /// On counts (count, histogram, a mean's count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<NoiseInfo>,
    /// On sums (sum, a mean's sum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<NoiseInfo>,
}

/// The budget after a release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetSummary {
    /// ρ per period.
    pub rho: f64,
    /// δ per period.
    pub delta: f64,
    /// The period.
    pub per: String,
    /// ρ spent in this period, this release included.
    pub spent_rho: f64,
    /// ρ left.
    pub remaining_rho: f64,
    /// δ left.
    pub remaining_delta: f64,
    /// When it resets (RFC 3339).
    pub resets_at: String,
}

impl From<&BudgetStatus> for BudgetSummary {
    fn from(s: &BudgetStatus) -> Self {
        Self {
            rho: s.budget.rho,
            delta: s.budget.delta,
            per: s.budget.per.clone(),
            spent_rho: s.spent_rho,
            remaining_rho: s.remaining_rho(),
            remaining_delta: s.remaining_delta(),
            resets_at: s.resets_at(),
        }
    }
}

/// The contribution bounds applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bounds {
    /// Rows per entity.
    pub max_rows: u32,
    /// The measure's clipping bounds and unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    /// Upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
    /// The unit values are rounded to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
}

/// A release's answer: noisy values only, never a raw one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseAnswer {
    /// The release.
    pub release: String,
    /// What it computed.
    pub query: &'static str,
    /// Who asked.
    pub consumer: String,
    /// For which purpose.
    pub purpose: String,
    /// `discrete_gaussian` or `discrete_laplace`.
    pub mechanism: &'static str,
    /// The noisy values, one per group.
    pub groups: Vec<GroupValue>,
    /// The noise added (variance, σ² or scale), to compute confidence intervals.
    pub noise: NoiseSummary,
    /// The group columns, in the order of each group's key tuple.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// How groups were chosen: `all`, `domain` or `threshold`.
    pub group_selection: &'static str,
    /// The threshold on noisy counts, when groups were selected by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
    /// The bounds.
    pub bounds: Bounds,
    /// What it cost.
    pub cost: Cost,
    /// The budget after it.
    pub budget: BudgetSummary,
    /// The time range read.
    pub from: Option<String>,
    /// End of the range (exclusive).
    pub to: Option<String>,
}

/// The budget (`consumer`, `purpose`) releases under, after checking that the consumer
/// holds the purpose and the purpose declares one. The first thing a release does.
pub fn authorize(catalog: &Catalog, consumer: &str, purpose: &str) -> Result<Budget> {
    let c = catalog.consumer(consumer)?;
    if !c.purposes.iter().any(|p| p == purpose) {
        return Err(Error::Refused {
            message: format!("consumer `{consumer}` does not hold purpose `{purpose}`"),
            hint: format!("its purposes: {}", c.purposes.join(", ")),
        });
    }
    let p = catalog.purpose(purpose)?;
    let Some(dp) = &p.dp else {
        return Err(Error::Refused {
            message: format!("purpose `{purpose}` has no differential-privacy budget"),
            hint: format!("declare `dp: {{ budget: {{ rho: 0.5, per: 30d }} }}` on purpose `{purpose}` (docs/DIFFERENTIAL_PRIVACY.md)"),
        });
    };
    if p.requires_consent {
        return Err(Error::Refused {
            message: format!("purpose `{purpose}` requires consent, which central DP releases do not check per entity"),
            hint: "release under a purpose without `requires_consent`".into(),
        });
    }
    let b = dp.budget.resolve().map_err(|e| Error::Refused {
        message: format!("purpose `{purpose}`: `dp.budget`: {e}"),
        hint: "fix the budget and apply".into(),
    })?;
    Ok(Budget::from(&b))
}

/// Where a release reads and writes.
#[derive(Debug, Clone)]
pub struct ReleaseContext<'a> {
    /// The repository root.
    pub root: &'a Path,
    /// Its catalog.
    pub catalog: &'a Catalog,
    /// Its privacy key (erasure digests, the sampling rank).
    pub hasher: Arc<EntityHasher>,
    /// Digests of erased entities (the tombstone file).
    pub erased: &'a HashSet<String>,
}

/// Runs `req`: authorises, refuses early when the cost exceeds what is left, scans,
/// bounds, adds noise, charges the budget (synced to disk) and only then returns the
/// answer. `now_us` is the charge's time (the period it falls in).
pub async fn run_release<R: UniformSource + ?Sized>(
    cx: &ReleaseContext<'_>,
    req: &ReleaseRequest,
    rng: &mut R,
    now_us: i64,
) -> Result<ReleaseAnswer> {
    let budget = authorize(cx.catalog, &req.consumer, &req.purpose)?;
    if req.adhoc {
        check_adhoc(cx.catalog, &req.purpose, &req.release)?;
    }
    let plan = Plan::new(&req.release, req.cost)?;
    if plan.cost.delta > 0.0 && budget.delta <= 0.0 {
        return Err(Error::Refused {
            message: format!(
                "release `{}` selects its groups by a threshold (δ = {}), but purpose `{}`'s budget has no δ",
                plan.name, plan.cost.delta, req.purpose
            ),
            hint: "add `delta:` to the purpose's `dp.budget`, or declare the group domain".into(),
        });
    }
    let accountant = Accountant::for_repo(cx.root);
    accountant
        .status(&req.consumer, &req.purpose, &budget, now_us)?
        .check(&plan.cost)?;
    let rows = scan(
        cx.root,
        cx.catalog,
        &req.release,
        req.range,
        &cx.hasher,
        cx.erased,
    )
    .await?;
    let rows: Vec<_> = rows.into_iter().filter(|r| plan.keeps(r)).collect();
    let rank = ranker(cx.hasher.clone(), plan.name.clone());
    let rows = bound_rows(rows, plan.max_rows as usize, rank);
    let groups = plan.aggregate(&rows, rng);
    let after = accountant.charge(
        &req.consumer,
        &req.purpose,
        &budget,
        &plan.cost,
        &plan.name,
        now_us,
    )?;
    Ok(answer(&plan, req, groups, &after))
}

/// An ad-hoc release: the checks of a declared one (names, shape), then the policy gate —
/// it reads only columns the purpose allows and groups only by public ones.
fn check_adhoc(catalog: &Catalog, purpose: &str, def: &ReleaseDef) -> Result<()> {
    let join = |ps: Vec<(String, String)>| {
        let message = ps
            .iter()
            .map(|p| p.0.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut hints: Vec<String> = ps.into_iter().map(|p| p.1).collect();
        hints.dedup();
        (message, hints.join("; "))
    };
    let problems = def.problems_in(catalog);
    if !problems.is_empty() {
        let (message, hint) = join(problems);
        return Err(Error::Query {
            release: def.name.clone(),
            message,
            hint,
        });
    }
    let refusals = tessera_core::adhoc_refusals(catalog, catalog.purpose(purpose)?, def);
    if !refusals.is_empty() {
        let (message, hint) = join(refusals);
        return Err(Error::Refused {
            message: format!("ad-hoc release refused: {message}"),
            hint,
        });
    }
    Ok(())
}

fn answer(
    plan: &Plan,
    req: &ReleaseRequest,
    groups: Vec<GroupValue>,
    after: &BudgetStatus,
) -> ReleaseAnswer {
    let (count, sum) = plan.noise_info();
    let measure = req.release.measure.as_ref();
    ReleaseAnswer {
        release: plan.name.clone(),
        query: plan.query.name(),
        consumer: req.consumer.clone(),
        purpose: req.purpose.clone(),
        mechanism: match plan.mechanism {
            tessera_core::ReleaseMechanism::Gaussian => "discrete_gaussian",
            tessera_core::ReleaseMechanism::Laplace => "discrete_laplace",
        },
        groups,
        group_by: plan.group_columns.clone(),
        noise: NoiseSummary { count, sum },
        group_selection: match plan.groups {
            Groups::All => "all",
            Groups::Domain(_) => "domain",
            Groups::Threshold { .. } => "threshold",
        },
        threshold: match plan.groups {
            Groups::Threshold { tau, .. } => Some(tau),
            _ => None,
        },
        bounds: Bounds {
            max_rows: plan.max_rows,
            lo: measure.map(|m| m.lo),
            hi: measure.map(|m| m.hi),
            precision: measure.map(|m| m.precision.unwrap_or(1.0)),
        },
        cost: plan.cost,
        budget: BudgetSummary::from(after),
        from: req.range.from_us.map(format_us),
        to: req.range.to_us.map(format_us),
    }
}

impl ReleaseAnswer {
    /// The audit record's detail: what was released, at what cost, and what is left.
    pub fn audit_detail(&self) -> String {
        format!(
            "release={} query={} mechanism={} groups={} cost: {} budget: rho_spent={} rho_remaining={} delta_remaining={} resets_at={}",
            self.release,
            self.query,
            self.mechanism,
            self.groups.len(),
            self.cost.describe(),
            crate::accountant::round(self.budget.spent_rho),
            crate::accountant::round(self.budget.remaining_rho),
            self.budget.remaining_delta,
            self.budget.resets_at
        )
    }
}

impl Error {
    /// Whether the error is a refusal (permission, budget) rather than a failure: audited
    /// as `deny`, answered 403 by the server.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Refused { .. }
                | Error::BudgetExceeded { .. }
                | Error::Core(tessera_core::Error::Unknown { .. })
        )
    }
}

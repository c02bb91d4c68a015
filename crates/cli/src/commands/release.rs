//! `tessera release`: a differentially private count, sum, mean or histogram, charged to a
//! consumer's budget for a purpose (`docs/DIFFERENTIAL_PRIVACY.md`). Runs a release
//! declared under `releases:` by name, or an ad-hoc one described by flags or a JSON file
//! (checked like a declared one, then by the policy gate); every outcome is audited (action
//! `dp_release`) with its cost and the budget left.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use tessera_audit::{AuditDecision, AuditRecord};
use tessera_core::{
    AdhocReleaseDef, Catalog, EntityHasher, GroupByDef, GroupColumns, GroupDomain, MeasureDef,
    ReleaseCostDef, ReleaseDef, ReleaseQuery,
};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{ReleaseAnswer, ReleaseContext, ReleaseRequest, TimeRange};

use super::{local_user, registered_catalog};

/// `tessera release` arguments.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReleaseArgs {
    /// The feature repository (a directory with tessera.yaml).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The consumer whose budget pays (it must hold the purpose).
    #[arg(long)]
    pub consumer: String,
    /// The purpose (it must declare `dp: { budget: … }`).
    #[arg(long)]
    pub purpose: String,
    /// A release declared under `releases:` (instead of the query flags below).
    #[arg(long)]
    pub name: Option<String>,
    /// The cost in ρ (zCDP): discrete Gaussian noise. Overrides the declared cost.
    #[arg(long, conflicts_with = "epsilon")]
    pub rho: Option<f64>,
    /// The cost in ε (pure DP, charged as ρ = ε²/2): discrete Laplace noise.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Rows at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Rows before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// count, sum, mean or histogram (an ad-hoc release described by the flags below), or
    /// FILE.json: an ad-hoc release as JSON (the `adhoc` object of `POST /v1/releases`).
    #[arg(long, value_name = "KIND|FILE.json")]
    pub query: Option<String>,
    /// The source to read.
    #[arg(long, conflicts_with = "view")]
    pub source: Option<String>,
    /// A feature view whose source to read.
    #[arg(long)]
    pub view: Option<String>,
    /// The entity whose contributions are bounded (default: the view's).
    #[arg(long)]
    pub entity: Option<String>,
    /// A filter on the rows (`action = 'play'`).
    #[arg(long)]
    pub filter: Option<String>,
    /// The column or columns to group by, comma-separated (one group per tuple of values).
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// The public domain of the groups of one group column, comma-separated (several
    /// columns' domains: use --query FILE.json).
    #[arg(long, value_delimiter = ',')]
    pub domain: Vec<String>,
    /// Instead of a domain: select groups by a noisy-count threshold with this δ.
    #[arg(long)]
    pub threshold_delta: Option<f64>,
    /// The measure column of a sum or mean.
    #[arg(long)]
    pub column: Option<String>,
    /// The measure's lower clipping bound.
    #[arg(long, allow_hyphen_values = true)]
    pub lo: Option<f64>,
    /// The measure's upper clipping bound.
    #[arg(long, allow_hyphen_values = true)]
    pub hi: Option<f64>,
    /// The unit measure values are rounded to (default 1).
    #[arg(long)]
    pub precision: Option<f64>,
    /// The most rows one entity contributes.
    #[arg(long)]
    pub max_rows: Option<u32>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ReleaseArgs {
    /// The arguments that run the declared release `name` at its declared cost.
    pub(crate) fn named(repo: &std::path::Path, consumer: &str, purpose: &str, name: &str) -> Self {
        Self {
            repo: repo.to_path_buf(),
            consumer: consumer.into(),
            purpose: purpose.into(),
            name: Some(name.into()),
            rho: None,
            epsilon: None,
            from: None,
            to: None,
            query: None,
            source: None,
            view: None,
            entity: None,
            filter: None,
            group_by: Vec::new(),
            domain: Vec::new(),
            threshold_delta: None,
            column: None,
            lo: None,
            hi: None,
            precision: None,
            max_rows: None,
            json: false,
        }
    }

    /// The release to run: the declared one, or the ad-hoc one the flags or the JSON file
    /// describe (then also returned, to be gated and audited).
    fn release(&self, catalog: &Catalog) -> Result<(ReleaseDef, Option<AdhocReleaseDef>)> {
        let described = self.source.is_some()
            || self.view.is_some()
            || self.entity.is_some()
            || !self.group_by.is_empty()
            || !self.domain.is_empty()
            || self.threshold_delta.is_some()
            || self.column.is_some()
            || self.max_rows.is_some()
            || self.filter.is_some();
        if let Some(name) = &self.name {
            if described || self.query.is_some() {
                bail!("--name runs the declared release `{name}` as declared (hint: drop --query, --source, --view, --group-by, --column, --max-rows and --filter, or drop --name to describe a release with flags)");
            }
            return Ok((catalog.release(name)?.clone(), None));
        }
        let Some(q) = &self.query else {
            bail!("name a declared release with --name, or describe one with --query count|sum|mean|histogram or --query FILE.json (declared: {})",
                names(catalog));
        };
        let adhoc = if q.ends_with(".json") {
            if described {
                bail!("--query {q} holds the whole ad-hoc release (hint: put --source, --view, --entity, --filter, --group-by, --domain, --threshold-delta, --column and --max-rows in the file, or describe the release with flags only)");
            }
            let text = std::fs::read_to_string(q)
                .map_err(|e| anyhow::anyhow!("--query {q}: cannot read it: {e}"))?;
            serde_json::from_str::<AdhocReleaseDef>(&text).map_err(|e| {
                anyhow::anyhow!("--query {q}: {e} (hint: the `adhoc` object of POST /v1/releases: source or view, entity, query, max_rows, and measure / group_by / filter as needed; docs/DIFFERENTIAL_PRIVACY.md#ad-hoc-releases)")
            })?
        } else {
            self.described(q)?
        };
        Ok((adhoc.to_release(), Some(adhoc)))
    }

    /// The ad-hoc release the flags describe, with the query kind `q`.
    fn described(&self, q: &str) -> Result<AdhocReleaseDef> {
        let query = ReleaseQuery::parse(q).ok_or_else(|| {
            anyhow::anyhow!(
                "--query `{q}` is not one of count, sum, mean, histogram (or a FILE.json)"
            )
        })?;
        let Some(max_rows) = self.max_rows else {
            bail!("a release described by flags needs --max-rows N (the most rows one entity contributes)");
        };
        let measure = match (&self.column, self.lo, self.hi) {
            (Some(c), Some(lo), Some(hi)) => Some(MeasureDef {
                column: c.clone(),
                lo,
                hi,
                precision: self.precision,
            }),
            (None, None, None) => None,
            _ => bail!("a measure needs --column, --lo and --hi together (its bounds are never taken from the data)"),
        };
        if self.group_by.len() > 1 && !self.domain.is_empty() {
            bail!("--domain lists the groups of one column, but --group-by names {} (hint: give each column's domain in a --query FILE.json: \"group_by\": {{\"column\": [\"a\", \"b\"], \"domain\": {{\"a\": [\"x\"]}}}})", self.group_by.len());
        }
        let group_by = (!self.group_by.is_empty()).then(|| GroupByDef {
            column: if self.group_by.len() == 1 {
                GroupColumns::One(self.group_by[0].clone())
            } else {
                GroupColumns::Many(self.group_by.clone())
            },
            domain: (!self.domain.is_empty()).then(|| GroupDomain::Values(self.domain.clone())),
            threshold_delta: self.threshold_delta,
        });
        Ok(AdhocReleaseDef {
            source: self.source.clone(),
            view: self.view.clone(),
            entity: self.entity.clone(),
            filter: self.filter.clone(),
            query,
            group_by,
            measure,
            max_rows,
        })
    }

    fn cost(&self) -> Option<ReleaseCostDef> {
        (self.rho.is_some() || self.epsilon.is_some()).then_some(ReleaseCostDef {
            rho: self.rho,
            epsilon: self.epsilon,
        })
    }
}

fn names(catalog: &Catalog) -> String {
    let n: Vec<&str> = catalog.releases().keys().map(String::as_str).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

fn time(flag: &str, text: Option<&str>) -> Result<Option<i64>> {
    text.map(|t| {
        tessera_consent::parse_time(t)
            .map_err(|_| anyhow::anyhow!("--{flag} `{t}` is not a time (hint: RFC 3339, e.g. 2026-01-31T00:00:00Z, or YYYY-MM-DD)"))
    })
    .transpose()
}

/// Runs `tessera release`.
pub(crate) async fn run(args: &ReleaseArgs) -> Result<()> {
    let answer = release(args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_answer(&answer);
    }
    Ok(())
}

/// Runs the release and audits its outcome; the answer, or the refusal.
pub(crate) async fn release(args: &ReleaseArgs) -> Result<ReleaseAnswer> {
    let started = Instant::now();
    let (catalog, version) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let audit = super::audit::open_log(&args.repo, &cfg);
    let who = format!("{} as {}", local_user(), args.consumer);
    let mut record = AuditRecord::now("dp_release", &who, &args.purpose);
    let outcome = run_audited(args, &catalog).await;
    record.latency_us = started.elapsed().as_micros() as u64;
    match &outcome {
        Ok((def, adhoc, a)) => {
            record.features = [source_label(def)].into_iter().collect();
            record.rows = a.groups.len() as u64;
            let adhoc = adhoc.as_ref().map_or(String::new(), |q| {
                format!(" adhoc={}", serde_json::to_string(q).unwrap_or_default())
            });
            record.detail = Some(format!(
                "{}{adhoc} registry_version={version}",
                a.audit_detail()
            ));
        }
        Err(e) => {
            let refusal = e
                .downcast_ref::<tessera_dp::Error>()
                .is_some_and(tessera_dp::Error::is_refusal);
            record.decision = if refusal {
                AuditDecision::Deny
            } else {
                AuditDecision::Error
            };
            record.reasons = vec![format!("{e:#}")];
            // A refused ad-hoc query is audited with what it asked for.
            let adhoc = match args.release(&catalog) {
                Ok((_, Some(q))) => {
                    format!("adhoc={} ", serde_json::to_string(&q).unwrap_or_default())
                }
                _ => String::new(),
            };
            record.detail = Some(format!("{adhoc}registry_version={version}"));
        }
    }
    audit.append(&record)?;
    outcome.map(|(_, _, a)| a)
}

fn source_label(def: &ReleaseDef) -> String {
    match (&def.source, &def.view) {
        (Some(s), _) => format!("source:{s}"),
        (_, Some(v)) => format!("view:{v}"),
        _ => "-".into(),
    }
}

async fn run_audited(
    args: &ReleaseArgs,
    catalog: &Catalog,
) -> Result<(ReleaseDef, Option<AdhocReleaseDef>, ReleaseAnswer)> {
    // Permission first: nothing is read or planned for a consumer without the budget.
    tessera_dp::authorize(catalog, &args.consumer, &args.purpose)?;
    let (def, adhoc) = args.release(catalog)?;
    let range = TimeRange {
        from_us: time("from", args.from.as_deref())?,
        to_us: time("to", args.to.as_deref())?,
    };
    let erased: HashSet<String> = crate::erasure::tombstones::load(&args.repo)?
        .into_iter()
        .collect();
    let cx = ReleaseContext {
        root: &args.repo,
        catalog,
        hasher: Arc::new(EntityHasher::for_repo(&args.repo)?),
        erased: &erased,
    };
    let req = ReleaseRequest {
        release: def.clone(),
        consumer: args.consumer.clone(),
        purpose: args.purpose.clone(),
        cost: args.cost(),
        range,
        adhoc: adhoc.is_some(),
    };
    let mut rng = ChaChaSource::from_os()?;
    let answer =
        tessera_dp::run_release(&cx, &req, &mut rng, chrono::Utc::now().timestamp_micros()).await?;
    Ok((def, adhoc, answer))
}

/// The answer as a table.
pub(crate) fn print_answer(a: &ReleaseAnswer) {
    let (info, what) = match (&a.noise.count, &a.noise.sum) {
        (_, Some(s)) if a.query == "sum" => (Some(s), "per sum"),
        (Some(c), _) => (Some(c), "per count"),
        _ => (None, ""),
    };
    let noise = info.map_or(String::new(), |n| match (n.sigma2, n.scale) {
        (Some(s2), _) => format!("σ² = {} {what}", short(s2)),
        (_, Some(t)) => format!("scale {} {what}", short(t)),
        _ => String::new(),
    });
    println!(
        "   release `{}` ({}, {} noise, {}) for consumer `{}`, purpose `{}`:",
        a.release,
        a.query,
        a.mechanism.replace('_', " "),
        noise,
        a.consumer,
        a.purpose
    );
    let header = if a.group_by.len() > 1 {
        a.group_by.join(", ")
    } else {
        "group".to_string()
    };
    println!("   {:<16} {:>14} {:>12}", header, "noisy value", "± (95%)");
    for g in &a.groups {
        let v = g.value.map_or("-".to_string(), short);
        let ci = if g.variance.is_finite() {
            format!("{:.1}", 1.96 * g.variance.sqrt())
        } else {
            "-".into()
        };
        println!(
            "   {:<16} {:>14} {:>12}",
            g.group
                .as_ref()
                .map_or("(all)".to_string(), tessera_dp::GroupKey::label),
            v,
            ci
        );
    }
    if let Some(t) = a.threshold {
        println!("   (groups whose noisy count reached {t}; others withheld)");
    }
    println!(
        "   cost {}; budget left ρ = {} of {} (per {}, resets {})",
        a.cost.describe(),
        short(a.budget.remaining_rho),
        short(a.budget.rho),
        a.budget.per,
        a.budget.resets_at
    );
}

/// A number with up to 4 decimals, trailing zeros dropped.
pub(crate) fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

//! `tessera ldp estimate`: the frequencies of a local-DP report's candidate values, from
//! the sketch `tessera serve` accumulated under `.tessera/ldp/`. A read: it names a
//! purpose (checked against the consumer, if one is given) and is audited (action
//! `ldp_estimate`).

use anyhow::{bail, Context, Result};
use tessera_audit::AuditRecord;
use tessera_core::FeatureRepo;
use tessera_ldp::{Estimator, SketchFile};

use super::ldp::{round2, EstimateArgs};
use super::{local_user, registered_catalog};

/// Candidates one run estimates at most.
const MAX_CANDIDATES: usize = 10_000_000;

/// Runs `tessera ldp estimate`.
pub(crate) fn run(a: &EstimateArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&a.repo)?;
    let cfg = FeatureRepo::load_config(&a.repo)?;
    let consumer = match &a.consumer {
        Some(name) => Some(catalog.consumer(name)?),
        None => None,
    };
    let purpose = a
        .purpose
        .clone()
        .or_else(|| consumer.and_then(|c| c.default_purpose.clone()));
    let Some(purpose) = purpose else {
        bail!("name the purpose of this read with --purpose (e.g. --purpose analytics)");
    };
    catalog.purpose(&purpose)?;
    if let Some(c) = consumer {
        if !c.purposes.contains(&purpose) {
            bail!("consumer `{}` does not hold purpose `{purpose}` (hint: add it to the consumer's `purposes`)", c.name);
        }
    }
    let def = catalog.ldp_report(&a.report)?;
    let params = def.params()?;
    let candidates: Vec<String> = match &a.candidates {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the candidates file {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        None => def.domain.values.clone(),
    };
    if candidates.is_empty() {
        bail!(
            "report `{}` has an open domain: give the candidate values with --candidates FILE (one per line)",
            a.report
        );
    }
    if candidates.len() > MAX_CANDIDATES {
        bail!("{} candidates; at most {MAX_CANDIDATES}", candidates.len());
    }
    let file = SketchFile::new(tessera_server::sketch_path(&a.repo, &a.report));
    let sketch = file.load_or_new(params)?;
    let estimator = Estimator::new(&sketch, a.report.as_bytes());
    let refs: Vec<&[u8]> = candidates.iter().map(|c| c.as_bytes()).collect();
    let estimates = estimator.estimates(&refs);

    let who = match &a.consumer {
        Some(c) => format!("{} as {c}", local_user()),
        None => local_user(),
    };
    let mut record = AuditRecord::now("ldp_estimate", &who, &purpose);
    record.rows = candidates.len() as u64;
    record.detail = Some(format!(
        "ldp report `{}`: {} candidates over {} reports",
        a.report,
        candidates.len(),
        sketch.reports()
    ));
    super::audit::open_log(&a.repo, &cfg).append(&record)?;

    if a.json {
        let rows: Vec<serde_json::Value> = candidates
            .iter()
            .zip(&estimates)
            .map(|(v, e)| {
                serde_json::json!({ "value": v, "estimate": round2(e.estimate), "sd": round2(e.sd) })
            })
            .collect();
        let doc = serde_json::json!({
            "report": a.report, "mechanism": params.mechanism().as_str(),
            "epsilon": params.epsilon(), "k": params.k(), "m": params.m(),
            "reports": sketch.reports(), "estimates": rows,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "report `{}` ({} ε={} k={} m={}): {} reports",
        a.report,
        params.mechanism(),
        params.epsilon(),
        params.k(),
        params.m(),
        sketch.reports()
    );
    println!("{:<24} {:>12} {:>10}", "value", "estimate", "sd");
    for (v, e) in candidates.iter().zip(&estimates) {
        println!("{:<24} {:>12.1} {:>10.1}", v, e.estimate, e.sd);
    }
    Ok(())
}

//! `tessera catalog`: what features exist, who owns them, how sensitive they are.

use anyhow::Result;

use super::{registered_catalog, RepoArgs};

/// Prints the registered feature views and features.
pub(crate) fn run(args: &RepoArgs) -> Result<()> {
    let (cat, version) = registered_catalog(&args.repo)?;
    let width = crate::terminal_width::width();
    let fit = |line: String| println!("{}", crate::terminal_width::fit(&line, width));
    fit(format!(
        "Registered version {version}: {} feature views.",
        cat.feature_views().len()
    ));
    for v in cat.feature_views().values() {
        let keys = cat.join_keys(v).join(", ");
        println!();
        fit(format!(
            "{}  (entities: {}; keys: {keys}; source: {}; ttl: {}; owner: {})",
            v.name,
            v.entities.join(", "),
            v.source,
            v.ttl,
            v.owner.as_deref().unwrap_or("-")
        ));
        if !v.tags.is_empty() {
            let tags: Vec<String> = v.tags.iter().map(|(k, x)| format!("{k}={x}")).collect();
            fit(format!("  tags: {}", tags.join(", ")));
        }
        for f in &v.features {
            let line = format!(
                "  {:<24} {:<14} {:<10} {:<12} {}",
                f.name,
                f.dtype.to_string(),
                f.classification.as_str(),
                f.placement.as_str(),
                f.description.as_deref().unwrap_or("")
            );
            fit(line.trim_end().to_string());
        }
    }
    print_minimisation(&cat, &fit);
    if !cat.feature_services().is_empty() {
        println!("\nFeature services:");
        for s in cat.feature_services().values() {
            let feats: Vec<String> = s.features.iter().map(|f| f.to_string()).collect();
            fit(format!(
                "  {} (purpose {}): {}",
                s.name,
                s.purpose,
                feats.join(", ")
            ));
        }
    }
    if !cat.ldp_reports().is_empty() {
        println!("\nLocal-DP reports (devices randomise before sending; docs/LOCAL_DP.md):");
        for r in cat.ldp_reports().values() {
            let domain = if r.domain.open {
                "open domain".to_string()
            } else {
                format!("{} candidates", r.domain.values.len())
            };
            fit(format!(
                "  {} of {}: {} ε={} k={} m={}, device cap ε={} per {}, {domain}",
                r.name, r.feature, r.mechanism, r.epsilon, r.k, r.m, r.cap.epsilon, r.cap.per
            ));
        }
    }
    Ok(())
}

/// Each purpose's minimised features: form and result type (`docs/MINIMISATION.md`).
fn print_minimisation(cat: &tessera_core::Catalog, fit: &dyn Fn(String)) {
    let lines = super::minimise_listing::purpose_forms(cat);
    if lines.is_empty() {
        return;
    }
    println!("\nMinimised features, by purpose (everything else is read raw where allowed):");
    for line in lines {
        fit(line);
    }
}

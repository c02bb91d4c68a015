//! The minimised features of every purpose (and feature service), as `tessera catalog`
//! lists them: `analytics  user_profile:age → bucketize[18,25,35,50,65] → string (purpose)`.

use tessera_core::{Catalog, FeatureRef, MinimiseOrigin};

/// One line per (purpose, minimised feature), then per (service, feature it minimises).
pub(crate) fn purpose_forms(cat: &Catalog) -> Vec<String> {
    let features: Vec<FeatureRef> = cat
        .feature_views()
        .values()
        .flat_map(|v| v.features.iter().map(|f| FeatureRef::new(&v.name, &f.name)))
        .collect();
    let mut lines = Vec::new();
    for p in cat.purposes().keys() {
        for f in &features {
            if let Ok(Some(form)) = cat.planned_form(p, None, f) {
                lines.push(format!("  {p:<16} {form} ({})", form.origin));
            }
        }
    }
    for s in cat.feature_services().values() {
        for f in cat.resolve_refs(&s.features).unwrap_or_default() {
            if let Ok(Some(form)) = cat.planned_form(&s.purpose, Some(&s.name), &f) {
                if matches!(form.origin, MinimiseOrigin::Service(_)) {
                    lines.push(format!(
                        "  {:<16} {form} (feature service `{}`, purpose {})",
                        s.purpose, s.name, s.purpose
                    ));
                }
            }
        }
    }
    lines
}

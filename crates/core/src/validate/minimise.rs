//! Minimisation entries: of purposes, feature services and features. Each names a known
//! feature (with did-you-mean), exactly one valid transform, and a transform that fits the
//! feature's type. Unset pseudonymisation keys are checked separately, at `apply`
//! ([`Catalog::unset_minimise_keys`]), since the registry is also read where they are not set.

use crate::catalog::{Catalog, PURPOSE, SERVICE, VIEW};
use crate::error::ValidationError;
use crate::feature_ref::FeatureRef;
use crate::feature_type::FeatureType;
use crate::minimise::{MinimiseSpec, Transform};

use super::problem;

const SHAPES: &str = "one of `{ bucketize: [18, 25] }`, `{ coarsen: 1d }`, `{ truncate: 3 }`, `{ round: 0.1 }`, `{ clip: [0, 500] }`, `{ keep: [US, GB], other: other }`, `{ pseudonymise: { key_env: VAR } }`";

pub(super) fn check_minimise(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for p in c.purposes().values() {
        for (feature, spec) in &p.minimise {
            check_entry(c, PURPOSE, &p.name, feature, spec, errs);
        }
    }
    for s in c.feature_services().values() {
        for (feature, spec) in &s.minimise {
            check_entry(c, SERVICE, &s.name, feature, spec, errs);
        }
    }
    for v in c.feature_views().values() {
        for f in &v.features {
            if let Some(spec) = &f.minimise {
                if let Err((message, hint)) = check_spec(spec, &f.dtype) {
                    errs.push(problem(
                        c,
                        VIEW,
                        &v.name,
                        format!("feature `{}`: minimise: {message}", f.name),
                        hint,
                    ));
                }
            }
        }
    }
}

fn check_entry(
    c: &Catalog,
    kind: &'static str,
    name: &str,
    feature: &str,
    spec: &MinimiseSpec,
    errs: &mut Vec<ValidationError>,
) {
    let dtype = match FeatureRef::parse(feature).and_then(|r| c.feature(&r)) {
        Ok(resolved) => resolved.feature.dtype.clone(),
        Err(_) => {
            let known: Vec<String> = c
                .feature_views()
                .values()
                .flat_map(|v| {
                    v.features
                        .iter()
                        .map(move |f| format!("{}:{}", v.name, f.name))
                })
                .collect();
            let hint = match crate::suggest::did_you_mean(feature, known.iter().map(String::as_str))
            {
                Some(s) => format!("did you mean `{s}`? Key each entry by `view:feature`"),
                None => "key each entry by `view:feature` of a declared feature view".to_string(),
            };
            errs.push(problem(
                c,
                kind,
                name,
                format!("minimise names unknown feature `{feature}`"),
                hint,
            ));
            return;
        }
    };
    if let Err((message, hint)) = check_spec(spec, &dtype) {
        errs.push(problem(
            c,
            kind,
            name,
            format!("minimise `{feature}`: {message}"),
            hint,
        ));
    }
}

/// The transform's problem, as (message, hint).
fn check_spec(spec: &MinimiseSpec, dtype: &FeatureType) -> Result<(), (String, String)> {
    let split = |e: crate::Error| match e {
        crate::Error::Minimise { message, hint } => (message, hint),
        other => (other.to_string(), SHAPES.to_string()),
    };
    let t = Transform::from_spec(spec).map_err(split)?;
    t.result_type(dtype).map_err(split)?;
    Ok(())
}

impl Catalog {
    /// Every `pseudonymise` entry whose key variable is unset or empty in this process, as a
    /// problem of its purpose (or service, or view). `tessera apply` refuses them; a server
    /// started without the key refuses reads of the feature with a clear error.
    pub fn unset_minimise_keys(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let mut check = |kind: &'static str, name: &str, feature: &str, spec: &MinimiseSpec| {
            let Some(p) = &spec.pseudonymise else { return };
            let set = std::env::var(p.key_env.trim()).is_ok_and(|v| !v.is_empty());
            if !set {
                out.push(problem(
                    self,
                    kind,
                    name,
                    format!(
                        "minimise `{feature}` pseudonymises with the key in `{}`, which is unset",
                        p.key_env
                    ),
                    format!(
                        "set it to a secret of at least 32 random characters (e.g. `export {}=$(openssl rand -hex 32)`), one key per purpose, the same wherever the purpose is read",
                        p.key_env
                    ),
                ));
            }
        };
        for p in self.purposes().values() {
            for (f, spec) in &p.minimise {
                check(PURPOSE, &p.name, f, spec);
            }
        }
        for s in self.feature_services().values() {
            for (f, spec) in &s.minimise {
                check(SERVICE, &s.name, f, spec);
            }
        }
        for v in self.feature_views().values() {
            for f in &v.features {
                if let Some(spec) = &f.minimise {
                    check(VIEW, &v.name, &format!("{}:{}", v.name, f.name), spec);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::catalog::Catalog;
    use crate::definitions::Definitions;

    const BASE: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
feature_views:
  - name: user_profile
    entities: [user]
    source: s
    features:
      - { name: age, type: int64, classification: personal }
      - { name: last_seen, type: timestamp, classification: personal }
      - { name: postcode, type: string, classification: personal }
      - { name: lat, type: float64, classification: personal }
      - { name: plays_30d, type: int64, classification: internal }
      - { name: country, type: string, classification: personal }
      - { name: user_ref, type: string, classification: sensitive }
purposes:
  - name: analytics
    allows: [public, internal]
    minimise:
      user_profile:age:        { bucketize: [18, 25, 35, 50, 65] }
      user_profile:last_seen:  { coarsen: 1d }
      user_profile:postcode:   { truncate: 3 }
      user_profile:lat:        { round: 0.1 }
      user_profile:plays_30d:  { clip: [0, 500] }
      user_profile:country:    { keep: [US, GB, DE, FR, JP], other: other }
      user_profile:user_ref:   { pseudonymise: { key_env: TESSERA_PSEUDONYM_KEY_ANALYTICS } }
"#;

    fn build(yaml: &str) -> Result<Catalog, String> {
        let d =
            Definitions::from_yaml_str(yaml, Path::new("defs.yaml")).map_err(|e| e.to_string())?;
        Catalog::build_from_files(vec![("defs.yaml".into(), d)]).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_shape_is_accepted_exactly_as_written() {
        let c = build(BASE).unwrap();
        assert_eq!(c.purposes()["analytics"].minimise.len(), 7);
    }

    #[test]
    fn a_service_may_hold_features_its_purpose_reads_minimised_only() {
        let svc = "feature_services:\n  - { name: dash, purpose: analytics, features: [user_profile:age] }\n";
        build(&format!("{BASE}{svc}")).unwrap();
        let without = BASE.replace(
            "      user_profile:age:        { bucketize: [18, 25, 35, 50, 65] }\n",
            "",
        );
        let e = build(&format!("{without}{svc}")).unwrap_err();
        assert!(
            e.contains("does not allow `user_profile:age`") && e.contains("`minimise` entry"),
            "{e}"
        );
    }

    #[test]
    fn bad_entries_name_file_object_and_hint() {
        let cases = [
            (
                "{ bucketize: [18, 25, 35, 50, 65] }",
                "{ bucketize: [18, 35, 25] }",
                "out of order",
            ),
            (
                "{ truncate: 3 }",
                "{ bucketize: [1, 2] }",
                "bucketize does not fit type string",
            ),
            (
                "{ bucketize: [18, 25, 35, 50, 65] }",
                "{ truncate: 2 }",
                "truncate does not fit type int64",
            ),
            (
                "{ coarsen: 1d }",
                "{ round: 1 }",
                "round does not fit type timestamp",
            ),
            (
                "{ round: 0.1 }",
                "{ coarsen: 1d }",
                "coarsen does not fit type float64",
            ),
            (
                "{ clip: [0, 500] }",
                "{ clip: [500, 0] }",
                "above the upper bound",
            ),
            ("{ round: 0.1 }", "{ round: 0 }", "not positive"),
            (
                "{ clip: [0, 500] }",
                "{ clip: [0, 500], round: 5 }",
                "names 2 transforms",
            ),
        ];
        for (from, to, want) in cases {
            assert!(BASE.contains(from), "{from}");
            let e = build(&BASE.replacen(from, to, 1)).unwrap_err();
            assert!(
                e.contains("defs.yaml: purpose `analytics`: minimise `user_profile:"),
                "{e}"
            );
            assert!(e.contains(want), "{want}: {e}");
            assert!(e.contains("(hint: "), "{e}");
        }
        let e =
            build(&BASE.replace("user_profile:postcode:", "user_profile:postcod:")).unwrap_err();
        assert!(
            e.contains("minimise names unknown feature `user_profile:postcod`"),
            "{e}"
        );
        assert!(e.contains("did you mean `user_profile:postcode`?"), "{e}");
    }

    #[test]
    fn defaults_on_features_and_services_are_checked_too() {
        let yaml = BASE.replace(
            "{ name: age, type: int64, classification: personal }",
            "{ name: age, type: int64, classification: personal, minimise: { truncate: 1 } }",
        ) + "feature_services:\n  - { name: svc, purpose: analytics, features: [user_profile:lat], minimise: { user_profile:lat: { keep: [a] } } }\n";
        let e = build(&yaml).unwrap_err();
        assert!(e.contains("feature_view `user_profile`: feature `age`: minimise: truncate does not fit type int64"), "{e}");
        assert!(e.contains("feature_service `svc`: minimise `user_profile:lat`: keep does not fit type float64"), "{e}");
    }

    #[test]
    fn unset_keys_are_reported_for_apply() {
        let c = build(&BASE.replace(
            "TESSERA_PSEUDONYM_KEY_ANALYTICS",
            "TESSERA_TEST_UNSET_KEY_1",
        ))
        .unwrap();
        let problems = c.unset_minimise_keys();
        assert_eq!(problems.len(), 1);
        let text = problems[0].to_string();
        assert!(
            text.contains("purpose `analytics`")
                && text.contains("TESSERA_TEST_UNSET_KEY_1")
                && text.contains("hint"),
            "{text}"
        );
    }
}

//! One bearer token per consumer: two consumers may not name the same `token_env`.
//!
//! The server identifies a caller by its token, so two consumers reading their token from
//! the same environment variable would share it, and `tessera serve` would refuse to start.
//! This check refuses it at `plan`, where it is cheap to fix.

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::error::ValidationError;

/// Reports every consumer whose `token_env` another consumer already names (consumers are
/// visited in name order, so the first of each group is the one the others collide with).
pub(crate) fn check_shared_token_envs(catalog: &Catalog, errs: &mut Vec<ValidationError>) {
    let mut first_by_var: BTreeMap<&str, &str> = BTreeMap::new();
    for c in catalog.consumers().values() {
        let var = c.token_env.trim();
        if var.is_empty() {
            continue; // reported as an empty `token_env`
        }
        match first_by_var.get(var) {
            None => {
                first_by_var.insert(var, c.name.as_str());
            }
            Some(first) => errs.push(ValidationError {
                file: catalog.origin("consumer", &c.name).to_path_buf(),
                object: format!("consumer `{}`", c.name),
                message: format!(
                    "has the same `token_env` (`{var}`) as consumer `{first}`, so both would have the same bearer token and the server could not tell them apart"
                ),
                hint: format!(
                    "give each consumer its own variable, e.g. `token_env: {}`",
                    suggested_var(&c.name)
                ),
            }),
        }
    }
}

/// `ranker_v2` → `RANKER_V2_TOKEN`.
fn suggested_var(consumer: &str) -> String {
    let mut s: String = consumer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    s.push_str("_TOKEN");
    s
}

#[cfg(test)]
mod tests {
    use crate::catalog::Catalog;
    use crate::definitions::Definitions;

    const DEFS: &str = r#"
purposes:
  - { name: ranking, allows: [public] }
consumers:
  - { name: ranker, token_env: SHARED_TOKEN, purposes: [ranking] }
  - { name: trainer, token_env: SHARED_TOKEN, purposes: [ranking] }
  - { name: other, token_env: OTHER_TOKEN, purposes: [ranking] }
"#;

    #[test]
    fn a_shared_token_env_is_refused_naming_both_consumers() {
        let defs = Definitions::from_yaml_str(DEFS, "consumers.yaml".as_ref()).unwrap();
        let errs = Catalog::build(vec![defs]).unwrap_err().to_string();
        assert!(
            errs.contains("consumer `trainer`: has the same `token_env` (`SHARED_TOKEN`) as consumer `ranker`"),
            "{errs}"
        );
        assert!(errs.contains("TRAINER_TOKEN"), "{errs}");
        assert!(!errs.contains("consumer `other`"), "{errs}");
        let fixed = DEFS.replacen(
            "token_env: SHARED_TOKEN, purposes: [ranking] }\n  - { name: other",
            "token_env: X_TOKEN, purposes: [ranking] }\n  - { name: other",
            1,
        );
        let defs = Definitions::from_yaml_str(&fixed, "consumers.yaml".as_ref()).unwrap();
        assert!(Catalog::build(vec![defs]).is_ok());
    }
}

//! The minimal repository `tessera init` writes by default: one entity, one batch source
//! over a small CSV, one feature view, one purpose, one consumer and one feature service,
//! with comments that teach. (`tessera init --template media` writes the full demo.)

use std::fmt::Write as _;

/// `tessera.yaml` of the minimal repository.
pub(crate) const MINIMAL_CONFIG: &str = "\
# A Tessera feature repository. Every path is relative to this directory.
project: my_features
registry: .tessera/registry                              # versions of your definitions (`tessera apply`)
offline_store: { path: .tessera/offline }
online_store: { type: embedded, path: .tessera/online }  # or { type: redis, url: redis://127.0.0.1:6379/0 }
audit_log: .tessera/audit                                # one JSON line per read
";

/// `features/customers.yaml` of the minimal repository.
pub(crate) const MINIMAL_DEFINITIONS: &str = r#"# Definitions: every *.yaml file under the repository is read. `tessera plan` shows what
# changed, `tessera apply` registers it. The reference of every key: docs/DEFINITIONS.md.

# An entity is what features describe; its join keys are the columns that identify one.
entities:
  - { name: customer, join_keys: [customer_id], description: A customer of the shop }

# A source is where feature values come from: here a CSV file (Parquet works too), with
# one row per customer and point in time.
sources:
  - name: customer_stats_daily
    type: batch
    path: data/customer_stats.csv
    timestamp_field: event_timestamp        # when the row's values became true

# A feature view names columns of a source as features of an entity.
feature_views:
  - name: customer_stats
    entities: [customer]
    source: customer_stats_daily
    ttl: 30d                                # a row older than this is not used (90s, 15m, 1h, 7d, 2w)
    features:
      # every feature has a type and a classification (public, internal, personal, sensitive)
      - { name: orders_7d, type: int64, classification: internal, description: Orders in the last 7 days }
      - { name: spend_7d, type: float64, classification: personal }
      - { name: favourite_category, type: string, classification: personal }

# A purpose says which classifications a read for it may see; every read names one.
purposes:
  - { name: personalization, allows: [public, internal, personal] }

# A consumer is an application that reads over HTTP, with a bearer token from this variable.
consumers:
  - { name: my_app, token_env: TESSERA_TOKEN_MY_APP, purposes: [personalization], default_purpose: personalization }

# A feature service is the list of features one model reads, for one purpose.
feature_services:
  - name: my_model_v1
    purpose: personalization
    features: [customer_stats:*]
"#;

/// `.gitignore` of a new repository: Tessera's state, never the user's data.
pub(crate) const GITIGNORE: &str = "\
# Tessera's state: the registry, the online store, the audit log, the stream engine.
.tessera/
# Outputs of the examples (training sets).
out/
";

const CATEGORIES: [&str; 4] = ["books", "garden", "music", "toys"];

/// `data/customer_stats.csv`: 5 customers, one row per day for the 3 days before `midnight`
/// (an ISO-8601 UTC date-time of the most recent midnight).
pub(crate) fn customer_stats_csv(days: &[String]) -> String {
    let mut out =
        String::from("customer_id,event_timestamp,orders_7d,spend_7d,favourite_category\n");
    for (d, day) in days.iter().enumerate() {
        for c in 1..=5usize {
            let orders = (c * 3 + d * 2) % 7;
            let spend = orders as f64 * (12.5 + c as f64);
            let category = CATEGORIES[(c + d) % CATEGORIES.len()];
            let _ = writeln!(out, "{c},{day},{orders},{spend:.2},{category}");
        }
    }
    out
}

/// `data/spine.csv`: the (customer, time) pairs a training set is built for.
pub(crate) fn spine_csv(days: &[String]) -> String {
    let mut out = String::from("customer_id,event_timestamp,label\n");
    for (d, day) in days.iter().enumerate() {
        for c in [1usize, 3, 6] {
            let _ = writeln!(out, "{c},{day},{}", (c + d) % 2);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_definitions_validate() {
        let defs = tessera_core::Definitions::from_yaml_str(
            MINIMAL_DEFINITIONS,
            std::path::Path::new("features/customers.yaml"),
        )
        .unwrap();
        let c = tessera_core::Catalog::build(vec![defs]).unwrap();
        assert_eq!(c.feature_views().len(), 1);
        assert_eq!(c.consumers().len(), 1);
    }

    #[test]
    fn the_gitignore_keeps_the_users_data() {
        assert!(GITIGNORE.contains(".tessera/"));
        assert!(!GITIGNORE.lines().any(|l| l.starts_with("data")));
    }
}

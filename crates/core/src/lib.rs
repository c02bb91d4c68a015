//! Tessera's vocabulary: the definitions a feature repository declares, their validation,
//! the registry model (versioned snapshots and diffs) and the policy model.
//!
//! A feature repository is a directory with `tessera.yaml` ([`RepoConfig`]) and definition
//! files (`*.yaml`) that declare entities, sources, feature views, purposes, consumers and
//! feature services ([`Definitions`]). [`FeatureRepo::load`] reads and validates them into a
//! [`Catalog`], the checked model every other crate works from:
//!
//! ```text
//!  tessera.yaml + features/*.yaml ──load──► Definitions ──validate──► Catalog
//!                                                                  │
//!            registry (versions, diff) ◄─────────────────────────────┤
//!            offline engine (training sets) ◄──────────────────────────┤
//!            policy gate (purpose × classification) ◄───────────────────┘
//! ```
//!
//! This crate does no data I/O: it reads YAML files and nothing else. Schema checks against
//! real source files live in `tessera-offline`.
//!
//! # Example
//! ```
//! use tessera_core::{Definitions, Catalog, FeatureRef};
//! let yaml = r#"
//! entities: [{ name: user, join_keys: [user_id] }]
//! sources:
//!   - { name: stats, type: batch, path: data/stats.parquet, timestamp_field: ts }
//! feature_views:
//!   - name: user_stats
//!     entities: [user]
//!     source: stats
//!     ttl: 7d
//!     features: [{ name: f0, type: float64, classification: personal }]
//! purposes: [{ name: ranking, allows: [public, internal, personal] }]
//! "#;
//! let defs = Definitions::from_yaml_str(yaml, "inline.yaml".as_ref()).unwrap();
//! let catalog = Catalog::build(vec![defs]).unwrap();
//! let f = FeatureRef::parse("user_stats:f0").unwrap();
//! assert!(catalog.feature(&f).is_ok());
//! ```

mod aggregation_catalog;
mod aggregation_def;
mod arrow_values;
mod audit_log_config;
mod catalog;
mod classification;
mod consent_source;
mod definitions;
mod dense_groups;
mod device_def;
mod diff;
mod dp_def;
mod duration;
mod error;
mod feature_ref;
mod feature_repo;
mod feature_type;
mod keyed_hash;
mod ldp_report_def;
pub mod log_files;
mod minimise;
mod on_demand;
mod parallel;
mod policy;
mod release_gate;
mod repo_config;
pub mod retention;
mod server_settings;
mod stream_check;
mod suggest;
mod validate;
mod write_settings;

pub use aggregation_catalog::{input_type, output_feature_type};
pub use aggregation_def::{AggregationDef, MinContributorsDef, NatsDef, StreamDef};
pub use arrow_values::{values_to_array, ArrowValues};
pub use audit_log_config::{AuditLogConfig, AuditSync};
pub use catalog::{Catalog, ResolvedFeature};
pub use classification::{Classification, Placement};
pub use consent_source::ConsentSourceConfig;
pub use definitions::{
    ConsumerDef, Definitions, EntityDef, FeatureDef, FeatureServiceDef, FeatureViewDef, PurposeDef,
    SourceDef, SourceFormat, SourceType, ViewProvider,
};
pub use dense_groups::DenseGroups;
pub use device_def::DeviceDef;
pub use diff::{Change, ChangeKind, DefinitionsDiff};
pub use dp_def::{
    rho_for_epsilon_delta, AdhocReleaseDef, DpBudget, DpBudgetDef, GroupByDef, GroupColumns,
    GroupDomain, LookupDef, MeasureDef, PurposeDpDef, ReleaseCostDef, ReleaseDef, ReleaseMechanism,
    ReleaseQuery, MAX_DOMAIN_GROUPS, MAX_GROUP_COLUMNS,
};
pub use duration::{parse_duration, parse_duration_flag, Ttl};
pub use error::{Error, Result, ValidationError, ValidationErrors};
pub use feature_ref::FeatureRef;
pub use feature_repo::FeatureRepo;
pub use feature_type::FeatureType;
pub use keyed_hash::{hmac_sha256, to_hex, EntityHasher, PRIVACY_KEY_ENV, PRIVACY_KEY_FILE};
pub use ldp_report_def::{LdpCapDef, LdpDomainDef, LdpReportDef};
pub use minimise::{
    MinimiseOrigin, MinimiseSpec, Minimiser, PlannedForm, PseudonymiseSpec, Transform,
    MIN_PSEUDONYM_KEY_BYTES, PSEUDONYM_HEX_DIGITS,
};
pub use on_demand::{
    expr_type, InputSlot, OnDemandFeatureDef, OnDemandView, OnDemandViewDef, RequestFieldDef,
};
pub use parallel::{map_parallel, run_parts, threads_for};
pub use policy::{Decision, ReadChannel, Refusal, RefusalReason};
pub use release_gate::{adhoc_refusals, column_classification};
pub use repo_config::{OfflineStoreConfig, OnlineStoreConfig, RepoConfig};
pub use server_settings::ServerSettings;
pub use suggest::{did_you_mean, edit_distance};
pub use tessera_aggregate as aggregate;
pub use tessera_value::{KeyValue, KeyValueRef, Value};
pub use write_settings::{OfflineLogConfig, Span, WritesConfig};

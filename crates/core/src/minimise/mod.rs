//! Minimising transforms: the reduced form in which a purpose reads a feature.
//!
//! A purpose may read a feature whose classification it does not `allow` only through a
//! `minimise` entry, and may minimise features it could read raw; a feature view's feature
//! or a feature service may name a default. The purpose's entry wins over the service's,
//! which wins over the feature's ([`Catalog::minimise_entry`](crate::Catalog::minimise_entry)).
//!
//! ```text
//!  YAML  { bucketize: [..] } | { coarsen: 1d } | { truncate: 3 } | { round: 0.1 }
//!        | { clip: [0, 500] } | { keep: [..], other: other } | { pseudonymise: { key_env: E } }
//!    │ MinimiseSpec (serde, as written)
//!    ▼ Transform::from_spec (checked: sorted boundaries, lo ≤ hi, step > 0, one transform)
//!    ▼ Transform::result_type(declared type) (checked at plan time: fits the type)
//!    ▼ Minimiser::new (loads a pseudonymisation key from its env variable)
//!  Minimiser::apply_value (online: Feast, native, gRPC, `tessera get`, devices)
//!  Minimiser::apply_array (offline: training sets) — the same per-value code
//! ```
//!
//! # Example
//! ```
//! use tessera_core::{FeatureType, Minimiser, MinimiseSpec, Transform, Value};
//! let spec: MinimiseSpec = serde_yaml::from_str("{ bucketize: [18, 25, 35, 50, 65] }").unwrap();
//! let t = Transform::from_spec(&spec).unwrap();
//! let m = Minimiser::new(t, &FeatureType::Int64, "analytics").unwrap();
//! assert_eq!(m.output_type(), &FeatureType::String);
//! assert_eq!(m.apply_value(&Value::Int64(25)), Value::String("25-35".into()));
//! assert_eq!(m.apply_value(&Value::Null), Value::Null);
//! ```

mod effective;
mod minimiser;
mod pseudonym_cache;
mod spec;
mod transform;

pub use effective::{MinimiseOrigin, PlannedForm};
pub use minimiser::{Minimiser, MIN_PSEUDONYM_KEY_BYTES, PSEUDONYM_HEX_DIGITS};
pub use spec::{MinimiseSpec, PseudonymiseSpec};
pub use transform::Transform;

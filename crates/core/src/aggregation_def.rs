//! The YAML of window aggregations (`aggregations:` in a feature view) and of stream sources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classification::{Classification, Placement};
use crate::feature_type::FeatureType;

/// One aggregation of a feature view: a function over a column, for one or more windows.
/// Each window gives one feature, named `{column}_{function}_{window}` (`dwell_s_sum_7d`),
/// `count_{window}` for a count without a column, or `{name}_{window}` when `name` is set.
///
/// ```yaml
/// aggregations:
///   - { column: dwell_s, function: sum, windows: [1h, 1d, 7d] }
///   - { function: count, windows: [1d, 30d], filter: "action = 'play'", name: plays }
///   - { column: item_id, function: last_k, k: 10, windows: [1d] }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationDef {
    /// `count`, `sum`, `mean`, `min`, `max`, `last`, `last_k`, `count_distinct`,
    /// `approx_count_distinct`, `p50`/`p90`/`p95`/`p99`, `percentile_0.75`.
    pub function: String,
    /// The aggregated column of the source (not needed by `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The column's type. Read from the source by `tessera plan`/`apply` (or from a stream
    /// source's `schema`) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_type: Option<FeatureType>,
    /// Windows: durations (`1h`, `7d`, `1d12h`) or `lifetime`.
    pub windows: Vec<String>,
    /// How many values `last_k` keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// Only events for which this expression is true count (`action = 'play'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The prefix of the feature names instead of `{column}_{function}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The features' classification (default: the view's `classification`, else `personal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Where the features may live.
    #[serde(default, skip_serializing_if = "is_default_placement")]
    pub placement: Placement,
    /// What the features mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A k-threshold: a value built from fewer than `k` distinct values of column `by`
    /// in its window is suppressed (null, status `suppressed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_contributors: Option<MinContributorsDef>,
}

/// `min_contributors: { k: 50, by: user_id }` on an aggregation of a non-person entity
/// (an item's plays from many users): see `docs/CONSENT.md#k-thresholds-on-cohort-features`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinContributorsDef {
    /// The least number of distinct contributors a shown value needs (at least 1).
    pub k: u64,
    /// The source column that identifies a contributor (e.g. `user_id`); not the view's
    /// own entity key.
    pub by: String,
}

fn is_default_placement(p: &Placement) -> bool {
    *p == Placement::Cloud
}

/// The NATS JetStream feed of a stream source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsDef {
    /// The subject events are published on (one JSON object per message).
    pub subject: String,
    /// The JetStream stream that captures the subject (created if missing; default: the
    /// source name in upper case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The durable consumer name, so that a restart resumes where it stopped.
    pub durable: String,
    /// The server (default `nats://127.0.0.1:4222`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The extra settings of a `type: stream` source. Its `path` is its offline log: ingested
/// events are appended there as Parquet files, and backfills read it like a batch source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamDef {
    /// Column → type of the events (besides the timestamp, which is `timestamp`).
    pub schema: BTreeMap<String, FeatureType>,
    /// A column that identifies an event, for exactly-once effect under redelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id_field: Option<String>,
    /// How far behind the newest event time an event may arrive and still be applied
    /// (`5m`, `1h`; default 0: in order, equal times allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_lateness: Option<String>,
    /// Consume from NATS JetStream as well as from HTTP push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsDef>,
}

impl StreamDef {
    /// `allowed_lateness` in microseconds (0 when absent). Validation refuses a value that
    /// does not parse, so on a validated catalog this is the declared lateness.
    pub fn allowed_lateness_micros(&self) -> crate::Result<i64> {
        match &self.allowed_lateness {
            None => Ok(0),
            Some(l) => {
                crate::parse_duration(l).map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            }
        }
    }

    /// The Arrow schema of the events (and of the offline log's Parquet files): the
    /// timestamp column (`timestamp_field`, µs UTC) first, then the schema's columns in
    /// name order. Every column is nullable; the ingest path refuses null keys and times.
    pub fn arrow_schema(&self, timestamp_field: &str) -> arrow::datatypes::SchemaRef {
        use arrow::datatypes::{Field, Schema};
        let mut fields = vec![Field::new(
            timestamp_field,
            FeatureType::Timestamp.arrow_type(),
            true,
        )];
        fields.extend(
            self.schema
                .iter()
                .filter(|(name, _)| name.as_str() != timestamp_field)
                .map(|(name, t)| Field::new(name, t.arrow_type(), true)),
        );
        std::sync::Arc::new(Schema::new(fields))
    }
}

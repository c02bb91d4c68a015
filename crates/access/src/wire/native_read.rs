//! `POST /v1/features`, Tessera's own versioned read API, as it crosses the wire: the
//! request body ([`NativeReadRequest`], serde-derived: the server decodes it, the device
//! encodes it) and the answer (encoded by [`encode_read_response`] straight from a
//! [`ReadResult`], decoded by its inverse [`decode_read_response`]). The server and the
//! device both use these, so the two sides cannot drift apart.
//!
//! Request (unknown fields are refused, to catch typos):
//! ```json
//! {"features": ["user_stats:f0"] | "feature_service": "ranker_v1",
//!  "entities": {"user_id": [1, 2]} | "entity_rows": [{"user_id": 1}, {"user_id": 2}],
//!  "purpose": "ranking", "context": {"hour_of_day": 14}}
//! ```
//! Answer: the features in request order, each with its declared type, values typed as
//! declared (timestamps RFC 3339, bytes base64), a status per value (`present`, `missing`,
//! `expired`, `null`, …, see [`ValueStatus::as_str`]) and event timestamps (`null` when
//! missing):
//! ```json
//! {"consumer": "ranker", "purpose": "ranking", "entities": {"user_id": [1, 2]},
//!  "features": [{"feature": "user_stats:f0", "type": "float64", "values": [0.5, null],
//!                "statuses": ["present", "missing"],
//!                "event_timestamps": ["2026-04-02T00:00:00Z", null]}]}
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use tessera_online::{parse_timestamp, Value};

use super::value_json::{JsonOut, JsonValue, KeyColumns, KeyRow, KeysOut, TsCache};
use crate::caller::Caller;
use crate::entity_rows::EntityRows;
use crate::read_result::{FeatureColumn, ReadResult, ValueStatus};

/// The body of `POST /v1/features`. Give `features` or `feature_service`, and `entities`
/// (columns) or `entity_rows` (objects); `purpose` and `context` are optional. Fields left
/// `None` are not written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeReadRequest {
    /// Feature references (`view:feature`, `view:*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// A feature service, instead of `features`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_service: Option<String>,
    /// Join-key columns: `{"user_id": [1, 2]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<KeyColumns>,
    /// Entities as objects, instead of `entities`: `[{"user_id": 1}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_rows: Option<Vec<KeyRow>>,
    /// The purpose of the read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Request-context fields for on-demand features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<BTreeMap<String, JsonValue>>,
}

/// The answer to `POST /v1/features` as [`decode_read_response`] reads it. `consumer`,
/// `purpose`, `entities` and each feature's `type` may be absent (empty).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct NativeReadResponse {
    /// The consumer the server read for.
    #[serde(default)]
    pub consumer: String,
    /// The purpose of the read.
    #[serde(default)]
    pub purpose: String,
    /// The entities, as given.
    #[serde(default)]
    pub entities: KeyColumns,
    /// One per requested feature, in request order.
    pub features: Vec<NativeFeature>,
}

/// One feature of a [`NativeReadResponse`]: values as JSON gives them (coerce them to the
/// declared type: a timestamp arrives as its RFC 3339 string, bytes as base64).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct NativeFeature {
    /// The reference, `view:feature`.
    pub feature: String,
    /// The declared type, e.g. `float64`.
    #[serde(default, rename = "type")]
    pub dtype: String,
    /// One value per entity.
    #[serde(deserialize_with = "json_values")]
    pub values: Vec<Value>,
    /// One status per entity.
    pub statuses: Vec<ValueStatus>,
    /// The event time (µs since the epoch) per entity; `None` when missing.
    #[serde(deserialize_with = "event_times")]
    pub event_timestamps: Vec<Option<i64>>,
}

/// The answer to a read as JSON bytes, written straight from the result (no copies of the
/// values).
pub fn encode_read_response(
    result: &ReadResult,
    consumer: &Caller,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out =
        Vec::with_capacity(256 + result.columns.len() * (96 + result.entities.len() * 48));
    serde_json::to_writer(
        &mut out,
        &Native {
            result,
            consumer,
            ts: RefCell::new(TsCache::default()),
        },
    )?;
    Ok(out)
}

/// The inverse of [`encode_read_response`]: an answer's bytes, checked for shape (every
/// feature has `values`, `statuses` and `event_timestamps`, statuses and times are valid).
pub fn decode_read_response(body: &[u8]) -> Result<NativeReadResponse, serde_json::Error> {
    serde_json::from_slice(body)
}

fn json_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    let values: Vec<JsonValue> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.0).collect())
}

fn event_times<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<i64>>, D::Error> {
    let times: Vec<Option<String>> = Deserialize::deserialize(d)?;
    times
        .into_iter()
        .map(|t| match t {
            None => Ok(None),
            Some(text) => parse_timestamp(&text)
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("bad event time {text:?}"))),
        })
        .collect()
}

impl Serialize for ValueStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ValueStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ValueStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a value status (present, missing, expired, null, refused, stale, unavailable)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueStatus, E> {
                ValueStatus::parse(v).ok_or_else(|| E::custom(format!("unknown status {v:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

struct Native<'a> {
    result: &'a ReadResult,
    consumer: &'a Caller,
    ts: RefCell<TsCache>,
}

impl Serialize for Native<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("consumer", &self.consumer.to_string())?;
        m.serialize_entry("purpose", self.result.plan.purpose())?;
        m.serialize_entry("entities", &Entities(&self.result.entities))?;
        m.serialize_entry("features", &Features(self))?;
        m.end()
    }
}

struct Entities<'a>(&'a EntityRows);

impl Serialize for Entities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, values) in self.0.columns() {
            m.serialize_entry(k, &KeysOut(values))?;
        }
        m.end()
    }
}

struct Features<'a, 'b>(&'b Native<'a>);

impl Serialize for Features<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let plan = &self.0.result.plan;
        s.collect_seq(
            plan.features()
                .iter()
                .zip(plan.types())
                .zip(&self.0.result.columns)
                .map(|((f, t), col)| Feature {
                    name: f.to_string(),
                    dtype: t.to_string(),
                    col,
                    ts: &self.0.ts,
                }),
        )
    }
}

struct Feature<'a> {
    name: String,
    dtype: String,
    col: &'a FeatureColumn,
    ts: &'a RefCell<TsCache>,
}

impl Serialize for Feature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("feature", &self.name)?;
        m.serialize_entry("type", &self.dtype)?;
        m.serialize_entry(
            "values",
            &self.col.values.iter().map(JsonOut).collect::<Vec<_>>(),
        )?;
        m.serialize_entry("statuses", &self.col.statuses)?;
        let mut cache = self.ts.borrow_mut();
        let ts: Vec<Option<String>> = self
            .col
            .event_ts
            .iter()
            .map(|t| t.map(|us| cache.get(us).to_string()))
            .collect();
        m.serialize_entry("event_timestamps", &ts)?;
        m.end()
    }
}

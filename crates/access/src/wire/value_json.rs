//! The one JSON codec of Tessera's values: join-key columns and row columns in, typed values
//! and timestamps out, used by the server's routes, the device's remote client and command
//! line, and the stream engine's NATS decoder. Decoding goes straight from the bytes to
//! [`KeyValue`]s and [`Value`]s (no intermediate `serde_json::Value`); [`json_value`] reads
//! a `serde_json::Value` that is already parsed.
//!
//! JSON → value: `null`, booleans, integers (`Int64`; an integer beyond `i64` as `Float64`),
//! other numbers (`Float64`), strings (`String`: a caller coerces them to the declared type,
//! e.g. RFC 3339 to a timestamp), arrays (`List`, nested at most 8 deep). Value → JSON
//! ([`JsonOut`]): bytes as base64, timestamps as RFC 3339, non-finite floats as `null`.

use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use tessera_online::{KeyValue, Value};

use crate::provider::RequestContext;

/// Join-key columns, in the order the request gives them: `{"user_id": [1, 2]}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyColumns(pub Vec<(String, Vec<KeyValue>)>);

impl Serialize for KeyColumns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, values) in &self.0 {
            m.serialize_entry(k, &KeysOut(values))?;
        }
        m.end()
    }
}

/// Row columns, in the order given: `{"user_id": [1], "f0": [0.5], "event_timestamp": ["…"]}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueColumns(pub Vec<(String, Vec<Value>)>);

/// One entity as an object: `{"user_id": 1}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyRow(pub Vec<(String, KeyValue)>);

impl Serialize for KeyRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, &KeyOut(v))?;
        }
        m.end()
    }
}

struct JsonKey(KeyValue);

impl<'de> Deserialize<'de> for KeyRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entity as an object of join keys, e.g. {\"user_id\": 1}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyRow, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: JsonKey = map.next_value()?;
                    out.push((k, v.0));
                }
                Ok(KeyRow(out))
            }
        }
        d.deserialize_map(V)
    }
}
/// A feature value from JSON (null, bool, number, string, list).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue(pub Value);

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        JsonOut(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for KeyColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyColumns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of join-key columns, e.g. {\"user_id\": [1, 2]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyColumns, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let values: Vec<JsonKey> = map.next_value()?;
                    out.push((k, values.into_iter().map(|v| v.0).collect()));
                }
                Ok(KeyColumns(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
impl<'de> Deserialize<'de> for ValueColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueColumns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of columns, e.g. {\"user_id\": [1], \"f0\": [0.5]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueColumns, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let values: Vec<JsonValue> = map.next_value()?;
                    out.push((k, values.into_iter().map(|v| v.0).collect()));
                }
                Ok(ValueColumns(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One row as an object of values: `{"user_id": 1, "ts": "…"}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueRow(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for ValueRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event as an object, e.g. {\"user_id\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueRow, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: JsonValue = map.next_value()?;
                    out.push((k, v.0));
                }
                Ok(ValueRow(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for JsonKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JsonKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a join-key value: an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonKey, E> {
                Ok(JsonKey(KeyValue::Int64(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonKey, E> {
                i64::try_from(v)
                    .map(|v| JsonKey(KeyValue::Int64(v)))
                    .map_err(|_| E::custom(format!("join-key value {v} does not fit in int64")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonKey, E> {
                if v.fract() == 0.0 && v.abs() <= 9.0e15 {
                    Ok(JsonKey(KeyValue::Int64(v as i64)))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonKey, E> {
                Ok(JsonKey(KeyValue::String(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<JsonKey, E> {
                Ok(JsonKey(KeyValue::String(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Lists nest at most this deep in a request.
const MAX_DEPTH: usize = 8;

struct ValueVisitor {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for ValueVisitor {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a feature value: null, a boolean, a number, a string or a list")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float64(v as f64), Value::Int64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("lists nest too deep"));
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueVisitor {
            depth: self.depth + 1,
        })? {
            items.push(v);
        }
        Ok(Value::List(items))
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor { depth: 0 }).map(JsonValue)
    }
}

/// Serializes a value as JSON: numbers, strings, booleans, lists; bytes as base64;
/// timestamps as RFC 3339; non-finite floats as null.
pub struct JsonOut<'a>(pub &'a Value);

impl Serialize for JsonOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int64(n) => s.serialize_i64(*n),
            Value::Float64(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float64(_) => s.serialize_unit(),
            Value::String(t) => s.serialize_str(t),
            Value::Bytes(b) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::Timestamp(us) => s.serialize_str(&format_ts(*us)),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&JsonOut(v))?;
                }
                seq.end()
            }
        }
    }
}

/// A join-key value as JSON.
pub struct KeyOut<'a>(pub &'a KeyValue);

impl Serialize for KeyOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            KeyValue::Int64(n) => s.serialize_i64(*n),
            KeyValue::String(t) => s.serialize_str(t),
        }
    }
}

/// A column of join-key values as a JSON array.
pub struct KeysOut<'a>(pub &'a [KeyValue]);

impl Serialize for KeysOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&KeyOut(v))?;
        }
        seq.end()
    }
}

/// A JSON value already parsed as a loosely typed value (types are checked against the
/// schema or coerced to the declared type afterwards). Unlike the streaming decoder, an
/// object is kept as its JSON text (a string).
pub fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int64(i),
            None => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json_value).collect()),
        serde_json::Value::Object(_) => Value::String(v.to_string()),
    }
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when there are any:
/// `2026-04-03T00:00:00Z`.
pub fn format_ts(us: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => us.to_string(),
    }
}

/// Formats timestamps, remembering the last few (the values of one view's row share one).
#[derive(Default)]
pub struct TsCache {
    recent: Vec<(i64, String)>,
}

impl TsCache {
    /// `us` formatted as [`format_ts`] does.
    pub fn get(&mut self, us: i64) -> &str {
        let pos = match self.recent.iter().position(|(t, _)| *t == us) {
            Some(p) => p,
            None => {
                if self.recent.len() >= 64 {
                    self.recent.clear();
                }
                self.recent.push((us, format_ts(us)));
                self.recent.len() - 1
            }
        };
        &self.recent[pos].1
    }
}

/// Request-context fields as a read route receives them (`"context": {"hour_of_day": 14}`),
/// for the access layer, which checks them against the on-demand views' `request:` fields
/// (`missing_context`, `bad_context`). Shared by `POST /v1/features` and
/// `POST /get-online-features`.
pub fn request_context(
    fields: Option<std::collections::BTreeMap<String, JsonValue>>,
) -> RequestContext {
    fields
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_key_and_value_columns_in_order() {
        let k: KeyColumns = serde_json::from_str(r#"{"b": [1, "x", 2.0], "a": []}"#).unwrap();
        assert_eq!(k.0[0].0, "b");
        assert_eq!(
            k.0[0].1,
            vec![KeyValue::Int64(1), KeyValue::from("x"), KeyValue::Int64(2)]
        );
        let err = serde_json::from_str::<KeyColumns>(r#"{"a": [1.5]}"#).unwrap_err();
        assert!(err.to_string().contains("an integer or a string"), "{err}");
        assert!(serde_json::from_str::<KeyColumns>(r#"{"a": [null]}"#).is_err());
        let v: ValueColumns =
            serde_json::from_str(r#"{"f": [null, true, 1, 1.5, "s", [1, null]]}"#).unwrap();
        assert_eq!(
            v.0[0].1,
            vec![
                Value::Null,
                Value::Bool(true),
                Value::Int64(1),
                Value::Float64(1.5),
                Value::from("s"),
                Value::List(vec![Value::Int64(1), Value::Null])
            ]
        );
        assert!(serde_json::from_str::<ValueColumns>(r#"{"f": [{"a": 1}]}"#).is_err());
    }

    #[test]
    fn encodes_values() {
        let out = serde_json::to_string(&[
            JsonOut(&Value::Float64(4.5)),
            JsonOut(&Value::Float64(f64::NAN)),
            JsonOut(&Value::Bytes(vec![1, 2])),
            JsonOut(&Value::Timestamp(0)),
        ])
        .unwrap();
        assert_eq!(out, r#"[4.5,null,"AQI=","1970-01-01T00:00:00Z"]"#);
        assert_eq!(format_ts(1_500_000), "1970-01-01T00:00:01.500Z");
    }
}

//! Decoding push bodies in one linear pass with bounded memory.
//!
//! A push names its target (`source`, `push_source_name`, `feature_view_name`) and carries
//! rows as `events` (a list of objects) or columns (`columns`, Feast's `df`). Decoding goes
//! straight from the bytes into columns, each key looked up in a hash index, and stops at
//! the first limit crossed: keys of one event ([`Limits::max_keys_per_event`]), distinct
//! keys of the request ([`Limits::max_keys_per_request`]) and rows (the access layer's
//! `max_write_rows`). Memory is at most rows × distinct keys values, whatever the body.
//!
//! [`target_of`] reads only the target name (skipping everything else without keeping it),
//! so a caller's permission is checked before the rows are decoded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use axum::http::StatusCode;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tessera_online::Value;

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::json_body::json_error;
use tessera_access::wire::JsonValue;

/// Columns by name, in the order first seen, all of one length.
pub(crate) type Columns = Vec<(String, Vec<Value>)>;

/// The bounds a decode enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushBounds {
    pub(crate) max_keys_per_event: usize,
    pub(crate) max_keys_per_request: usize,
    pub(crate) max_rows: usize,
}

impl PushBounds {
    pub(crate) fn new(limits: &Limits, max_rows: usize) -> Self {
        Self {
            max_keys_per_event: limits.max_keys_per_event,
            max_keys_per_request: limits.max_keys_per_request,
            max_rows,
        }
    }
}

/// The shape of one push route's body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyShape {
    /// The field naming the target.
    pub(crate) target: &'static str,
    /// Other text fields (Feast's `to`).
    pub(crate) texts: &'static [&'static str],
    /// Fields holding columns (`columns`, `df`).
    pub(crate) column_fields: &'static [&'static str],
    /// The field holding event objects, if the route takes them.
    pub(crate) events_field: Option<&'static str>,
    /// Refuse fields not listed (the native API) or ignore them (Feast's).
    pub(crate) deny_unknown: bool,
}

/// A decoded push body.
#[derive(Debug, Default)]
pub(crate) struct PushBody {
    /// The target name.
    pub(crate) target: String,
    /// Text fields given, by name (`null` is absent).
    pub(crate) texts: Vec<(&'static str, String)>,
    /// The rows, with the field they came in.
    pub(crate) data: Vec<(&'static str, Columns)>,
}

impl PushBody {
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The target name of a push body, reading nothing else into memory. `Ok(None)` when the
/// body has no such field (the full decode reports it).
pub(crate) fn target_of(bytes: &[u8], field: &'static str) -> Result<Option<String>, ApiError> {
    struct V(&'static str);
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            let mut found = None;
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if k == self.0 && found.is_none() {
                    found = map.next_value::<Option<String>>()?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de::Deserializer::deserialize_map(&mut de, V(field))
        .and_then(|v| de.end().map(|()| v))
        .map_err(json_error)
}

/// Decodes a push body of `shape` within `bounds`.
pub(crate) fn decode(
    bytes: &[u8],
    shape: BodyShape,
    bounds: PushBounds,
) -> Result<PushBody, ApiError> {
    let violation = RefCell::new(None);
    let seed = BodySeed {
        shape,
        bounds,
        violation: &violation,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (result, violation.into_inner()) {
        (_, Some(limit)) => Err(limit),
        (Ok(body), None) => Ok(body),
        (Err(e), None) => Err(json_error(e)),
    }
}

/// A limit crossed while decoding: recorded here (serde errors carry only text) and
/// answered as a 413 that names the limit and its setting.
type Violation<'v> = &'v RefCell<Option<ApiError>>;

fn too_many(violation: Violation<'_>, what: String, setting: &str, max: usize) -> String {
    let message = format!(
        "{what}; this server's limit is {max} (hint: split the request, or raise `{setting}` under `server:` in tessera.yaml)"
    );
    *violation.borrow_mut() = Some(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_keys",
        message.clone(),
    ));
    message
}

struct BodySeed<'v> {
    shape: BodyShape,
    bounds: PushBounds,
    violation: Violation<'v>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = PushBody;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<PushBody, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = PushBody;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a push as a JSON object with `{}`", self.shape.target)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PushBody, A::Error> {
        let shape = self.shape;
        let mut body = PushBody::default();
        let mut target = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == shape.target {
                if target.is_some() {
                    return Err(de::Error::duplicate_field(shape.target));
                }
                target = Some(map.next_value::<String>()?);
            } else if let Some(name) = shape.texts.iter().find(|n| **n == k) {
                if let Some(v) = map.next_value::<Option<String>>()? {
                    body.texts.push((name, v));
                }
            } else if let Some(name) = shape.column_fields.iter().find(|n| **n == k) {
                let cols = map.next_value_seed(ColumnsSeed {
                    bounds: self.bounds,
                    violation: self.violation,
                })?;
                body.data.push((name, cols));
            } else if shape.events_field.is_some_and(|e| e == k) {
                let cols = map.next_value_seed(EventsSeed {
                    bounds: self.bounds,
                    violation: self.violation,
                })?;
                body.data
                    .push((shape.events_field.unwrap_or_default(), cols));
            } else if shape.deny_unknown {
                let mut expected = vec![shape.target];
                expected.extend(shape.texts);
                expected.extend(shape.column_fields);
                expected.extend(shape.events_field);
                return Err(de::Error::custom(format!(
                    "unknown field `{}`, expected one of {}",
                    tessera_access::clip(&k),
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        body.target = target.ok_or_else(|| de::Error::missing_field(shape.target))?;
        Ok(body)
    }
}

/// `{"user_id": [1, 2], "f0": [0.5, null]}`.
struct ColumnsSeed<'v> {
    bounds: PushBounds,
    violation: Violation<'v>,
}

impl<'de> DeserializeSeed<'de> for ColumnsSeed<'_> {
    type Value = Columns;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Columns, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ColumnsSeed<'_> {
    type Value = Columns;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of columns, e.g. {\"user_id\": [1], \"f0\": [0.5]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Columns, A::Error> {
        let mut out: Columns = Vec::new();
        let mut seen: HashMap<String, ()> = HashMap::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.len() >= self.bounds.max_keys_per_request {
                return Err(de::Error::custom(too_many(
                    self.violation,
                    format!(
                        "the push has more than {} columns",
                        self.bounds.max_keys_per_request
                    ),
                    "max_keys_per_request",
                    self.bounds.max_keys_per_request,
                )));
            }
            if seen.insert(k.clone(), ()).is_some() {
                return Err(de::Error::custom(format!(
                    "column `{}` is given twice",
                    tessera_access::clip(&k)
                )));
            }
            let values = map.next_value_seed(ValuesSeed {
                bounds: self.bounds,
                violation: self.violation,
            })?;
            out.push((k, values));
        }
        Ok(out)
    }
}

/// One column's values, at most `max_rows`.
struct ValuesSeed<'v> {
    bounds: PushBounds,
    violation: Violation<'v>,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(JsonValue(v)) = seq.next_element()? {
            if out.len() >= self.bounds.max_rows {
                return Err(de::Error::custom(too_rows(self.violation, self.bounds)));
            }
            out.push(v);
        }
        Ok(out)
    }
}

fn too_rows(violation: Violation<'_>, bounds: PushBounds) -> String {
    let message = format!(
        "the push has more than {} rows, this server's limit (hint: send fewer rows per request, or raise `--max-entities`: a push may carry ten times as many rows as a read has entities)",
        bounds.max_rows
    );
    *violation.borrow_mut() = Some(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_rows",
        message.clone(),
    ));
    message
}

/// `[{"user_id": 1, "ts": "…"}, …]` as columns; a key an event lacks is null there.
struct EventsSeed<'v> {
    bounds: PushBounds,
    violation: Violation<'v>,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Columns;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Columns, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = Columns;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of events as objects, e.g. [{\"user_id\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Columns, A::Error> {
        let mut acc = EventColumns::default();
        loop {
            if acc.rows >= self.bounds.max_rows {
                // One more element would cross the limit: refuse if there is one.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(too_rows(self.violation, self.bounds)));
                }
                break;
            }
            let event = EventSeed {
                acc: &mut acc,
                bounds: self.bounds,
                violation: self.violation,
            };
            if seq.next_element_seed(event)?.is_none() {
                break;
            }
        }
        Ok(acc.cols)
    }
}

/// Columns built from events so far.
#[derive(Default)]
struct EventColumns {
    index: HashMap<String, usize>,
    cols: Columns,
    rows: usize,
}

struct EventSeed<'a, 'v> {
    acc: &'a mut EventColumns,
    bounds: PushBounds,
    violation: Violation<'v>,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an event as an object, e.g. {\"user_id\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}",
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let acc = self.acc;
        let row = acc.rows;
        let mut keys = 0usize;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            keys += 1;
            if keys > self.bounds.max_keys_per_event {
                return Err(de::Error::custom(too_many(
                    self.violation,
                    format!(
                        "event {row} has more than {} keys",
                        self.bounds.max_keys_per_event
                    ),
                    "max_keys_per_event",
                    self.bounds.max_keys_per_event,
                )));
            }
            let col = match acc.index.get(k.as_ref()) {
                Some(&c) => c,
                None => {
                    if acc.cols.len() >= self.bounds.max_keys_per_request {
                        return Err(de::Error::custom(too_many(
                            self.violation,
                            format!(
                                "the events have more than {} distinct keys",
                                self.bounds.max_keys_per_request
                            ),
                            "max_keys_per_request",
                            self.bounds.max_keys_per_request,
                        )));
                    }
                    let c = acc.cols.len();
                    acc.index.insert(k.to_string(), c);
                    acc.cols.push((k.to_string(), vec![Value::Null; row]));
                    c
                }
            };
            let JsonValue(v) = map.next_value()?;
            let values = &mut acc.cols[col].1;
            if values.len() > row {
                return Err(de::Error::custom(format!(
                    "event {row} has the key `{}` twice",
                    tessera_access::clip(&k)
                )));
            }
            values.push(v);
        }
        acc.rows += 1;
        for (_, values) in &mut acc.cols {
            if values.len() < acc.rows {
                values.push(Value::Null);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: BodyShape = BodyShape {
        target: "source",
        texts: &[],
        column_fields: &["columns"],
        events_field: Some("events"),
        deny_unknown: true,
    };

    fn bounds() -> PushBounds {
        PushBounds {
            max_keys_per_event: 3,
            max_keys_per_request: 4,
            max_rows: 5,
        }
    }

    #[test]
    fn events_become_columns_with_nulls_for_missing_keys() {
        let b = decode(
            br#"{"events": [{"a": 1, "b": "x"}, {"c": true}, {"b": "y", "a": 2}], "source": "s"}"#,
            NATIVE,
            bounds(),
        )
        .unwrap();
        assert_eq!(b.target, "s");
        let (field, cols) = &b.data[0];
        assert_eq!(*field, "events");
        assert_eq!(
            cols,
            &vec![
                (
                    "a".to_string(),
                    vec![Value::Int64(1), Value::Null, Value::Int64(2)]
                ),
                (
                    "b".to_string(),
                    vec![Value::from("x"), Value::Null, Value::from("y")]
                ),
                (
                    "c".to_string(),
                    vec![Value::Null, Value::Bool(true), Value::Null]
                ),
            ]
        );
    }

    #[test]
    fn limits_are_413s_naming_the_setting() {
        let err = decode(
            br#"{"source": "s", "events": [{"a":1,"b":2,"c":3,"d":4}]}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (413, "too_many_keys"));
        assert!(
            err.message.contains("max_keys_per_event"),
            "{}",
            err.message
        );
        let err = decode(
            br#"{"source": "s", "events": [{"a":1},{"b":2},{"c":3},{"d":4},{"e":5}]}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert!(
            err.message.contains("max_keys_per_request"),
            "{}",
            err.message
        );
        let err = decode(
            br#"{"source": "s", "events": [{},{},{},{},{},{}]}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (413, "too_many_rows"));
        let err = decode(
            br#"{"source": "s", "columns": {"a": [1,2,3,4,5,6]}}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert_eq!(err.code, "too_many_rows");
        let err = decode(
            br#"{"source": "s", "columns": {"a": [], "a": []}}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert!(err.message.contains("given twice"), "{}", err.message);
        let err = decode(
            br#"{"source": "s", "events": [{"a": 1, "a": 2}]}"#,
            NATIVE,
            bounds(),
        )
        .unwrap_err();
        assert!(err.message.contains("twice"), "{}", err.message);
        let err = decode(br#"{"source": "s", "bogus": 1}"#, NATIVE, bounds()).unwrap_err();
        assert!(
            err.message.contains("unknown field `bogus`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_target_is_read_alone() {
        let body = br#"{"events": [{"a": [1, {"deep": [null]}]}], "source": "plays", "x": 2}"#;
        assert_eq!(target_of(body, "source").unwrap().as_deref(), Some("plays"));
        assert_eq!(target_of(body, "nope").unwrap(), None);
        assert_eq!(
            target_of(b"[1]", "source").unwrap_err().status.as_u16(),
            422
        );
        assert_eq!(target_of(b"{", "source").unwrap_err().status.as_u16(), 400);
    }
}

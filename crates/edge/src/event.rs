//! [`Event`]: one device signal, as the app records it (`device.record("device_plays", event)`),
//! and its check against the source's declared schema.

use tessera_core::{FeatureType, SourceDef};
use tessera_online::{coerce, describe, Value};

use crate::error::{Error, Result};

/// One event of a `type: device` source: its time and its columns. It is checked against
/// the source's `device.schema` when recorded.
///
/// ```
/// use tessera_edge::Event;
/// let e = Event::at_micros(1_700_000_000_000_000).with("user_id", 7).with("action", "play");
/// assert_eq!(e.columns().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    ts: Option<i64>,
    columns: Vec<(String, Value)>,
}

impl Event {
    /// An event at `ts_us` (µs since the Unix epoch, UTC).
    pub fn at_micros(ts_us: i64) -> Self {
        Self {
            ts: Some(ts_us),
            columns: Vec::new(),
        }
    }

    /// An event happening now.
    pub fn now() -> Self {
        Self::at_micros(crate::clock::now_us())
    }

    /// An event whose time is one of its columns (the source's `timestamp_field`, as a
    /// timestamp or an ISO 8601 string), e.g. one decoded from JSON.
    pub fn from_columns(columns: Vec<(String, Value)>) -> Self {
        Self { ts: None, columns }
    }

    /// Adds a column.
    pub fn with(mut self, column: &str, value: impl Into<EventValue>) -> Self {
        self.columns.push((column.to_string(), value.into().0));
        self
    }

    /// The columns, as given.
    pub fn columns(&self) -> &[(String, Value)] {
        &self.columns
    }
}

/// A value accepted by [`Event::with`]: integers, floats, bools, strings, or a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventValue(pub Value);

impl From<Value> for EventValue {
    fn from(v: Value) -> Self {
        EventValue(v)
    }
}
impl From<i64> for EventValue {
    fn from(v: i64) -> Self {
        EventValue(Value::Int64(v))
    }
}
impl From<i32> for EventValue {
    fn from(v: i32) -> Self {
        EventValue(Value::Int64(v.into()))
    }
}
impl From<f64> for EventValue {
    fn from(v: f64) -> Self {
        EventValue(Value::Float64(v))
    }
}
impl From<bool> for EventValue {
    fn from(v: bool) -> Self {
        EventValue(Value::Bool(v))
    }
}
impl From<&str> for EventValue {
    fn from(v: &str) -> Self {
        EventValue(Value::String(v.to_string()))
    }
}
impl From<String> for EventValue {
    fn from(v: String) -> Self {
        EventValue(Value::String(v))
    }
}

/// An event checked against its source: its time, and every column typed as declared
/// (columns the event leaves out are null).
#[derive(Debug, Clone)]
pub(crate) struct CheckedEvent {
    pub(crate) ts: i64,
    pub(crate) values: Vec<(String, Value)>,
}

impl CheckedEvent {
    /// The value of a column (null when absent).
    pub(crate) fn get(&self, column: &str) -> &Value {
        self.values
            .iter()
            .find(|(c, _)| c == column)
            .map_or(&Value::Null, |(_, v)| v)
    }
}

/// Checks an event against a device source's schema; every problem is reported.
pub(crate) fn check_event(source: &SourceDef, event: Event) -> Result<CheckedEvent> {
    let Some(device) = &source.device else {
        return Err(Error::Unknown {
            kind: "device source",
            name: source.name.clone(),
            hint: format!("`{}` is not `type: device`", source.name),
        });
    };
    let mut problems = Vec::new();
    let mut ts = event.ts;
    let mut values = Vec::with_capacity(event.columns.len());
    for (i, (column, value)) in event.columns.into_iter().enumerate() {
        if values.iter().any(|(c, _): &(String, Value)| *c == column) {
            problems.push(format!("column `{column}` is given twice"));
            continue;
        }
        if column == source.timestamp_field {
            match coerce(value, &FeatureType::Timestamp) {
                Ok(Value::Timestamp(t)) => ts = Some(t),
                Ok(_) => problems.push(format!("the timestamp `{column}` is null")),
                Err(e) => problems.push(format!("`{column}`: {e}")),
            }
            continue;
        }
        let Some(ty) = device.schema.get(&column) else {
            let close =
                tessera_core::did_you_mean(&column, device.schema.keys().map(String::as_str))
                    .map_or(String::new(), |c| format!("did you mean `{c}`? "));
            problems.push(format!(
                "unknown column `{column}` (column {}; {close}declared: {})",
                i + 1,
                device.schema.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        match coerce(value.clone(), ty) {
            Ok(v) => values.push((column, v)),
            Err(e) => problems.push(format!("`{column}`: {e} (got {})", describe(&value))),
        }
    }
    let Some(ts) = ts else {
        problems.push(format!(
            "the event has no time (hint: give `{}`, or record it with `Event::at_micros`)",
            source.timestamp_field
        ));
        return Err(Error::BadEvent {
            source_name: source.name.clone(),
            problems,
        });
    };
    if !problems.is_empty() {
        return Err(Error::BadEvent {
            source_name: source.name.clone(),
            problems,
        });
    }
    Ok(CheckedEvent { ts, values })
}

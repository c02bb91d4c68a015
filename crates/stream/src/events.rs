//! Decoding pushed or consumed events against a stream source's declared schema.
//!
//! A batch arrives as columns of loosely typed values (JSON numbers, strings …); each value
//! is checked and converted to its declared type ([`tessera_online::coerce`]). A batch is
//! accepted or refused **as a whole**: if any row lacks its timestamp or an entity key, or
//! holds a value of the wrong type, or names an unknown column, [`Error::BadEvents`] lists
//! the first problems by row and nothing of the batch is applied. (NATS messages are
//! decoded one by one, so one bad message never holds up the others.)

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;
use tessera_access::wire::json_value;
use tessera_core::{Catalog, FeatureType, SourceDef};
use tessera_online::{coerce, describe, Value};

use crate::error::{Error, Result};

/// Problems listed in one error.
const MAX_PROBLEMS: usize = 20;

/// What the engine knows about one stream source's events.
#[derive(Debug, Clone)]
pub struct SourceSchema {
    /// The source.
    pub name: String,
    /// The event-time column.
    pub ts_field: String,
    /// The other columns and their types, in name order.
    pub columns: Vec<(String, FeatureType)>,
    /// Columns that are join keys of a view over the source (never null).
    pub keys: Vec<usize>,
    /// The event-id column, if declared.
    pub event_id: Option<usize>,
    /// Allowed lateness, µs.
    pub lateness_us: i64,
    /// The Arrow schema of the offline log.
    pub arrow: SchemaRef,
}

impl SourceSchema {
    /// The schema of a stream source.
    pub fn new(catalog: &Catalog, source: &SourceDef) -> Result<Self> {
        let st = source.stream.as_ref().ok_or_else(|| {
            Error::definitions(format!("source `{}` is not a stream source", source.name))
        })?;
        let columns: Vec<(String, FeatureType)> = st
            .schema
            .iter()
            .filter(|(n, _)| **n != source.timestamp_field)
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let mut keys = Vec::new();
        for view in catalog
            .feature_views()
            .values()
            .filter(|v| v.source == source.name)
        {
            for k in catalog.join_keys(view) {
                let i = columns.iter().position(|(n, _)| *n == k).ok_or_else(|| {
                    Error::definitions(format!(
                        "stream source `{}` does not declare `{k}`, the join key of feature view `{}`",
                        source.name, view.name
                    ))
                })?;
                if !keys.contains(&i) {
                    keys.push(i);
                }
            }
        }
        let event_id = st
            .event_id_field
            .as_ref()
            .and_then(|id| columns.iter().position(|(n, _)| n == id));
        // Validation refused an unparsable lateness; a registry of an older build
        // falls back to in-order ingest.
        let lateness_us = st.allowed_lateness_micros().unwrap_or(0);
        Ok(Self {
            name: source.name.clone(),
            ts_field: source.timestamp_field.clone(),
            arrow: st.arrow_schema(&source.timestamp_field),
            columns,
            keys,
            event_id,
            lateness_us,
        })
    }

    /// The index of a column by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }
}

/// Decoded events: event times (µs) and one column of values per schema column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// Event time of each row, µs since the epoch.
    pub ts: Vec<i64>,
    /// Values, `cols[c][row]`, aligned with [`SourceSchema::columns`].
    pub cols: Vec<Vec<Value>>,
}

impl Events {
    /// Rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Keeps the rows whose flag is set.
    pub fn filter(&self, keep: &[bool]) -> Events {
        let pick = |v: &Vec<Value>| -> Vec<Value> {
            v.iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(d, _)| d.clone())
                .collect()
        };
        Events {
            ts: self
                .ts
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(t, _)| *t)
                .collect(),
            cols: self.cols.iter().map(pick).collect(),
        }
    }

    /// Appends another batch with the same columns.
    pub fn extend(&mut self, other: Events) {
        if self.cols.is_empty() {
            self.cols = vec![Vec::new(); other.cols.len()];
        }
        self.ts.extend(other.ts);
        for (a, b) in self.cols.iter_mut().zip(other.cols) {
            a.extend(b);
        }
    }
}

/// The batch's columns in the schema's order, with the event time apart, checked for
/// equal lengths, repeated, unknown and missing columns (every such problem is reported).
#[allow(clippy::type_complexity)]
fn arrange_columns(
    schema: &SourceSchema,
    columns: Vec<(String, Vec<Value>)>,
    total: usize,
) -> Result<(Vec<Value>, Vec<Option<Vec<Value>>>)> {
    let mut problems: Vec<String> = Vec::new();
    if let Some((name, v)) = columns.iter().find(|(_, v)| v.len() != total) {
        return Err(Error::BadEvents {
            bad: total.max(v.len()),
            total,
            problems: vec![format!(
                "column `{name}` has {} values but `{}` has {total} (hint: every column needs one value per event)",
                v.len(),
                columns[0].0
            )],
        });
    }
    let mut ts: Option<Vec<Value>> = None;
    let mut cols: Vec<Option<Vec<Value>>> = vec![None; schema.columns.len()];
    for (name, values) in columns {
        if name == schema.ts_field || (name == "event_timestamp" && schema.index(&name).is_none()) {
            if ts.is_some() {
                problems.push(format!(
                    "the event time is given twice (`{}` and `event_timestamp`)",
                    schema.ts_field
                ));
            }
            ts = Some(values);
        } else if let Some(i) = schema.index(&name) {
            if cols[i].is_some() {
                problems.push(format!("column `{name}` is given twice"));
            }
            cols[i] = Some(values);
        } else if name != "created" {
            let known = std::iter::once(schema.ts_field.as_str())
                .chain(schema.columns.iter().map(|(n, _)| n.as_str()));
            let guess = tessera_core::did_you_mean(&name, known)
                .map(|g| format!("did you mean `{g}`? "))
                .unwrap_or_default();
            problems.push(format!(
                "unknown column `{name}` (hint: {guess}stream source `{}` declares {}, {}; add it to `stream.schema` or drop it)",
                schema.name,
                schema.ts_field,
                schema.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadEvents {
            bad: total,
            total,
            problems,
        });
    }
    let Some(ts_values) = ts else {
        return Err(Error::BadEvents {
            bad: total,
            total,
            problems: vec![format!(
                "no event time column `{}` (hint: send it, as ISO 8601 text)",
                schema.ts_field
            )],
        });
    };
    Ok((ts_values, cols))
}

/// Decodes columns (`name → values`, all the same length) against `schema`. The timestamp
/// column may also be called `event_timestamp`, and a `created` column that the schema
/// does not declare is ignored (Feast's push sends both).
pub fn decode_columns(schema: &SourceSchema, columns: Vec<(String, Vec<Value>)>) -> Result<Events> {
    let total = columns.first().map_or(0, |(_, v)| v.len());
    let (ts_values, cols) = arrange_columns(schema, columns, total)?;
    let mut problems: Vec<String> = Vec::new();
    let mut bad_rows: BTreeMap<usize, ()> = BTreeMap::new();
    let mut note = |row: usize, msg: String, problems: &mut Vec<String>| {
        bad_rows.insert(row, ());
        if problems.len() < MAX_PROBLEMS {
            problems.push(format!("row {row}: {msg}"));
        }
    };
    let mut out_ts = Vec::with_capacity(total);
    for (row, v) in ts_values.into_iter().enumerate() {
        match coerce(v, &FeatureType::Timestamp) {
            Ok(Value::Timestamp(t)) => out_ts.push(t),
            Ok(_) => {
                note(
                    row,
                    format!("no event time in `{}`", schema.ts_field),
                    &mut problems,
                );
                out_ts.push(0);
            }
            Err(e) => {
                note(row, format!("`{}`: {e}", schema.ts_field), &mut problems);
                out_ts.push(0);
            }
        }
    }
    let mut out_cols = Vec::with_capacity(schema.columns.len());
    for (i, ((name, ty), values)) in schema.columns.iter().zip(cols).enumerate() {
        let is_key = schema.keys.contains(&i);
        let Some(values) = values else {
            if is_key && total > 0 {
                for r in 0..total {
                    note(r, format!("no `{name}` column, the entity key (hint: every event needs its entity key)"), &mut problems);
                }
            }
            out_cols.push(vec![Value::Null; total]);
            continue;
        };
        let mut col = Vec::with_capacity(total);
        for (row, v) in values.into_iter().enumerate() {
            let shown = describe(&v);
            match coerce(v, ty) {
                Ok(Value::Null) if is_key => {
                    note(
                        row,
                        format!("the entity key `{name}` is null"),
                        &mut problems,
                    );
                    col.push(Value::Null);
                }
                Ok(v) => col.push(v),
                Err(e) => {
                    note(row, format!("`{name}`: {e} ({shown})"), &mut problems);
                    col.push(Value::Null);
                }
            }
        }
        out_cols.push(col);
    }
    if !bad_rows.is_empty() {
        return Err(Error::BadEvents {
            bad: bad_rows.len(),
            total,
            problems,
        });
    }
    Ok(Events {
        ts: out_ts,
        cols: out_cols,
    })
}

/// One JSON object (a NATS message body) as columns of one row.
pub fn json_object_columns(body: &[u8]) -> Result<Vec<(String, Vec<Value>)>> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Error::BadMessage {
        problem: "not JSON",
        source: Some(e),
    })?;
    let serde_json::Value::Object(map) = v else {
        return Err(Error::BadMessage {
            problem: "not a JSON object",
            source: None,
        });
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, vec![json_value(&v)]))
        .collect())
}

//! The write path used by push: [`WriteRequest`] → rows checked against each target view's
//! declared types → one [`WriteBatch`] per view.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tessera_core::{
    Catalog, FeatureViewDef, Placement, Refusal, RefusalReason, SourceDef, ViewProvider,
};
use tessera_online::{EntityKey, FutureBound, KeyValue, Stamp, Value, WriteBatch, WriteSummary};

use crate::caller::Caller;
use crate::entity_rows::{key_type, wrong_key_type, KeyType};
use crate::error::{Error, Result};
use crate::read_plan::unknown;
use tessera_online::{coerce, describe, parse_timestamp};

/// Where rows go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteTarget {
    /// One feature view.
    View(String),
    /// Every online view over a source (Feast's push source); a view name is accepted too.
    PushSource(String),
}

/// Rows to write: columns by name, all the same length. Columns are the views' join keys,
/// the source's timestamp column (`event_timestamp` is accepted too), optionally its created
/// column (`created` is accepted too), and one column per feature (by feature name or source
/// column).
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Where the rows go.
    pub target: WriteTarget,
    /// The columns.
    pub columns: Vec<(String, Vec<Value>)>,
    /// Who writes.
    pub caller: Caller,
}

/// What a write did, per view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// `(view, summary)` for each view written (for a stream source: the source).
    pub views: Vec<(String, WriteSummary)>,
    /// For a push to a stream source: what the stream engine did with the events.
    pub ingest: Option<crate::event_ingest::IngestSummary>,
}

impl WriteOutcome {
    /// Rows stored, over every view.
    pub fn written(&self) -> u64 {
        self.views.iter().map(|(_, s)| s.written).sum()
    }

    /// Rows skipped because the store held a newer row, over every view.
    pub fn skipped(&self) -> u64 {
        self.views.iter().map(|(_, s)| s.skipped).sum()
    }
}

/// At most this many value problems are listed in one error.
const MAX_PROBLEMS: usize = 20;

/// Refuses a write to a `provider: content` view: it is served from its source's latest
/// rows, so pushed rows would never be read.
fn refuse_content(v: &FeatureViewDef) -> Result<()> {
    if v.provider == ViewProvider::Content {
        return Err(Error::NotWritable {
            message: format!(
                "feature view `{}` has `provider: content`: it is served from source `{}` as loaded by `tessera serve`, so pushed rows would never be read (update the source's data and restart the server, or drop `provider: content` to serve the view from the online store)",
                v.name, v.source
            ),
        });
    }
    Ok(())
}

/// The views a target names.
pub(crate) fn target_views<'a>(
    catalog: &'a Catalog,
    target: &WriteTarget,
) -> Result<Vec<&'a FeatureViewDef>> {
    match target {
        WriteTarget::View(name) => {
            let v = catalog
                .view(name)
                .map_err(|e| unknown("feature view", name, e))?;
            if !v.online {
                return Err(Error::NotOnline {
                    view: v.name.clone(),
                });
            }
            refuse_content(v)?;
            Ok(vec![v])
        }
        WriteTarget::PushSource(name) => {
            if catalog.sources().contains_key(name) {
                let all: Vec<_> = catalog
                    .feature_views()
                    .values()
                    .filter(|v| v.source == *name && v.online)
                    .collect();
                let views: Vec<_> = all
                    .iter()
                    .copied()
                    .filter(|v| v.provider != ViewProvider::Content)
                    .collect();
                if let (true, Some(content)) = (views.is_empty(), all.first()) {
                    refuse_content(content)?;
                }
                if views.is_empty() {
                    return Err(Error::Unknown {
                        kind: "push source",
                        name: name.clone(),
                        hint: " (no online feature view reads this source)".to_string(),
                    });
                }
                Ok(views)
            } else if let Some(v) = catalog.feature_views().get(name) {
                if !v.online {
                    return Err(Error::NotOnline {
                        view: v.name.clone(),
                    });
                }
                refuse_content(v)?;
                Ok(vec![v])
            } else {
                let mut known: Vec<&str> = catalog.sources().keys().map(String::as_str).collect();
                known.extend(
                    catalog
                        .feature_views()
                        .values()
                        .filter(|v| v.provider != ViewProvider::Content)
                        .map(|v| v.name.as_str()),
                );
                known.sort_unstable();
                known.dedup();
                let guess = tessera_core::did_you_mean(name, known.iter().copied())
                    .map(|g| format!("did you mean `{g}`? "))
                    .unwrap_or_default();
                Err(Error::Unknown {
                    kind: "push source",
                    name: name.clone(),
                    hint: format!(
                        " ({guess}push to a source or a feature view; known: {})",
                        known.join(", ")
                    ),
                })
            }
        }
    }
}

/// Refuses a write by a consumer whose `writes:` does not cover every target view (a view
/// is covered by its own name or its source's). Callers that are not consumers — anonymous
/// (`--auth none`) and local operators — may write.
pub(crate) fn check_write_permission(
    catalog: &Catalog,
    caller: &Caller,
    target: &WriteTarget,
    views: &[&FeatureViewDef],
) -> Result<()> {
    let Some(consumer) = caller.consumer_name() else {
        return Ok(());
    };
    // A consumer unknown to this catalog may write nothing.
    let writes = catalog
        .consumers()
        .get(consumer)
        .map_or(&[][..], |c| c.writes.as_slice());
    let uncovered: Vec<String> = views
        .iter()
        .filter(|v| !writes.iter().any(|w| *w == v.name || *w == v.source))
        .map(|v| format!("`{}`", v.name))
        .collect();
    if uncovered.is_empty() {
        return Ok(());
    }
    let (target, hint) = match target {
        WriteTarget::PushSource(s) if catalog.sources().contains_key(s) => (
            format!("push source `{s}`"),
            format!("`{s}` (or the names of its views)"),
        ),
        WriteTarget::View(v) | WriteTarget::PushSource(v) => {
            (format!("feature view `{v}`"), format!("`{v}`"))
        }
    };
    Err(Error::WriteDenied {
        consumer: consumer.to_string(),
        target,
        uncovered: format!(
            "feature view{} {}",
            if uncovered.len() == 1 { "" } else { "s" },
            uncovered.join(", ")
        ),
        hint,
    })
}

/// A refusal for every device-only feature the columns carry: their values may never reach
/// the cloud.
pub(crate) fn device_only_refusals(
    views: &[&FeatureViewDef],
    columns: &HashMap<&str, usize>,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    for v in views {
        for f in &v.features {
            if f.placement == Placement::DeviceOnly
                && (columns.contains_key(f.name.as_str())
                    || columns.contains_key(f.source_column()))
            {
                out.push(Refusal {
                    feature: Some(tessera_core::FeatureRef::new(&v.name, &f.name)),
                    reason: RefusalReason::DeviceOnly,
                });
            }
        }
    }
    out
}

/// Builds one view's batch from the columns, collecting problems instead of stopping at the
/// first. Returns the batch and the column names it used.
pub(crate) fn view_batch<'c>(
    catalog: &Catalog,
    view: &FeatureViewDef,
    columns: &'c [(String, Vec<Value>)],
    index: &HashMap<&str, usize>,
    key_types: &HashMap<String, KeyType>,
    (bound, now): (FutureBound, i64),
    problems: &mut Vec<String>,
) -> (Option<WriteBatch>, HashSet<&'c str>) {
    let mut used: HashSet<&str> = HashSet::new();
    let rows = columns.first().map_or(0, |(_, v)| v.len());
    let mut find = |names: &[&str]| -> Option<usize> {
        let i = names.iter().find_map(|n| index.get(n).copied())?;
        used.insert(columns[i].0.as_str());
        Some(i)
    };
    let source: Option<&SourceDef> = catalog.source_of(view).ok();

    // Join keys.
    let mut key_cols: Vec<(Arc<str>, usize)> = Vec::new();
    for k in catalog.join_keys(view) {
        match find(&[k.as_str()]) {
            Some(i) => key_cols.push((Arc::from(k.as_str()), i)),
            None => problems.push(format!("join key column `{k}` is missing")),
        }
    }
    // Timestamps.
    let ts_name = source.map_or("event_timestamp", |s| s.timestamp_field.as_str());
    let ts_col = find(&[ts_name, "event_timestamp"]);
    if ts_col.is_none() {
        problems.push(format!(
            "the event timestamp column `{ts_name}` is missing (hint: one ISO 8601 time per row, e.g. 2026-04-02T00:00:00Z)"
        ));
    }
    let created_name = source.and_then(|s| s.created_timestamp_field.as_deref());
    let created_col = match created_name {
        Some(c) => find(&[c, "created"]),
        None => find(&["created"]),
    };
    // Features (device-only ones never reach the cloud store).
    let mut feats: Vec<(String, usize, &tessera_core::FeatureType)> = Vec::new();
    for f in &view.features {
        if f.placement == Placement::DeviceOnly {
            continue;
        }
        match find(&[f.name.as_str(), f.source_column()]) {
            Some(i) => feats.push((f.name.clone(), i, &f.dtype)),
            None => problems.push(format!(
                "feature column `{}` of view `{}` is missing (hint: send every feature; a row replaces the stored row whole)",
                f.name, view.name
            )),
        }
    }
    if !problems.is_empty() {
        return (None, used);
    }
    let mut batch = WriteBatch::new(
        view.name.clone(),
        feats.iter().map(|(n, _, _)| n.clone()).collect(),
    );
    batch.rows.reserve(rows);
    for row in 0..rows {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let key = entity_key(columns, &key_cols, row, key_types, problems);
        let event = ts_col
            .and_then(|c| timestamp_at(columns, c, row, false, problems))
            .filter(|&t| {
                let ok = bound.allows(t, now);
                if !ok {
                    let what = key.as_ref().map_or(String::new(), |k| format!(" ({k})"));
                    problems.push(format!("row {row}{what}: {}", bound.refusal(t, now)));
                }
                ok
            });
        let created = match created_col {
            Some(c) => timestamp_at(columns, c, row, true, problems),
            None => Some(Stamp::NO_CREATED),
        };
        let mut values = Vec::with_capacity(feats.len());
        for (name, col, ty) in &feats {
            match coerce(columns[*col].1[row].clone(), ty) {
                Ok(v) => values.push(v),
                Err(p) => problems.push(format!("column `{name}` row {row}: {p}")),
            }
        }
        if let (Some(key), Some(event), Some(created)) = (key, event, created) {
            if values.len() == feats.len() {
                batch.push(key, Stamp::new(event, created), values);
            }
        }
    }
    let ok = problems.is_empty();
    (ok.then_some(batch), used)
}

fn entity_key(
    columns: &[(String, Vec<Value>)],
    key_cols: &[(Arc<str>, usize)],
    row: usize,
    key_types: &HashMap<String, KeyType>,
    problems: &mut Vec<String>,
) -> Option<EntityKey> {
    let mut parts = Vec::with_capacity(key_cols.len());
    for (name, col) in key_cols {
        let kv = match &columns[*col].1[row] {
            Value::Int64(n) => KeyValue::Int64(*n),
            Value::String(s) => KeyValue::String(s.clone()),
            Value::Float64(f) if f.fract() == 0.0 && f.abs() <= 9.0e15 => {
                KeyValue::Int64(*f as i64)
            }
            other => {
                problems.push(format!(
                    "join key `{name}` row {row}: expected an integer or a string, got {}",
                    describe(other)
                ));
                return None;
            }
        };
        if let Some(&expected) = key_types.get(name.as_ref()) {
            if key_type(&kv) != expected {
                problems.push(wrong_key_type(name, expected, row, &kv).to_string());
                return None;
            }
        }
        parts.push((Arc::clone(name), kv));
    }
    match EntityKey::new(parts) {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(format!("row {row}: {e}"));
            None
        }
    }
}

fn timestamp_at(
    columns: &[(String, Vec<Value>)],
    col: usize,
    row: usize,
    nullable: bool,
    problems: &mut Vec<String>,
) -> Option<i64> {
    let (name, values) = &columns[col];
    match &values[row] {
        Value::Timestamp(t) => Some(*t),
        Value::String(s) => match parse_timestamp(s) {
            Some(t) => Some(t),
            None => {
                problems.push(format!(
                    "column `{name}` row {row}: {s:?} is not a timestamp (hint: write ISO 8601, e.g. 2026-04-02T00:00:00Z)"
                ));
                None
            }
        },
        Value::Null if nullable => Some(Stamp::NO_CREATED),
        other => {
            problems.push(format!(
                "column `{name}` row {row}: expected an ISO 8601 timestamp string, got {}",
                describe(other)
            ));
            None
        }
    }
}

//! Reading a release's rows: the source (or the view's source) scanned with DataFusion,
//! its public lookup joined, the filter and the time range applied, erased entities
//! dropped, and each row reduced to what bounding and aggregation need.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::Expr;
use tessera_core::aggregate::{FilterExpr, Row as FilterRow, Value};
use tessera_core::{Catalog, EntityHasher, ReleaseDef, SourceDef};

use crate::bounding::Row;
use crate::error::{Error, Result};

/// What to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    /// Rows at or after (µs since the epoch).
    pub from_us: Option<i64>,
    /// Rows before (µs since the epoch).
    pub to_us: Option<i64>,
}

/// The columns, source and entity a release reads, resolved against the catalog.
pub(crate) struct Target<'a> {
    pub source: &'a SourceDef,
    pub join_keys: Vec<String>,
}

pub(crate) fn target<'a>(catalog: &'a Catalog, def: &ReleaseDef) -> Result<Target<'a>> {
    let bad = |message: String, hint: &str| Error::Query {
        release: def.name.clone(),
        message,
        hint: hint.to_string(),
    };
    let (source_name, entity) = match (&def.source, &def.view) {
        (Some(s), None) => (s.clone(), def.entity.clone()),
        (None, Some(v)) => {
            let view = catalog.view(v)?;
            let entity = def
                .entity
                .clone()
                .or_else(|| (view.entities.len() == 1).then(|| view.entities[0].clone()));
            (view.source.clone(), entity)
        }
        _ => {
            return Err(bad(
                "needs one of a source or a view".into(),
                "give --source or --view",
            ))
        }
    };
    let source = catalog.sources().get(&source_name).ok_or_else(|| {
        bad(
            format!("unknown source `{source_name}`"),
            "run `tessera catalog` for the sources",
        )
    })?;
    let entity = entity.ok_or_else(|| {
        bad(
            "names no entity".into(),
            "give --entity (whose contributions are bounded)",
        )
    })?;
    let join_keys = catalog
        .entities()
        .get(&entity)
        .map(|e| e.join_keys.clone())
        .ok_or_else(|| {
            bad(
                format!("unknown entity `{entity}`"),
                "run `tessera catalog` for the entities",
            )
        })?;
    Ok(Target { source, join_keys })
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The release's rows over `range`, without the rows of erased entities (`erased`: their
/// keyed digests, as in the tombstone file).
pub(crate) async fn scan(
    root: &Path,
    catalog: &Catalog,
    def: &ReleaseDef,
    range: TimeRange,
    hasher: &EntityHasher,
    erased: &HashSet<String>,
) -> Result<Vec<Row>> {
    let t = target(catalog, def)?;
    let scan_err = |e: Box<dyn std::error::Error + Send + Sync>| Error::Scan {
        release: def.name.clone(),
        source: e,
    };
    let bad = |message: String, hint: String| Error::Query {
        release: def.name.clone(),
        message,
        hint,
    };
    let filter = def
        .filter
        .as_deref()
        .map(FilterExpr::parse)
        .transpose()
        .map_err(|e| {
            bad(
                format!("filter: {e}"),
                "see docs/DEFINITIONS.md for the filter grammar".into(),
            )
        })?;
    let ctx = tessera_offline::session(tessera_offline::default_partitions());
    let (df, _) = tessera_offline::open_source(&ctx, root, t.source)
        .await
        .map_err(|e| scan_err(Box::new(e)))?;
    let lookup_cols: Vec<String> = def
        .lookup
        .as_ref()
        .map(|l| l.columns.clone())
        .unwrap_or_default();
    let group_cols: Vec<String> = def
        .group_by
        .as_ref()
        .map(|g| g.columns().to_vec())
        .unwrap_or_default();
    let measure_col = def.measure.as_ref().map(|m| m.column.clone());
    let ts = t.source.timestamp_field.clone();
    // The source's columns to keep: keys, time, measure, group and filter columns (those
    // the lookup provides come from it).
    let mut wanted: Vec<String> = t.join_keys.clone();
    wanted.push(ts.clone());
    wanted.extend(measure_col.iter().cloned());
    wanted.extend(group_cols.iter().cloned());
    if let Some(f) = &filter {
        wanted.extend(f.columns().iter().map(|c| c.to_string()));
    }
    if let Some(l) = &def.lookup {
        wanted.push(l.on.clone());
    }
    let mut seen = HashSet::new();
    let left: Vec<String> = wanted
        .into_iter()
        .filter(|c| !lookup_cols.contains(c) && seen.insert(c.clone()))
        .collect();
    let names = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>();
    for c in &left {
        if !names.contains(c) {
            return Err(bad(
                format!("source `{}` has no column `{c}`", t.source.name),
                format!("its columns: {}", names.join(", ")),
            ));
        }
    }
    let mut df = df
        .select(left.iter().map(|c| column(c)).collect::<Vec<Expr>>())
        .map_err(|e| scan_err(Box::new(e)))?;
    if let Some(l) = &def.lookup {
        let src = catalog.sources().get(&l.source).ok_or_else(|| {
            bad(
                format!("unknown lookup source `{}`", l.source),
                "fix `lookup.source`".into(),
            )
        })?;
        let (ldf, _) = tessera_offline::open_source(&ctx, root, src)
            .await
            .map_err(|e| scan_err(Box::new(e)))?;
        let lnames = ldf
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>();
        for c in std::iter::once(&l.on).chain(&l.columns) {
            if !lnames.contains(c) {
                return Err(bad(
                    format!("lookup source `{}` has no column `{c}`", l.source),
                    format!("its columns: {}", lnames.join(", ")),
                ));
            }
        }
        let mut sel = vec![column(&l.on).alias("__tessera_lookup_key")];
        sel.extend(l.columns.iter().map(|c| column(c)));
        let ldf = ldf.select(sel).map_err(|e| scan_err(Box::new(e)))?;
        df = df
            .join(
                ldf,
                JoinType::Inner,
                &[l.on.as_str()],
                &["__tessera_lookup_key"],
                None,
            )
            .map_err(|e| scan_err(Box::new(e)))?;
    }
    let batches = df.collect().await.map_err(|e| scan_err(Box::new(e)))?;
    let mut rows = Vec::new();
    let mut filter_cols: Vec<String> = filter
        .as_ref()
        .map(|f| f.columns().iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    filter_cols.dedup();
    for b in &batches {
        read_batch(
            b,
            &t,
            &ts,
            &group_cols,
            measure_col.as_deref(),
            filter.as_ref(),
            &filter_cols,
            range,
            &mut rows,
        )
        .map_err(|e| scan_err(Box::new(e)))?;
    }
    if !erased.is_empty() {
        drop_erased(&mut rows, &t.join_keys, hasher, erased);
    }
    Ok(rows)
}

/// The filter's view of one row.
struct FilterCols<'a> {
    names: &'a [String],
    values: &'a [Vec<Value>],
    row: usize,
}

impl FilterRow for FilterCols<'_> {
    fn get(&self, column: &str) -> Option<&Value> {
        let i = self.names.iter().position(|n| n == column)?;
        self.values.get(i).and_then(|c| c.get(self.row))
    }
}

fn values(a: &ArrayRef) -> datafusion::arrow::error::Result<Vec<Value>> {
    let n = a.len();
    let out = match a.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let c = cast(a, &DataType::Int64)?;
            let c = c.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if c.is_null(i) {
                        Value::Null
                    } else {
                        Value::Int64(c.value(i))
                    }
                })
                .collect()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let c = cast(a, &DataType::Float64)?;
            let c = c.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if c.is_null(i) {
                        Value::Null
                    } else {
                        Value::Float64(c.value(i))
                    }
                })
                .collect()
        }
        DataType::Boolean => {
            let c = a.as_boolean();
            (0..n)
                .map(|i| {
                    if c.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(c.value(i))
                    }
                })
                .collect()
        }
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let us = micros(a)?;
            us.into_iter()
                .map(|v| v.map_or(Value::Null, Value::Timestamp))
                .collect()
        }
        _ => strings(a)?
            .into_iter()
            .map(|v| v.map_or(Value::Null, Value::String))
            .collect(),
    };
    Ok(out)
}

fn strings(a: &ArrayRef) -> datafusion::arrow::error::Result<Vec<Option<String>>> {
    let c = cast(a, &DataType::Utf8)?;
    let c = c.as_string::<i32>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i).to_string()))
        .collect())
}

fn micros(a: &ArrayRef) -> datafusion::arrow::error::Result<Vec<Option<i64>>> {
    let t = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let c = cast(&t, &DataType::Int64)?;
    let c = c.as_primitive::<Int64Type>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

fn floats(a: &ArrayRef) -> datafusion::arrow::error::Result<Vec<Option<f64>>> {
    let c = cast(a, &DataType::Float64)?;
    let c = c.as_primitive::<Float64Type>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn read_batch(
    b: &RecordBatch,
    t: &Target<'_>,
    ts: &str,
    group: &[String],
    measure: Option<&str>,
    filter: Option<&FilterExpr>,
    filter_cols: &[String],
    range: TimeRange,
    out: &mut Vec<Row>,
) -> datafusion::arrow::error::Result<()> {
    let col = |name: &str| -> datafusion::arrow::error::Result<ArrayRef> {
        b.column_by_name(name).cloned().ok_or_else(|| {
            datafusion::arrow::error::ArrowError::SchemaError(format!(
                "no column `{name}` in the scan"
            ))
        })
    };
    let keys = t
        .join_keys
        .iter()
        .map(|k| col(k).and_then(|a| strings(&a)))
        .collect::<Result<Vec<_>, _>>()?;
    let times = micros(&col(ts)?)?;
    let groups = group
        .iter()
        .map(|g| col(g).and_then(|a| strings(&a)))
        .collect::<Result<Vec<_>, _>>()?;
    let measures = measure
        .map(|m| col(m).and_then(|a| floats(&a)))
        .transpose()?;
    let fvals = filter_cols
        .iter()
        .map(|c| col(c).and_then(|a| values(&a)))
        .collect::<Result<Vec<_>, _>>()?;
    for i in 0..b.num_rows() {
        let Some(t_us) = times[i] else { continue };
        if range.from_us.is_some_and(|f| t_us < f) || range.to_us.is_some_and(|e| t_us >= e) {
            continue;
        }
        if let Some(f) = filter {
            if !f.eval(&FilterCols {
                names: filter_cols,
                values: &fvals,
                row: i,
            }) {
                continue;
            }
        }
        let mut entity = String::new();
        let mut missing = false;
        for (n, k) in keys.iter().enumerate() {
            match &k[i] {
                Some(v) => {
                    if n > 0 {
                        entity.push('\u{1f}');
                    }
                    entity.push_str(v);
                }
                None => missing = true,
            }
        }
        if missing {
            continue; // a row of no one: never counted
        }
        // The key tuple; `None` when not grouped or one of its values is null.
        let group = (!groups.is_empty())
            .then(|| {
                groups
                    .iter()
                    .map(|g| g[i].clone())
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        let value = measures.as_ref().and_then(|m| m[i]);
        if measures.is_some() && value.is_none_or(f64::is_nan) {
            continue; // sums and means read rows with a value
        }
        let mut identity = Vec::with_capacity(entity.len() + 32);
        identity.extend_from_slice(entity.as_bytes());
        identity.push(0);
        identity.extend_from_slice(&t_us.to_le_bytes());
        for (n, v) in group.iter().flatten().enumerate() {
            if n > 0 {
                identity.push(0x1f);
            }
            identity.extend_from_slice(v.as_bytes());
        }
        identity.push(0);
        if let Some(v) = value {
            identity.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        out.push(Row {
            entity,
            identity,
            group,
            value,
        });
    }
    Ok(())
}

/// Drops the rows of entities whose key (or one of its join-key values) is erased.
fn drop_erased(
    rows: &mut Vec<Row>,
    join_keys: &[String],
    hasher: &EntityHasher,
    erased: &HashSet<String>,
) {
    let mut verdict: HashMap<String, bool> = HashMap::new();
    rows.retain(|r| {
        *verdict.entry(r.entity.clone()).or_insert_with(|| {
            let values: Vec<&str> = r.entity.split('\u{1f}').collect();
            let pairs: Vec<(&str, &str)> =
                join_keys.iter().map(String::as_str).zip(values).collect();
            let whole = erased.contains(&hasher.digest(&pairs));
            let any = pairs
                .iter()
                .any(|p| erased.contains(&hasher.digest(std::slice::from_ref(p))));
            !(whole || any)
        })
    });
}

/// A keyed rank for bounding: the first 8 bytes of the repository key's HMAC of the row's
/// identity, under a label naming the release.
pub(crate) fn ranker(hasher: Arc<EntityHasher>, release: String) -> impl Fn(&[u8]) -> u64 {
    let domain = format!("tessera-dp-sample:{release}");
    move |identity: &[u8]| {
        let h = hasher.hash(&domain, identity);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        u64::from_le_bytes(b)
    }
}

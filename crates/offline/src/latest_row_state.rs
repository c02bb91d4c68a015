//! The latest row per entity, one partition at a time: the state [`LatestRowExec`]
//! (`latest_row_exec.rs`) keeps per input partition and merges at the end.
//!
//! Per key: its best `(event_ts, created_ts)` and where that row sits among the copied
//! rows; a batch contributes only its rows that beat their key's best so far, copied out
//! with `take`. When the copied rows outgrow twice the number of keys, they are compacted
//! to one row per key. Memory is bounded by the number of distinct keys (about three rows
//! per key at worst); it does not grow with the number of source rows.
//!
//! [`LatestRowExec`]: crate::latest_row_exec::LatestRowExec

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::timestamps::to_epoch;

/// Marks a key slot that has no row yet.
const NONE: u32 = u32::MAX;
/// Copied rows are never compacted below this many.
const MIN_COMPACT_ROWS: usize = 1 << 16;

/// The parameters of one latest-row scan (plain data, so a distributed engine can ship
/// them): what the columns of the input batches hold, and the time range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct LatestRowParams {
    /// The feature view (for display).
    pub view: String,
    /// Its source (for error messages).
    pub source_name: String,
    /// The number of key columns; they come first in the input.
    pub keys: usize,
    /// The event-time column of the input.
    pub ts: usize,
    /// The created-time column of the input, if the source has one.
    pub created: Option<usize>,
    /// The distinct feature source columns of the input, after keys and times.
    pub copied: Vec<usize>,
    /// The types keys are compared as (see `entity_keys::key_type`).
    pub key_types: Vec<DataType>,
    /// For each output feature, its column among the copied ones (keys first, then
    /// `copied`).
    pub feature_cols: Vec<usize>,
    /// The earliest event time kept, µs since the epoch (`i64::MIN`: no lower bound).
    pub start_us: i64,
    /// The latest event time kept, µs since the epoch.
    pub end_us: i64,
}

/// The best row so far of one key.
#[derive(Clone, Copy)]
struct Best {
    ts: i64,
    created: i64,
    batch: u32,
    row: u32,
}

const NO_BEST: Best = Best {
    ts: i64::MIN,
    created: i64::MIN,
    batch: NONE,
    row: 0,
};

/// Dense slots for the keys seen so far.
enum KeySlots {
    /// One `Int64` key column.
    Int(HashMap<i64, u32>),
    /// Anything else, in Arrow's row format.
    Rows {
        converter: RowConverter,
        map: HashMap<Box<[u8]>, u32>,
    },
}

impl KeySlots {
    pub(crate) fn new(types: &[DataType]) -> Result<Self> {
        if types == [DataType::Int64] {
            return Ok(KeySlots::Int(HashMap::new()));
        }
        Ok(KeySlots::Rows {
            converter: RowConverter::new(types.iter().cloned().map(SortField::new).collect())?,
            map: HashMap::new(),
        })
    }
}

/// One partition's progress: the best row per key and the copied rows they point into.
pub(crate) struct LatestState {
    slots: KeySlots,
    best: Vec<Best>,
    /// Copied rows: per chunk, the normalised key columns then the distinct feature columns.
    kept: Vec<Vec<ArrayRef>>,
    kept_rows: usize,
    live: usize,
    /// Bytes of the encoded keys in the key table.
    key_bytes: usize,
}

impl LatestState {
    pub(crate) fn new(layout: &LatestRowParams) -> Result<Self> {
        Ok(Self {
            slots: KeySlots::new(&layout.key_types)?,
            best: Vec::new(),
            kept: Vec::new(),
            kept_rows: 0,
            live: 0,
            key_bytes: 0,
        })
    }

    /// Offers one candidate for a slot; returns whether it became the best.
    fn offer(&mut self, slot: u32, ts: i64, created: i64, batch: u32, row: u32) -> bool {
        let b = &mut self.best[slot as usize];
        if b.batch == NONE {
            self.live += 1;
        } else if (ts, created) <= (b.ts, b.created) {
            return false;
        }
        *b = Best {
            ts,
            created,
            batch,
            row,
        };
        true
    }

    fn slot_int(&mut self, k: i64) -> u32 {
        let KeySlots::Int(map) = &mut self.slots else {
            return NONE;
        };
        let n = self.best.len() as u32;
        let s = *map.entry(k).or_insert(n);
        if s == n {
            self.best.push(NO_BEST);
        }
        s
    }

    fn slot_bytes(&mut self, k: &[u8]) -> u32 {
        let KeySlots::Rows { map, .. } = &mut self.slots else {
            return NONE;
        };
        let n = self.best.len() as u32;
        let s = match map.get(k) {
            Some(&s) => s,
            None => {
                map.insert(Box::from(k), n);
                self.key_bytes += k.len();
                n
            }
        };
        if s == n {
            self.best.push(NO_BEST);
        }
        s
    }

    pub(crate) fn push(&mut self, batch: &RecordBatch, layout: &LatestRowParams) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let what = |c: &str| format!("{c} time of source `{}`", layout.source_name);
        let us = TimeUnit::Microsecond;
        let (ts, ts_nulls) = to_epoch(batch.column(layout.ts), us, &what("event"))?;
        let created: Option<Vec<i64>> = match layout.created {
            None => None,
            Some(c) => {
                let (mut v, nulls) = to_epoch(batch.column(c), us, &what("created"))?;
                if let Some(nulls) = nulls {
                    for (i, x) in v.iter_mut().enumerate() {
                        if nulls.is_null(i) {
                            *x = i64::MIN;
                        }
                    }
                }
                Some(v)
            }
        };
        let keys: Vec<ArrayRef> = (0..layout.keys)
            .zip(&layout.key_types)
            .map(|(i, t)| Ok(cast(batch.column(i), t)?))
            .collect::<Result<_>>()?;
        let key_null = |i: usize| keys.iter().any(|k| k.is_null(i));
        let any_key_nulls = keys.iter().any(|k| k.null_count() > 0);
        let valid = |i: usize| {
            !ts_nulls.as_ref().is_some_and(|nb| nb.is_null(i))
                && (layout.start_us..=layout.end_us).contains(&ts[i])
                && !(any_key_nulls && key_null(i))
        };
        let chunk = self.kept.len() as u32;
        let mut taken: Vec<u32> = Vec::new();
        let created_of = |i: usize| created.as_ref().map_or(i64::MIN, |c| c[i]);
        if matches!(self.slots, KeySlots::Int(_)) {
            let k = keys[0].as_primitive::<Int64Type>().values().clone();
            for i in (0..n).filter(|&i| valid(i)) {
                let slot = self.slot_int(k[i]);
                if self.offer(slot, ts[i], created_of(i), chunk, taken.len() as u32) {
                    taken.push(i as u32);
                }
            }
        } else {
            let rows = match &self.slots {
                KeySlots::Rows { converter, .. } => converter.convert_columns(&keys)?,
                KeySlots::Int(_) => return Err(Error::Internal("key slots changed kind".into())),
            };
            for i in (0..n).filter(|&i| valid(i)) {
                let slot = self.slot_bytes(rows.row(i).as_ref());
                if self.offer(slot, ts[i], created_of(i), chunk, taken.len() as u32) {
                    taken.push(i as u32);
                }
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        let idx = UInt32Array::from(taken);
        let mut cols = Vec::with_capacity(keys.len() + layout.copied.len());
        for k in &keys {
            cols.push(take(k.as_ref(), &idx, None)?);
        }
        for &c in &layout.copied {
            cols.push(take(batch.column(c).as_ref(), &idx, None)?);
        }
        self.kept_rows += idx.len();
        self.kept.push(cols);
        if self.kept_rows > (2 * self.live).max(MIN_COMPACT_ROWS) {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the copied rows as exactly one row per live key.
    fn compact(&mut self) -> Result<()> {
        let Some(first) = self.kept.first() else {
            return Ok(());
        };
        let ncols = first.len();
        let mut indices = Vec::with_capacity(self.live);
        for b in self.best.iter_mut().filter(|b| b.batch != NONE) {
            indices.push((b.batch as usize, b.row as usize));
            b.batch = 0;
            b.row = indices.len() as u32 - 1;
        }
        let cols = (0..ncols)
            .map(|c| {
                let parts: Vec<&dyn Array> = self.kept.iter().map(|k| k[c].as_ref()).collect();
                Ok(interleave(&parts, &indices)?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.kept = vec![cols];
        self.kept_rows = indices.len();
        Ok(())
    }

    /// Folds another partition's state into this one.
    pub(crate) fn merge(&mut self, other: LatestState) -> Result<()> {
        let offset = self.kept.len() as u32;
        self.kept.extend(other.kept);
        self.kept_rows += other.kept_rows;
        let offer = |me: &mut Self, slot: u32, b: &Best| {
            me.offer(slot, b.ts, b.created, b.batch + offset, b.row);
        };
        match other.slots {
            KeySlots::Int(map) => {
                for (k, s) in map {
                    let b = other.best[s as usize];
                    if b.batch != NONE {
                        let slot = self.slot_int(k);
                        offer(self, slot, &b);
                    }
                }
            }
            KeySlots::Rows { map, .. } => {
                for (k, s) in map {
                    let b = other.best[s as usize];
                    if b.batch != NONE {
                        let slot = self.slot_bytes(&k);
                        offer(self, slot, &b);
                    }
                }
            }
        }
        if self.kept_rows > (2 * self.live).max(MIN_COMPACT_ROWS) {
            self.compact()?;
        }
        Ok(())
    }

    /// Bytes held: the key table, the best rows and the copied rows.
    pub(crate) fn memory_size(&self) -> usize {
        let keys = match &self.slots {
            KeySlots::Int(map) => map.capacity() * (8 + 4 + 1),
            KeySlots::Rows { map, .. } => {
                map.capacity() * (std::mem::size_of::<Box<[u8]>>() + 4 + 1) + self.key_bytes
            }
        };
        keys + self.best.capacity() * std::mem::size_of::<Best>()
            + crate::point_in_time::arrays_size(&self.kept)
    }

    /// The live rows as output batches of at most `batch_rows` rows: the key columns, the
    /// event and created times (µs, `Int64`), then each feature column cast to the type
    /// `schema` gives it.
    pub(crate) fn output(
        &self,
        params: &LatestRowParams,
        schema: &SchemaRef,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>> {
        let live: Vec<u32> = (0..self.best.len() as u32)
            .filter(|&s| self.best[s as usize].batch != NONE)
            .collect();
        live.chunks(batch_rows.max(1))
            .map(|slots| self.assemble(slots, params, schema))
            .collect()
    }

    fn assemble(
        &self,
        slots: &[u32],
        params: &LatestRowParams,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let indices: Vec<(usize, usize)> = slots
            .iter()
            .map(|&s| {
                let b = &self.best[s as usize];
                (b.batch as usize, b.row as usize)
            })
            .collect();
        let column = |c: usize| -> Result<ArrayRef> {
            let parts: Vec<&dyn Array> = self.kept.iter().map(|k| k[c].as_ref()).collect();
            Ok(interleave(&parts, &indices)?)
        };
        let mut cols = (0..params.keys).map(column).collect::<Result<Vec<_>>>()?;
        let best = |f: fn(&Best) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                slots.iter().map(|&s| f(&self.best[s as usize])),
            ))
        };
        cols.push(best(|b| b.ts));
        cols.push(best(|b| b.created));
        let first_feature = cols.len();
        for (i, &c) in params.feature_cols.iter().enumerate() {
            let a = column(c)?;
            let dt = schema.field(first_feature + i).data_type();
            cols.push(if a.data_type() == dt {
                a
            } else {
                cast(&a, dt)?
            });
        }
        Ok(RecordBatch::try_new(schema.clone(), cols)?)
    }
}

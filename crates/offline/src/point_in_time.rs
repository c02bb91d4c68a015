//! The point-in-time join: for each spine row, the latest feature row of the same entity
//! that was knowable at the spine's timestamp.
//!
//! # The rule
//! For spine row `(key, t)` the answer is the source row of `key` with the greatest
//! `(event_ts, created_ts)` such that `t - ttl <= event_ts <= t` (both bounds inclusive).
//! Null `created_ts` sorts below every value. Rows with a null key or event time are never
//! used. No such row gives nulls. Rows identical in key, `event_ts` and `created_ts` are
//! indistinguishable by the rule; which one wins among them is unspecified.
//!
//! # How it runs
//! The spine is indexed once ([`SpineIndex`]): dense key ids, rows sorted by `(key, t)`, and
//! per key the earliest and latest spine time. The source is streamed in batches (one
//! stream per scan partition, in parallel). Each source row is checked in O(1) against its
//! key's spine time range and dropped unless it can be an answer for some spine row. The
//! survivors are gathered into chunks of at most [`CHUNK_ROWS`] candidates; a chunk is sorted
//! by `(key, event_ts, created_ts)` and merged with the spine rows of each key it holds, which
//! yields at most one candidate per spine row; candidates better than the spine row's current
//! best replace it, and only their feature values are copied out of the chunk.
//!
//! Memory is bounded by the spine (its index, one best-so-far per row and the output columns)
//! plus one chunk per partition: it does not grow with the size of the source. Time is
//! `O(F + C log C + chunks × S_touched)` for `F` source rows, `C` surviving candidates and the
//! spine rows `S_touched` of the keys a chunk holds.

use arrow::array::{new_null_array, Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::TimeUnit;
use arrow::record_batch::RecordBatch;

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::error::Result;
use crate::timestamps::{to_created_order, to_epoch};

/// Candidates gathered before a chunk is sorted and merged.
pub(crate) const CHUNK_ROWS: usize = 1 << 19;

const NONE: u32 = u32::MAX;

/// The spine, indexed for one feature view's join keys.
pub(crate) struct SpineIndex {
    /// Number of spine rows.
    pub(crate) rows: usize,
    /// Spine time of each row, in `unit`.
    ts: Vec<i64>,
    /// Spine row ids sorted by `(key, ts)`.
    order: Vec<u32>,
    /// Start of each key's rows in `order` (`keys + 1` entries).
    key_start: Vec<u32>,
    /// Earliest and latest spine time per key.
    key_min: Vec<i64>,
    key_max: Vec<i64>,
    /// The TTL in `unit`, `None` when unlimited.
    ttl: Option<i64>,
}

impl SpineIndex {
    /// Indexes spine rows by key id. Rows with [`NO_KEY`] never match.
    pub(crate) fn new(key_ids: &[u32], keys: usize, ts: Vec<i64>, ttl: Option<i64>) -> Self {
        let mut order: Vec<u32> = (0..key_ids.len() as u32)
            .filter(|&i| key_ids[i as usize] != NO_KEY)
            .collect();
        order.sort_unstable_by_key(|&i| (key_ids[i as usize], ts[i as usize]));
        let mut key_start = vec![0u32; keys + 1];
        for &i in &order {
            key_start[key_ids[i as usize] as usize + 1] += 1;
        }
        for k in 0..keys {
            key_start[k + 1] += key_start[k];
        }
        let mut key_min = vec![i64::MAX; keys];
        let mut key_max = vec![i64::MIN; keys];
        for k in 0..keys {
            let (a, b) = (key_start[k] as usize, key_start[k + 1] as usize);
            if a < b {
                key_min[k] = ts[order[a] as usize];
                key_max[k] = ts[order[b - 1] as usize];
            }
        }
        Self {
            rows: key_ids.len(),
            ts,
            order,
            key_start,
            key_min,
            key_max,
            ttl,
        }
    }

    /// Whether a source row at `t` for key `k` can answer some spine row.
    #[inline]
    pub(crate) fn useful(&self, k: u32, t: i64) -> bool {
        let k = k as usize;
        let lo = match self.ttl {
            Some(ttl) => self.key_min[k].saturating_sub(ttl),
            None => i64::MIN,
        };
        t >= lo && t <= self.key_max[k]
    }

    /// The earliest and latest source times that can answer any spine row.
    pub(crate) fn time_bounds(&self) -> Option<(i64, i64)> {
        let lo = self.key_min.iter().copied().min()?;
        let hi = self.key_max.iter().copied().max()?;
        if lo > hi {
            return None;
        }
        Some((self.ttl.map_or(i64::MIN, |t| lo.saturating_sub(t)), hi))
    }
}

/// The parameters of one point-in-time join (plain data, so a distributed engine can ship
/// them): what the rows of the input batches hold, and how to join them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct PointInTimeParams {
    /// The feature view joined (for display and error messages).
    pub view: String,
    /// Its source (for error messages).
    pub source_name: String,
    /// Key columns of the input, in join-key order.
    pub keys: Vec<usize>,
    /// The event-time column of the input.
    pub ts: usize,
    /// The created-time column of the input, if the source has one.
    pub created: Option<usize>,
    /// The feature columns of the input, in output order.
    pub features: Vec<usize>,
    /// The unit times are compared in.
    pub unit: TimeUnit,
    /// The view's time to live in `unit`, `None` when unlimited.
    pub ttl: Option<i64>,
    /// Candidates gathered before a chunk is merged (`CHUNK_ROWS` by default).
    pub chunk_rows: usize,
}

#[derive(Clone, Copy)]
struct Candidate {
    key: u32,
    ts: i64,
    created: i64,
    batch: u32,
    row: u32,
}

/// Best-so-far answers of one partition: mergeable with another partition's.
pub(crate) struct PitState {
    best_ts: Vec<i64>,
    best_created: Vec<i64>,
    /// `(winner set, row)`, or `(NONE, _)` when no row matched yet.
    best_src: Vec<(u32, u32)>,
    /// Feature values of rows that were the best at some point.
    winners: Vec<Vec<ArrayRef>>,
    winner_rows: usize,
}

impl PitState {
    fn new(rows: usize) -> Self {
        Self {
            best_ts: vec![i64::MIN; rows],
            best_created: vec![i64::MIN; rows],
            best_src: vec![(NONE, 0); rows],
            winners: Vec::new(),
            winner_rows: 0,
        }
    }

    #[inline]
    fn beats(&self, s: usize, ts: i64, created: i64) -> bool {
        self.best_src[s].0 == NONE || (ts, created) > (self.best_ts[s], self.best_created[s])
    }

    /// Folds another partition's answers into this one.
    pub(crate) fn merge(&mut self, other: PitState) {
        let offset = self.winners.len() as u32;
        for s in 0..self.best_src.len() {
            let (w, r) = other.best_src[s];
            if w != NONE && self.beats(s, other.best_ts[s], other.best_created[s]) {
                self.best_ts[s] = other.best_ts[s];
                self.best_created[s] = other.best_created[s];
                self.best_src[s] = (w + offset, r);
            }
        }
        self.winner_rows += other.winner_rows;
        self.winners.extend(other.winners);
    }

    /// Bytes held: the per-spine-row answers and the copied feature values.
    pub(crate) fn memory_size(&self) -> usize {
        let per_row = 2 * std::mem::size_of::<i64>() + std::mem::size_of::<(u32, u32)>();
        self.best_src.capacity() * per_row + arrays_size(&self.winners)
    }

    /// How many spine rows found a feature row.
    pub(crate) fn matched(&self) -> usize {
        self.best_src.iter().filter(|(w, _)| *w != NONE).count()
    }

    /// The feature columns in spine order; `types` gives each column's type for nulls.
    pub(crate) fn finish(&self, types: &[arrow::datatypes::DataType]) -> Result<Vec<ArrayRef>> {
        let indices: Vec<(usize, usize)> = self
            .best_src
            .iter()
            .map(|&(w, r)| {
                if w == NONE {
                    (0, 0)
                } else {
                    (w as usize + 1, r as usize)
                }
            })
            .collect();
        types
            .iter()
            .enumerate()
            .map(|(j, dt)| {
                let null = new_null_array(dt, 1);
                let mut arrays: Vec<&dyn Array> = Vec::with_capacity(self.winners.len() + 1);
                arrays.push(null.as_ref());
                arrays.extend(self.winners.iter().map(|w| w[j].as_ref()));
                Ok(interleave(&arrays, &indices)?)
            })
            .collect()
    }

    /// Keeps only the current winners, so superseded rows do not pile up.
    fn compact(&mut self) -> Result<()> {
        let live: Vec<usize> = (0..self.best_src.len())
            .filter(|&s| self.best_src[s].0 != NONE)
            .collect();
        let indices: Vec<(usize, usize)> = live
            .iter()
            .map(|&s| (self.best_src[s].0 as usize, self.best_src[s].1 as usize))
            .collect();
        let ncols = self.winners.first().map_or(0, Vec::len);
        let mut cols = Vec::with_capacity(ncols);
        for j in 0..ncols {
            let arrays: Vec<&dyn Array> = self.winners.iter().map(|w| w[j].as_ref()).collect();
            cols.push(interleave(&arrays, &indices)?);
        }
        for (i, &s) in live.iter().enumerate() {
            self.best_src[s] = (0, i as u32);
        }
        self.winners = vec![cols];
        self.winner_rows = live.len();
        Ok(())
    }
}

/// Feeds source batches of one partition through the join.
pub(crate) struct PitJoiner<'a> {
    spine: &'a SpineIndex,
    keys: &'a KeyIndex,
    layout: &'a PointInTimeParams,
    state: PitState,
    pending: Vec<Vec<ArrayRef>>,
    candidates: Vec<Candidate>,
    key_buf: Vec<u32>,
}

impl<'a> PitJoiner<'a> {
    /// A joiner with no rows seen yet.
    pub(crate) fn new(
        spine: &'a SpineIndex,
        keys: &'a KeyIndex,
        layout: &'a PointInTimeParams,
    ) -> Self {
        Self {
            spine,
            keys,
            layout,
            state: PitState::new(spine.rows),
            pending: Vec::new(),
            candidates: Vec::new(),
            key_buf: Vec::new(),
        }
    }

    /// Bytes held: the answers so far, the gathered candidates and the batches they point
    /// into.
    pub(crate) fn memory_size(&self) -> usize {
        self.state.memory_size()
            + self.candidates.capacity() * std::mem::size_of::<Candidate>()
            + self.key_buf.capacity() * std::mem::size_of::<u32>()
            + arrays_size(&self.pending)
    }

    /// Takes one batch of source rows.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let l = self.layout;
        let key_cols: Vec<ArrayRef> = l.keys.iter().map(|&i| batch.column(i).clone()).collect();
        self.keys.lookup(&key_cols, &mut self.key_buf)?;
        let what = format!("source `{}` event time", l.source_name);
        let (ts, ts_nulls) = to_epoch(batch.column(l.ts), l.unit, &what)?;
        let created = match l.created {
            Some(c) => {
                let what = format!("source `{}` created time", l.source_name);
                let (v, n) = to_created_order(batch.column(c), l.unit, &what)?;
                Some((v, n))
            }
            None => None,
        };
        let batch_id = self.pending.len() as u32;
        let before = self.candidates.len();
        for (row, (&key, &t)) in self.key_buf.iter().zip(ts.iter()).enumerate() {
            if key == NO_KEY
                || ts_nulls.as_ref().is_some_and(|n| n.is_null(row))
                || !self.spine.useful(key, t)
            {
                continue;
            }
            let c = match &created {
                Some((v, n)) if !n.as_ref().is_some_and(|n| n.is_null(row)) => v[row],
                _ => i64::MIN,
            };
            self.candidates.push(Candidate {
                key,
                ts: t,
                created: c,
                batch: batch_id,
                row: row as u32,
            });
        }
        if self.candidates.len() > before {
            self.pending.push(
                l.features
                    .iter()
                    .map(|&i| batch.column(i).clone())
                    .collect(),
            );
        }
        if self.candidates.len() >= self.layout.chunk_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Merges the gathered candidates into the best-so-far answers.
    fn flush(&mut self) -> Result<()> {
        if self.candidates.is_empty() {
            self.pending.clear();
            return Ok(());
        }
        let cand = &mut self.candidates;
        cand.sort_unstable_by_key(|c| (c.key, c.ts, c.created));
        let sp = self.spine;
        let state = &mut self.state;
        let mut updates: Vec<(u32, usize, usize)> = Vec::new();
        let mut a = 0;
        while a < cand.len() {
            let key = cand[a].key;
            let mut b = a + 1;
            while b < cand.len() && cand[b].key == key {
                b += 1;
            }
            let rows = &sp.order
                [sp.key_start[key as usize] as usize..sp.key_start[key as usize + 1] as usize];
            // First spine row at or after the earliest candidate.
            let first_ts = cand[a].ts;
            let start = rows.partition_point(|&s| sp.ts[s as usize] < first_ts);
            let last_ts = cand[b - 1].ts;
            let mut p = a;
            for &s in &rows[start..] {
                let st = sp.ts[s as usize];
                if let Some(ttl) = sp.ttl {
                    if st.saturating_sub(ttl) > last_ts {
                        break; // every later spine row is past every candidate's TTL
                    }
                }
                while p < b && cand[p].ts <= st {
                    p += 1;
                }
                let c = cand[p - 1]; // p > a: cand[a].ts <= st by the choice of `start`
                if sp.ttl.is_some_and(|ttl| c.ts < st.saturating_sub(ttl)) {
                    continue;
                }
                let s = s as usize;
                if state.beats(s, c.ts, c.created) {
                    state.best_ts[s] = c.ts;
                    state.best_created[s] = c.created;
                    updates.push((s as u32, c.batch as usize, c.row as usize));
                }
            }
            a = b;
        }
        if !updates.is_empty() {
            let w = state.winners.len() as u32;
            let indices: Vec<(usize, usize)> = updates.iter().map(|&(_, b, r)| (b, r)).collect();
            let ncols = self.layout.features.len();
            let mut cols = Vec::with_capacity(ncols);
            for j in 0..ncols {
                let arrays: Vec<&dyn Array> = self.pending.iter().map(|p| p[j].as_ref()).collect();
                cols.push(interleave(&arrays, &indices)?);
            }
            for (i, &(s, _, _)) in updates.iter().enumerate() {
                state.best_src[s as usize] = (w, i as u32);
            }
            state.winners.push(cols);
            state.winner_rows += updates.len();
            if state.winner_rows > 2 * sp.rows + self.layout.chunk_rows {
                state.compact()?;
            }
        }
        cand.clear();
        self.pending.clear();
        Ok(())
    }

    /// Flushes what is left and returns this partition's answers.
    pub(crate) fn finish(mut self) -> Result<PitState> {
        self.flush()?;
        Ok(self.state)
    }
}

/// Bytes held by groups of Arrow arrays.
pub(crate) fn arrays_size(groups: &[Vec<ArrayRef>]) -> usize {
    groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|a| a.get_array_memory_size())
        .sum()
}

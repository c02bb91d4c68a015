//! Window aggregations, defined once for every tier.
//!
//! This crate is the single implementation of Tessera's aggregations: `count`,
//! `sum`, `mean`, `min`, `max`, `last`, `last_k`, `count_distinct`,
//! `approx_count_distinct` and `approx_percentile`, over sliding windows
//! (`1h`, `7d`, `30d` …) or a lifetime. Each aggregation is a commutative
//! monoid, [`AggState`] (update, merge, finish), whose result never depends on
//! the order events arrive or states are merged. The batch backfill calls
//! [`window_values`] for point-in-time values over sorted history; the stream
//! engine and the device runtime keep a [`TiledAggregate`] (or a [`ViewState`]
//! for a whole feature view) per entity and ask [`TiledAggregate::value_at`] for
//! "now". Both paths use the same states and the same window definition, so an
//! online value equals the training-set value for the same timestamp, which the
//! tests check. The crate has no I/O and depends only on `serde`, `thiserror`
//! and `tessera-value` (whose [`Value`] it reads and produces), so it runs on
//! phones.
//!
//! ```
//! use tessera_aggregate::*;
//!
//! let sum = Aggregation::new(AggFunction::parse("sum", None)?, Some(InputType::Int64))?;
//! let window = Window::parse("1h")?;
//! let events = [(0, Value::Int64(2)), (30 * MINUTE, Value::Int64(3)), (70 * MINUTE, Value::Int64(4))];
//!
//! // Stream / device: incremental tiles, asked for "now".
//! let mut tiles = TiledAggregate::new(sum.clone(), window);
//! for (ts, v) in &events {
//!     tiles.update(*ts, v);
//! }
//! let now = 80 * MINUTE;
//! assert_eq!(tiles.value_at(now)?, Value::Int64(7)); // window starts at 0:20
//!
//! // Batch backfill: the same value for the same timestamp.
//! let batch = window_values(&events, &[now], &sum, window)?;
//! assert_eq!(batch, [tiles.value_at(now)?]);
//! # Ok::<(), tessera_aggregate::Error>(())
//! ```
//!
//! # Semantics
//!
//! **Window edge.** The value of an aggregation over window `W` *as of* time `T`
//! covers exactly the events with `window_start(T) <= ts <= T`, where
//! `window_start(T) = floor_to_hop(T − W)`, floored towards −∞ (Chronon's
//! convention). An event at exactly `T` is included. `Lifetime` covers every
//! event with `ts <= T`. Times are `i64` microseconds since the Unix epoch (UTC);
//! arithmetic saturates at the ends of the range.
//!
//! **Hop rule and precision.** Windows are kept as tiles of one *hop*: 5 minutes
//! for windows up to 12 hours, 1 hour up to 12 days, 1 day beyond; `Lifetime` is
//! one tile. Because the window start is floored to the hop, a value as of `T`
//! always includes every event younger than `W` and may include up to one hop
//! (minus 1 µs) of events older than `T − W`: a `7d` value may reach back 7 days
//! and 59 minutes, a `30d` value 30 days and 23:59. Batch and stream agree
//! exactly on this.
//!
//! **Serving contract.** [`TiledAggregate::value_at`]`(T)` is exact whenever
//! `T >=` every applied event (the stream engine's "now"; it rejects events from
//! the future), and also when no event fell in `T`'s tile or `T` is the last
//! microsecond of its tile; otherwise it returns [`Error::NotServable`], never a
//! wrong value. [`TiledAggregate::evict_before`] drops tiles no later query can
//! need. Past values come from [`window_values`].
//!
//! **Nulls and NaN.** Null inputs, and float NaN, are ignored by every
//! aggregation except `count` without a column, which counts events. `count`
//! gives `0` when empty, `last_k` an empty list; every other aggregation gives
//! null when it saw no value. Values of a type the aggregation cannot use (a
//! string offered to `sum`) are ignored too; [`Aggregation::new`] rejects such
//! definitions up front.
//!
//! **Arithmetic.** `sum` of `int64` is exact (an `i128` inside) and saturates
//! to the `i64` range when finished; `sum` of `float64` uses Neumaier-compensated
//! summation, so different orders agree to ~1e-15 relative to the sum of
//! magnitudes; `mean` is the sum divided by the count, as `float64`.
//!
//! **Ordering and ties.** `min`/`max` use a total order ([`Value::total_cmp`]):
//! integers and timestamps by value, floats by IEEE total order (`-0.0 < 0.0`),
//! strings by bytes, `false < true`. `last` is the value with the greatest
//! timestamp, ties broken by the greater value under the same order; `last_k`
//! keeps the `k` greatest `(ts, value)` pairs, most recent first. The same event
//! applied twice counts twice: de-duplication is the caller's job.
//!
//! **`count_distinct`** is exact (a set of canonical value encodings; `0.0` and
//! `-0.0` are one value). **`approx_count_distinct`** is HyperLogLog with
//! precision 12 (4096 registers): standard error ≈ 1.04/√4096 ≈ 1.6 % (so 99.7 %
//! of estimates within 4.9 %), small sets exact or nearly so. The estimator is
//! Ertl's improved HyperLogLog estimator: the raw estimate with the
//! linear-counting information (empty registers) folded in analytically rather
//! than by the classic switch at 2.5·m, which is biased by about +2.5 % near
//! 10,000 distinct values. States are sparse while at most 1024 registers are
//! set; values are hashed with XXH64 over their canonical bytes, stable across
//! processes, platforms and Rust versions. **`approx_percentile`** is DDSketch
//! with relative accuracy α = 0.01: the result `x̂` satisfies
//! `|x̂ − x| ≤ 0.01·|x|` for the true `q`-quantile `x` (the element of rank
//! `⌊q·(n−1)⌋`); buckets are never collapsed, so memory grows with the number of
//! distinct buckets (about 50 per factor of e in the value range: ~1,000 for
//! values spanning 1e-3..1e6).
//!
//! **Determinism.** For every function except float `sum`/`mean`, states built
//! from the same events are identical, and encode to identical bytes, whatever
//! the order of updates and the shape of merges; float sums agree to ~1e-15.
//! Float results are computed with IEEE basic operations only (no platform
//! `libm`), so they are the same on every platform.
//!
//! **Encoding.** [`AggState::encode`], [`TiledAggregate::encode`] and
//! [`ViewState::encode`] write a compact, versioned (leading version byte),
//! deterministic format. Decoding damaged or truncated bytes returns an
//! [`Error`]; it never panics and never allocates more than the input justifies.
//!
//! **Filters.** [`FilterExpr`] is a small SQL-like language
//! (`action = 'play' and dwell_s >= 30`) with SQL's three-valued logic: an event
//! passes only when the filter is true, so comparisons with null never pass.

mod agg_function;
mod agg_state;
mod aggregation;
mod data_type;
mod ddsketch;
mod det_math;
mod distinct;
mod duration_text;
mod encoding;
mod error;
mod filter_eval;
mod filter_expr;
mod filter_parser;
mod hash;
mod hll;
mod last_k;
pub mod lexer;
mod min_contributors;
mod min_max;
mod row;
mod series_layout;
mod sum;
mod tiles;
mod view_state;
mod window;
mod window_values;

pub use agg_function::AggFunction;
pub use agg_state::AggState;
pub use aggregation::Aggregation;
pub use data_type::{InputType, OutputType};
pub use ddsketch::DDSKETCH_ALPHA;
pub use duration_text::{parse_duration_micros, DURATION_FORMS};
pub use error::{Error, Result};
pub use filter_expr::FilterExpr;
pub use last_k::MAX_LAST_K;
pub use min_contributors::MinContributors;
pub use row::Row;
pub use tessera_value::Value;
pub use tiles::TiledAggregate;
pub use view_state::{ViewAggregation, ViewSpec, ViewState};
pub use window::{tile_start, Window, DAY, HOUR, MILLISECOND, MINUTE, SECOND, WEEK};
pub use window_values::window_values;

/// HyperLogLog precision of `approx_count_distinct` (2^12 = 4096 registers).
pub const HLL_PRECISION: u32 = hll::PRECISION;

//! [`TiledAggregate`]: one aggregation over one window for one entity, kept as
//! hop-sized tiles of [`AggState`] so it can slide without keeping raw events.
//!
//! # The head-tile contract
//!
//! `value_at(T)` covers tiles from `window.start_at(T)` up to and including the
//! tile containing `T` (the *head* tile). Window starts are hop-aligned, so every
//! tile is either wholly inside the window or wholly outside, except the head,
//! which may also hold events with `ts > T`. Raw events are not kept; instead the
//! aggregate remembers the newest event time applied (`max_ts`), and
//! `value_at(T)` answers only when the answer is exact:
//!
//! - when `T >= max_ts` (every applied event is at or before `T`: how the stream
//!   engine serves "now", since it rejects events from the future), or when no
//!   event fell in the head tile, or when `T` is the last microsecond of its
//!   tile, the result is exactly the window's value;
//! - otherwise it is [`Error::NotServable`], never a wrong value (ask
//!   [`crate::window_values`] for exact values at past times);
//! - and if [`TiledAggregate::evict_before`] dropped tiles the window of `T`
//!   needs, it is [`Error::Evicted`].
//!
//! Memory is bounded by the window: at most `W / hop + 2` tiles once old ones
//! are evicted (e.g. 14 for `1h`, 170 for `7d`, 32 for `30d`; one for
//! `lifetime`), with no per-event storage.

use crate::agg_state::AggState;
use crate::aggregation::Aggregation;
use crate::encoding::{put_varint, put_zigzag, Reader, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::window::{tile_start, Window};
use tessera_value::Value;

/// Tile key of the single `Lifetime` tile.
const LIFETIME_TILE: i64 = i64::MIN;

#[derive(Clone, Debug, PartialEq)]
struct Tile {
    start: i64,
    state: AggState,
}

/// One aggregation over one window for one entity, as tiles.
///
/// ```
/// use tessera_aggregate::{AggFunction, Aggregation, Value, InputType, TiledAggregate, Window, HOUR, MINUTE};
/// let agg = Aggregation::new(AggFunction::Sum, Some(InputType::Int64))?;
/// let mut sum_1h = TiledAggregate::new(agg, Window::parse("1h")?);
/// sum_1h.update(10 * MINUTE, &Value::Int64(5));
/// sum_1h.update(53 * MINUTE, &Value::Int64(7));
/// assert_eq!(sum_1h.value_at(HOUR)?, Value::Int64(12));
/// // As of 1:12 the window starts at 0:10 (1:12 - 1h, floored to 5 min).
/// assert_eq!(sum_1h.value_at(HOUR + 12 * MINUTE)?, Value::Int64(12));
/// assert_eq!(sum_1h.value_at(HOUR + 15 * MINUTE)?, Value::Int64(7));
/// // 0:52 lies in the 0:50 tile, which already holds the 0:53 event: not servable.
/// assert!(sum_1h.value_at(52 * MINUTE).is_err());
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TiledAggregate {
    aggregation: Aggregation,
    window: Window,
    /// Sorted by `start`, starts distinct and hop-aligned, states non-empty.
    tiles: Vec<Tile>,
    /// The newest event time applied; `Some` exactly when `tiles` is not empty
    /// (it then lies in the last tile: evicted tiles are always the oldest).
    max_ts: Option<i64>,
    /// Tiles starting before this were evicted (hop-aligned).
    evicted_before: Option<i64>,
}

impl TiledAggregate {
    /// An empty tiled aggregate.
    pub fn new(aggregation: Aggregation, window: Window) -> Self {
        TiledAggregate {
            aggregation,
            window,
            tiles: Vec::new(),
            max_ts: None,
            evicted_before: None,
        }
    }

    /// The aggregation.
    pub fn aggregation(&self) -> &Aggregation {
        &self.aggregation
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    fn tile_key(&self, ts: i64) -> i64 {
        match self.window.hop() {
            Some(hop) => tile_start(ts, hop),
            None => LIFETIME_TILE,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} of {} over {}",
            self.aggregation.function().short_name(),
            self.aggregation
                .input()
                .map_or("events".to_owned(), |t| t.to_string()),
            self.window
        )
    }

    /// Applies one event. Returns `false` when the event cannot change any
    /// answer and was dropped: a value the aggregation ignores (null, NaN, wrong
    /// type), or an event in a tile already evicted (older than every window
    /// that can still be asked).
    pub fn update(&mut self, ts: i64, value: &Value) -> bool {
        let key = self.tile_key(ts);
        if self.evicted_before.is_some_and(|wm| key < wm) {
            return false;
        }
        let at = match self.tiles.last() {
            Some(last) if last.start == key => self.tiles.len() - 1,
            Some(last) if last.start < key => self.tiles.len(),
            _ => self.tiles.partition_point(|t| t.start < key),
        };
        match self.tiles.get_mut(at) {
            Some(tile) if tile.start == key => {
                if tile.state.ignores(value) {
                    return false;
                }
                tile.state.update(value, ts);
            }
            _ => {
                let mut state = self.aggregation.new_state();
                if state.ignores(value) {
                    return false;
                }
                state.update(value, ts);
                self.tiles.insert(at, Tile { start: key, state });
            }
        }
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        true
    }

    /// The newest event time applied, `None` when empty.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Whether no tile is held.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// The tiles as `(tile start, state)`, oldest first (the `Lifetime` tile
    /// starts at `i64::MIN`).
    pub fn tiles(&self) -> impl Iterator<Item = (i64, &AggState)> + '_ {
        self.tiles.iter().map(|t| (t.start, &t.state))
    }

    /// The value over the window as of `t`: every applied event with
    /// `window.start_at(t) <= ts <= t`. See the module docs for when this is
    /// [`Error::NotServable`] or [`Error::Evicted`] instead.
    pub fn value_at(&self, t: i64) -> Result<Value> {
        self.value_over(self.window, t)
    }

    /// As [`TiledAggregate::value_at`] over another window of the same hop (tile size),
    /// read from these tiles: the value of the events with `window.start_at(t) <= ts <= t`.
    /// One tile series thus serves every window of its hop (`1d` and `7d` share their
    /// hourly tiles); a window reaching back past what [`TiledAggregate::evict_before`]
    /// kept is [`Error::Evicted`], and a window of another hop is [`Error::StateMismatch`].
    pub fn value_over(&self, window: Window, t: i64) -> Result<Value> {
        if window.hop() != self.window.hop() {
            return Err(Error::StateMismatch {
                left: self.describe(),
                right: format!("a window of {window}"),
            });
        }
        let head = self.tile_key(t);
        if let Some(max_ts) = self.max_ts.filter(|&m| t < m) {
            let head_has_events = self
                .tiles
                .binary_search_by_key(&head, |tile| tile.start)
                .is_ok();
            let last_micro_of_tile = self
                .window
                .hop()
                .is_some_and(|hop| tile_start(t.saturating_add(1), hop) != head);
            if head_has_events && !last_micro_of_tile {
                return Err(Error::NotServable { at: t, max_ts });
            }
        }
        let from = match window.start_at(t) {
            Some(start) => {
                if let Some(evicted_before) = self.evicted_before.filter(|&wm| start < wm) {
                    return Err(Error::Evicted {
                        at: t,
                        window_start: start,
                        evicted_before,
                    });
                }
                self.tiles.partition_point(|tile| tile.start < start)
            }
            None => 0,
        };
        let mut acc = self.aggregation.new_state();
        for tile in self.tiles.iter().skip(from) {
            if tile.start > head {
                break;
            }
            acc.merge(&tile.state)?;
        }
        Ok(acc.finish())
    }

    /// Drops every tile that no query at or after `now` can need: tiles that end
    /// at or before `window.start_at(now)`. Afterwards `value_at(t)` for an
    /// earlier `t` whose window reaches further back is [`Error::Evicted`], and
    /// events in dropped tiles are ignored. `Lifetime` windows never evict.
    /// Returns the number of tiles dropped.
    pub fn evict_before(&mut self, now: i64) -> usize {
        let Some(start) = self.window.start_at(now) else {
            return 0;
        };
        let watermark = self.evicted_before.map_or(start, |wm| wm.max(start));
        self.evicted_before = Some(watermark);
        let drop = self.tiles.partition_point(|t| t.start < watermark);
        self.tiles.drain(..drop);
        if self.tiles.is_empty() {
            self.max_ts = None;
        }
        drop
    }

    /// Folds `other` (the same aggregation over the same window) into `self`;
    /// the result is the same whatever the order of merges and updates. On
    /// error `self` is unchanged.
    pub fn merge(&mut self, other: &TiledAggregate) -> Result<()> {
        if self.aggregation != other.aggregation || self.window != other.window {
            return Err(Error::StateMismatch {
                left: self.describe(),
                right: other.describe(),
            });
        }
        let watermark = match (self.evicted_before, other.evicted_before) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut merged = Vec::with_capacity(self.tiles.len().max(other.tiles.len()));
        let mut mine = std::mem::take(&mut self.tiles).into_iter().peekable();
        let mut theirs = other.tiles.iter().peekable();
        loop {
            let next = match (mine.peek(), theirs.peek()) {
                (Some(a), Some(b)) if a.start == b.start => {
                    let (mut a, b) = match (mine.next(), theirs.next()) {
                        (Some(a), Some(b)) => (a, b),
                        _ => break,
                    };
                    a.state.merge(&b.state)?;
                    a
                }
                (Some(a), Some(b)) if a.start < b.start => match mine.next() {
                    Some(a) => a,
                    None => break,
                },
                (Some(_), None) => match mine.next() {
                    Some(a) => a,
                    None => break,
                },
                (_, Some(_)) => match theirs.next() {
                    Some(b) => b.clone(),
                    None => break,
                },
                (None, None) => break,
            };
            if watermark.is_none_or(|wm| next.start >= wm) {
                merged.push(next);
            }
        }
        self.max_ts = match (merged.is_empty(), self.max_ts, other.max_ts) {
            (true, _, _) => None,
            (false, Some(a), Some(b)) => Some(a.max(b)),
            (false, a, b) => a.or(b),
        };
        self.tiles = merged;
        self.evicted_before = watermark;
        Ok(())
    }

    /// Appends the self-describing encoding (version, definition, tiles).
    /// Equal tiled aggregates give equal bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        self.encode_body(out);
    }

    /// Decodes [`TiledAggregate::encode`]'s bytes from the start of `bytes`;
    /// returns it and the number of bytes used.
    pub fn decode(bytes: &[u8]) -> Result<(TiledAggregate, usize)> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let t = TiledAggregate::decode_body(&mut r)?;
        Ok((t, r.position()))
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        self.aggregation.encode(out);
        match self.window {
            Window::Lifetime => out.push(0),
            Window::Duration(w) => {
                out.push(1);
                put_zigzag(out, w);
            }
        }
        match self.evicted_before {
            None => out.push(0),
            Some(wm) => {
                out.push(1);
                put_zigzag(out, wm);
            }
        }
        put_varint(out, self.tiles.len() as u64);
        let hop = self.window.hop().unwrap_or(1);
        let mut prev: Option<i64> = None;
        for tile in &self.tiles {
            match prev {
                None => put_zigzag(out, tile.start),
                Some(p) => put_varint(
                    out,
                    ((i128::from(tile.start) - i128::from(p)) / i128::from(hop)) as u64,
                ),
            }
            prev = Some(tile.start);
            tile.state.encode_payload(out);
        }
        if let (Some(last), Some(max_ts)) = (self.tiles.last(), self.max_ts) {
            // The newest event lies in the last tile: its offset is below one hop.
            put_varint(out, (i128::from(max_ts) - i128::from(last.start)) as u64);
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<TiledAggregate> {
        let aggregation = Aggregation::decode(r)?;
        let window = match r.u8()? {
            0 => Window::Lifetime,
            1 => Window::duration(r.zigzag()?).map_err(|_| r.error("window not positive"))?,
            _ => return Err(r.error("unknown window form")),
        };
        let hop = window.hop();
        let aligned = |x: i64| hop.is_none_or(|h| tile_start(x, h) == x);
        let evicted_before = match r.u8()? {
            0 => None,
            1 => {
                let wm = r.zigzag()?;
                if hop.is_none() || !aligned(wm) {
                    return Err(r.error("eviction watermark not on a tile boundary"));
                }
                Some(wm)
            }
            _ => return Err(r.error("bad eviction flag")),
        };
        // A tile takes at least two bytes: its start and a payload.
        let n = r.count(2)?;
        if hop.is_none() && n > 1 {
            return Err(r.error("a lifetime aggregate has one tile"));
        }
        let kind = aggregation.kind();
        let mut tiles: Vec<Tile> = Vec::with_capacity(n);
        for _ in 0..n {
            let start = match (tiles.last(), hop) {
                (None, _) => r.zigzag()?,
                (Some(p), Some(h)) => {
                    let steps = r.varint()?;
                    if steps == 0 {
                        return Err(r.error("tiles out of order"));
                    }
                    i64::try_from(i128::from(p.start) + i128::from(steps) * i128::from(h))
                        .map_err(|_| r.error("tile start out of range"))?
                }
                (Some(_), None) => return Err(r.error("a lifetime aggregate has one tile")),
            };
            let valid_start = match hop {
                Some(_) => aligned(start),
                None => start == LIFETIME_TILE,
            };
            if !valid_start || evicted_before.is_some_and(|wm| start < wm) {
                return Err(r.error("tile start not valid for this window"));
            }
            let state = AggState::decode_payload(kind, r)?;
            if state.is_empty() {
                return Err(r.error("empty tile"));
            }
            tiles.push(Tile { start, state });
        }
        let max_ts = match tiles.last() {
            None => None,
            Some(last) => {
                let offset = r.varint()?;
                if hop.is_some_and(|h| offset >= h as u64) {
                    return Err(r.error("newest event time outside the last tile"));
                }
                Some(
                    i64::try_from(i128::from(last.start) + i128::from(offset))
                        .map_err(|_| r.error("newest event time out of range"))?,
                )
            }
        };
        Ok(TiledAggregate {
            aggregation,
            window,
            tiles,
            max_ts,
            evicted_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg_function::AggFunction;
    use crate::data_type::InputType;
    use crate::window::{DAY, HOUR, MINUTE};

    fn count_1h() -> TiledAggregate {
        TiledAggregate::new(Aggregation::count_events(), Window::Duration(HOUR))
    }

    #[test]
    fn window_edges_are_exact() {
        let mut c = count_1h();
        for ts in [-1, 0, 30 * MINUTE, HOUR - 1, HOUR] {
            assert!(c.update(ts, &Value::Null));
        }
        // As of HOUR the window is [0, HOUR]: 4 events (not the one at -1).
        assert_eq!(c.value_at(HOUR).unwrap(), Value::Int64(4));
        // As of HOUR - 1 the window starts at -5min: includes -1 but not HOUR.
        assert_eq!(c.value_at(HOUR - 1), Ok(Value::Int64(4)));
        // As of HOUR - 2 the head tile holds the event at HOUR - 1: not servable.
        assert!(matches!(
            c.value_at(HOUR - 2),
            Err(Error::NotServable { max_ts, .. }) if max_ts == HOUR
        ));
        // A past time whose head tile has no event, or at the end of a tile, is exact.
        assert_eq!(c.value_at(45 * MINUTE), Ok(Value::Int64(3)));
        assert_eq!(c.value_at(5 * MINUTE - 1), Ok(Value::Int64(2)));
        // Far in the future everything has slid out.
        assert_eq!(c.value_at(10 * DAY).unwrap(), Value::Int64(0));
    }

    #[test]
    fn eviction() {
        let mut c = count_1h();
        for m in 0..120 {
            c.update(m * MINUTE, &Value::Null);
        }
        let now = 2 * HOUR;
        let before = c.value_at(now).unwrap();
        let dropped = c.evict_before(now);
        assert_eq!(dropped, 12);
        assert_eq!(c.value_at(now).unwrap(), before);
        assert!(matches!(
            c.value_at(90 * MINUTE - 1),
            Err(Error::Evicted { .. })
        ));
        // Late events for evicted tiles are dropped.
        assert!(!c.update(0, &Value::Null));
        assert_eq!(c.value_at(now).unwrap(), before);
    }

    #[test]
    fn lifetime_is_one_tile() {
        let agg = Aggregation::new(AggFunction::Max, Some(InputType::Int64)).unwrap();
        let mut m = TiledAggregate::new(agg, Window::Lifetime);
        m.update(i64::MIN, &Value::Int64(3));
        m.update(i64::MAX, &Value::Int64(1));
        assert_eq!(m.tiles().count(), 1);
        assert_eq!(m.value_at(i64::MAX).unwrap(), Value::Int64(3));
        assert!(m.value_at(0).is_err());
        assert_eq!(m.evict_before(i64::MAX), 0);
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(TiledAggregate::decode(&out).unwrap(), (m, out.len()));
    }

    #[test]
    fn ignored_values_make_no_tiles() {
        let agg = Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap();
        let mut s = TiledAggregate::new(agg, Window::Duration(DAY));
        assert!(!s.update(5, &Value::Null));
        assert!(!s.update(5, &Value::Float64(1.0)));
        assert!(s.is_empty());
        assert_eq!(s.value_at(0).unwrap(), Value::Null);
    }

    #[test]
    fn merge_checks_definitions() {
        let mut a = count_1h();
        let b = TiledAggregate::new(Aggregation::count_events(), Window::Duration(DAY));
        assert!(a.merge(&b).is_err());
        let mut c = count_1h();
        c.update(7, &Value::Null);
        a.update(HOUR * 3, &Value::Null);
        let mut d = c.clone();
        d.merge(&a).unwrap();
        a.merge(&c).unwrap();
        assert_eq!(a, d);
        let mut out = Vec::new();
        a.encode(&mut out);
        assert_eq!(TiledAggregate::decode(&out).unwrap().0, a);
    }
}

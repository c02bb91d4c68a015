//! Contribution bounding, before any aggregate: each entity keeps at most `max_rows` of its
//! rows (those with the smallest keyed hash of their identity, so the same data always
//! gives the same sample and no one can predict or steer it without the repository's key),
//! and each value is clipped to `[lo, hi]` and rounded to integer units of `precision`.

use std::collections::HashMap;

/// One row as a release sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The entity's key (its join-key values), whose contributions are bounded.
    pub entity: String,
    /// The row's identity (entity, time, group, value), hashed under the repository's key
    /// when the entity has more than `max_rows` rows; 0 until then.
    pub identity: Vec<u8>,
    /// The group's key tuple, one value per group column (`None` when the release is not
    /// grouped, or one of the values is null).
    pub group: Option<Vec<String>>,
    /// The measure (`None`: null, or no measure).
    pub value: Option<f64>,
}

/// Keeps at most `max_rows` rows per entity: the ones whose `rank` (a keyed hash of the
/// row's identity) is smallest. Entities with fewer rows keep all of theirs, unhashed.
pub fn bound_rows(rows: Vec<Row>, max_rows: usize, rank: impl Fn(&[u8]) -> u64) -> Vec<Row> {
    let mut by_entity: HashMap<String, Vec<Row>> = HashMap::new();
    for r in rows {
        by_entity.entry(r.entity.clone()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut rs) in by_entity {
        if rs.len() > max_rows {
            let mut ranked: Vec<(u64, Row)> =
                rs.into_iter().map(|r| (rank(&r.identity), r)).collect();
            ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.identity.cmp(&b.1.identity)));
            ranked.truncate(max_rows);
            rs = ranked.into_iter().map(|(_, r)| r).collect();
        }
        out.extend(rs);
    }
    out
}

/// The largest magnitude of a value in units (2^52: every such integer is exact in f64).
const LIMIT: f64 = 4_503_599_627_370_496.0;

/// Clipping bounds and the fixed-point unit of a measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// The lower bound, in units.
    pub lo_units: i64,
    /// The upper bound, in units.
    pub hi_units: i64,
    /// The unit (1, 0.1, …).
    pub precision: f64,
}

impl Scaling {
    /// Bounds `[lo, hi]` in units of `precision` (rounded to the nearest unit).
    pub fn new(lo: f64, hi: f64, precision: f64) -> Self {
        let to = |v: f64| (v / precision).round().clamp(-LIMIT, LIMIT) as i64;
        Self {
            lo_units: to(lo),
            hi_units: to(hi),
            precision,
        }
    }

    /// A value clipped to the bounds, in units: `clamp(round(v / precision), lo, hi)`.
    pub fn units(&self, v: f64) -> i64 {
        let u = (v / self.precision).round();
        if u.is_nan() {
            return self.lo_units.max(0).min(self.hi_units);
        }
        (u.clamp(-LIMIT, LIMIT) as i64).clamp(self.lo_units, self.hi_units)
    }

    /// The largest magnitude of one clipped value, in units: what one row changes a sum by.
    pub fn max_abs_units(&self) -> u64 {
        self.lo_units
            .unsigned_abs()
            .max(self.hi_units.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(e: &str, i: u8) -> Row {
        Row {
            entity: e.into(),
            identity: vec![i],
            group: None,
            value: Some(f64::from(i)),
        }
    }

    #[test]
    fn heavy_entities_keep_at_most_max_rows_reproducibly() {
        let mut rows: Vec<Row> = (0..50).map(|i| row("heavy", i)).collect();
        rows.extend((0..3).map(|i| row("light", i)));
        let rank = |b: &[u8]| u64::from(b[0]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let kept = bound_rows(rows.clone(), 5, rank);
        assert_eq!(kept.iter().filter(|r| r.entity == "heavy").count(), 5);
        assert_eq!(kept.iter().filter(|r| r.entity == "light").count(), 3);
        let mut again = bound_rows(rows.into_iter().rev().collect(), 5, rank);
        let mut kept = kept;
        let key = |r: &Row| (r.entity.clone(), r.identity.clone());
        kept.sort_by_key(key);
        again.sort_by_key(key);
        assert_eq!(kept, again, "the sample does not depend on row order");
    }

    #[test]
    fn values_are_clipped_and_scaled() {
        let s = Scaling::new(0.0, 600.0, 0.1);
        assert_eq!((s.lo_units, s.hi_units), (0, 6000));
        assert_eq!(s.units(12.34), 123);
        assert_eq!(s.units(1e9), 6000);
        assert_eq!(s.units(-5.0), 0);
        assert_eq!(s.max_abs_units(), 6000);
        assert_eq!(Scaling::new(-10.0, 3.0, 1.0).max_abs_units(), 10);
    }
}

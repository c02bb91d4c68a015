//! [`AggState`]: the mergeable state of one aggregation (the monoid element).

use crate::agg_function::AggFunction;
use crate::data_type::InputType;
use crate::ddsketch::DDSketch;
use crate::distinct::DistinctSet;
use crate::encoding::{put_f64, put_varint, Reader, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::hll::HyperLogLog;
use crate::last_k::LastK;
use crate::min_max::{Extreme, MinMax};
use crate::sum::{FloatSum, IntSum};
use tessera_value::Value;

/// Which state an aggregation needs: the function plus whatever of the input
/// type changes the arithmetic (integer vs float sums) or the semantics (count
/// of events vs count of values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    CountValues,
    CountEvents,
    SumInt,
    SumFloat,
    MeanInt,
    MeanFloat,
    Min,
    Max,
    Last,
    LastK(usize),
    CountDistinct,
    ApproxCountDistinct,
    ApproxPercentile(f64),
}

impl Kind {
    pub(crate) fn of(function: &AggFunction, input: Option<InputType>) -> Kind {
        let int = input == Some(InputType::Int64);
        match function {
            AggFunction::Count if input.is_none() => Kind::CountEvents,
            AggFunction::Count => Kind::CountValues,
            AggFunction::Sum if int => Kind::SumInt,
            AggFunction::Sum => Kind::SumFloat,
            AggFunction::Mean if int => Kind::MeanInt,
            AggFunction::Mean => Kind::MeanFloat,
            AggFunction::Min => Kind::Min,
            AggFunction::Max => Kind::Max,
            AggFunction::Last => Kind::Last,
            AggFunction::LastK { k } => Kind::LastK(*k),
            AggFunction::CountDistinct => Kind::CountDistinct,
            AggFunction::ApproxCountDistinct => Kind::ApproxCountDistinct,
            AggFunction::ApproxPercentile { q } => Kind::ApproxPercentile(*q),
        }
    }

    pub(crate) fn function(self) -> AggFunction {
        match self {
            Kind::CountValues | Kind::CountEvents => AggFunction::Count,
            Kind::SumInt | Kind::SumFloat => AggFunction::Sum,
            Kind::MeanInt | Kind::MeanFloat => AggFunction::Mean,
            Kind::Min => AggFunction::Min,
            Kind::Max => AggFunction::Max,
            Kind::Last => AggFunction::Last,
            Kind::LastK(k) => AggFunction::LastK { k },
            Kind::CountDistinct => AggFunction::CountDistinct,
            Kind::ApproxCountDistinct => AggFunction::ApproxCountDistinct,
            Kind::ApproxPercentile(q) => AggFunction::ApproxPercentile { q },
        }
    }

    fn tag(self) -> u8 {
        match self {
            Kind::CountValues => 1,
            Kind::CountEvents => 2,
            Kind::SumInt => 3,
            Kind::SumFloat => 4,
            Kind::MeanInt => 5,
            Kind::MeanFloat => 6,
            Kind::Min => 7,
            Kind::Max => 8,
            Kind::Last => 9,
            Kind::LastK(_) => 10,
            Kind::CountDistinct => 11,
            Kind::ApproxCountDistinct => 12,
            Kind::ApproxPercentile(_) => 13,
        }
    }

    pub(crate) fn encode(self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Kind::LastK(k) => put_varint(out, k as u64),
            Kind::ApproxPercentile(q) => put_f64(out, q),
            _ => {}
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Kind> {
        Ok(match r.u8()? {
            1 => Kind::CountValues,
            2 => Kind::CountEvents,
            3 => Kind::SumInt,
            4 => Kind::SumFloat,
            5 => Kind::MeanInt,
            6 => Kind::MeanFloat,
            7 => Kind::Min,
            8 => Kind::Max,
            9 => Kind::Last,
            10 => {
                let k = r.varint()?;
                if k == 0 || k > crate::last_k::MAX_LAST_K as u64 {
                    return Err(r.error("last_k with k outside 1..=1000"));
                }
                Kind::LastK(k as usize)
            }
            11 => Kind::CountDistinct,
            12 => Kind::ApproxCountDistinct,
            13 => {
                let q = r.f64()?;
                if !(q > 0.0 && q < 1.0) {
                    return Err(r.error("percentile outside (0, 1)"));
                }
                Kind::ApproxPercentile(q)
            }
            _ => return Err(r.error("unknown aggregation kind")),
        })
    }

    fn describe(self) -> String {
        match self {
            Kind::CountValues => "count(column)".into(),
            Kind::CountEvents => "count(events)".into(),
            Kind::SumInt => "sum(int64)".into(),
            Kind::SumFloat => "sum(float64)".into(),
            Kind::MeanInt => "mean(int64)".into(),
            Kind::MeanFloat => "mean(float64)".into(),
            other => other.function().short_name(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    CountValues(u64),
    CountEvents(u64),
    SumInt(IntSum),
    SumFloat(FloatSum),
    MeanInt(IntSum),
    MeanFloat(FloatSum),
    MinMax(MinMax),
    Last(LastK),
    LastK(LastK),
    CountDistinct(DistinctSet),
    ApproxCountDistinct(HyperLogLog),
    ApproxPercentile(f64, DDSketch),
}

/// The state of one aggregation over some set of events: a commutative monoid
/// with [`AggState::update`] (add one event), [`AggState::merge`] (combine two
/// states) and [`AggState::finish`] (the value). The result never depends on the
/// order of updates and merges; for every function except float `sum`/`mean`
/// even the state itself (and its encoding) is identical.
///
/// ```
/// use tessera_aggregate::{AggFunction, AggState, Value, InputType};
/// let f = AggFunction::Last;
/// let mut a = AggState::new(&f, InputType::String);
/// a.update(&Value::from("play"), 10);
/// let mut b = AggState::new(&f, InputType::String);
/// b.update(&Value::from("skip"), 20);
/// b.update(&Value::Null, 30); // nulls are skipped
/// a.merge(&b)?;
/// assert_eq!(a.finish(), Value::from("skip"));
///
/// let mut bytes = Vec::new();
/// a.encode(&mut bytes);
/// let (back, used) = AggState::decode(&bytes)?;
/// assert_eq!((back, used), (a, bytes.len()));
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AggState(State);

fn count_datum(n: u64) -> Value {
    Value::Int64(i64::try_from(n).unwrap_or(i64::MAX))
}

impl AggState {
    /// An empty state for `function` over a column of type `input`. `count` made
    /// here counts non-missing values; use [`AggState::count_events`] (or
    /// [`crate::Aggregation::new_state`]) to count events. The pairing is not
    /// checked here: check definitions with [`crate::Aggregation::new`] or
    /// [`AggFunction::check_input`]. Values of a type the state cannot use
    /// (a string offered to `sum`) are ignored like nulls.
    pub fn new(function: &AggFunction, input: InputType) -> Self {
        AggState::of_kind(Kind::of(function, Some(input)))
    }

    /// An empty `count` of events: every update counts, whatever the value.
    pub fn count_events() -> Self {
        AggState(State::CountEvents(0))
    }

    pub(crate) fn of_kind(kind: Kind) -> Self {
        AggState(match kind {
            Kind::CountValues => State::CountValues(0),
            Kind::CountEvents => State::CountEvents(0),
            Kind::SumInt => State::SumInt(IntSum::default()),
            Kind::SumFloat => State::SumFloat(FloatSum::default()),
            Kind::MeanInt => State::MeanInt(IntSum::default()),
            Kind::MeanFloat => State::MeanFloat(FloatSum::default()),
            Kind::Min => State::MinMax(MinMax::new(Extreme::Min)),
            Kind::Max => State::MinMax(MinMax::new(Extreme::Max)),
            Kind::Last => State::Last(LastK::new(1)),
            Kind::LastK(k) => State::LastK(LastK::new(k)),
            Kind::CountDistinct => State::CountDistinct(DistinctSet::default()),
            Kind::ApproxCountDistinct => State::ApproxCountDistinct(HyperLogLog::default()),
            Kind::ApproxPercentile(q) => State::ApproxPercentile(q, DDSketch::default()),
        })
    }

    pub(crate) fn kind(&self) -> Kind {
        match &self.0 {
            State::CountValues(_) => Kind::CountValues,
            State::CountEvents(_) => Kind::CountEvents,
            State::SumInt(_) => Kind::SumInt,
            State::SumFloat(_) => Kind::SumFloat,
            State::MeanInt(_) => Kind::MeanInt,
            State::MeanFloat(_) => Kind::MeanFloat,
            State::MinMax(m) if m.extreme() == Extreme::Min => Kind::Min,
            State::MinMax(_) => Kind::Max,
            State::Last(_) => Kind::Last,
            State::LastK(l) => Kind::LastK(l.k()),
            State::CountDistinct(_) => Kind::CountDistinct,
            State::ApproxCountDistinct(_) => Kind::ApproxCountDistinct,
            State::ApproxPercentile(q, _) => Kind::ApproxPercentile(*q),
        }
    }

    /// Whether `value` would leave this state unchanged (missing, or of a type
    /// this state cannot use).
    pub(crate) fn ignores(&self, value: &Value) -> bool {
        match &self.0 {
            State::CountEvents(_) => false,
            _ if value.is_missing() => true,
            State::SumInt(_) | State::MeanInt(_) => !matches!(value, Value::Int64(_)),
            State::SumFloat(_) | State::MeanFloat(_) => value.as_f64().is_none(),
            State::ApproxPercentile(..) => !value.as_f64().is_some_and(f64::is_finite),
            _ => false,
        }
    }

    /// Adds one event with value `value` at event time `ts` (µs). `ts` matters
    /// only to `last` and `last_k`. Nulls and NaN are ignored except by `count`
    /// of events.
    pub fn update(&mut self, value: &Value, ts: i64) {
        match &mut self.0 {
            State::CountEvents(n) => *n = n.saturating_add(1),
            _ if value.is_missing() => {}
            State::CountValues(n) => *n = n.saturating_add(1),
            State::SumInt(s) | State::MeanInt(s) => {
                if let Value::Int64(v) = value {
                    s.update(*v);
                }
            }
            State::SumFloat(s) | State::MeanFloat(s) => {
                if let Some(x) = value.as_f64() {
                    s.update(x);
                }
            }
            State::MinMax(m) => m.update(value),
            State::Last(l) | State::LastK(l) => l.update(value, ts),
            State::CountDistinct(d) => d.update(value),
            State::ApproxCountDistinct(h) => h.update(value, &mut Vec::new()),
            State::ApproxPercentile(_, s) => {
                if let Some(x) = value.as_f64() {
                    s.update(x);
                }
            }
        }
    }

    /// Folds `other` into `self`. Fails, leaving `self` unchanged, when the two
    /// are states of different aggregations.
    pub fn merge(&mut self, other: &AggState) -> Result<()> {
        if self.kind() != other.kind() {
            return Err(Error::StateMismatch {
                left: self.kind().describe(),
                right: other.kind().describe(),
            });
        }
        match (&mut self.0, &other.0) {
            (State::CountValues(a), State::CountValues(b))
            | (State::CountEvents(a), State::CountEvents(b)) => *a = a.saturating_add(*b),
            (State::SumInt(a), State::SumInt(b)) | (State::MeanInt(a), State::MeanInt(b)) => {
                a.merge(b)
            }
            (State::SumFloat(a), State::SumFloat(b))
            | (State::MeanFloat(a), State::MeanFloat(b)) => a.merge(b),
            (State::MinMax(a), State::MinMax(b)) => a.merge(b),
            (State::Last(a), State::Last(b)) | (State::LastK(a), State::LastK(b)) => a.merge(b),
            (State::CountDistinct(a), State::CountDistinct(b)) => a.merge(b),
            (State::ApproxCountDistinct(a), State::ApproxCountDistinct(b)) => a.merge(b),
            (State::ApproxPercentile(_, a), State::ApproxPercentile(_, b)) => a.merge(b),
            _ => {
                return Err(Error::StateMismatch {
                    left: self.kind().describe(),
                    right: other.kind().describe(),
                })
            }
        }
        Ok(())
    }

    /// The aggregation's value. Counts give `Int64(0)` when empty, `last_k` an
    /// empty list; every other function gives `Null` when empty.
    pub fn finish(&self) -> Value {
        match &self.0 {
            State::CountValues(n) | State::CountEvents(n) => count_datum(*n),
            State::SumInt(s) => s.finish_sum(),
            State::SumFloat(s) => s.finish_sum(),
            State::MeanInt(s) => s.finish_mean(),
            State::MeanFloat(s) => s.finish_mean(),
            State::MinMax(m) => m.finish(),
            State::Last(l) => l.finish_last(),
            State::LastK(l) => l.finish_list(),
            State::CountDistinct(d) => count_datum(d.len() as u64),
            State::ApproxCountDistinct(h) => Value::Int64(h.estimate()),
            State::ApproxPercentile(q, s) => s.quantile(*q).map_or(Value::Null, Value::Float64),
        }
    }

    /// Whether no event has changed this state (it equals the identity).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            State::CountValues(n) | State::CountEvents(n) => *n == 0,
            State::SumInt(s) | State::MeanInt(s) => s.is_empty(),
            State::SumFloat(s) | State::MeanFloat(s) => s.is_empty(),
            State::MinMax(m) => m.is_empty(),
            State::Last(l) | State::LastK(l) => l.is_empty(),
            State::CountDistinct(d) => d.is_empty(),
            State::ApproxCountDistinct(h) => h.is_empty(),
            State::ApproxPercentile(_, s) => s.is_empty(),
        }
    }

    /// Appends the state's self-describing encoding: a version byte, the kind
    /// (with `k` or `q`), then the payload. Equal states give equal bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        self.kind().encode(out);
        self.encode_payload(out);
    }

    /// Decodes a state written by [`AggState::encode`] from the start of `bytes`;
    /// returns it and the number of bytes used. Damaged input is an error.
    pub fn decode(bytes: &[u8]) -> Result<(AggState, usize)> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let kind = Kind::decode(&mut r)?;
        let state = AggState::decode_payload(kind, &mut r)?;
        Ok((state, r.position()))
    }

    /// The payload alone; the kind is known from the definition (tiles).
    pub(crate) fn encode_payload(&self, out: &mut Vec<u8>) {
        match &self.0 {
            State::CountValues(n) | State::CountEvents(n) => put_varint(out, *n),
            State::SumInt(s) | State::MeanInt(s) => s.encode(out),
            State::SumFloat(s) | State::MeanFloat(s) => s.encode(out),
            State::MinMax(m) => m.encode(out),
            State::Last(l) | State::LastK(l) => l.encode(out),
            State::CountDistinct(d) => d.encode(out),
            State::ApproxCountDistinct(h) => h.encode(out),
            State::ApproxPercentile(_, s) => s.encode(out),
        }
    }

    pub(crate) fn decode_payload(kind: Kind, r: &mut Reader<'_>) -> Result<AggState> {
        Ok(AggState(match kind {
            Kind::CountValues => State::CountValues(r.varint()?),
            Kind::CountEvents => State::CountEvents(r.varint()?),
            Kind::SumInt => State::SumInt(IntSum::decode(r)?),
            Kind::SumFloat => State::SumFloat(FloatSum::decode(r)?),
            Kind::MeanInt => State::MeanInt(IntSum::decode(r)?),
            Kind::MeanFloat => State::MeanFloat(FloatSum::decode(r)?),
            Kind::Min => State::MinMax(MinMax::decode(Extreme::Min, r)?),
            Kind::Max => State::MinMax(MinMax::decode(Extreme::Max, r)?),
            Kind::Last => State::Last(LastK::decode(1, r)?),
            Kind::LastK(k) => State::LastK(LastK::decode(k, r)?),
            Kind::CountDistinct => State::CountDistinct(DistinctSet::decode(r)?),
            Kind::ApproxCountDistinct => State::ApproxCountDistinct(HyperLogLog::decode(r)?),
            Kind::ApproxPercentile(q) => State::ApproxPercentile(q, DDSketch::decode(r)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(f: &AggFunction, t: InputType, values: &[Value]) -> Value {
        let mut s = AggState::new(f, t);
        for (i, v) in values.iter().enumerate() {
            s.update(v, i as i64);
        }
        s.finish()
    }

    #[test]
    fn sql_like_semantics() {
        use Value as D;
        let ints = [D::Int64(3), D::Null, D::Int64(-1), D::Int64(3)];
        let t = InputType::Int64;
        assert_eq!(fold(&AggFunction::Count, t, &ints), D::Int64(3));
        assert_eq!(fold(&AggFunction::Sum, t, &ints), D::Int64(5));
        assert_eq!(fold(&AggFunction::Mean, t, &ints), D::Float64(5.0 / 3.0));
        assert_eq!(fold(&AggFunction::Min, t, &ints), D::Int64(-1));
        assert_eq!(fold(&AggFunction::Max, t, &ints), D::Int64(3));
        assert_eq!(fold(&AggFunction::Last, t, &ints), D::Int64(3));
        assert_eq!(fold(&AggFunction::CountDistinct, t, &ints), D::Int64(2));
        assert_eq!(
            fold(&AggFunction::ApproxCountDistinct, t, &ints),
            D::Int64(2)
        );
        assert_eq!(
            fold(&AggFunction::LastK { k: 2 }, t, &ints),
            D::List(vec![D::Int64(3), D::Int64(-1)])
        );
        let empty: [D; 1] = [D::Null];
        assert_eq!(fold(&AggFunction::Count, t, &empty), D::Int64(0));
        assert_eq!(fold(&AggFunction::Sum, t, &empty), D::Null);
        assert_eq!(fold(&AggFunction::Mean, t, &empty), D::Null);
        assert_eq!(
            fold(&AggFunction::LastK { k: 2 }, t, &empty),
            D::List(vec![])
        );
        let p = AggFunction::ApproxPercentile { q: 0.5 };
        assert_eq!(fold(&p, InputType::Float64, &empty), D::Null);
    }

    #[test]
    fn nan_is_ignored() {
        let vals = [Value::Float64(f64::NAN), Value::Float64(2.0)];
        let t = InputType::Float64;
        assert_eq!(fold(&AggFunction::Count, t, &vals), Value::Int64(1));
        assert_eq!(fold(&AggFunction::Sum, t, &vals), Value::Float64(2.0));
        assert_eq!(fold(&AggFunction::Max, t, &vals), Value::Float64(2.0));
    }

    #[test]
    fn count_events_counts_nulls() {
        let mut s = AggState::count_events();
        s.update(&Value::Null, 0);
        s.update(&Value::Int64(1), 0);
        assert_eq!(s.finish(), Value::Int64(2));
    }

    #[test]
    fn mismatched_merge_is_an_error() {
        let mut a = AggState::new(&AggFunction::Sum, InputType::Int64);
        let b = AggState::new(&AggFunction::Sum, InputType::Float64);
        let err = a.merge(&b).unwrap_err();
        assert!(err.to_string().contains("sum(int64)"), "{err}");
        let mut c = AggState::new(&AggFunction::LastK { k: 2 }, InputType::Int64);
        let d = AggState::new(&AggFunction::LastK { k: 3 }, InputType::Int64);
        assert!(c.merge(&d).is_err());
        assert!(AggState::count_events()
            .merge(&AggState::new(&AggFunction::Count, InputType::Int64))
            .is_err());
    }

    #[test]
    fn decode_rejects_bad_version_and_kind() {
        assert!(matches!(
            AggState::decode(&[9, 1, 0]),
            Err(Error::UnsupportedVersion { found: 9, .. })
        ));
        assert!(AggState::decode(&[FORMAT_VERSION, 99]).is_err());
        assert!(AggState::decode(&[]).is_err());
    }
}

//! [`Aggregation`]: a function bound to the type of its input column (or to no
//! column, for `count` of events), checked once at definition time.

use serde::{Deserialize, Serialize};

use crate::agg_function::AggFunction;
use crate::agg_state::{AggState, Kind};
use crate::data_type::{InputType, OutputType};
use crate::encoding::Reader;
use crate::error::{Error, Result};

/// A checked aggregation: the function and the type of the column it reads,
/// `None` only for `count` of events. Build one with [`Aggregation::new`]; its
/// [`Aggregation::new_state`] is the identity element of the monoid.
///
/// ```
/// use tessera_aggregate::{AggFunction, Aggregation, Value, InputType};
/// let agg = Aggregation::new(AggFunction::Sum, Some(InputType::Int64))?;
/// let mut state = agg.new_state();
/// state.update(&Value::Int64(4), 0);
/// state.update(&Value::Null, 1); // ignored
/// assert_eq!(state.finish(), Value::Int64(4));
/// assert!(Aggregation::new(AggFunction::Sum, None).is_err()); // sum of what?
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AggregationDef", into = "AggregationDef")]
pub struct Aggregation {
    function: AggFunction,
    input: Option<InputType>,
}

/// The serde shape of [`Aggregation`]; deserialising goes through [`Aggregation::new`].
#[derive(Serialize, Deserialize)]
struct AggregationDef {
    function: AggFunction,
    #[serde(default)]
    input: Option<InputType>,
}

impl TryFrom<AggregationDef> for Aggregation {
    type Error = Error;
    fn try_from(d: AggregationDef) -> Result<Self> {
        Aggregation::new(d.function, d.input)
    }
}

impl From<Aggregation> for AggregationDef {
    fn from(a: Aggregation) -> Self {
        AggregationDef {
            function: a.function,
            input: a.input,
        }
    }
}

impl Aggregation {
    /// Checks that `function` can read a column of type `input` (`None` = no
    /// column, allowed only for `count`), and that its parameters are in range.
    pub fn new(function: AggFunction, input: Option<InputType>) -> Result<Self> {
        match (&function, input) {
            (AggFunction::LastK { k }, _) if !(1..=crate::last_k::MAX_LAST_K).contains(k) => {
                return Err(Error::InvalidParameter {
                    function: function.short_name(),
                    reason: format!("k must be between 1 and 1000, got {k}"),
                })
            }
            (AggFunction::ApproxPercentile { q }, _) if !(*q > 0.0 && *q < 1.0) => {
                return Err(Error::InvalidParameter {
                    function: "approx_percentile".into(),
                    reason: format!("the quantile must be strictly between 0 and 1, got {q}"),
                })
            }
            (f, None) if f.needs_column() => {
                return Err(Error::MissingColumn {
                    function: f.short_name(),
                })
            }
            (f, Some(t)) => f.check_input(t)?,
            (_, None) => {}
        }
        Ok(Aggregation { function, input })
    }

    /// `count` of events, no column.
    pub fn count_events() -> Self {
        Aggregation {
            function: AggFunction::Count,
            input: None,
        }
    }

    /// The function.
    pub fn function(&self) -> &AggFunction {
        &self.function
    }

    /// The input column's type, `None` for `count` of events.
    pub fn input(&self) -> Option<InputType> {
        self.input
    }

    /// The type of [`AggState::finish`]'s result.
    pub fn output_type(&self) -> OutputType {
        match self.input {
            Some(t) => self.function.output_type(t),
            None => OutputType::Int64,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        Kind::of(&self.function, self.input)
    }

    /// An empty state (the monoid's identity).
    pub fn new_state(&self) -> AggState {
        AggState::of_kind(self.kind())
    }

    /// Writes the definition compactly (function, parameters, input type).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        self.kind().encode(out);
        out.push(match self.input {
            None => 0,
            Some(InputType::Int64) => 1,
            Some(InputType::Float64) => 2,
            Some(InputType::Bool) => 3,
            Some(InputType::String) => 4,
            Some(InputType::Timestamp) => 5,
        });
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let kind = Kind::decode(r)?;
        let input = match r.u8()? {
            0 => None,
            1 => Some(InputType::Int64),
            2 => Some(InputType::Float64),
            3 => Some(InputType::Bool),
            4 => Some(InputType::String),
            5 => Some(InputType::Timestamp),
            _ => return Err(r.error("unknown input type")),
        };
        let agg = Aggregation::new(kind.function(), input)
            .map_err(|_| r.error("stored aggregation definition is invalid"))?;
        if agg.kind() != kind {
            return Err(r.error("stored aggregation kind does not match its input type"));
        }
        Ok(agg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as DeError, MapDeserializer};
    use serde::de::IntoDeserializer;

    #[test]
    fn validates() {
        assert!(Aggregation::new(AggFunction::Count, None).is_ok());
        assert!(Aggregation::new(AggFunction::Count, Some(InputType::String)).is_ok());
        assert!(matches!(
            Aggregation::new(AggFunction::Max, None),
            Err(Error::MissingColumn { .. })
        ));
        assert!(Aggregation::new(AggFunction::Mean, Some(InputType::String)).is_err());
        assert!(Aggregation::new(AggFunction::LastK { k: 0 }, Some(InputType::Int64)).is_err());
        assert!(Aggregation::new(
            AggFunction::ApproxPercentile { q: 1.0 },
            Some(InputType::Int64)
        )
        .is_err());
        assert_eq!(Aggregation::count_events().output_type(), OutputType::Int64);
    }

    #[test]
    fn definition_round_trips() {
        for (f, t) in [
            (AggFunction::Count, None),
            (AggFunction::Sum, Some(InputType::Float64)),
            (AggFunction::LastK { k: 7 }, Some(InputType::String)),
            (
                AggFunction::ApproxPercentile { q: 0.9 },
                Some(InputType::Int64),
            ),
        ] {
            let a = Aggregation::new(f, t).unwrap();
            let mut out = Vec::new();
            a.encode(&mut out);
            assert_eq!(Aggregation::decode(&mut Reader::new(&out)).unwrap(), a);
        }
    }

    #[test]
    fn deserialising_validates() {
        let map = |f: &'static str| {
            MapDeserializer::<_, DeError>::new(
                [("function", f)]
                    .into_iter()
                    .map(|(k, v)| (k, v.into_deserializer())),
            )
        };
        let ok = Aggregation::deserialize(map("count")).unwrap();
        assert_eq!(ok, Aggregation::count_events());
        assert!(Aggregation::deserialize(map("mean")).is_err());
    }
}

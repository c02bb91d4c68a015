//! [`AggFunction`]: which aggregation, how it is named, and what types it takes.

use serde::{Deserialize, Serialize};

use crate::data_type::{InputType, OutputType};
use crate::error::{Error, Result};
use crate::last_k::MAX_LAST_K;

/// The names [`AggFunction::parse`] accepts, for error messages.
const VALID_NAMES: &str =
    "count, sum, mean (avg), min, max, last, last_k (with k), lastN (e.g. last10), \
count_distinct, approx_count_distinct (hll_count_distinct), p50, p90, p95, p99, pNN (e.g. p75), \
percentile_Q with Q in (0, 1) (e.g. percentile_0.75)";

/// An aggregation function. Each is a commutative monoid over
/// [`crate::AggState`]; see the crate docs for exact semantics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunction {
    /// Number of events (without a column) or of non-missing values (with one).
    Count,
    /// Sum of non-missing values; `Int64` sums saturate to the `i64` range.
    Sum,
    /// Arithmetic mean of non-missing values, as `Float64`.
    Mean,
    /// Smallest non-missing value.
    Min,
    /// Largest non-missing value.
    Max,
    /// The value with the greatest timestamp (ties: the greater value).
    Last,
    /// The `k` values with the greatest timestamps, most recent first.
    LastK {
        /// How many values to keep, `1..=1000`.
        k: usize,
    },
    /// Exact number of distinct non-missing values.
    CountDistinct,
    /// HyperLogLog estimate of the number of distinct values: precision 12 (4096
    /// registers), standard error ≈ 1.04/√4096 ≈ 1.6 %, with a stable hash
    /// (XXH64) and Ertl's improved estimator (see the crate docs).
    ApproxCountDistinct,
    /// DDSketch estimate of the `q`-quantile with relative accuracy α = 0.01: the
    /// result `x̂` satisfies `|x̂ − x| ≤ 0.01·|x|` for the true `q`-quantile `x`.
    ApproxPercentile {
        /// The quantile, in `(0, 1)`.
        q: f64,
    },
}

fn invalid(function: &str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        function: function.to_owned(),
        reason: reason.into(),
    }
}

fn check_k(name: &str, k: usize) -> Result<usize> {
    if (1..=MAX_LAST_K).contains(&k) {
        Ok(k)
    } else {
        Err(invalid(
            name,
            format!("k must be between 1 and {MAX_LAST_K}, got {k}"),
        ))
    }
}

fn check_q(name: &str, q: f64) -> Result<f64> {
    if q > 0.0 && q < 1.0 {
        Ok(q)
    } else {
        Err(invalid(
            name,
            format!("the quantile must be strictly between 0 and 1, got {q}"),
        ))
    }
}

impl AggFunction {
    /// Parses a function name as written in feature definitions (case-insensitive).
    /// `k` is required by `last_k` and refused by every other name.
    ///
    /// ```
    /// use tessera_aggregate::AggFunction;
    /// assert_eq!(AggFunction::parse("avg", None)?, AggFunction::Mean);
    /// assert_eq!(AggFunction::parse("last_k", Some(10))?, AggFunction::LastK { k: 10 });
    /// assert_eq!(AggFunction::parse("p90", None)?, AggFunction::ApproxPercentile { q: 0.9 });
    /// assert_eq!(
    ///     AggFunction::parse("percentile_0.75", None)?,
    ///     AggFunction::ApproxPercentile { q: 0.75 }
    /// );
    /// assert!(AggFunction::parse("median", None).unwrap_err().to_string().contains("p50"));
    /// # Ok::<(), tessera_aggregate::Error>(())
    /// ```
    pub fn parse(name: &str, k: Option<usize>) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let f = match lower.as_str() {
            "last_k" => {
                let k = k.ok_or_else(|| invalid(name, "last_k needs k (1 to 1000)"))?;
                return Ok(AggFunction::LastK {
                    k: check_k(name, k)?,
                });
            }
            "count" => AggFunction::Count,
            "sum" => AggFunction::Sum,
            "mean" | "avg" => AggFunction::Mean,
            "min" => AggFunction::Min,
            "max" => AggFunction::Max,
            "last" => AggFunction::Last,
            "count_distinct" => AggFunction::CountDistinct,
            "approx_count_distinct" | "hll_count_distinct" => AggFunction::ApproxCountDistinct,
            other => {
                if let Some(q) = other.strip_prefix("percentile_") {
                    let q: f64 = q.parse().map_err(|_| {
                        invalid(
                            name,
                            "write the quantile as a decimal, e.g. percentile_0.75",
                        )
                    })?;
                    AggFunction::ApproxPercentile {
                        q: check_q(name, q)?,
                    }
                } else if let Some(pct) = other.strip_prefix('p').filter(|s| is_number(s)) {
                    AggFunction::ApproxPercentile {
                        q: check_q(name, percent_to_q(name, pct)?)?,
                    }
                } else if let Some(n) = other.strip_prefix("last").filter(|s| is_digits(s)) {
                    let n: usize = n
                        .parse()
                        .map_err(|_| invalid(name, "k must be between 1 and 1000"))?;
                    if k.is_some_and(|k| k != n) {
                        return Err(invalid(name, "k given twice with different values"));
                    }
                    return Ok(AggFunction::LastK {
                        k: check_k(name, n)?,
                    });
                } else {
                    return Err(Error::UnknownFunction {
                        name: name.to_owned(),
                        valid: VALID_NAMES,
                    });
                }
            }
        };
        if k.is_some() {
            return Err(invalid(name, "only last_k takes k"));
        }
        Ok(f)
    }

    /// The name used in derived feature names: `sum`, `count`, `mean`, `min`,
    /// `max`, `last`, `last10` (k = 10), `count_distinct`,
    /// `approx_count_distinct`, `p90`, `p75`, `p99_9` (q = 0.999).
    /// [`AggFunction::parse`] accepts every short name back.
    pub fn short_name(&self) -> String {
        match self {
            AggFunction::Count => "count".into(),
            AggFunction::Sum => "sum".into(),
            AggFunction::Mean => "mean".into(),
            AggFunction::Min => "min".into(),
            AggFunction::Max => "max".into(),
            AggFunction::Last => "last".into(),
            AggFunction::LastK { k } => format!("last{k}"),
            AggFunction::CountDistinct => "count_distinct".into(),
            AggFunction::ApproxCountDistinct => "approx_count_distinct".into(),
            AggFunction::ApproxPercentile { q } => {
                // Round away float noise (0.999 * 100 = 99.89999999999999).
                let pct = (q * 100.0 * 1e6).round() / 1e6;
                format!("p{pct}").replace('.', "_")
            }
        }
    }

    /// Whether the function needs an input column. Only `count` does not: without
    /// a column it counts events, with one it counts non-missing values.
    pub fn needs_column(&self) -> bool {
        !matches!(self, AggFunction::Count)
    }

    /// Checks at definition time that the function can aggregate a column of
    /// type `input`: `sum` and `mean` need `int64`/`float64`, percentiles too;
    /// every other function takes every type.
    pub fn check_input(&self, input: InputType) -> Result<()> {
        let hint = match self {
            AggFunction::Sum | AggFunction::Mean => {
                "it needs an int64 or float64 column (count a bool with `count` and a filter)"
            }
            AggFunction::ApproxPercentile { .. } => {
                "percentiles need an int64 or float64 column; for strings try count_distinct or last_k"
            }
            _ => return Ok(()),
        };
        if input.is_numeric() {
            Ok(())
        } else {
            Err(Error::UnsupportedInput {
                function: self.short_name(),
                input,
                hint,
            })
        }
    }

    /// The result type for an input column of type `input` (pass any type for
    /// `count` without a column): counts → `Int64`; `sum` → the input type
    /// (`Int64` saturates); `mean` and percentiles → `Float64`; `min`, `max`,
    /// `last` → the input type; `last_k` → `List(input)`.
    pub fn output_type(&self, input: InputType) -> OutputType {
        match self {
            AggFunction::Count | AggFunction::CountDistinct | AggFunction::ApproxCountDistinct => {
                OutputType::Int64
            }
            AggFunction::Sum if input == InputType::Int64 => OutputType::Int64,
            AggFunction::Sum | AggFunction::Mean | AggFunction::ApproxPercentile { .. } => {
                OutputType::Float64
            }
            AggFunction::Min | AggFunction::Max | AggFunction::Last => input.into(),
            AggFunction::LastK { .. } => OutputType::List(input),
        }
    }
}

/// `"99_9"` → 0.999, shifting the decimal point in the text so that the
/// quantile is the float nearest to the decimal written.
fn percent_to_q(name: &str, pct: &str) -> Result<f64> {
    let pct = pct.replace('_', ".");
    let (int, frac) = pct.split_once('.').unwrap_or((pct.as_str(), ""));
    if int.len() > 2 || frac.contains('.') {
        return Err(invalid(
            name,
            "a percentile must be below 100, written like p90 or p99_9",
        ));
    }
    format!("0.{int:0>2}{frac}")
        .parse()
        .map_err(|_| invalid(name, "write a percentile as pNN, e.g. p90"))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'_' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_name() {
        let cases = [
            ("count", AggFunction::Count),
            ("SUM", AggFunction::Sum),
            ("avg", AggFunction::Mean),
            ("mean", AggFunction::Mean),
            ("min", AggFunction::Min),
            ("max", AggFunction::Max),
            ("last", AggFunction::Last),
            ("count_distinct", AggFunction::CountDistinct),
            ("approx_count_distinct", AggFunction::ApproxCountDistinct),
            ("hll_count_distinct", AggFunction::ApproxCountDistinct),
            ("p50", AggFunction::ApproxPercentile { q: 0.5 }),
            ("p95", AggFunction::ApproxPercentile { q: 0.95 }),
            ("p99", AggFunction::ApproxPercentile { q: 0.99 }),
            ("percentile_0.75", AggFunction::ApproxPercentile { q: 0.75 }),
        ];
        for (name, f) in cases {
            assert_eq!(AggFunction::parse(name, None).unwrap(), f, "{name}");
        }
    }

    #[test]
    fn bad_parameters() {
        assert!(AggFunction::parse("last_k", None).is_err());
        assert!(AggFunction::parse("last_k", Some(0)).is_err());
        assert!(AggFunction::parse("last_k", Some(1001)).is_err());
        assert!(AggFunction::parse("sum", Some(3)).is_err());
        assert!(AggFunction::parse("percentile_1.5", None).is_err());
        assert!(AggFunction::parse("percentile_0", None).is_err());
        assert!(AggFunction::parse("p100", None).is_err());
        assert!(AggFunction::parse("percentile_x", None).is_err());
        let e = AggFunction::parse("median", None).unwrap_err().to_string();
        assert!(
            e.contains("count_distinct") && e.contains("percentile_"),
            "{e}"
        );
    }

    #[test]
    fn short_names_round_trip() {
        let fs = [
            AggFunction::Count,
            AggFunction::Mean,
            AggFunction::LastK { k: 10 },
            AggFunction::ApproxCountDistinct,
            AggFunction::ApproxPercentile { q: 0.9 },
            AggFunction::ApproxPercentile { q: 0.75 },
            AggFunction::ApproxPercentile { q: 0.999 },
        ];
        let names: Vec<_> = fs.iter().map(AggFunction::short_name).collect();
        assert_eq!(
            names,
            [
                "count",
                "mean",
                "last10",
                "approx_count_distinct",
                "p90",
                "p75",
                "p99_9"
            ]
        );
        for (f, n) in fs.iter().zip(&names) {
            assert_eq!(&AggFunction::parse(n, None).unwrap(), f);
        }
    }

    #[test]
    fn types() {
        use InputType as I;
        assert_eq!(AggFunction::Sum.output_type(I::Int64), OutputType::Int64);
        assert_eq!(
            AggFunction::Sum.output_type(I::Float64),
            OutputType::Float64
        );
        assert_eq!(AggFunction::Mean.output_type(I::Int64), OutputType::Float64);
        assert_eq!(AggFunction::Max.output_type(I::String), OutputType::String);
        assert_eq!(
            AggFunction::LastK { k: 3 }.output_type(I::Timestamp),
            OutputType::List(I::Timestamp)
        );
        assert_eq!(
            AggFunction::CountDistinct.output_type(I::String),
            OutputType::Int64
        );
        assert!(AggFunction::ApproxPercentile { q: 0.5 }
            .check_input(I::String)
            .is_err());
        assert!(AggFunction::Sum.check_input(I::Bool).is_err());
        assert!(AggFunction::Max.check_input(I::String).is_ok());
        assert!(!AggFunction::Count.needs_column());
        assert!(AggFunction::Sum.needs_column());
    }
}

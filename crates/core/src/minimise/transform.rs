//! [`Transform`]: a checked minimising transform and its result type.

use std::fmt;

use crate::error::{Error, Result};
use crate::feature_type::FeatureType;
use crate::minimise::spec::MinimiseSpec;

/// A checked minimising transform (see `docs/MINIMISATION.md` for each one's semantics).
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// Numbers → range labels. `bounds` strictly increasing; `labels` has one more entry.
    Bucketize {
        /// The boundaries.
        bounds: Vec<f64>,
        /// `"<b0"`, `"b0-b1"`, …, `">=bn"`.
        labels: Vec<String>,
    },
    /// Timestamps truncated to a UTC period of this many microseconds (> 0).
    Coarsen {
        /// The period in µs.
        period_us: i64,
        /// The period as written (`1d`).
        text: String,
    },
    /// Strings cut to this many characters (≥ 1).
    Truncate(usize),
    /// Numbers rounded to the nearest multiple of this step (> 0), halves away from zero.
    Round(f64),
    /// Numbers limited to `[lo, hi]`.
    Clip(f64, f64),
    /// Strings kept if listed, else `other`.
    Keep {
        /// The kept values.
        keep: Vec<String>,
        /// The replacement of every other value.
        other: String,
    },
    /// A keyed hash under the key in an environment variable.
    Pseudonymise {
        /// The variable.
        key_env: String,
    },
}

fn bad(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Minimise {
        message: message.into(),
        hint: hint.into(),
    }
}

/// `18` for 18.0, `0.1` for 0.1: the shortest text that reads back as the number.
pub(crate) fn num_text(x: f64) -> String {
    format!("{x}")
}

fn is_int(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15
}

impl Transform {
    /// Checks one entry: exactly one transform, with valid parameters.
    pub fn from_spec(spec: &MinimiseSpec) -> Result<Self> {
        let named = spec.named();
        if named.len() > 1 {
            return Err(bad(
                format!(
                    "names {} transforms ({}) in one entry",
                    named.len(),
                    named.join(", ")
                ),
                "give each feature one transform; to combine, minimise with the coarser one",
            ));
        }
        if spec.other.is_some() && spec.keep.is_none() {
            return Err(bad(
                "`other` without `keep`",
                "write `{ keep: [US, GB], other: other }`",
            ));
        }
        if let Some(bounds) = &spec.bucketize {
            return bucketize(bounds);
        }
        if let Some(text) = &spec.coarsen {
            let d = crate::duration::parse_duration(text).map_err(|e| {
                bad(
                    format!("coarsen: {e}"),
                    "write a period such as `1h` or `1d`",
                )
            })?;
            let period_us = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            if period_us <= 0 {
                return Err(bad(
                    format!("coarsen period `{text}` is zero"),
                    "write a positive period such as `1h` or `1d`",
                ));
            }
            return Ok(Transform::Coarsen {
                period_us,
                text: text.trim().to_string(),
            });
        }
        if let Some(n) = spec.truncate {
            if n == 0 {
                return Err(bad(
                    "truncate: 0 keeps nothing",
                    "keep at least one character (`truncate: 3`), or do not request the feature",
                ));
            }
            return Ok(Transform::Truncate(
                usize::try_from(n).unwrap_or(usize::MAX),
            ));
        }
        if let Some(step) = spec.round {
            if !(step.is_finite() && step > 0.0) {
                return Err(bad(
                    format!("round step {} is not positive", num_text(step)),
                    "round to a positive step, e.g. `round: 0.1` or `round: 10`",
                ));
            }
            return Ok(Transform::Round(step));
        }
        if let Some(range) = &spec.clip {
            let [lo, hi] = range[..] else {
                return Err(bad(
                    format!("clip has {} bounds", range.len()),
                    "write `clip: [lo, hi]`",
                ));
            };
            if !(lo.is_finite() && hi.is_finite()) || lo > hi {
                return Err(bad(
                    format!(
                        "clip lower bound {} is above the upper bound {}",
                        num_text(lo),
                        num_text(hi)
                    ),
                    "write `clip: [lo, hi]` with lo ≤ hi",
                ));
            }
            return Ok(Transform::Clip(lo, hi));
        }
        if let Some(keep) = &spec.keep {
            if keep.is_empty() {
                return Err(bad(
                    "keep lists no value",
                    "list the values kept as they are, e.g. `keep: [US, GB]`",
                ));
            }
            return Ok(Transform::Keep {
                keep: keep.clone(),
                other: spec.other.clone().unwrap_or_else(|| "other".to_string()),
            });
        }
        if let Some(p) = &spec.pseudonymise {
            if p.key_env.trim().is_empty() {
                return Err(bad(
                    "pseudonymise has an empty `key_env`",
                    "name the environment variable that holds the key, one per purpose",
                ));
            }
            return Ok(Transform::Pseudonymise {
                key_env: p.key_env.trim().to_string(),
            });
        }
        Err(bad(
            "names no transform",
            "write one of bucketize, coarsen, truncate, round, clip, keep, pseudonymise",
        ))
    }

    /// The transform's name (`bucketize`).
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Bucketize { .. } => "bucketize",
            Transform::Coarsen { .. } => "coarsen",
            Transform::Truncate(_) => "truncate",
            Transform::Round(_) => "round",
            Transform::Clip(..) => "clip",
            Transform::Keep { .. } => "keep",
            Transform::Pseudonymise { .. } => "pseudonymise",
        }
    }

    /// The type of the transformed values of a feature declared `input`, or why the
    /// transform does not fit it.
    pub fn result_type(&self, input: &FeatureType) -> Result<FeatureType> {
        use FeatureType as T;
        let int = matches!(input, T::Int32 | T::Int64);
        let numeric = int || matches!(input, T::Float32 | T::Float64);
        let (fits, wants, out) = match self {
            Transform::Bucketize { .. } => (numeric, "a number", T::String),
            Transform::Coarsen { .. } => (*input == T::Timestamp, "a timestamp", T::Timestamp),
            Transform::Truncate(_) => (*input == T::String, "a string", T::String),
            Transform::Round(step) => (
                numeric,
                "a number",
                if int && is_int(*step) {
                    T::Int64
                } else {
                    T::Float64
                },
            ),
            Transform::Clip(lo, hi) => (
                numeric,
                "a number",
                if int && is_int(*lo) && is_int(*hi) {
                    T::Int64
                } else {
                    T::Float64
                },
            ),
            Transform::Keep { .. } => (*input == T::String, "a string", T::String),
            Transform::Pseudonymise { .. } => (
                matches!(input, T::String | T::Int32 | T::Int64),
                "a string or an integer",
                T::String,
            ),
        };
        if fits {
            Ok(out)
        } else {
            Err(bad(
                format!(
                    "{} does not fit type {input}: it applies to {wants}",
                    self.name()
                ),
                suggestion(input),
            ))
        }
    }
}

/// Which transforms fit a type.
fn suggestion(input: &FeatureType) -> String {
    use FeatureType as T;
    match input {
        T::Int32 | T::Int64 | T::Float32 | T::Float64 => {
            "for a number use bucketize, round or clip (or pseudonymise an integer id)".into()
        }
        T::String => "for a string use truncate, keep/other or pseudonymise".into(),
        T::Timestamp => "for a timestamp use coarsen".into(),
        other => format!("no transform applies to {other}: leave it out of the read"),
    }
}

fn bucketize(bounds: &[f64]) -> Result<Transform> {
    if bounds.is_empty() {
        return Err(bad(
            "bucketize has no boundary",
            "list increasing boundaries, e.g. `bucketize: [18, 25, 35, 50, 65]`",
        ));
    }
    if let Some(b) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(bad(
            format!("bucketize boundary {b} is not a number"),
            "use finite numbers",
        ));
    }
    for w in bounds.windows(2) {
        if w[0] >= w[1] {
            let what = if w[0] == w[1] {
                "repeats"
            } else {
                "is out of order at"
            };
            return Err(bad(
                format!(
                    "bucketize boundaries {what} {} then {}",
                    num_text(w[0]),
                    num_text(w[1])
                ),
                "list each boundary once, strictly increasing, e.g. `[18, 25, 35, 50, 65]`",
            ));
        }
    }
    let mut labels = Vec::with_capacity(bounds.len() + 1);
    labels.push(format!("<{}", num_text(bounds[0])));
    for w in bounds.windows(2) {
        labels.push(format!("{}-{}", num_text(w[0]), num_text(w[1])));
    }
    labels.push(format!(">={}", num_text(bounds[bounds.len() - 1])));
    Ok(Transform::Bucketize {
        bounds: bounds.to_vec(),
        labels,
    })
}

impl fmt::Display for Transform {
    /// `bucketize[18,25,35,50,65]`, `coarsen[1d]`, `keep[US,GB;other]`, `pseudonymise[ENV]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |xs: &[f64]| {
            xs.iter()
                .map(|x| num_text(*x))
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Transform::Bucketize { bounds, .. } => write!(f, "bucketize[{}]", list(bounds)),
            Transform::Coarsen { text, .. } => write!(f, "coarsen[{text}]"),
            Transform::Truncate(n) => write!(f, "truncate[{n}]"),
            Transform::Round(s) => write!(f, "round[{}]", num_text(*s)),
            Transform::Clip(lo, hi) => write!(f, "clip[{},{}]", num_text(*lo), num_text(*hi)),
            Transform::Keep { keep, other } => write!(f, "keep[{};{other}]", keep.join(",")),
            Transform::Pseudonymise { key_env } => write!(f, "pseudonymise[{key_env}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> MinimiseSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn err(yaml: &str) -> String {
        Transform::from_spec(&spec(yaml)).unwrap_err().to_string()
    }

    #[test]
    fn accepts_the_issue_shapes() {
        for (yaml, shown) in [
            (
                "{ bucketize: [18, 25, 35, 50, 65] }",
                "bucketize[18,25,35,50,65]",
            ),
            ("{ coarsen: 1d }", "coarsen[1d]"),
            ("{ truncate: 3 }", "truncate[3]"),
            ("{ round: 0.1 }", "round[0.1]"),
            ("{ clip: [0, 500] }", "clip[0,500]"),
            (
                "{ keep: [US, GB, DE, FR, JP], other: other }",
                "keep[US,GB,DE,FR,JP;other]",
            ),
            (
                "{ pseudonymise: { key_env: TESSERA_PSEUDONYM_KEY_ANALYTICS } }",
                "pseudonymise[TESSERA_PSEUDONYM_KEY_ANALYTICS]",
            ),
        ] {
            assert_eq!(
                Transform::from_spec(&spec(yaml)).unwrap().to_string(),
                shown
            );
        }
    }

    #[test]
    fn refuses_bad_parameters_with_hints() {
        assert!(err("{ bucketize: [18, 35, 25] }").contains("out of order at 35 then 25"));
        assert!(err("{ bucketize: [18, 18] }").contains("repeats 18 then 18"));
        assert!(err("{ bucketize: [] }").contains("no boundary"));
        assert!(err("{ clip: [5, 1] }").contains("lower bound 5 is above the upper bound 1"));
        assert!(err("{ clip: [5] }").contains("clip has 1 bounds"));
        assert!(err("{ round: 0 }").contains("round step 0 is not positive"));
        assert!(err("{ round: -0.5 }").contains("not positive"));
        assert!(err("{ truncate: 0 }").contains("keeps nothing"));
        assert!(err("{ coarsen: 0s }").contains("is zero"));
        assert!(err("{ coarsen: soon }").contains("not a duration"));
        let two = err("{ round: 1, clip: [0, 5] }");
        assert!(two.contains("names 2 transforms (round, clip)"), "{two}");
        assert!(two.contains("hint:"), "{two}");
        assert!(err("{ other: x }").contains("`other` without `keep`"));
        assert!(err("{}").contains("names no transform"));
        assert!(serde_yaml::from_str::<MinimiseSpec>("{ hash: 1 }").is_err());
    }

    #[test]
    fn result_types_follow_the_declared_type() {
        use FeatureType as T;
        let t = |yaml: &str, input: T| {
            Transform::from_spec(&spec(yaml))
                .unwrap()
                .result_type(&input)
        };
        assert_eq!(t("{ bucketize: [1] }", T::Float64).unwrap(), T::String);
        assert_eq!(t("{ round: 10 }", T::Int64).unwrap(), T::Int64);
        assert_eq!(t("{ round: 0.5 }", T::Int64).unwrap(), T::Float64);
        assert_eq!(t("{ clip: [0, 500] }", T::Int32).unwrap(), T::Int64);
        assert_eq!(t("{ clip: [0, 0.5] }", T::Int64).unwrap(), T::Float64);
        assert_eq!(t("{ coarsen: 1h }", T::Timestamp).unwrap(), T::Timestamp);
        let e = t("{ bucketize: [1] }", T::String).unwrap_err().to_string();
        assert!(
            e.contains("bucketize does not fit type string") && e.contains("truncate"),
            "{e}"
        );
        assert!(t("{ truncate: 2 }", T::Int64).is_err());
        assert!(t("{ coarsen: 1d }", T::Int64).is_err());
        assert!(t("{ keep: [a] }", T::Bool).is_err());
        assert!(t("{ pseudonymise: { key_env: K } }", T::Float64).is_err());
        assert!(t("{ round: 1 }", T::List(Box::new(T::Int64))).is_err());
    }
}

//! [`Minimiser`]: a transform bound to a feature's type (and, to pseudonymise, to its key
//! and purpose), applied to one [`Value`] or to an Arrow column by the same code.

use std::fmt;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::error::ArrowError;
use tessera_aggregate::Value;

use crate::arrow_values::{values_to_array, ArrowValues};
use crate::error::{Error, Result};
use crate::feature_type::FeatureType;
use crate::keyed_hash::{to_hex, HmacKey};
use crate::minimise::pseudonym_cache::PseudonymCache;
use crate::minimise::transform::Transform;

/// Hex digits of a pseudonym: the first 16 bytes (128 bits) of the HMAC-SHA256. Two
/// distinct values collide with probability about n²/2¹²⁹ among n values (≈ 3·10⁻²¹ for a
/// billion), while the text stays short enough to be a join key.
pub const PSEUDONYM_HEX_DIGITS: usize = 32;

/// The shortest pseudonymisation key `tessera doctor` accepts, in bytes: a shorter secret
/// can be guessed by trying keys, which links pseudonyms back to values.
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 16;

/// Separates the pseudonym domain from every other use of HMAC keys in Tessera.
const PSEUDONYM_DOMAIN: &[u8] = b"tessera-pseudonym\0";

/// A transform ready to apply to the values of one feature for one purpose.
#[derive(Clone)]
pub struct Minimiser {
    transform: Transform,
    input: FeatureType,
    output: FeatureType,
    /// `int_out`: round / clip keep integers (the result type is int64).
    int_out: bool,
    /// To pseudonymise: HMAC-SHA256 under the key, its message prefixed by the domain and
    /// the purpose.
    keyed: Option<HmacKey>,
    /// Recent pseudonyms of online reads (shared by clones of this minimiser).
    cache: Arc<PseudonymCache>,
}

impl fmt::Debug for Minimiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Minimiser")
            .field("transform", &self.transform.to_string())
            .field("input", &self.input)
            .field("output", &self.output)
            .finish()
    }
}

impl Minimiser {
    /// Binds `transform` to a feature declared `input`, read for `purpose`. Reads a
    /// pseudonymisation key from its environment variable: an unset or empty variable is an
    /// error ([`Error::MinimiseKeyUnset`]).
    pub fn new(transform: Transform, input: &FeatureType, purpose: &str) -> Result<Self> {
        let output = transform.result_type(input)?;
        let mut keyed = None;
        if let Transform::Pseudonymise { key_env } = &transform {
            let key = match std::env::var(key_env) {
                Ok(k) if !k.is_empty() => k,
                _ => {
                    return Err(Error::MinimiseKeyUnset {
                        env: key_env.clone(),
                        purpose: purpose.to_string(),
                    })
                }
            };
            let mut prefix = PSEUDONYM_DOMAIN.to_vec();
            prefix.extend_from_slice(purpose.as_bytes());
            prefix.push(0);
            keyed = Some(HmacKey::new(key.as_bytes(), &prefix));
        }
        Ok(Self {
            int_out: output == FeatureType::Int64,
            input: input.clone(),
            output,
            transform,
            keyed,
            cache: Arc::default(),
        })
    }

    /// The transform.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// The type of the minimised values.
    pub fn output_type(&self) -> &FeatureType {
        &self.output
    }

    /// The declared type of the feature.
    pub fn input_type(&self) -> &FeatureType {
        &self.input
    }

    /// The minimised form of one value. Null stays null; a value of a shape the transform
    /// does not take (never, for values of the declared type) becomes null, never raw.
    pub fn apply_value(&self, v: &Value) -> Value {
        self.apply(v, true)
    }

    /// [`Minimiser::apply_value`]; `cached`: look pseudonyms up in (and add them to) the
    /// cache of recent ones — online reads repeat values, a training set's column mostly
    /// does not.
    fn apply(&self, v: &Value, cached: bool) -> Value {
        match (&self.transform, v) {
            (_, Value::Null) => Value::Null,
            (Transform::Bucketize { bounds, labels }, v) => match number(v) {
                Some(x) => {
                    let i = bounds.partition_point(|b| *b <= x);
                    labels
                        .get(i)
                        .map_or(Value::Null, |l| Value::String(l.clone()))
                }
                None => Value::Null,
            },
            (Transform::Coarsen { period_us, .. }, Value::Timestamp(t)) => {
                Value::Timestamp(t - t.rem_euclid(*period_us))
            }
            (Transform::Truncate(n), Value::String(s)) => Value::String(prefix_chars(s, *n)),
            (Transform::Round(step), v) => match (v, self.int_out) {
                (Value::Int64(n), true) => Value::Int64(round_int(*n, *step as i64)),
                (v, _) => number(v).map_or(Value::Null, |x| Value::Float64(round_f64(x, *step))),
            },
            (Transform::Clip(lo, hi), v) => match (v, self.int_out) {
                (Value::Int64(n), true) => Value::Int64((*n).clamp(*lo as i64, *hi as i64)),
                (v, _) => number(v).map_or(Value::Null, |x| Value::Float64(x.clamp(*lo, *hi))),
            },
            (Transform::Keep { keep, other }, Value::String(s)) => {
                if keep.iter().any(|k| k == s) {
                    Value::String(s.clone())
                } else {
                    Value::String(other.clone())
                }
            }
            (Transform::Pseudonymise { .. }, Value::String(s)) => {
                self.pseudonym(s.as_bytes(), cached)
            }
            (Transform::Pseudonymise { .. }, Value::Int64(n)) => {
                let mut digits = [0u8; 20];
                let len = int_text(*n, &mut digits);
                self.pseudonym(&digits[..len], cached)
            }
            _ => Value::Null,
        }
    }

    /// Minimises a whole column in place: the same results as [`Minimiser::apply_value`],
    /// reusing each string where the transform keeps or shortens it.
    pub fn apply_values(&self, values: &mut [Value]) {
        for v in values {
            match (&self.transform, &mut *v) {
                (Transform::Truncate(n), Value::String(s)) => {
                    if let Some((at, _)) = s.char_indices().nth(*n) {
                        s.truncate(at);
                    }
                }
                (Transform::Keep { keep, other }, Value::String(s)) => {
                    if !keep.iter().any(|k| k == s) {
                        s.clone_from(other);
                    }
                }
                _ => *v = self.apply_value(v),
            }
        }
    }

    /// The minimised form of an Arrow column (a training set's), of
    /// [`Minimiser::output_type`]'s Arrow type: each value goes through
    /// [`Minimiser::apply_value`], so offline and online values are the same.
    pub fn apply_array(&self, array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        let values = ArrowValues::new(array)?;
        let out: Vec<Value> = (0..array.len())
            .map(|i| self.apply(&values.get(i), false))
            .collect();
        Ok(values_to_array(&out, &self.output))
    }

    fn pseudonym(&self, value: &[u8], cached: bool) -> Value {
        let Some(k) = &self.keyed else {
            return Value::Null;
        };
        let make = || to_hex(&k.mac(value)[..PSEUDONYM_HEX_DIGITS / 2]);
        Value::String(if cached {
            self.cache.get_or_make(value, make)
        } else {
            make()
        })
    }
}

/// The decimal text of `n` written into `buf` (20 bytes hold every i64); its length.
fn int_text(n: i64, buf: &mut [u8; 20]) -> usize {
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    buf.copy_within(at.., 0);
    buf.len() - at
}

/// A number as f64; NaN reads as no number (null).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int64(n) => Some(*n as f64),
        Value::Float64(x) if !x.is_nan() => Some(*x),
        _ => None,
    }
}

/// The first `n` characters (not bytes) of `s`.
fn prefix_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

/// The nearest multiple of `step`, halves away from zero. A step that is 1/m for a whole m
/// (0.1, 0.25) divides by m, so 37.8 comes out as 37.8 and not 37.800000000000004.
fn round_f64(x: f64, step: f64) -> f64 {
    let k = (x / step).round();
    let inv = 1.0 / step;
    if inv > 1.0 && (inv - inv.round()).abs() < 1e-9 * inv {
        k / inv.round()
    } else {
        k * step
    }
}

/// The nearest multiple of `step` (> 0) of an integer, halves away from zero, saturating.
fn round_int(n: i64, step: i64) -> i64 {
    let step = step.max(1);
    let a = n.unsigned_abs();
    let s = step.unsigned_abs();
    let (q, r) = (a / s, a % s);
    let q = if r >= s - r { q + 1 } else { q };
    let m = q.saturating_mul(s);
    let m = i64::try_from(m).unwrap_or(i64::MAX);
    if n < 0 {
        -m
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Array, AsArray, Float64Array, Int32Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::DataType;

    use super::*;
    use crate::minimise::MinimiseSpec;

    fn m(yaml: &str, t: FeatureType) -> Minimiser {
        let spec: MinimiseSpec = serde_yaml::from_str(yaml).unwrap();
        Minimiser::new(Transform::from_spec(&spec).unwrap(), &t, "analytics").unwrap()
    }

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn bucketize_labels_and_boundaries_go_up() {
        let b = m("{ bucketize: [18, 25, 35, 50, 65] }", FeatureType::Int64);
        let cases = [
            (17, "<18"),
            (18, "18-25"),
            (24, "18-25"),
            (25, "25-35"),
            (64, "50-65"),
            (65, ">=65"),
            (99, ">=65"),
            (-3, "<18"),
        ];
        for (age, label) in cases {
            assert_eq!(b.apply_value(&Value::Int64(age)), s(label), "{age}");
        }
        let f = m("{ bucketize: [0.5, 1.5] }", FeatureType::Float64);
        assert_eq!(f.apply_value(&Value::Float64(0.5)), s("0.5-1.5"));
        assert_eq!(f.apply_value(&Value::Float64(f64::NAN)), Value::Null);
        assert_eq!(f.apply_value(&Value::Null), Value::Null);
    }

    #[test]
    fn coarsen_truncates_to_utc_periods_before_and_after_1970() {
        let day = 86_400_000_000i64;
        let c = m("{ coarsen: 1d }", FeatureType::Timestamp);
        assert_eq!(
            c.apply_value(&Value::Timestamp(day + 5)),
            Value::Timestamp(day)
        );
        // 1969-12-31T23:00:00Z → 1969-12-31T00:00:00Z, not 1970-01-01.
        assert_eq!(
            c.apply_value(&Value::Timestamp(-3_600_000_000)),
            Value::Timestamp(-day)
        );
        assert_eq!(
            c.apply_value(&Value::Timestamp(-day)),
            Value::Timestamp(-day)
        );
        let h = m("{ coarsen: 1h }", FeatureType::Timestamp);
        assert_eq!(
            h.apply_value(&Value::Timestamp(3_600_000_001)),
            Value::Timestamp(3_600_000_000)
        );
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        let t = m("{ truncate: 3 }", FeatureType::String);
        assert_eq!(t.apply_value(&s("SW1A 1AA")), s("SW1"));
        assert_eq!(t.apply_value(&s("Zürich")), s("Zür"));
        assert_eq!(t.apply_value(&s("東京都港区")), s("東京都"));
        assert_eq!(t.apply_value(&s("ab")), s("ab"));
        assert_eq!(t.apply_value(&s("")), s(""));
    }

    #[test]
    fn round_to_multiples_halves_away_from_zero() {
        let r = m("{ round: 0.1 }", FeatureType::Float64);
        assert_eq!(
            r.apply_value(&Value::Float64(51.5074)),
            Value::Float64(51.5)
        );
        assert_eq!(r.apply_value(&Value::Float64(37.77)), Value::Float64(37.8));
        assert_eq!(
            r.apply_value(&Value::Float64(-0.1278)),
            Value::Float64(-0.1)
        );
        assert_eq!(
            r.apply_value(&Value::Float64(-122.46)),
            Value::Float64(-122.5)
        );
        let i = m("{ round: 10 }", FeatureType::Int64);
        assert_eq!(i.apply_value(&Value::Int64(14)), Value::Int64(10));
        assert_eq!(i.apply_value(&Value::Int64(15)), Value::Int64(20));
        assert_eq!(i.apply_value(&Value::Int64(-15)), Value::Int64(-20));
        assert_eq!(i.apply_value(&Value::Int64(-14)), Value::Int64(-10));
        assert_eq!(
            i.apply_value(&Value::Int64(i64::MAX)),
            Value::Int64(i64::MAX)
        );
        let half = m("{ round: 0.5 }", FeatureType::Int64);
        assert_eq!(half.apply_value(&Value::Int64(3)), Value::Float64(3.0));
        let f = m("{ round: 5 }", FeatureType::Float64);
        assert_eq!(f.apply_value(&Value::Float64(-7.5)), Value::Float64(-10.0));
    }

    #[test]
    fn clip_keep_and_nulls() {
        let c = m("{ clip: [0, 500] }", FeatureType::Int64);
        assert_eq!(c.apply_value(&Value::Int64(-4)), Value::Int64(0));
        assert_eq!(c.apply_value(&Value::Int64(9000)), Value::Int64(500));
        assert_eq!(c.apply_value(&Value::Int64(42)), Value::Int64(42));
        let cf = m("{ clip: [0, 1.5] }", FeatureType::Float64);
        assert_eq!(cf.apply_value(&Value::Float64(2.0)), Value::Float64(1.5));
        let k = m("{ keep: [US, GB], other: elsewhere }", FeatureType::String);
        assert_eq!(k.apply_value(&s("GB")), s("GB"));
        assert_eq!(k.apply_value(&s("NZ")), s("elsewhere"));
        assert_eq!(k.apply_value(&Value::Null), Value::Null);
        let d = m("{ keep: [US] }", FeatureType::String);
        assert_eq!(d.apply_value(&s("NZ")), s("other"));
    }

    #[test]
    fn pseudonyms_are_keyed_per_purpose_and_never_the_value() {
        // Only this test reads these variables.
        std::env::set_var("TESSERA_TEST_PSEUDO_A", "key-a");
        std::env::set_var("TESSERA_TEST_PSEUDO_B", "key-b");
        let mk = |env: &str, purpose: &str| {
            let spec: MinimiseSpec =
                serde_yaml::from_str(&format!("{{ pseudonymise: {{ key_env: {env} }} }}")).unwrap();
            Minimiser::new(
                Transform::from_spec(&spec).unwrap(),
                &FeatureType::String,
                purpose,
            )
            .unwrap()
        };
        let a = mk("TESSERA_TEST_PSEUDO_A", "analytics");
        let a2 = mk("TESSERA_TEST_PSEUDO_A", "analytics");
        let b = mk("TESSERA_TEST_PSEUDO_B", "analytics");
        let same_key_other_purpose = mk("TESSERA_TEST_PSEUDO_A", "ads");
        let pa = a.apply_value(&s("u42"));
        let Value::String(text) = &pa else {
            panic!("a string")
        };
        assert_eq!(text.len(), PSEUDONYM_HEX_DIGITS);
        assert!(!text.contains("u42"));
        assert_eq!(pa, a2.apply_value(&s("u42")), "stable");
        assert_ne!(pa, a.apply_value(&s("u43")));
        assert_ne!(pa, b.apply_value(&s("u42")), "another key");
        assert_ne!(
            pa,
            same_key_other_purpose.apply_value(&s("u42")),
            "another purpose"
        );
        let expected =
            to_hex(&crate::hmac_sha256(b"key-a", b"tessera-pseudonym\0analytics\0u42")[..16]);
        assert_eq!(pa, s(&expected));
        let unset = Transform::Pseudonymise {
            key_env: "TESSERA_TEST_PSEUDO_UNSET".into(),
        };
        let e = Minimiser::new(unset, &FeatureType::String, "analytics")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TESSERA_TEST_PSEUDO_UNSET") && e.contains("analytics"),
            "{e}"
        );
    }

    #[test]
    fn the_precomputed_hmac_is_hmac_sha256() {
        for key in [&b"k"[..], &[7u8; 64][..], &[9u8; 100][..]] {
            let k = HmacKey::new(key, b"prefix\0");
            for value in [&b""[..], b"u42", &[1u8; 200][..]] {
                let mut msg = b"prefix\0".to_vec();
                msg.extend_from_slice(value);
                assert_eq!(k.mac(value), crate::hmac_sha256(key, &msg));
            }
        }
    }

    #[test]
    fn in_place_columns_equal_value_by_value() {
        for (yaml, t, values) in [
            (
                "{ truncate: 2 }",
                FeatureType::String,
                vec![s("Zürich"), s("a"), Value::Null],
            ),
            (
                "{ keep: [US] }",
                FeatureType::String,
                vec![s("US"), s("NZ"), Value::Null],
            ),
            (
                "{ round: 10 }",
                FeatureType::Int64,
                vec![Value::Int64(15), Value::Null],
            ),
        ] {
            let mm = m(yaml, t);
            let mut col = values.clone();
            mm.apply_values(&mut col);
            let each: Vec<Value> = values.iter().map(|v| mm.apply_value(v)).collect();
            assert_eq!(col, each, "{yaml}");
        }
    }

    #[test]
    fn arrow_columns_give_the_values_of_value_by_value() {
        let b = m("{ bucketize: [18, 25] }", FeatureType::Int32);
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(17), None, Some(25)]));
        let out = b.apply_array(&a).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "<18");
        assert!(out.is_null(1));
        assert_eq!(out.value(2), ">=25");

        let r = m("{ round: 0.1 }", FeatureType::Float64);
        let a: ArrayRef = Arc::new(Float64Array::from(vec![Some(-0.14), None, Some(37.77)]));
        let out = r.apply_array(&a).unwrap();
        let f = out.as_primitive::<arrow::datatypes::Float64Type>();
        assert_eq!((f.value(0), f.is_null(1), f.value(2)), (-0.1, true, 37.8));

        let c = m("{ clip: [0, 500] }", FeatureType::Int64);
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(-1), Some(501), None]));
        let out = c.apply_array(&a).unwrap();
        assert_eq!(out.data_type(), &DataType::Int64);
        let i = out.as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!((i.value(0), i.value(1), i.is_null(2)), (0, 500, true));

        let t = m("{ truncate: 2 }", FeatureType::String);
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("Ünïcode"), None]));
        let out = t.apply_array(&a).unwrap();
        assert_eq!(out.as_string::<i32>().value(0), "Ün");
        assert!(out.is_null(1));

        let day = 86_400_000_000i64;
        let c = m("{ coarsen: 1d }", FeatureType::Timestamp);
        let a: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(-1), None, Some(day + 1)])
                .with_timezone("UTC"),
        );
        let out = c.apply_array(&a).unwrap();
        assert_eq!(out.data_type(), &FeatureType::Timestamp.arrow_type());
        let ts = out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!((ts.value(0), ts.is_null(1), ts.value(2)), (-day, true, day));
    }

    #[test]
    fn integer_text_is_the_decimal_form() {
        for n in [0, 7, -7, 10, 42, -100, i64::MAX, i64::MIN] {
            let mut buf = [0u8; 20];
            let len = int_text(n, &mut buf);
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn cached_online_pseudonyms_equal_the_offline_ones() {
        std::env::set_var("TESSERA_TEST_PSEUDONYM_CACHE_KEY", "k");
        let spec: crate::minimise::MinimiseSpec =
            serde_yaml::from_str("{ pseudonymise: { key_env: TESSERA_TEST_PSEUDONYM_CACHE_KEY } }")
                .unwrap();
        let t = Transform::from_spec(&spec).unwrap();
        let m = Minimiser::new(t, &FeatureType::Int64, "analytics").unwrap();
        let values: Vec<Value> = (0..50).map(|i| Value::Int64(i % 7 - 3)).collect();
        let online: Vec<Value> = values.iter().map(|v| m.apply_value(v)).collect();
        let again: Vec<Value> = values.iter().map(|v| m.apply_value(v)).collect();
        let offline: Vec<Value> = values.iter().map(|v| m.apply(v, false)).collect();
        assert_eq!(online, offline);
        assert_eq!(again, offline);
        assert_eq!(
            m.apply_value(&Value::Int64(-3)),
            m.apply(&Value::String("-3".into()), false),
            "an integer is pseudonymised as its decimal text"
        );
    }
}

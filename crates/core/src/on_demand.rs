//! On-demand feature views: features computed at request time from other features and
//! request-context fields, with [`tessera_expr`] expressions. Checked when the catalog is
//! built (so `tessera plan` / `apply` report every bad expression with its file and
//! object), then held compiled in the catalog for serving and training sets.
//!
//! ```yaml
//! on_demand_views:
//!   - name: user_item_affinity
//!     inputs: [user_plays:dwell_s_sum_7d, item_meta:duration_s]   # features of feature views
//!     request: [{ name: hour_of_day, type: int64 }]              # request-context fields
//!     features:
//!       - { name: dwell_per_hour, type: float64, expression: "dwell_s_sum_7d / 168.0" }
//! ```
//!
//! Rules: inputs are features of feature views (not of other on-demand views); in an
//! expression an input is named by its feature name, or `view__feature` (always
//! accepted, and needed when two inputs share a feature name); request fields by their
//! name. A feature's classification is the strictest of its inputs' unless declared
//! stricter (a weaker one is an error); it is `device_only` when any input is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_expr::{Expr, ExprType};

use crate::classification::{Classification, Placement};
use crate::definitions::{FeatureDef, FeatureViewDef};
use crate::feature_ref::FeatureRef;
use crate::feature_type::FeatureType;

/// An on-demand feature view as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandViewDef {
    /// Unique among feature views and on-demand views.
    pub name: String,
    /// The features the expressions read (`view:feature`).
    #[serde(default)]
    pub inputs: Vec<FeatureRef>,
    /// Request-context fields the expressions read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request: Vec<RequestFieldDef>,
    /// The computed features.
    pub features: Vec<OnDemandFeatureDef>,
    /// Who to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A request-context field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFieldDef {
    /// Its name in requests (and, for training sets, the spine column).
    pub name: String,
    /// Its type: `int64`, `float64`, `bool`, `string` or `timestamp`.
    #[serde(rename = "type")]
    pub dtype: FeatureType,
}

/// One computed feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandFeatureDef {
    /// Unique within the view.
    pub name: String,
    /// Declared type: the expression's result type (an integer result may be declared
    /// `float64`).
    #[serde(rename = "type")]
    pub dtype: FeatureType,
    /// Stricter than the inputs' strictest, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// `device_only` to keep it on the device even when its inputs may leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The expression.
    pub expression: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A checked on-demand view: the synthesised [`FeatureViewDef`] through which its
/// features resolve like any other (classification, placement, type, join keys), and
/// the compiled expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDemandView {
    /// As declared.
    pub def: OnDemandViewDef,
    /// Its features as a view (entities: those of its inputs' views; no source).
    pub view: FeatureViewDef,
    /// One compiled expression per feature, over [`OnDemandView::slots`].
    pub expressions: Vec<Expr>,
    /// What each expression input is, in order.
    pub slots: Vec<InputSlot>,
}

/// Where an expression input's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSlot {
    /// An input feature.
    Feature(FeatureRef),
    /// A request-context field, with its type.
    Request(String, ExprType),
}

/// The expression type of a feature type, if expressions can read it.
pub fn expr_type(t: &FeatureType) -> Option<ExprType> {
    Some(match t {
        FeatureType::Int32 | FeatureType::Int64 => ExprType::Int64,
        FeatureType::Float32 | FeatureType::Float64 => ExprType::Float64,
        FeatureType::Bool => ExprType::Bool,
        FeatureType::String => ExprType::String,
        FeatureType::Timestamp => ExprType::Timestamp,
        FeatureType::Bytes | FeatureType::List(_) => return None,
    })
}

/// Checks one on-demand view against the feature views; every problem is returned as
/// (message, hint).
pub(crate) fn check(
    def: &OnDemandViewDef,
    views: &BTreeMap<String, FeatureViewDef>,
) -> Result<OnDemandView, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    if def.features.is_empty() {
        problems.push((
            "declares no features".into(),
            "add `features:` with a name, a type and an expression each".into(),
        ));
    }
    let inputs = resolve_inputs(def, views, &mut problems);
    let (names, slots) = expression_names(def, &inputs.typed, &mut problems);
    let (features, expressions) = compile_features(def, &inputs, &names, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(OnDemandView {
        view: FeatureViewDef {
            name: def.name.clone(),
            entities: inputs.entities,
            source: String::new(),
            ttl: Default::default(),
            owner: def.owner.clone(),
            tags: def.tags.clone(),
            description: def.description.clone(),
            online: true,
            features,
            aggregations: Vec::new(),
            classification: None,
            provider: Default::default(),
        },
        def: def.clone(),
        expressions,
        slots,
    })
}

/// An on-demand view's inputs, resolved: their expression types, the entities they are
/// keyed by, and the strictest classification and placement among them.
struct Inputs<'a> {
    typed: Vec<(&'a FeatureRef, ExprType)>,
    entities: Vec<String>,
    strictest: Classification,
    device_only: bool,
}

fn resolve_inputs<'a>(
    def: &'a OnDemandViewDef,
    views: &BTreeMap<String, FeatureViewDef>,
    problems: &mut Vec<(String, String)>,
) -> Inputs<'a> {
    let mut out = Inputs {
        typed: Vec::new(),
        entities: Vec::new(),
        strictest: Classification::Public,
        device_only: false,
    };
    for r in &def.inputs {
        let Some(view) = views.get(&r.view) else {
            problems.push((
                format!("input `{r}`: unknown feature view `{}`", r.view),
                format!(
                    "inputs are features of feature views; known views: {}",
                    views.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        };
        let Some(f) = view.feature(&r.feature) else {
            problems.push((
                format!(
                    "input `{r}`: feature view `{}` has no feature `{}`",
                    r.view, r.feature
                ),
                format!(
                    "its features: {}",
                    view.features
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        };
        let Some(t) = expr_type(&f.dtype) else {
            problems.push((
                format!("input `{r}` is {}, which expressions cannot read", f.dtype),
                "inputs are numbers, bools, strings or timestamps".into(),
            ));
            continue;
        };
        if out.typed.iter().any(|(x, _)| *x == r) {
            problems.push((
                format!("input `{r}` is listed twice"),
                "list it once".into(),
            ));
            continue;
        }
        if !view.online {
            problems.push((
                format!("input `{r}` is in a view with `online: false`, so it cannot be served"),
                "read inputs from online views".into(),
            ));
        }
        out.strictest = out.strictest.max(f.classification);
        out.device_only |= f.placement == Placement::DeviceOnly;
        for e in &view.entities {
            if !out.entities.contains(e) {
                out.entities.push(e.clone());
            }
        }
        out.typed.push((r, t));
    }
    out
}

/// The names expressions may use (inputs, bare where unambiguous, and request fields) and
/// the slot each name reads.
fn expression_names(
    def: &OnDemandViewDef,
    inputs: &[(&FeatureRef, ExprType)],
    problems: &mut Vec<(String, String)>,
) -> (Vec<(String, ExprType)>, Vec<InputSlot>) {
    let mut names: Vec<(String, ExprType)> = Vec::new();
    let mut slots: Vec<InputSlot> = Vec::new();
    for (r, t) in inputs {
        let bare_unique = inputs
            .iter()
            .filter(|(x, _)| x.feature == r.feature)
            .count()
            == 1;
        if bare_unique {
            names.push((r.feature.clone(), *t));
            slots.push(InputSlot::Feature((*r).clone()));
        }
        names.push((r.column_name(), *t));
        slots.push(InputSlot::Feature((*r).clone()));
    }
    for q in &def.request {
        let Some(t) = expr_type(&q.dtype) else {
            problems.push((
                format!("request field `{}` is {}", q.name, q.dtype),
                "request fields are int64, float64, bool, string or timestamp".into(),
            ));
            continue;
        };
        if names.iter().any(|(n, _)| *n == q.name) {
            problems.push((
                format!("request field `{}` has the name of an input", q.name),
                "rename the request field".into(),
            ));
            continue;
        }
        names.push((q.name.clone(), t));
        slots.push(InputSlot::Request(q.name.clone(), t));
    }
    (names, slots)
}

/// Each feature's classification, placement and compiled expression.
fn compile_features(
    def: &OnDemandViewDef,
    inputs: &Inputs<'_>,
    names: &[(String, ExprType)],
    problems: &mut Vec<(String, String)>,
) -> (Vec<FeatureDef>, Vec<Expr>) {
    let strictest = inputs.strictest;
    let device_only = inputs.device_only;
    let mut expressions = Vec::new();
    let mut features = Vec::new();
    for f in &def.features {
        if def.features.iter().filter(|g| g.name == f.name).count() > 1 {
            problems.push((
                format!("feature `{}` is declared twice", f.name),
                "rename one".into(),
            ));
        }
        let classification = match f.classification {
            Some(c) if c < strictest => {
                problems.push((
                    format!(
                        "feature `{}` is declared `{c}`, weaker than its inputs' `{strictest}`",
                        f.name
                    ),
                    format!("declare it `{strictest}` or stricter, or leave `classification` out to inherit it"),
                ));
                c
            }
            Some(c) => c,
            None => strictest,
        };
        let placement = match f.placement {
            Some(p) if device_only && p != Placement::DeviceOnly => {
                problems.push((
                    format!(
                        "feature `{}` is placed `{p}`, but an input is `device_only`",
                        f.name
                    ),
                    "leave `placement` out (it is then `device_only`) or read no device-only input"
                        .into(),
                ));
                p
            }
            Some(p) => p,
            None if device_only => Placement::DeviceOnly,
            None => Placement::Cloud,
        };
        match Expr::compile(&f.expression, names) {
            Ok(e) => {
                let fits = matches!(
                    (e.result_type(), &f.dtype),
                    (ExprType::Int64, FeatureType::Int64 | FeatureType::Float64)
                        | (ExprType::Float64, FeatureType::Float64)
                        | (ExprType::Bool, FeatureType::Bool)
                        | (ExprType::String, FeatureType::String)
                        | (ExprType::Timestamp, FeatureType::Timestamp)
                );
                if !fits {
                    problems.push((
                        format!(
                            "feature `{}` is declared {} but its expression gives {}",
                            f.name,
                            f.dtype,
                            e.result_type()
                        ),
                        format!("declare `type: {}`", e.result_type()),
                    ));
                }
                expressions.push(e);
            }
            Err(e) => problems.push((
                format!("feature `{}`: {e}", f.name),
                "fix the expression; see docs/ACCESS_LAYER.md#on-demand-feature-views for the language".into(),
            )),
        }
        features.push(FeatureDef {
            name: f.name.clone(),
            dtype: f.dtype.clone(),
            classification,
            placement,
            column: None,
            description: f.description.clone(),
            derived: None,
        });
    }
    (features, expressions)
}

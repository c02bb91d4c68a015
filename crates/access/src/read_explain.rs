//! [`Explanation`]: what a read would do, without reading: each feature's provider, view,
//! classification and placement, and the gate's decision for it.

use std::fmt;

use tessera_core::{Classification, Decision, FeatureRef, Placement, ReadChannel, Refusal};

use crate::access_layer::AccessLayer;
use crate::error::Result;
use crate::provider::ProviderKind;
use crate::read_plan::{assign, resolve_and_purpose, PlanKey};
use crate::read_request::ReadRequest;

/// The plan of a read, feature by feature, with the gate's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Who reads (`ranker`, `local:ana`, `anonymous`).
    pub caller: String,
    /// The purpose the read is checked for.
    pub purpose: String,
    /// Where the values go: `network` (a server), `device` (an access layer with a device
    /// provider).
    pub channel: &'static str,
    /// Refusals of the whole request (a purpose the consumer does not hold).
    pub request_refusals: Vec<String>,
    /// The purpose requires consent: entities without consent in force get `no_consent`.
    pub consent_required: bool,
    /// One entry per resolved feature, in request order.
    pub features: Vec<FeatureExplanation>,
}

/// One feature of an [`Explanation`].
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureExplanation {
    /// The feature.
    pub feature: FeatureRef,
    /// The kind of provider that answers it, or `None` when this access layer has none
    /// (then `problem` says why).
    pub provider: Option<ProviderKind>,
    /// The provider's name (`embedded`, `redis`, a server's address …), empty when none.
    pub provider_name: String,
    /// Its classification.
    pub classification: Classification,
    /// Its placement.
    pub placement: Placement,
    /// The gate's reasons for refusing it; empty when allowed.
    pub refusals: Vec<String>,
    /// Why no provider can answer it, if none can.
    pub problem: Option<String>,
    /// For an on-demand feature: its input features and the provider kind of each (none
    /// when this access layer cannot fetch it), and its request-context fields.
    pub inputs: Vec<(FeatureRef, Option<ProviderKind>)>,
    /// For an on-demand feature: the request-context fields it reads.
    pub request_fields: Vec<String>,
    /// Its minimised form for this purpose (transform, origin, result type); `None`: raw.
    pub form: Option<tessera_core::PlannedForm>,
}

impl Explanation {
    /// Whether the read would be allowed and answered.
    pub fn allowed(&self) -> bool {
        self.request_refusals.is_empty()
            && self
                .features
                .iter()
                .all(|f| f.refusals.is_empty() && f.problem.is_none())
    }
}

impl FeatureExplanation {
    /// `allow` or `deny`.
    pub fn decision(&self) -> &'static str {
        if self.refusals.is_empty() {
            "allow"
        } else {
            "deny"
        }
    }
}

impl AccessLayer {
    /// Plans `req` and applies the gate feature by feature, without reading a value and
    /// without an audit record (nothing is read). Unknown features, purposes and services
    /// are errors, as for [`AccessLayer::read`]; refusals are reported per feature.
    pub fn explain(&self, req: &ReadRequest) -> Result<Explanation> {
        let key = PlanKey {
            caller: req.caller.clone(),
            purpose: req.purpose.clone(),
            selection: req.features.clone(),
        };
        let (features, purpose) = resolve_and_purpose(
            &self.catalog,
            &key,
            self.config.anonymous_purpose.as_deref(),
        )?;
        let kinds = self.kinds();
        let channel = kinds.channel();
        let consumer = key.caller.consumer_name();
        let refusals = match self
            .catalog
            .check_access(consumer, &purpose, &features, channel)
        {
            Decision::Allow => Vec::new(),
            Decision::Deny(r) => r,
        };
        let request_refusals = refusals
            .iter()
            .filter(|r| r.feature.is_none())
            .map(ToString::to_string)
            .collect();
        let service = match &key.selection {
            crate::read_request::FeatureSelection::Service(name) => Some(name.as_str()),
            crate::read_request::FeatureSelection::Features(_) => None,
        };
        let mut out = Vec::with_capacity(features.len());
        for f in features {
            let form = self
                .catalog
                .planned_form(&purpose, service, &f)
                .map_err(|source| crate::error::Error::Minimise {
                    feature: f.to_string(),
                    source,
                })?;
            let resolved =
                self.catalog
                    .feature(&f)
                    .map_err(|e| crate::error::Error::UnknownFeatures {
                        problems: vec![e.to_string()],
                    })?;
            let (provider, provider_name, problem) = match assign(&self.catalog, &f, kinds) {
                Ok(kind) => (
                    Some(kind),
                    self.provider(kind)
                        .map_or_else(|| kind.as_str().to_string(), |p| p.name().to_string()),
                    None,
                ),
                Err(e) => (None, String::new(), Some(e.to_string())),
            };
            let (inputs, request_fields) = match self.catalog.on_demand(&f.view) {
                Some(od) => (
                    od.def
                        .inputs
                        .iter()
                        .map(|i| (i.clone(), assign(&self.catalog, i, kinds).ok()))
                        .collect(),
                    od.def.request.iter().map(|q| q.name.clone()).collect(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            out.push(FeatureExplanation {
                form,
                inputs,
                request_fields,
                refusals: refusals
                    .iter()
                    .filter(|r| r.feature.as_ref() == Some(&f))
                    .map(|r: &Refusal| r.reason_text())
                    .collect(),
                classification: resolved.feature.classification,
                placement: resolved.feature.placement,
                feature: f,
                provider,
                provider_name,
                problem,
            });
        }
        Ok(Explanation {
            caller: key.caller.to_string(),
            channel: match channel {
                ReadChannel::Device => "device",
                ReadChannel::Network => "network",
                ReadChannel::Offline => "offline",
            },
            request_refusals,
            consent_required: self.requires_consent(&purpose),
            purpose,
            features: out,
        })
    }
}

/// The reason of a refusal without the feature prefix.
trait ReasonText {
    fn reason_text(&self) -> String;
}

impl ReasonText for Refusal {
    fn reason_text(&self) -> String {
        Refusal {
            feature: None,
            reason: self.reason.clone(),
        }
        .to_string()
    }
}

impl fmt::Display for Explanation {
    /// A table: feature, provider, view, classification, placement, decision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "caller {}, purpose `{}`, channel {}: {}",
            self.caller,
            self.purpose,
            self.channel,
            if self.allowed() { "allowed" } else { "refused" }
        )?;
        for r in &self.request_refusals {
            writeln!(f, "  refused: {r}")?;
        }
        if self.consent_required {
            writeln!(
                f,
                "  consent required: purpose `{}` requires consent; entities without consent in force now get null values with status no_consent",
                self.purpose
            )?;
        }
        let rows: Vec<[String; 6]> = self
            .features
            .iter()
            .map(|e| {
                [
                    e.feature.to_string(),
                    match e.provider {
                        Some(k) if e.provider_name != k.as_str() => {
                            format!("{k} ({})", e.provider_name)
                        }
                        Some(k) => k.to_string(),
                        None => "none".to_string(),
                    },
                    e.feature.view.clone(),
                    e.classification.to_string(),
                    e.placement.as_str().to_string(),
                    if let Some(p) = &e.problem {
                        format!("{}; {p}", e.decision())
                    } else if e.refusals.is_empty() {
                        "allow".to_string()
                    } else {
                        format!("deny: {}", e.refusals.join("; "))
                    },
                ]
            })
            .collect();
        let header = [
            "feature",
            "provider",
            "view",
            "classification",
            "placement",
            "decision",
        ];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let last = cells.len() - 1;
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i == last {
                    writeln!(f, "{c}")?;
                } else {
                    write!(f, "{c:<w$}  ")?;
                }
            }
            Ok(())
        };
        line(f, &header)?;
        for (row, e) in rows.iter().zip(&self.features) {
            line(f, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
            for (input, kind) in &e.inputs {
                writeln!(
                    f,
                    "  <- {input} via {}",
                    kind.map_or("no provider", |k| k.as_str())
                )?;
            }
            if !e.request_fields.is_empty() {
                writeln!(f, "  <- request context: {}", e.request_fields.join(", "))?;
            }
            if let Some(form) = &e.form {
                writeln!(f, "  minimised: {form} (from the {})", form.origin)?;
            }
        }
        Ok(())
    }
}

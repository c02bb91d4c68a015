//! [`ReadPlan`]: a read request resolved against the catalog and passed through the policy
//! gate, each feature assigned to a [`ProviderKind`]. Plans depend only on (caller, purpose,
//! features) and the access layer's providers, so the access layer caches them: a repeated
//! request skips resolution, the gate and the assignment.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use tessera_core::{Catalog, Decision, FeatureRef, FeatureType, Placement, ReadChannel};

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::on_demand_eval::OnDemandColumn;
use crate::provider::ProviderKind;
use crate::read_request::FeatureSelection;
use crate::view_read::{group, ViewRead};

/// A resolved, allowed read.
#[derive(Debug)]
pub struct ReadPlan {
    features: Vec<FeatureRef>,
    types: Vec<FeatureType>,
    purpose: String,
    full_names: Vec<String>,
    short_names: std::result::Result<Vec<String>, (String, String, String)>,
    join_keys: Vec<Arc<str>>,
    providers: Vec<ProviderKind>,
    pub(crate) shares: Vec<Share>,
    /// On-demand features, evaluated after the shares are fetched.
    pub(crate) on_demand: Vec<OnDemandColumn>,
    /// Output columns plus hidden input columns of on-demand features.
    pub(crate) working_columns: usize,
    /// The features as the audit records name them, shared with every record.
    pub(crate) audit_features: std::sync::Arc<[String]>,
    /// Each feature's minimised form, applied after the fetch.
    pub(crate) minimise: crate::minimise_columns::PlanMinimisation,
}

/// The features one provider answers, in request order, and where their columns go.
#[derive(Debug)]
pub(crate) struct Share {
    pub(crate) kind: ProviderKind,
    pub(crate) features: Vec<FeatureRef>,
    /// The output column of each of `features`.
    pub(crate) columns: Vec<usize>,
    /// `features` grouped by view, for the online and content providers (empty for the
    /// other kinds, which group as they need).
    pub(crate) views: Vec<ViewRead>,
}

/// Which provider kinds an access layer has, for the planner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Kinds {
    pub(crate) device: bool,
    pub(crate) online: bool,
    pub(crate) content: bool,
    pub(crate) remote: bool,
}

impl Kinds {
    /// The channel the gate checks reads against: an access layer with a device provider
    /// answers on the device, every other one over the network.
    pub(crate) fn channel(&self) -> ReadChannel {
        if self.device {
            ReadChannel::Device
        } else {
            ReadChannel::Network
        }
    }
}

impl ReadPlan {
    /// The features, resolved (`view:*` expanded, exact duplicates dropped), in request order.
    pub fn features(&self) -> &[FeatureRef] {
        &self.features
    }

    /// The type of each feature's returned values, aligned with [`ReadPlan::features`]: the
    /// declared type, or a minimising transform's result type.
    pub fn types(&self) -> &[FeatureType] {
        &self.types
    }

    /// The minimising transform applied to each minimised feature (`view:feature` →
    /// `bucketize[18,25]`), as the audit record names them; empty when all are raw.
    pub fn transforms(&self) -> &std::collections::BTreeMap<String, String> {
        &self.minimise.transforms
    }

    /// Each feature's minimised form, aligned with [`ReadPlan::features`] (`None`: raw).
    pub fn forms(&self) -> &[Option<tessera_core::PlannedForm>] {
        &self.minimise.forms
    }

    /// The purpose the read was allowed for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// `view__feature` for each feature.
    pub fn full_names(&self) -> &[String] {
        &self.full_names
    }

    /// The bare feature name of each feature; an error when two features share one.
    pub fn short_names(&self) -> Result<&[String]> {
        self.short_names
            .as_deref()
            .map_err(|(name, first, second)| Error::NameCollision {
                name: name.clone(),
                first: first.clone(),
                second: second.clone(),
            })
    }

    /// Every join key the plan's views use, in view order.
    pub fn join_keys(&self) -> &[Arc<str>] {
        &self.join_keys
    }

    /// The provider kind answering each feature, aligned with [`ReadPlan::features`].
    pub fn providers(&self) -> &[ProviderKind] {
        &self.providers
    }
}

/// What a plan is cached under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    pub(crate) caller: Caller,
    pub(crate) purpose: Option<String>,
    pub(crate) selection: FeatureSelection,
}

/// Resolved plans by key. Bounded: when full it is emptied (callers use a handful of
/// feature lists, so it refills at once).
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    /// foldhash (hashbrown's default): the key, hashed on every read, holds every feature
    /// name of the request, for which SipHash costs microseconds.
    plans: RwLock<hashbrown::HashMap<PlanKey, Arc<ReadPlan>>>,
}

const MAX_CACHED_PLANS: usize = 4096;

impl PlanCache {
    pub(crate) fn get(&self, key: &PlanKey) -> Option<Arc<ReadPlan>> {
        self.plans.read().ok()?.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: PlanKey, plan: Arc<ReadPlan>) {
        if let Ok(mut plans) = self.plans.write() {
            if plans.len() >= MAX_CACHED_PLANS {
                plans.clear();
            }
            plans.insert(key, plan);
        }
    }
}

/// Resolves a request's features and purpose and applies the policy gate.
pub(crate) fn plan(
    catalog: &Catalog,
    key: &PlanKey,
    anonymous_purpose: Option<&str>,
    kinds: Kinds,
) -> Result<ReadPlan> {
    let (features, purpose) = resolve_and_purpose(catalog, key, anonymous_purpose)?;
    let consumer = key.caller.consumer_name();
    if let Decision::Deny(refusals) =
        catalog.check_access(consumer, &purpose, &features, kinds.channel())
    {
        return Err(Error::Denied {
            consumer: key.caller.to_string(),
            purpose,
            refusals,
        });
    }
    let mut p = build(catalog, features, &purpose, kinds)?;
    let service = match &key.selection {
        FeatureSelection::Service(name) => Some(name.as_str()),
        FeatureSelection::Features(_) => None,
    };
    p.minimise = crate::minimise_columns::plan_minimisation(
        catalog,
        &purpose,
        service,
        &p.features,
        &p.providers,
        &mut p.types,
    )?;
    Ok(p)
}

/// Resolves a request's features (`view:*` expanded, duplicates dropped) and its purpose,
/// checking that the purpose is declared; the gate is not applied.
pub(crate) fn resolve_and_purpose(
    catalog: &Catalog,
    key: &PlanKey,
    anonymous_purpose: Option<&str>,
) -> Result<(Vec<FeatureRef>, String)> {
    let (refs, service_purpose) = match &key.selection {
        FeatureSelection::Features(list) => {
            if list.is_empty() {
                return Err(Error::NoFeatures);
            }
            let mut refs = Vec::with_capacity(list.len());
            let mut problems = Vec::new();
            for text in list {
                match FeatureRef::parse(text) {
                    Ok(r) => refs.push(r),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if !problems.is_empty() {
                return Err(Error::UnknownFeatures { problems });
            }
            (refs, None)
        }
        FeatureSelection::Service(name) => {
            let s = catalog
                .service(name)
                .map_err(|e| unknown("feature service", name, e))?;
            (s.features.clone(), Some(s.purpose.as_str()))
        }
    };
    let features = resolve(catalog, &refs)?;

    let consumer = key.caller.consumer_name();
    let purpose = match (&key.purpose, service_purpose) {
        (Some(p), _) => p.as_str(),
        (None, Some(p)) => p,
        (None, None) => match consumer {
            Some(c) => catalog
                .consumers()
                .get(c)
                .and_then(|d| d.default_purpose.as_deref())
                .ok_or_else(|| Error::MissingPurpose {
                    who: format!("consumer `{c}`"),
                })?,
            None if matches!(key.caller, Caller::Local(_)) => {
                return Err(Error::MissingPurpose {
                    who: format!("a local read by {}", key.caller),
                })
            }
            None => anonymous_purpose.ok_or_else(|| Error::MissingPurpose {
                who: "this server (authentication is off)".to_string(),
            })?,
        },
    };
    catalog
        .purpose(purpose)
        .map_err(|e| unknown("purpose", purpose, e))?;
    Ok((features, purpose.to_string()))
}

/// The provider kind that answers `r`: `device_only` features only the device provider;
/// `device` features the device provider when there is one, else the cloud; cloud features
/// the online store, else a remote server.
pub(crate) fn assign(catalog: &Catalog, r: &FeatureRef, kinds: Kinds) -> Result<ProviderKind> {
    if catalog.on_demand(&r.view).is_some() {
        return Ok(ProviderKind::OnDemand);
    }
    let resolved = catalog.feature(r).map_err(|e| Error::UnknownFeatures {
        problems: vec![e.to_string()],
    })?;
    let placement = resolved.feature.placement;
    if placement == Placement::DeviceOnly || (placement == Placement::Device && kinds.device) {
        return if kinds.device {
            Ok(ProviderKind::Device)
        } else {
            Err(Error::NoProvider {
                feature: r.to_string(),
                kind: ProviderKind::Device,
                hint: "it is placed `device_only`: read it through the device runtime",
            })
        };
    }
    if resolved.view.provider == tessera_core::ViewProvider::Content {
        return if kinds.content {
            Ok(ProviderKind::Content)
        } else if kinds.remote {
            Ok(ProviderKind::Remote)
        } else {
            Err(Error::NoProvider {
                feature: r.to_string(),
                kind: ProviderKind::Content,
                hint: "its view has `provider: content`: `tessera serve` loads it into memory at startup; read it there",
            })
        };
    }
    if kinds.online {
        Ok(ProviderKind::Online)
    } else if kinds.remote {
        Ok(ProviderKind::Remote)
    } else {
        Err(Error::NoProvider {
            feature: r.to_string(),
            kind: ProviderKind::Online,
            hint: "register an online store or a remote provider with this access layer",
        })
    }
}

/// Expands `view:*`, drops exact duplicates and checks that each reference resolves to a
/// feature of an online view; every bad reference is reported.
fn resolve(catalog: &Catalog, refs: &[FeatureRef]) -> Result<Vec<FeatureRef>> {
    let mut out = Vec::with_capacity(refs.len());
    let mut seen = HashSet::with_capacity(refs.len());
    let mut problems = Vec::new();
    for r in refs {
        let expanded = catalog.resolve_refs(std::slice::from_ref(r));
        match expanded {
            Ok(list) => {
                for fr in list {
                    if seen.insert(fr.clone()) {
                        out.push(fr);
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Error::UnknownFeatures { problems });
    }
    if out.is_empty() {
        return Err(Error::NoFeatures);
    }
    for r in &out {
        let view = catalog
            .view(&r.view)
            .map_err(|e| unknown("feature view", &r.view, e))?;
        if !view.online {
            return Err(Error::NotOnline {
                view: view.name.clone(),
            });
        }
    }
    Ok(out)
}

fn build(
    catalog: &Catalog,
    features: Vec<FeatureRef>,
    purpose: &str,
    kinds: Kinds,
) -> Result<ReadPlan> {
    let mut types = Vec::with_capacity(features.len());
    let mut join_keys: Vec<Arc<str>> = Vec::new();
    let mut providers = Vec::with_capacity(features.len());
    let mut shares: Vec<Share> = Vec::new();
    let mut seen_views: HashSet<&str> = HashSet::new();
    for (col, r) in features.iter().enumerate() {
        let resolved = catalog.feature(r).map_err(|e| Error::UnknownFeatures {
            problems: vec![e.to_string()],
        })?;
        types.push(resolved.feature.dtype.clone());
        if seen_views.insert(r.view.as_str()) {
            for k in catalog.join_keys(resolved.view) {
                if !join_keys.iter().any(|j| j.as_ref() == k) {
                    join_keys.push(Arc::from(k.as_str()));
                }
            }
        }
        let kind = assign(catalog, r, kinds)?;
        providers.push(kind);
        if kind != ProviderKind::OnDemand {
            add_to_share(&mut shares, kind, r.clone(), col);
        }
    }
    let (on_demand, hidden) = plan_on_demand(catalog, &features, kinds, &mut shares)?;
    for share in &mut shares {
        if matches!(share.kind, ProviderKind::Online | ProviderKind::Content) {
            share.views = group(catalog, &share.features)?;
        }
    }
    let working_columns = features.len() + hidden.len();
    let full_names = features.iter().map(FeatureRef::column_name).collect();
    let mut short: Vec<String> = Vec::with_capacity(features.len());
    let mut collision = None;
    for (i, r) in features.iter().enumerate() {
        if collision.is_none() {
            if let Some(j) = short.iter().position(|s| *s == r.feature) {
                collision = Some((
                    r.feature.clone(),
                    features[j].to_string(),
                    features[i].to_string(),
                ));
            }
        }
        short.push(r.feature.clone());
    }
    Ok(ReadPlan {
        audit_features: features.iter().map(ToString::to_string).collect(),
        types,
        purpose: purpose.to_string(),
        full_names,
        short_names: match collision {
            None => Ok(short),
            Some(c) => Err(c),
        },
        join_keys,
        providers,
        shares,
        on_demand,
        working_columns,
        features,
        minimise: Default::default(),
    })
}

/// Plans the on-demand features: their inputs are requested columns or hidden ones (added
/// to the shares of the providers their placement names, like any other feature). Returns
/// the on-demand columns and the hidden inputs.
fn plan_on_demand(
    catalog: &Catalog,
    features: &[FeatureRef],
    kinds: Kinds,
    shares: &mut Vec<Share>,
) -> Result<(Vec<OnDemandColumn>, Vec<FeatureRef>)> {
    // On-demand features: their inputs are requested columns or hidden ones, fetched by
    // the providers their placement names, like any other feature.
    let mut hidden: Vec<FeatureRef> = Vec::new();
    let mut on_demand = Vec::new();
    let mut problems: Vec<Error> = Vec::new();
    for (col, r) in features.iter().enumerate() {
        let Some(od) = catalog.on_demand(&r.view) else {
            continue;
        };
        let Some(pos) = od.view.features.iter().position(|f| f.name == r.feature) else {
            continue;
        };
        let (Some(expr), Some(def)) = (od.expressions.get(pos), od.view.features.get(pos)) else {
            continue;
        };
        let n = features.len();
        let mut column_of = |input: &FeatureRef| -> usize {
            if let Some(i) = features.iter().position(|f| f == input) {
                return i;
            }
            if let Some(i) = hidden.iter().position(|f| f == input) {
                return n + i;
            }
            match assign(catalog, input, kinds) {
                Ok(kind) => add_to_share(shares, kind, input.clone(), n + hidden.len()),
                Err(e) => problems.push(e),
            }
            hidden.push(input.clone());
            n + hidden.len() - 1
        };
        on_demand.push(OnDemandColumn::new(
            col,
            r.to_string(),
            expr.clone(),
            &od.slots,
            def.dtype.clone(),
            &mut column_of,
        ));
    }
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok((on_demand, hidden)),
    }
}

fn add_to_share(shares: &mut Vec<Share>, kind: ProviderKind, r: FeatureRef, col: usize) {
    let share = match shares.iter().position(|s| s.kind == kind) {
        Some(i) => i,
        None => {
            shares.push(Share {
                kind,
                features: Vec::new(),
                columns: Vec::new(),
                views: Vec::new(),
            });
            shares.len() - 1
        }
    };
    shares[share].features.push(r);
    shares[share].columns.push(col);
}

/// Turns a catalog lookup failure into an [`Error::Unknown`] with its hint.
pub(crate) fn unknown(kind: &'static str, name: &str, e: tessera_core::Error) -> Error {
    let hint = match e {
        tessera_core::Error::Unknown { hint, .. } => hint,
        other => format!(" ({other})"),
    };
    Error::Unknown {
        kind,
        name: name.to_string(),
        hint,
    }
}

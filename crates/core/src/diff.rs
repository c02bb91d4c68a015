//! Differences between two versions of the definitions, for `tessera plan`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::definitions::{
    ConsumerDef, Definitions, EntityDef, FeatureServiceDef, FeatureViewDef, PurposeDef,
};
use crate::on_demand::OnDemandViewDef;

/// Added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New in the proposed version.
    Added,
    /// Gone from the proposed version.
    Removed,
    /// Present in both, different.
    Changed,
}

/// One object's change between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// `entity`, `source`, `feature_view`, `purpose`, `consumer` or `feature_service`.
    pub object: String,
    /// The object's name.
    pub name: String,
    /// What changed, one line each.
    pub details: Vec<String>,
    /// Why the change can break readers (empty when it cannot).
    pub breaking: Vec<String>,
}

/// Every change between two versions of the definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionsDiff {
    /// The changes, by object kind then name.
    pub changes: Vec<Change>,
}

impl DefinitionsDiff {
    /// Compares `old` (registered) with `new` (proposed).
    pub fn between(old: &Definitions, new: &Definitions) -> Self {
        let mut changes = Vec::new();
        diff_kind(
            &mut changes,
            "entity",
            &old.entities,
            &new.entities,
            |e| &e.name,
            entity_breaking,
        );
        diff_kind(
            &mut changes,
            "source",
            &old.sources,
            &new.sources,
            |e| &e.name,
            |_, _, _| {},
        );
        diff_kind(
            &mut changes,
            "feature_view",
            &old.feature_views,
            &new.feature_views,
            |e| &e.name,
            |o, n, br| view_breaking(o, n, old, br),
        );
        diff_kind(
            &mut changes,
            "purpose",
            &old.purposes,
            &new.purposes,
            |e| &e.name,
            purpose_breaking,
        );
        diff_kind(
            &mut changes,
            "consumer",
            &old.consumers,
            &new.consumers,
            |e| &e.name,
            consumer_breaking,
        );
        diff_kind(
            &mut changes,
            "feature_service",
            &old.feature_services,
            &new.feature_services,
            |e| &e.name,
            service_breaking,
        );
        diff_kind(
            &mut changes,
            "on_demand_view",
            &old.on_demand_views,
            &new.on_demand_views,
            |e| &e.name,
            on_demand_breaking,
        );
        diff_kind(
            &mut changes,
            "ldp_report",
            &old.ldp_reports,
            &new.ldp_reports,
            |e| &e.name,
            ldp_report_breaking,
        );
        diff_kind(
            &mut changes,
            "release",
            &old.releases,
            &new.releases,
            |e| &e.name,
            |_, _, _| {},
        );
        mark_removals(&mut changes, old);
        Self { changes }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether any change can break readers.
    pub fn has_breaking(&self) -> bool {
        self.changes.iter().any(|c| !c.breaking.is_empty())
    }
}

fn view_breaking(o: &FeatureViewDef, n: &FeatureViewDef, old: &Definitions, br: &mut Vec<String>) {
    if o.entities != n.entities {
        br.push(format!(
            "entities change from {:?} to {:?}",
            o.entities, n.entities
        ));
    }
    for f in &o.features {
        match n.feature(&f.name) {
            None => {
                let users: Vec<&str> = old
                    .feature_services
                    .iter()
                    .filter(|s| {
                        s.features
                            .iter()
                            .any(|r| r.view == o.name && (r.feature == f.name || r.feature == "*"))
                    })
                    .map(|s| s.name.as_str())
                    .collect();
                if users.is_empty() {
                    br.push(format!("removes feature `{}`", f.name));
                } else {
                    br.push(format!(
                        "removes feature `{}`, which feature service(s) {} still use",
                        f.name,
                        users.join(", ")
                    ));
                }
            }
            Some(nf) if nf.dtype != f.dtype => {
                br.push(format!(
                    "changes the type of `{}` from {} to {}",
                    f.name, f.dtype, nf.dtype
                ));
            }
            Some(nf) if nf.classification > f.classification => {
                br.push(format!(
                    "reclassifies `{}` from {} to {}: some purposes may no longer read it",
                    f.name, f.classification, nf.classification
                ));
            }
            Some(_) => {}
        }
    }
}

fn diff_kind<T: Serialize>(
    out: &mut Vec<Change>,
    object: &str,
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
    breaking: impl Fn(&T, &T, &mut Vec<String>),
) {
    let o: BTreeMap<&String, &T> = old.iter().map(|x| (name(x), x)).collect();
    let n: BTreeMap<&String, &T> = new.iter().map(|x| (name(x), x)).collect();
    for (k, nv) in &n {
        match o.get(k) {
            None => out.push(Change {
                kind: ChangeKind::Added,
                object: object.to_string(),
                name: (*k).clone(),
                details: vec![],
                breaking: vec![],
            }),
            Some(ov) => {
                let (oj, nj) = (to_json(*ov), to_json(*nv));
                if oj != nj {
                    let mut details = Vec::new();
                    field_diff("", &oj, &nj, &mut details);
                    let mut br = Vec::new();
                    breaking(ov, nv, &mut br);
                    out.push(Change {
                        kind: ChangeKind::Changed,
                        object: object.to_string(),
                        name: (*k).clone(),
                        details,
                        breaking: br,
                    });
                }
            }
        }
    }
    for k in o.keys() {
        if !n.contains_key(k) {
            out.push(Change {
                kind: ChangeKind::Removed,
                object: object.to_string(),
                name: (*k).clone(),
                details: vec![],
                breaking: vec![],
            });
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Lists changed leaf fields as `path: old -> new`; arrays of named objects are matched by name.
fn field_diff(path: &str, o: &serde_json::Value, n: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value as V;
    match (o, n) {
        (V::Object(a), V::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => field_diff(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: {x} -> (unset)")),
                    (None, Some(y)) => out.push(format!("{p}: (unset) -> {y}")),
                    (None, None) => {}
                }
            }
        }
        (V::Array(a), V::Array(b)) if a.iter().chain(b.iter()).all(|x| x.get("name").is_some()) => {
            let name =
                |x: &serde_json::Value| x.get("name").map(|v| v.to_string()).unwrap_or_default();
            let am: BTreeMap<String, &V> = a.iter().map(|x| (name(x), x)).collect();
            let bm: BTreeMap<String, &V> = b.iter().map(|x| (name(x), x)).collect();
            for (k, x) in &am {
                let p = format!("{path}[{}]", k.trim_matches('"'));
                match bm.get(k) {
                    Some(y) => field_diff(&p, x, y, out),
                    None => out.push(format!("{p}: removed")),
                }
            }
            for k in bm.keys() {
                if !am.contains_key(k) {
                    out.push(format!("{path}[{}]: added", k.trim_matches('"')));
                }
            }
        }
        _ if o != n => out.push(format!("{path}: {o} -> {n}")),
        _ => {}
    }
}

impl fmt::Display for DefinitionsDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "No changes.");
        }
        for c in &self.changes {
            let sign = match c.kind {
                ChangeKind::Added => "+",
                ChangeKind::Removed => "-",
                ChangeKind::Changed => "~",
            };
            writeln!(f, "{sign} {} `{}`", c.object, c.name)?;
            for d in &c.details {
                writeln!(f, "    {d}")?;
            }
            for b in &c.breaking {
                writeln!(f, "    BREAKING: {b}")?;
            }
        }
        let (a, r, ch) = self
            .changes
            .iter()
            .fold((0, 0, 0), |(a, r, c), x| match x.kind {
                ChangeKind::Added => (a + 1, r, c),
                ChangeKind::Removed => (a, r + 1, c),
                ChangeKind::Changed => (a, r, c + 1),
            });
        let nb = self
            .changes
            .iter()
            .filter(|c| !c.breaking.is_empty())
            .count();
        writeln!(
            f,
            "{a} to add, {ch} to change, {r} to remove; {nb} breaking."
        )
    }
}

fn entity_breaking(o: &EntityDef, n: &EntityDef, br: &mut Vec<String>) {
    if o.join_keys != n.join_keys {
        br.push(format!(
            "join keys change from {:?} to {:?}: stored rows no longer match",
            o.join_keys, n.join_keys
        ));
    }
}

fn purpose_breaking(o: &PurposeDef, n: &PurposeDef, br: &mut Vec<String>) {
    for c in &o.allows {
        if !n.allows.contains(c) {
            br.push(format!(
                "no longer allows `{c}`: readers of such features for this purpose will be refused"
            ));
        }
    }
}

fn consumer_breaking(o: &ConsumerDef, n: &ConsumerDef, br: &mut Vec<String>) {
    for p in &o.purposes {
        if !n.purposes.contains(p) {
            br.push(format!("loses purpose `{p}`"));
        }
    }
}

fn service_breaking(o: &FeatureServiceDef, n: &FeatureServiceDef, br: &mut Vec<String>) {
    for f in &o.features {
        if !n.features.contains(f) {
            br.push(format!(
                "drops `{f}`: models built on this service lose an input"
            ));
        }
    }
}

fn on_demand_breaking(o: &OnDemandViewDef, n: &OnDemandViewDef, br: &mut Vec<String>) {
    for f in &o.features {
        match n.features.iter().find(|x| x.name == f.name) {
            None => br.push(format!("drops feature `{}`", f.name)),
            Some(nf) if nf.expression != f.expression => br.push(format!(
                "changes the expression of `{}`: served values change",
                f.name
            )),
            Some(_) => {}
        }
    }
}

/// Changing a local-DP report's mechanism, ε, k, m or feature makes the accumulated
/// sketch unusable with new reports (the server refuses to mix them).
fn ldp_report_breaking(
    o: &crate::ldp_report_def::LdpReportDef,
    n: &crate::ldp_report_def::LdpReportDef,
    br: &mut Vec<String>,
) {
    if (&o.mechanism, o.epsilon, o.k, o.m) != (&n.mechanism, n.epsilon, n.k, n.m) {
        br.push(
            "changes the mechanism or its parameters: the accumulated sketch cannot take new reports (move `.tessera/ldp/NAME.sketch` away)"
                .to_string(),
        );
    }
    if o.feature != n.feature {
        br.push(format!(
            "reports `{}` instead of `{}`",
            n.feature, o.feature
        ));
    }
}

/// Removing a view that a registered service reads, or an object callers name, is breaking.
fn mark_removals(changes: &mut [Change], old: &Definitions) {
    for c in changes.iter_mut() {
        if c.kind != ChangeKind::Removed {
            continue;
        }
        match c.object.as_str() {
            "feature_view" => {
                for s in &old.feature_services {
                    if s.features.iter().any(|f| f.view == c.name) {
                        c.breaking
                            .push(format!("feature service `{}` reads it", s.name));
                    }
                }
            }
            "feature_service" | "entity" | "purpose" | "consumer" => c
                .breaking
                .push("removed: callers that name it will fail".to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const V1: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
feature_views:
  - name: v
    entities: [user]
    source: s
    ttl: 7d
    features:
      - { name: a, type: float64, classification: internal }
      - { name: b, type: int64, classification: internal }
purposes: [{ name: ranking, allows: [internal] }]
feature_services: [{ name: svc, purpose: ranking, features: [v:a, v:b] }]
"#;

    fn d(y: &str) -> Definitions {
        Definitions::from_yaml_str(y, Path::new("t"))
            .unwrap()
            .sorted()
    }

    #[test]
    fn no_change_is_empty() {
        assert!(DefinitionsDiff::between(&d(V1), &d(V1)).is_empty());
    }

    #[test]
    fn type_change_and_removed_used_feature_are_breaking() {
        let v2 = V1
            .replace("{ name: a, type: float64", "{ name: a, type: string")
            .replace(
                "      - { name: b, type: int64, classification: internal }\n",
                "",
            )
            .replace("ttl: 7d", "ttl: 1d");
        let diff = DefinitionsDiff::between(&d(V1), &d(&v2));
        let text = diff.to_string();
        assert!(text.contains("~ feature_view `v`"), "{text}");
        assert!(text.contains("ttl: \"7d\" -> \"1d\""), "{text}");
        assert!(
            text.contains("BREAKING: changes the type of `a` from float64 to string"),
            "{text}"
        );
        assert!(
            text.contains("removes feature `b`, which feature service(s) svc still use"),
            "{text}"
        );
        assert!(diff.has_breaking());
    }

    #[test]
    fn added_and_removed_objects() {
        let v2 = V1.replace(
            "purposes: [{ name: ranking, allows: [internal] }]",
            "purposes: [{ name: ranking, allows: [internal] }, { name: ads, allows: [public] }]",
        );
        let diff = DefinitionsDiff::between(&d(V1), &d(&v2));
        assert_eq!(diff.changes.len(), 1);
        assert_eq!(diff.changes[0].kind, ChangeKind::Added);
        let back = DefinitionsDiff::between(&d(&v2), &d(V1));
        assert_eq!(back.changes[0].kind, ChangeKind::Removed);
    }
}

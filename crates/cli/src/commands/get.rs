//! `tessera get`: a quick look at the online values of a few entities.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use chrono::Utc;
use clap::Args;
use tessera_core::FeatureRef;
use tessera_online::{freshness, open_store, EntityKey, Freshness, KeyValue, Value};

use super::materialize::{format_time, parse_time};
use super::registered_catalog;

/// Arguments of `tessera get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// An entity: `join_key=value` (`user_id=42`); join the parts of a composite key with
    /// commas (`user_id=42,item_id=7`). Repeat for several entities. Values that parse as
    /// integers are integer keys; quote them for text keys (`user_id='007'`).
    #[arg(long = "entity", required = true)]
    pub entities: Vec<String>,
    /// Features to read: `view:feature,...` (`view:*` for all of a view).
    #[arg(long, value_delimiter = ',', required = true)]
    pub features: Vec<String>,
    /// Judge expiry at this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
}

/// Parses `user_id=42,item_id='a7'` into `(name, value)` parts.
fn parse_entity(text: &str) -> Result<Vec<(String, KeyValue)>> {
    text.split(',')
        .map(|part| {
            let Some((name, value)) = part.split_once('=') else {
                bail!("`{part}` in --entity `{text}` is not `join_key=value` (hint: e.g. --entity user_id=42)");
            };
            let value = value.trim();
            let quoted = ['\'', '"']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)));
            let kv = match (quoted, value.parse::<i64>()) {
                (Some(s), _) => KeyValue::String(s.to_string()),
                (None, Ok(n)) => KeyValue::Int64(n),
                (None, Err(_)) => KeyValue::String(value.to_string()),
            };
            Ok((name.trim().to_string(), kv))
        })
        .collect()
}

fn show(v: &Value) -> String {
    match v {
        Value::Timestamp(us) => format_time(*us),
        other => other.to_string(),
    }
}

/// Runs `tessera get`.
pub async fn run(args: &GetArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let refs = args
        .features
        .iter()
        .map(|f| FeatureRef::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let features = catalog.resolve_refs(&refs)?;
    let entities = args
        .entities
        .iter()
        .map(|e| parse_entity(e))
        .collect::<Result<Vec<_>>>()?;
    let now = match &args.at {
        Some(t) => parse_time(t)?,
        None => Utc::now().timestamp_micros(),
    };
    let store = open_store(&cfg, &args.repo).await?;

    // Group features by view, keeping request order.
    let mut by_view: Vec<(String, Vec<String>)> = Vec::new();
    for f in &features {
        match by_view.iter_mut().find(|(v, _)| *v == f.view) {
            Some((_, list)) => list.push(f.feature.clone()),
            None => by_view.push((f.view.clone(), vec![f.feature.clone()])),
        }
    }
    println!(
        "{:<24} {:<32} {:<8} {:<28} value",
        "entity", "feature", "status", "event time"
    );
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (view_name, feats) in &by_view {
        let view = catalog.view(view_name)?;
        let join_keys = catalog.join_keys(view);
        let keys = entities
            .iter()
            .zip(&args.entities)
            .map(|(parts, text)| {
                let mine: Vec<(&str, KeyValue)> = join_keys
                    .iter()
                    .map(|k| match parts.iter().find(|(n, _)| n == k) {
                        Some((_, v)) => Ok((k.as_str(), v.clone())),
                        None => bail!(
                            "--entity `{text}` has no `{k}`, the join key of feature view `{view_name}` (hint: add {k}=VALUE)"
                        ),
                    })
                    .collect::<Result<_>>()?;
                Ok(EntityKey::new(mine)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = store.read(view_name, &keys).await?;
        for ((key, row), text) in keys.iter().zip(&rows).zip(&args.entities) {
            let status = freshness(row.as_ref(), view.ttl, now);
            let event = row
                .as_ref()
                .map_or_else(|| "-".to_string(), |r| format_time(r.stamp.event_ts));
            for f in feats {
                let value = row.as_ref().and_then(|r| r.get(f));
                // A feature added to the view after the row was written is missing.
                let status = match (status, value) {
                    (Freshness::Missing, _) | (_, None) => Freshness::Missing,
                    (s, Some(_)) => s,
                };
                *counts.entry(status.as_str()).or_default() += 1;
                let shown = value.map_or_else(|| "-".to_string(), show);
                let entity = if parts_differ(key, text) {
                    key.to_string()
                } else {
                    text.clone()
                };
                println!(
                    "{entity:<24} {:<32} {:<8} {event:<28} {shown}",
                    format!("{view_name}:{f}"),
                    status.as_str()
                );
            }
        }
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "({}; expiry judged at {}; store: {})",
        summary.join(", "),
        format_time(now),
        store.name()
    );
    Ok(())
}

/// Whether the key used for a view differs from what the user typed (a composite entity
/// read through a single-key view).
fn parts_differ(key: &EntityKey, text: &str) -> bool {
    key.parts().len() != text.split(',').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_parse() {
        assert_eq!(
            parse_entity("user_id=42,item_id='007'").unwrap(),
            vec![
                ("user_id".to_string(), KeyValue::Int64(42)),
                ("item_id".to_string(), KeyValue::String("007".into()))
            ]
        );
        assert_eq!(
            parse_entity("device=abc").unwrap(),
            vec![("device".to_string(), KeyValue::String("abc".into()))]
        );
        assert!(parse_entity("user_id").is_err());
    }
}

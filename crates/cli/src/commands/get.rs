//! `tessera get`: a quick look at the online values of a few entities, read through the
//! access layer like any other read: purpose-checked and audited.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest, ValueStatus,
};
use tessera_audit::AuditSink;
use tessera_core::{FeatureRepo, RepoConfig};
use tessera_online::{open_store, KeyValue, Value};

use super::materialize::format_time;
use super::{local_user, registered_catalog};

/// Arguments of `tessera get`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["features", "service"])))]
pub(crate) struct GetArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// An entity: `join_key=value` (`user_id=42`); join the parts of a composite key with
    /// commas (`user_id=42,item_id=7`). Repeat for several entities (each naming the same
    /// keys). Values that parse as integers are integer keys; quote them for text keys
    /// (`user_id='007'`).
    #[arg(long = "entity", required = true)]
    pub entities: Vec<String>,
    /// Features to read: `view:feature,...` (`view:*` for all of a view).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Read the features of this feature service (and, unless --purpose says otherwise,
    /// for its purpose).
    #[arg(long, conflicts_with = "features")]
    pub service: Option<String>,
    /// Why you read: the purpose must allow each feature's classification (as for every
    /// read; the read is audited). Required unless --service or --consumer gives one.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Read as this declared consumer, without its token (it must hold the purpose; its
    /// `default_purpose` applies when --purpose is absent). Audited as
    /// `local:<user> as <consumer>`. Defaults to the local user.
    #[arg(long)]
    pub consumer: Option<String>,
    /// A request-context field for on-demand features: `name=value` (integers, floats,
    /// `true`/`false`, else text; quote text that looks like a number). Repeat for several.
    #[arg(long = "context")]
    pub context: Vec<String>,
}

/// Parses `--context name=value` arguments.
pub(crate) fn parse_context(texts: &[String]) -> Result<tessera_access::RequestContext> {
    let mut out = tessera_access::RequestContext::new();
    for text in texts {
        let Some((name, value)) = text.split_once('=') else {
            bail!("--context `{text}` is not `name=value` (hint: e.g. --context hour_of_day=20)");
        };
        let value = value.trim();
        let quoted = ['\'', '"']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)));
        let v = match quoted {
            Some(s) => Value::String(s.to_string()),
            None => match (value.parse::<i64>(), value.parse::<f64>(), value) {
                (Ok(n), _, _) => Value::Int64(n),
                (_, Ok(f), _) => Value::Float64(f),
                (_, _, "true") => Value::Bool(true),
                (_, _, "false") => Value::Bool(false),
                _ => Value::String(value.to_string()),
            },
        };
        if out.insert(name.trim().to_string(), v).is_some() {
            bail!("--context names `{}` twice", name.trim());
        }
    }
    Ok(out)
}

/// Parses `user_id=42,item_id='a7'` into `(name, value)` parts.
pub(crate) fn parse_entity(text: &str) -> Result<Vec<(String, KeyValue)>> {
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

/// A value as the table shows it; strings (pushed by clients) are escaped for the terminal.
fn show(v: &Value) -> String {
    match v {
        Value::Timestamp(us) => format_time(*us),
        other => crate::terminal_text::escaped(&other.to_string()).into_owned(),
    }
}

/// Turns `--entity` arguments into entity columns (every entity names the same keys).
fn entity_rows(texts: &[String]) -> Result<EntityRows> {
    let mut names: Vec<String> = Vec::new();
    let mut columns: Vec<Vec<KeyValue>> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let parts = parse_entity(text)?;
        if i == 0 {
            names = parts.iter().map(|(n, _)| n.clone()).collect();
            columns = vec![Vec::with_capacity(texts.len()); names.len()];
        }
        let these: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        if these != names.iter().map(String::as_str).collect::<Vec<_>>() {
            bail!(
                "--entity `{text}` names keys {these:?}, but the first --entity names {names:?} (hint: give every entity the same join keys, in the same order)"
            );
        }
        for (col, (_, v)) in columns.iter_mut().zip(parts) {
            col.push(v);
        }
    }
    Ok(EntityRows::new(names.into_iter().zip(columns).collect())?)
}

/// Runs `tessera get`.
pub(crate) async fn run(args: &GetArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    super::unregistered::check_registered(
        &args.repo,
        &catalog,
        &args.features,
        args.service.as_deref(),
    )?;
    let cfg = FeatureRepo::load_config(&args.repo)?;
    let user = local_user();
    let user = user.trim_start_matches("local:");
    let caller = match &args.consumer {
        Some(c) => {
            catalog.consumer(c)?;
            Caller::local_as(user, c)
        }
        None => Caller::local(user),
    };
    let entities = entity_rows(&args.entities)?;
    let store = open_store(&cfg, &args.repo)
        .await
        .context("opening the online store")?;
    let store_name = store.name();
    let audit_dir = RepoConfig::resolve(&args.repo, &cfg.audit_log);
    let audit = Arc::new(
        AuditSink::spawn(
            super::audit::open_log(&args.repo, &cfg),
            super::audit::sink_config(&cfg),
        )
        .context("opening the audit log")?,
    );
    let catalog = Arc::new(catalog);
    let content = super::content::load(&catalog, &args.repo).await?;
    let mut builder = AccessLayer::builder(
        catalog,
        audit.clone(),
        AccessConfig {
            max_entities: args.entities.len().max(1),
            ..AccessConfig::default()
        },
    )
    .online_store(store)
    .entity_hasher(super::serve::privacy_hasher(&args.repo)?);
    if let Some(c) = content {
        builder = builder.provider(c);
    }
    let access = super::consent::attach(builder.build(), &args.repo)?;
    let features = FeatureSelection::from_parts(
        (!args.features.is_empty()).then(|| args.features.clone()),
        args.service.clone(),
    )?;
    let result = access
        .read(ReadRequest {
            features,
            entities,
            context: parse_context(&args.context)?,
            purpose: args.purpose.clone(),
            caller,
        })
        .await;
    audit.shutdown().await.context("writing the audit record")?;
    let result = result.map_err(|e| match e {
        tessera_access::Error::MissingPurpose { .. } => anyhow::anyhow!(
            "{e}\n(hint: pass --purpose P, e.g. the purpose your model reads for; `tessera catalog` lists classifications)"
        ),
        e => e.into(),
    })?;

    let width = crate::terminal_width::width();
    let fit = |line: String| println!("{}", crate::terminal_width::fit(&line, width));
    fit(format!(
        "{:<24} {:<32} {:<8} {:<28} value",
        "entity", "feature", "status", "event time"
    ));
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (feature, col) in result.plan.features().iter().zip(&result.columns) {
        for (i, text) in args.entities.iter().enumerate() {
            let status = col.statuses[i];
            *counts.entry(status.as_str()).or_default() += 1;
            let event = col.event_ts[i].map_or_else(|| "-".to_string(), format_time);
            let shown = match status {
                ValueStatus::Present | ValueStatus::Null | ValueStatus::Stale => {
                    show(&col.values[i])
                }
                _ => "-".to_string(),
            };
            fit(format!(
                "{text:<24} {:<32} {:<8} {event:<28} {shown}",
                feature.to_string(),
                status.as_str()
            ));
        }
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "({}; purpose {}; store: {store_name}; audited in {})",
        summary.join(", "),
        result.plan.purpose(),
        audit_dir.display()
    );
    Ok(())
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

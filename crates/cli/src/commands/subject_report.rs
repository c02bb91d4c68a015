//! `tessera subject-report --entity user_id=42`: every value Tessera holds about one entity,
//! on every tier, and every audited read of it — what a privacy officer answers an access
//! request (GDPR Art. 15) with. See `docs/RETENTION.md`.
//!
//! - **online store**: the row of every view keyed by the entity (views with composite
//!   keys that contain it are scanned), aggregation states finished at the current time;
//!   the stream engine publishes its states there, so these are its states too;
//! - **offline**: the rows of the stream sources' offline logs and of batch sources that
//!   carry the entity's join keys;
//! - **device store** (`--device DIR`): the device views' rows of the entity;
//! - **reads**: audit records whose `entities` digests (keyed hashes, never the key) name
//!   it, including training sets' side files of digests.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::Args;
use datafusion::prelude::{cast, col, lit};
use serde_json::{json, Value as Json};
use tessera_audit::{AuditLog, AuditQuery};
use tessera_core::{Catalog, EntityHasher, FeatureViewDef, SourceType};
use tessera_online::{EntityKey, FeatureRow, KeyValue, OnlineStore};

use super::get::parse_entity;
use super::registered_catalog;

/// Arguments of `tessera subject-report`.
#[derive(Debug, Args)]
pub(crate) struct SubjectReportArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The entity: `join_key=value` (several joined with commas).
    #[arg(long)]
    pub entity: String,
    /// Also report the local store and audit log of the device in this directory.
    #[arg(long)]
    pub device: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tessera subject-report`.
pub(crate) async fn run(args: &SubjectReportArgs) -> Result<()> {
    let (catalog, _) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let parts = parse_entity(&args.entity)?;
    let store = tessera_online::open_store(&cfg, &args.repo)
        .await
        .context("opening the online store (while `tessera serve` holds the embedded store, stop it or use Redis)")?;
    let now = chrono::Utc::now().timestamp_micros();
    let online = online_rows(&catalog, store.as_ref(), &parts, now, false).await?;
    let offline = offline_rows(&catalog, &args.repo, &parts).await?;
    let hasher = EntityHasher::for_repo(&args.repo).context("reading the privacy key")?;
    let log = super::audit::open_log(&args.repo, &cfg);
    let mut reads = audited_reads(&log, &hasher, &parts)?;
    let mut device = Vec::new();
    if let Some(dir) = &args.device {
        let store = tessera_online::EmbeddedStore::open(&dir.join("store"))
            .with_context(|| format!("opening the device store in {}", dir.display()))?;
        device = online_rows(&catalog, &store, &parts, now, true).await?;
        let hasher = EntityHasher::for_repo(dir).context("reading the device's privacy key")?;
        let mut r = audited_reads(&AuditLog::new(&dir.join("audit")), &hasher, &parts)?;
        for x in &mut r {
            x["where"] = json!("device");
        }
        reads.append(&mut r);
    }
    let consent = consent_history(&args.repo, &parts)?;
    let report = json!({
        "entity": args.entity,
        "online_store": online,
        "offline": offline,
        "device_store": device,
        "consent": consent,
        "reads": reads,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// The consent recorded for each join key of the entity, per purpose: every change, oldest
/// first (the consent log keeps keyed hashes only, so this looks the subject up by theirs).
fn consent_history(repo: &Path, parts: &[(String, KeyValue)]) -> Result<Vec<Json>> {
    let store = tessera_consent::ConsentStore::open(repo).context("reading the consent log")?;
    let mut out = Vec::new();
    for (name, value) in parts {
        let text = match value {
            KeyValue::String(s) => s.clone(),
            KeyValue::Int64(n) => n.to_string(),
        };
        for (purpose, changes) in store.history(&store.digest(name, &text)) {
            out.push(json!({
                "join_key": name,
                "purpose": purpose,
                "changes": changes
                    .iter()
                    .map(|(at, state)| json!({"at": time(*at), "state": state.as_str()}))
                    .collect::<Vec<_>>(),
            }));
        }
    }
    Ok(out)
}

/// The views (cloud, or the device's with `device`) whose join keys include every part.
fn views_of<'a>(
    catalog: &'a Catalog,
    parts: &[(String, KeyValue)],
    device: bool,
) -> Vec<(&'a FeatureViewDef, Vec<String>)> {
    catalog
        .feature_views()
        .values()
        .filter(|v| {
            let on_device = catalog
                .sources()
                .get(&v.source)
                .is_some_and(|s| s.source_type == SourceType::Device);
            on_device == device && v.online
        })
        .map(|v| (v, catalog.join_keys(v)))
        .filter(|(_, keys)| parts.iter().all(|(k, _)| keys.contains(k)))
        .collect()
}

/// The key as given, and with a numeric value also as text (the store's key type decides).
fn key_variants(parts: &[(String, KeyValue)]) -> Vec<EntityKey> {
    let as_text: Vec<(String, KeyValue)> = parts
        .iter()
        .map(|(k, v)| match v {
            KeyValue::Int64(i) => (k.clone(), KeyValue::String(i.to_string())),
            other => (k.clone(), other.clone()),
        })
        .collect();
    let mut out = Vec::new();
    for p in [parts.to_vec(), as_text] {
        if let Ok(k) = EntityKey::new(p) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

async fn online_rows(
    catalog: &Catalog,
    store: &dyn OnlineStore,
    parts: &[(String, KeyValue)],
    now_us: i64,
    device: bool,
) -> Result<Vec<Json>> {
    let wanted = key_variants(parts);
    let mut out = Vec::new();
    for (view, keys) in views_of(catalog, parts, device) {
        let rows: Vec<(EntityKey, FeatureRow)> = if keys.len() == parts.len() {
            let found = store.read(&view.name, &wanted).await?;
            wanted
                .iter()
                .cloned()
                .zip(found)
                .filter_map(|(k, r)| Some((k, r?)))
                .collect()
        } else {
            // A composite key containing the entity: scan the view's keys.
            let all = store
                .rows_before(&view.name, i64::MAX, false)
                .await
                .unwrap_or_default();
            let keys: Vec<EntityKey> = all
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| wanted.iter().any(|w| k.contains(w)))
                .collect();
            let found = store.read(&view.name, &keys).await?;
            keys.into_iter()
                .zip(found)
                .filter_map(|(k, r)| Some((k, r?)))
                .collect()
        };
        for (key, row) in rows {
            out.push(json!({
                "view": view.name,
                "key": key.to_string(),
                "event_time": time(row.stamp.event_ts),
                "values": row_values(catalog, view, &row, now_us),
            }));
        }
    }
    Ok(out)
}

/// A row's values by feature; an aggregation state finished at `now_us`.
fn row_values(catalog: &Catalog, view: &FeatureViewDef, row: &FeatureRow, now_us: i64) -> Json {
    if let Ok(Some(spec)) = catalog.view_spec(view) {
        let names = view
            .features
            .iter()
            .filter(|f| f.derived.is_some())
            .map(|f| f.name.clone());
        return match tessera_online::state_of(row, &spec).and_then(|s| {
            s.value_at(now_us)
                .map_err(|_| tessera_online::Error::Corrupt {
                    what: "aggregation state",
                    reason: "cannot be finished",
                })
        }) {
            Ok(values) => names
                .zip(values)
                .map(|(n, v)| (n, json!(v.to_string())))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Err(e) => json!({ "__state": format!("undecodable: {e}") }),
        };
    }
    row.values
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.to_string())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Rows of every source (offline logs and batch files) that has the entity's join keys.
async fn offline_rows(
    catalog: &Catalog,
    root: &Path,
    parts: &[(String, KeyValue)],
) -> Result<Vec<Json>> {
    let ctx = tessera_offline::session(1);
    let mut out = Vec::new();
    for source in catalog.sources().values() {
        if source.source_type == SourceType::Device {
            continue;
        }
        let opened = if source.stream.is_some() {
            tessera_offline::open_source(&ctx, root, source)
                .await
                .map(|(df, _)| df)
        } else {
            match source.resolved_format() {
                // Unfiltered: what the file holds, retention or not.
                Some(f) => tessera_offline::open_path(&ctx, &source.resolved_path(root), f).await,
                None => continue,
            }
        };
        let Ok(mut df) = opened else { continue };
        let schema = df.schema().clone();
        if !parts
            .iter()
            .all(|(k, _)| schema.field_with_unqualified_name(k).is_ok())
        {
            continue;
        }
        for (k, v) in parts {
            let text = match v {
                KeyValue::Int64(i) => i.to_string(),
                KeyValue::String(s) => s.clone(),
            };
            df = df.filter(cast(col(format!("\"{k}\"")), DataType::Utf8).eq(lit(text)))?;
        }
        let batches = df.collect().await?;
        let mut rows = Vec::new();
        let opts = FormatOptions::default().with_null("null");
        for b in &batches {
            let formatters = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for i in 0..b.num_rows() {
                let mut m = serde_json::Map::new();
                for (f, fmt) in b.schema().fields().iter().zip(&formatters) {
                    m.insert(f.name().clone(), json!(fmt.value(i).to_string()));
                }
                rows.push(Json::Object(m));
            }
        }
        if !rows.is_empty() {
            out.push(json!({
                "source": source.name,
                "kind": if source.stream.is_some() { "offline log" } else { "batch source" },
                "rows": rows,
            }));
        }
    }
    Ok(out)
}

/// Audit records whose entity digests name every part of the entity (and training sets
/// whose side file of digests does).
fn audited_reads(
    log: &AuditLog,
    hasher: &EntityHasher,
    parts: &[(String, KeyValue)],
) -> Result<Vec<Json>> {
    let digests: Vec<String> = parts
        .iter()
        .map(|(k, v)| {
            let text = match v {
                KeyValue::Int64(i) => i.to_string(),
                KeyValue::String(s) => s.clone(),
            };
            hasher.digest(&[(k.as_str(), text.as_str())])
        })
        .collect();
    let dir = log
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut out = Vec::new();
    for r in log.query(&AuditQuery::default())? {
        let inline = !r.entities.is_empty() && digests.iter().all(|d| r.entities.contains(d));
        let side = !inline
            && r.detail
                .as_deref()
                .and_then(|d| {
                    d.split_whitespace()
                        .find_map(|w| w.strip_prefix("entities_file="))
                })
                .is_some_and(|f| side_file_holds(&dir.join(f), &digests));
        if inline || side {
            out.push(json!({
                "time": r.time,
                "action": r.action,
                "consumer": r.consumer,
                "purpose": r.purpose,
                "features": r.features.iter().cloned().collect::<Vec<_>>(),
                "decision": r.decision,
            }));
        }
    }
    Ok(out)
}

/// Whether a sorted side file of digests holds every one of `digests`.
fn side_file_holds(path: &Path, digests: &[String]) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    digests
        .iter()
        .all(|d| lines.binary_search(&d.as_str()).is_ok())
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

fn print_text(r: &Json) {
    let esc = |s: &str| crate::terminal_text::escaped(s).into_owned();
    println!(
        "Subject report for {}",
        esc(r["entity"].as_str().unwrap_or_default())
    );
    for (title, key) in [
        ("Online store", "online_store"),
        ("Device store", "device_store"),
    ] {
        let rows = r[key].as_array().cloned().unwrap_or_default();
        println!("\n{title}: {} rows", rows.len());
        for row in rows {
            println!(
                "  {} {} (event time {})",
                esc(row["view"].as_str().unwrap_or_default()),
                esc(row["key"].as_str().unwrap_or_default()),
                row["event_time"].as_str().unwrap_or_default()
            );
            if let Some(values) = row["values"].as_object() {
                for (k, v) in values {
                    println!("    {} = {}", esc(k), esc(v.as_str().unwrap_or_default()));
                }
            }
        }
    }
    let offline = r["offline"].as_array().cloned().unwrap_or_default();
    println!("\nOffline: {} sources", offline.len());
    for s in offline {
        let rows = s["rows"].as_array().cloned().unwrap_or_default();
        println!(
            "  {} ({}): {} rows",
            esc(s["source"].as_str().unwrap_or_default()),
            s["kind"].as_str().unwrap_or_default(),
            rows.len()
        );
        for row in rows {
            if let Some(m) = row.as_object() {
                let cells: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}={}", esc(k), esc(v.as_str().unwrap_or_default())))
                    .collect();
                println!("    {}", cells.join(" "));
            }
        }
    }
    let consent = r["consent"].as_array().cloned().unwrap_or_default();
    println!("\nConsent: {} purposes", consent.len());
    for c in consent {
        let changes: Vec<String> = c["changes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{} from {}",
                            x["state"].as_str().unwrap_or_default(),
                            x["at"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "  {}: {}",
            esc(c["purpose"].as_str().unwrap_or_default()),
            changes.join(", ")
        );
    }
    let reads = r["reads"].as_array().cloned().unwrap_or_default();
    println!("\nAudited reads: {}", reads.len());
    for x in reads {
        let features: Vec<String> = x["features"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f.as_str().map(esc)).collect())
            .unwrap_or_default();
        println!(
            "  {} {} consumer={} purpose={} decision={} features={}",
            x["time"].as_str().unwrap_or_default(),
            esc(x["action"].as_str().unwrap_or_default()),
            esc(x["consumer"].as_str().unwrap_or_default()),
            esc(x["purpose"].as_str().unwrap_or_default()),
            x["decision"].as_str().unwrap_or_default(),
            features.join(","),
        );
    }
}

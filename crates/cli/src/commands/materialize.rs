//! `tessera materialize`: copy the latest feature values into the online store.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tessera_materialize::{
    materialize_view, MaterializeProgress, MaterializeRequest, Stage, DEFAULT_BATCH_ROWS,
};
use tessera_offline::LatestScan;
use tessera_online::open_store;

use super::registered_catalog;

/// Arguments of `tessera materialize`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("range").required(true).args(["start", "incremental"])))]
pub(crate) struct MaterializeArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Earliest event time to copy (RFC 3339, e.g. 2026-01-01T00:00:00Z, or a date).
    #[arg(long, requires = "end")]
    pub start: Option<String>,
    /// Latest event time to copy (RFC 3339 or a date); each view's high-water mark moves
    /// here. With --incremental it defaults to now.
    #[arg(long)]
    pub end: Option<String>,
    /// Copy each view from its high-water mark (the end of its last run) to --end or now.
    #[arg(long)]
    pub incremental: bool,
    /// Only these feature views (default: every view with `online: true`).
    #[arg(long, value_delimiter = ',')]
    pub views: Vec<String>,
    /// Rows per write to the store (one transaction or round trip each).
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// Print only the summary lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses RFC 3339 (`2026-01-31T12:00:00Z`) or a date (`2026-01-31`, midnight UTC) into µs
/// since the epoch.
pub(crate) fn parse_time(text: &str) -> Result<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_micros());
    }
    if let Some(dt) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(dt.and_utc().timestamp_micros());
    }
    bail!("`{text}` is not a time (hint: write RFC 3339, e.g. 2026-01-31T12:00:00Z, or a date, 2026-01-31)")
}

/// Formats µs since the epoch as RFC 3339 (UTC).
pub(crate) fn format_time(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us).map_or_else(
        || format!("{us}us"),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// Runs `tessera materialize`.
pub(crate) async fn run(args: &MaterializeArgs) -> Result<()> {
    let (catalog, version) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let store = open_store(&cfg, &args.repo).await?;
    // Erased entities (tombstones) are never written back from a source.
    let store = crate::erasure::tombstone_store::TombstoneStore::wrap(store, &args.repo)?;
    let end = match &args.end {
        Some(t) => parse_time(t)?,
        None => Utc::now().timestamp_micros(),
    };
    let fixed_start = args.start.as_deref().map(parse_time).transpose()?;

    let over_stream =
        |v: &tessera_core::FeatureViewDef| catalog.source_of(v).is_ok_and(|s| s.stream.is_some());
    let over_device = |v: &tessera_core::FeatureViewDef| {
        catalog
            .source_of(v)
            .is_ok_and(|s| s.source_type == tessera_core::SourceType::Device)
    };
    let views: Vec<String> = if args.views.is_empty() {
        for v in catalog
            .feature_views()
            .values()
            .filter(|v| v.online && over_stream(v))
        {
            println!(
                "  {:<20} skipped: it reads stream source `{}`, whose ingest process (`tessera serve` / `tessera ingest`) keeps it up to date",
                v.name, v.source
            );
        }
        let content =
            |v: &tessera_core::FeatureViewDef| v.provider == tessera_core::ViewProvider::Content;
        for v in catalog.feature_views().values().filter(|v| content(v)) {
            println!(
                "  {:<20} skipped: `provider: content`; `tessera serve` loads it into memory at startup",
                v.name
            );
        }
        for v in catalog.feature_views().values().filter(|v| over_device(v)) {
            println!(
                "  {:<20} skipped: it reads device source `{}`, whose signals exist only on devices",
                v.name, v.source
            );
        }
        catalog
            .feature_views()
            .values()
            .filter(|v| v.online && !over_stream(v) && !content(v) && !over_device(v))
            .map(|v| v.name.clone())
            .collect()
    } else {
        for v in &args.views {
            let def = catalog.view(v)?;
            if !def.online {
                bail!("feature view `{v}` has `online: false` (hint: set `online: true` and run `tessera apply`, or leave it out)");
            }
            if over_device(def) {
                bail!("feature view `{v}` reads device source `{}`: its signals exist only on devices, which compute it themselves (hint: leave it out)", def.source);
            }
            if def.provider == tessera_core::ViewProvider::Content {
                bail!("feature view `{v}` has `provider: content`: `tessera serve` loads it into memory at startup, so it is not materialised (hint: leave it out)");
            }
        }
        args.views.clone()
    };
    if views.is_empty() {
        println!("No feature view has `online: true`; nothing to materialise.");
        return Ok(());
    }
    let scan = LatestScan::new(&args.repo, Arc::new(catalog));
    println!(
        "Materialising {} feature view{} into the {} online store (registry version {version}).",
        views.len(),
        if views.len() == 1 { "" } else { "s" },
        store.name()
    );
    for view in &views {
        let start = if args.incremental {
            store.high_water_mark(view).await?
        } else {
            fixed_start
        };
        if let Some(s) = start.filter(|&s| s > end) {
            println!(
                "  {view:<20} already materialised up to {} (after --end); skipped",
                format_time(s)
            );
            continue;
        }
        let req = MaterializeRequest {
            view: view.clone(),
            start_us: start,
            end_us: end,
            batch_rows: args.batch_rows,
            future: tessera_online::FutureBound::of_repo(&cfg),
        };
        let bar = Arc::new(StageBar::new(args.quiet));
        let report = materialize_view(store.clone(), &scan, &req, bar.clone()).await;
        bar.finish();
        let r = report.with_context(|| format!("materialising feature view `{view}`"))?;
        if let Some(end) = r.clamped_end {
            println!(
                "  {view:<20} --end is beyond `writes.max_future` ahead of the clock: copied up to {} (source rows stamped later are left for a later run)",
                format_time(end)
            );
        }
        println!(
            "  {view:<20} {} → {}: {} source rows, {} entities: {} written, {} already as new; {:.2}s ({:.0} source rows/s; writes {:.0} rows/s)",
            start.map_or_else(|| "beginning".to_string(), format_time),
            format_time(end),
            r.rows_scanned,
            r.entities,
            r.summary.written,
            r.summary.skipped,
            r.total_time().as_secs_f64(),
            r.source_rows_per_second(),
            r.write_rows_per_second(),
        );
    }
    Ok(())
}

/// A progress bar that restarts for each stage (scan, then write).
struct StageBar(ProgressBar);

impl StageBar {
    fn new(hidden: bool) -> Self {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        Self(bar)
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl MaterializeProgress for StageBar {
    fn stage(&self, view: &str, stage: Stage, total: Option<u64>) {
        let (what, unit) = match stage {
            Stage::Scan => ("scanning", "source rows"),
            Stage::Write => ("writing", "entities"),
        };
        let template = match total {
            Some(_) => format!(
                "{{spinner}} {{msg:28}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})"
            ),
            None => format!("{{spinner}} {{msg:28}} {{human_pos}} {unit} ({{per_sec}})"),
        };
        self.0.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.0.reset();
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(format!("{what} {view}"));
    }

    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_format() {
        let t = parse_time("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(t, 1_767_225_600_000_000);
        assert_eq!(parse_time("2026-01-01").unwrap(), t);
        assert_eq!(parse_time("2026-01-01T01:00:00+01:00").unwrap(), t);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(format_time(t), "2026-01-01T00:00:00Z");
    }
}

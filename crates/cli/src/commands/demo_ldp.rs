//! The demo's local-DP step: every demo user's device reports the genre it last played
//! (`ldp_reports: genre_plays`, `features/ldp.yaml`) through the Count-Mean-Sketch. Each
//! report is randomised by the devices' own code (`tessera_ldp::Randomiser`), travels in
//! the binary batches a device sends to `POST /v1/ldp/reports`, and is decoded and merged
//! into the sketch the server persists under `.tessera/ldp/`; `tessera ldp estimate` then
//! reads it. The estimates are printed beside the truth (which only this simulation knows).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow::array::{Array, Int64Array, StringArray};
use tessera_ldp::wire::{decode_batch, encode_batch};
use tessera_ldp::{seeded_rng, Estimator, Randomiser, Report, Sketch, SketchFile};

use super::ldp::EstimateArgs;
use super::registered_catalog;

/// The report the demo declares.
const REPORT: &str = "genre_plays";
/// Reports per batch, as a device fleet's gateway would send them.
const BATCH: usize = 1_000;

/// Runs the step numbered `step`; returns the next step's number.
pub(crate) fn run(dir: &Path, step: usize) -> Result<usize> {
    let started = Instant::now();
    let (catalog, _) = registered_catalog(dir)?;
    let def = catalog.ldp_report(REPORT)?;
    let params = def.params()?;
    let genres = last_genre_per_user(&dir.join("data/user_daily.parquet"))?;
    println!(
        "\n{step}. Local differential privacy: {} devices each report the genre they last played \
         (`{}`, {} ε={} k={} m={}, cap ε={} per {}). Each device randomises its own report; the \
         server sees {} randomised bits and a row index, never the genre:",
        genres.len(),
        def.feature,
        params.mechanism(),
        params.epsilon(),
        params.k(),
        params.m(),
        def.cap.epsilon,
        def.cap.per,
        params.m()
    );
    // Devices use a fresh OS-seeded generator per report; the demo is a seeded simulation
    // so that it prints the same every run.
    let device = Randomiser::new(params, REPORT.as_bytes());
    let mut rng = seeded_rng(42, 0);
    let mut truth: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sketch = Sketch::new(params);
    let mut wire_bytes = 0usize;
    let mut pending: Vec<Report> = Vec::with_capacity(BATCH);
    for (i, genre) in genres.iter().enumerate() {
        *truth.entry(genre.as_str()).or_default() += 1;
        pending.push(device.randomise(genre.as_bytes(), &mut rng));
        if pending.len() == BATCH || i + 1 == genres.len() {
            // What the devices send, and what the server's route decodes and merges.
            let batch = encode_batch(REPORT, &params, &pending)?;
            wire_bytes += batch.len();
            let (_, delta) = decode_batch(&batch)?;
            sketch.merge(&delta)?;
            pending.clear();
        }
    }
    let file = SketchFile::new(tessera_server::sketch_path(dir, REPORT));
    // A fresh sketch each run: the demo's devices report once.
    file.save(&sketch)?;
    println!(
        "   {} reports in {} batches, {:.0} bytes per report on the wire, sketch stored in {}",
        sketch.reports(),
        genres.len().div_ceil(BATCH),
        wire_bytes as f64 / genres.len().max(1) as f64,
        file.path().display()
    );
    let estimator = Estimator::new(&sketch, REPORT.as_bytes());
    let values: Vec<&[u8]> = def.domain.values.iter().map(|v| v.as_bytes()).collect();
    let estimates = estimator.estimates(&values);
    println!(
        "   {:<12} {:>8} {:>10} {:>8}",
        "genre", "truth", "estimate", "± sd"
    );
    for (v, e) in def.domain.values.iter().zip(&estimates) {
        println!(
            "   {:<12} {:>8} {:>10.0} {:>8.0}",
            v,
            truth.get(v.as_str()).copied().unwrap_or(0),
            e.estimate,
            e.sd
        );
    }
    println!(
        "   The same estimates, as an analyst reads them (tessera ldp estimate --repo {} --report {REPORT} --purpose analytics):",
        dir.display()
    );
    super::ldp::run(&super::ldp::LdpCommand::Estimate(EstimateArgs {
        repo: dir.to_path_buf(),
        report: REPORT.into(),
        candidates: None,
        purpose: Some("analytics".into()),
        consumer: Some("dashboard".into()),
        json: false,
    }))?;
    println!(
        "   A device enforces its own cap: a third report of `{REPORT}` within a day is refused on the device \
         (tessera device … ldp-report {REPORT} --entity user_id=7). ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    Ok(step + 1)
}

/// Each user's `top_genre_1d` on their latest day: what the user's device last played.
fn last_genre_per_user(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} (the demo's generated data)", path.display()))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut last: BTreeMap<i64, String> = BTreeMap::new();
    for batch in reader {
        let batch = batch?;
        let (Some(users), Some(genres)) = (
            batch.column_by_name("user_id"),
            batch.column_by_name("top_genre_1d"),
        ) else {
            bail!("{} has no user_id / top_genre_1d columns", path.display());
        };
        let (Some(users), Some(genres)) = (
            users.as_any().downcast_ref::<Int64Array>(),
            genres.as_any().downcast_ref::<StringArray>(),
        ) else {
            bail!("{}: unexpected column types", path.display());
        };
        // Rows are in (user, day) order: the last row of a user is their latest day.
        for i in 0..batch.num_rows() {
            if users.is_valid(i) && genres.is_valid(i) {
                last.insert(users.value(i), genres.value(i).to_string());
            }
        }
    }
    Ok(last.into_values().collect())
}

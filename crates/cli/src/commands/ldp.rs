//! `tessera ldp simulate` and `tessera ldp estimate`: local differential privacy from
//! the command line. `simulate` runs the devices' randomiser and the server's sketch
//! (the same code, `tessera_ldp`) over a synthetic population, to choose ε, k and m;
//! `estimate` reads the sketch the server accumulated for a declared `ldp_reports:`
//! definition. See `docs/LOCAL_DP.md`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tessera_ldp::{zipf_weights, LdpParams, Mechanism, Simulation};

/// `tessera ldp …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LdpCommand {
    /// Run N simulated devices through the real randomiser and sketch and print, per
    /// domain value, the true count, the estimate and the theoretical standard deviation.
    Simulate(SimulateArgs),
    /// Estimate the frequency of each candidate value from a report's accumulated sketch.
    Estimate(EstimateArgs),
}

/// Arguments of `tessera ldp simulate`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SimulateArgs {
    /// `cms` (Count-Mean-Sketch: m bits per report) or `hcms` (Hadamard: one bit).
    #[arg(long, default_value = "cms")]
    pub mechanism: String,
    /// ε of one report (each device reports once).
    #[arg(long, default_value_t = 4.0)]
    pub epsilon: f64,
    /// Hash functions (sketch rows).
    #[arg(long, default_value_t = 16)]
    pub k: u32,
    /// Sketch columns (a power of two for hcms).
    #[arg(long, default_value_t = 1024)]
    pub m: u32,
    /// Simulated devices.
    #[arg(long, default_value_t = 100_000)]
    pub devices: u64,
    /// Domain size: the values `v0` … `v{D-1}`.
    #[arg(long, default_value_t = 100)]
    pub domain: usize,
    /// How often each value is held: `zipf:S` (value i ∝ 1/(i+1)^S) or `uniform`.
    #[arg(long, default_value = "zipf:1.1")]
    pub distribution: String,
    /// The seed of the devices' values and randomness (simulation only: devices use the OS).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print only the first N values (most frequent first); 0: all.
    #[arg(long, default_value_t = 0)]
    pub top: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tessera ldp estimate`.
#[derive(Debug, Clone, Args)]
pub(crate) struct EstimateArgs {
    /// The feature repository.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The `ldp_reports:` definition.
    #[arg(long)]
    pub report: String,
    /// A file of candidate values, one per line (default: the definition's `domain.values`).
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// The purpose of this read (audited); required unless `--consumer` has a default purpose.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Read as this declared consumer (it must hold the purpose).
    #[arg(long)]
    pub consumer: Option<String>,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tessera ldp …`.
pub(crate) fn run(cmd: &LdpCommand) -> Result<()> {
    match cmd {
        LdpCommand::Simulate(a) => simulate(a),
        LdpCommand::Estimate(a) => super::ldp_estimate::run(a),
    }
}

/// Parses `zipf:S` or `uniform` into weights for `size` values.
pub(crate) fn weights(distribution: &str, size: usize) -> Result<Vec<f64>> {
    if distribution == "uniform" {
        return Ok(vec![1.0; size]);
    }
    let Some(s) = distribution.strip_prefix("zipf:") else {
        bail!("unknown distribution `{distribution}` (hint: `zipf:1.1` or `uniform`)");
    };
    let s: f64 = s
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .with_context(|| {
            format!("`{distribution}`: the zipf exponent must be a number ≥ 0 (e.g. zipf:1.1)")
        })?;
    Ok(zipf_weights(size, s))
}

fn simulate(a: &SimulateArgs) -> Result<()> {
    let params = LdpParams::new(Mechanism::parse(&a.mechanism)?, a.epsilon, a.k, a.m)?;
    if a.domain == 0 || a.domain > 10_000_000 {
        bail!("--domain must be 1 to 10000000 values");
    }
    if a.devices == 0 {
        bail!("--devices must be at least 1");
    }
    let values: Vec<String> = (0..a.domain).map(|i| format!("v{i}")).collect();
    let started = Instant::now();
    let outcome = Simulation {
        params,
        hash_key: format!("tessera-ldp-simulate-{}", a.seed).into_bytes(),
        weights: weights(&a.distribution, values.len())?,
        values,
        devices: a.devices,
        seed: a.seed,
        threads: a.threads,
    }
    .run()?;
    let seconds = started.elapsed().as_secs_f64();
    let shown = if a.top == 0 {
        outcome.values.len()
    } else {
        a.top.min(outcome.values.len())
    };
    let errors: Vec<f64> = outcome
        .values
        .iter()
        .map(|v| v.estimate - v.true_count as f64)
        .collect();
    let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let sd_noise = tessera_ldp::variance(&params, a.devices as f64, 0.0, 0.0).sqrt();
    if a.json {
        let values: Vec<serde_json::Value> = outcome.values[..shown]
            .iter()
            .map(|v| {
                serde_json::json!({
                    "value": v.value, "true_count": v.true_count,
                    "estimate": round2(v.estimate), "sd": round2(v.sd),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "mechanism": params.mechanism().as_str(), "epsilon": params.epsilon(),
            "realised_epsilon": params.realised_epsilon(), "k": params.k(), "m": params.m(),
            "devices": a.devices, "domain": a.domain, "distribution": a.distribution,
            "seed": a.seed, "threads": outcome.threads, "seconds": round2(seconds),
            "sd_randomisation": round2(sd_noise), "rmse": round2(rmse),
            "values": values,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{} ε={} k={} m={}: {} devices, {} values ({}), seed {}, {:.2} s on {} threads",
        params.mechanism(),
        params.epsilon(),
        params.k(),
        params.m(),
        a.devices,
        a.domain,
        a.distribution,
        a.seed,
        seconds,
        outcome.threads
    );
    println!(
        "theoretical sd from the randomisation alone: {sd_noise:.1}; observed rmse over all values: {rmse:.1}"
    );
    println!(
        "{:<16} {:>12} {:>14} {:>12}",
        "value", "true_count", "estimate", "sd"
    );
    for v in &outcome.values[..shown] {
        println!(
            "{:<16} {:>12} {:>14.1} {:>12.1}",
            v.value, v.true_count, v.estimate, v.sd
        );
    }
    Ok(())
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

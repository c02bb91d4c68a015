//! The local-DP figures of `docs/BENCHMARKS.md`: the cost of one report on a device, the
//! server's accumulator ingest rate (in memory, and with the route's durable store of the
//! sketch after every batch), and 10^6 simulated devices.
//!
//! Run with `cargo run --release -p tessera-ldp --example ldp_bench [-- --write-batches DIR]`
//! (`--write-batches` also writes 20 binary batches of 10 000 CMS reports for the HTTP
//! measurement, `bench/ldp_http.py`).

use std::time::Instant;

use tessera_ldp::wire::{decode_batch, encode_batch};
use tessera_ldp::{
    os_rng, seeded_rng, zipf_weights, LdpParams, Mechanism, Randomiser, Report, Simulation, Sketch,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let write_dir = args
        .iter()
        .position(|a| a == "--write-batches")
        .and_then(|i| args.get(i + 1));
    let cms = LdpParams::new(Mechanism::Cms, 4.0, 16, 1024)?;
    let hcms = LdpParams::new(Mechanism::Hcms, 4.0, 16, 1024)?;

    // One device report: a fresh OS-seeded ChaCha20, the randomiser, the wire encoding.
    for params in [cms, hcms] {
        let device = Randomiser::new(params, b"genre_plays");
        let n = 20_000u32;
        let started = Instant::now();
        let mut bytes = 0;
        for i in 0..n {
            let mut rng = os_rng()?;
            let value: &[u8] = if i % 2 == 0 { b"jazz" } else { b"rock" };
            let report = device.randomise(value, &mut rng);
            bytes += encode_batch("genre_plays", &params, &[report])?.len();
        }
        let per = started.elapsed().as_secs_f64() / f64::from(n) * 1e6;
        let mut rng = seeded_rng(1, 0);
        let started = Instant::now();
        let mut out = Report::Cms(Default::default());
        for _ in 0..n {
            device.randomise_into(b"jazz", &mut rng, &mut out);
        }
        let reuse = started.elapsed().as_secs_f64() / f64::from(n) * 1e6;
        println!(
            "device report {params}: {per:.2} µs per report (OS seed + randomise + encode, {} bytes), {reuse:.2} µs randomise alone",
            bytes / n as usize
        );
    }

    // Server accumulator: decode binary batches and merge them into the sketch.
    let device = Randomiser::new(cms, b"genre_plays");
    let mut rng = seeded_rng(2, 0);
    let genres = [
        "pop",
        "rock",
        "jazz",
        "classical",
        "hiphop",
        "electronic",
        "country",
        "podcast",
    ];
    let mut batches = Vec::new();
    for b in 0..20 {
        let reports: Vec<Report> = (0..10_000)
            .map(|i| device.randomise(genres[(b * 7 + i) % 8].as_bytes(), &mut rng))
            .collect();
        batches.push(encode_batch("genre_plays", &cms, &reports)?);
    }
    if let Some(dir) = write_dir {
        std::fs::create_dir_all(dir)?;
        for (i, b) in batches.iter().enumerate() {
            std::fs::write(format!("{dir}/batch-{i:02}.bin"), b)?;
        }
        println!("wrote {} batches of 10 000 reports to {dir}", batches.len());
    }
    let mut sketch = Sketch::new(cms);
    let started = Instant::now();
    for b in &batches {
        let (_, delta) = decode_batch(b)?;
        sketch.merge(&delta)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "accumulator (decode + merge, one thread): {} reports in {secs:.3} s = {:.0} reports/s",
        sketch.reports(),
        sketch.reports() as f64 / secs
    );

    // What `POST /v1/ldp/reports` does per batch besides HTTP and the audit record: decode,
    // merge, and store the sketch durably (`SketchFile::save`: write, fsync, rename) before
    // the answer. Batches of 10 000 and of 1 000 reports (the fsync is per batch).
    let dir = std::env::temp_dir().join(format!("tessera-ldp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for per_batch in [10_000usize, 1_000] {
        let small: Vec<Vec<u8>> = if per_batch == 10_000 {
            batches.clone()
        } else {
            (0..50)
                .map(|b| {
                    let reports: Vec<Report> = (0..per_batch)
                        .map(|i| device.randomise(genres[(b * 3 + i) % 8].as_bytes(), &mut rng))
                        .collect();
                    encode_batch("genre_plays", &cms, &reports)
                })
                .collect::<Result<_, _>>()?
        };
        let file =
            tessera_ldp::SketchFile::new(dir.join(format!("genre_plays-{per_batch}.sketch")));
        let mut sketch = file.load_or_new(cms)?;
        let started = Instant::now();
        for b in &small {
            let (_, delta) = decode_batch(b)?;
            sketch.merge(&delta)?;
            file.save(&sketch)?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "route storage path (decode + merge + durable sketch save per batch of {per_batch}): {} reports in {secs:.3} s = {:.0} reports/s",
            sketch.reports(),
            sketch.reports() as f64 / secs
        );
    }
    std::fs::remove_dir_all(&dir)?;

    // 10^6 simulated devices through the same randomiser and sketch.
    for params in [cms, hcms] {
        let started = Instant::now();
        let outcome = Simulation {
            params,
            hash_key: b"tessera-ldp-simulate-1".to_vec(),
            values: (0..100).map(|i| format!("v{i}")).collect(),
            weights: zipf_weights(100, 1.1),
            devices: 1_000_000,
            seed: 1,
            threads: 0,
        }
        .run()?;
        println!(
            "simulate {params}: 1e6 devices, 100 values, zipf:1.1 in {:.2} s on {} threads",
            started.elapsed().as_secs_f64(),
            outcome.threads
        );
    }
    Ok(())
}

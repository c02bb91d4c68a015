//! Retention benchmark: a retention pass over an offline log of N events against a plain
//! read of the same log, in the same run (issue 15, item 7: "a retention pass over 1e7
//! logged events runs at least at the speed of reading them").
//!
//! ```sh
//! cd bench/retention_bench && cargo run --release -- \
//!     [--events 10000000] [--files 100] [--days 120] [--retention-days 90] [--users 100000] \
//!     [--seed 42] [--dir /tmp/retention-bench]
//! ```
//!
//! The log is written as the engine writes it (`part-plays-<seq>.parquet`, zstd, the log's
//! schema: `ts`, `user_id`, `item_id`, `action`, `dwell_s`, `event_id`), in two layouts:
//! - `ordered`: events in time order over `--days` (as ingestion writes them): most files
//!   are wholly older or wholly newer than the cutoff, one straddles it;
//! - `shuffled`: every file holds events from the whole span (the worst case: every file
//!   straddles the cutoff and is read and rewritten).
//!
//! For each layout: the log is written (not timed), read once whole to warm the page cache
//! (not timed), then **read** (every row of every file decoded, as a backfill does) and
//! **retention** (`apply_log_retention` with the cutoff `--retention-days` before the last
//! event) are timed. Prints one JSON line per layout.
//!
//! A last line measures what naming a training set's entities in its audit record costs:
//! `--digests` (default 1e6) distinct `user_id` values hashed with the repository's
//! `EntityHasher::digest`, sorted, and the size of the side file they make.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tessera_stream::apply_log_retention;

const DAY: i64 = 86_400_000_000;
const END: i64 = 1_780_000_000_000_000;

struct Args {
    events: usize,
    files: usize,
    days: i64,
    retention_days: i64,
    users: i64,
    seed: u64,
    dir: PathBuf,
    digests: usize,
}

fn args() -> Args {
    let mut a = Args {
        events: 10_000_000,
        files: 100,
        days: 120,
        retention_days: 90,
        users: 100_000,
        seed: 42,
        dir: PathBuf::from("/tmp/retention-bench"),
        digests: 1_000_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--events" => a.events = v.parse().unwrap(),
            "--files" => a.files = v.parse().unwrap(),
            "--days" => a.days = v.parse().unwrap(),
            "--retention-days" => a.retention_days = v.parse().unwrap(),
            "--users" => a.users = v.parse().unwrap(),
            "--seed" => a.seed = v.parse().unwrap(),
            "--dir" => a.dir = PathBuf::from(v),
            "--digests" => a.digests = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// splitmix64: a seeded, dependency-free generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user_id", DataType::Int64, true),
        Field::new("item_id", DataType::Int64, true),
        Field::new("action", DataType::Utf8, true),
        Field::new("dwell_s", DataType::Float64, true),
        Field::new("event_id", DataType::Utf8, true),
    ]))
}

fn write_log(a: &Args, dir: &Path, shuffled: bool) -> u64 {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(a.seed);
    let span = a.days * DAY;
    let start = END - span;
    let per_file = a.events / a.files;
    let mut bytes = 0;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    for f in 0..a.files {
        let n = if f + 1 == a.files {
            a.events - per_file * f
        } else {
            per_file
        };
        let first = f * per_file;
        let ts: Vec<i64> = (0..n)
            .map(|i| {
                if shuffled {
                    start + rng.below(span as u64) as i64
                } else {
                    start + ((first + i) as i128 * span as i128 / a.events as i128) as i64
                }
            })
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|_| rng.below(a.users as u64) as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|_| rng.below(10_000) as i64),
            )),
            Arc::new(StringArray::from_iter_values((0..n).map(
                |_| match rng.below(10) {
                    0..=6 => "play",
                    7 | 8 => "skip",
                    _ => "like",
                },
            ))),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|_| (rng.below(8) != 0).then(|| rng.below(600) as f64)),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("e{}", first + i)),
            )),
        ];
        let batch = RecordBatch::try_new(schema(), cols).unwrap();
        let path = tessera_stream::part_path(dir, "plays", f as u64 + 1);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema(), Some(props.clone())).unwrap();
        for off in (0..n).step_by(65_536) {
            w.write(&batch.slice(off, 65_536.min(n - off))).unwrap();
        }
        w.close().unwrap();
        bytes += std::fs::metadata(&path).unwrap().len();
    }
    bytes
}

/// Reads every row of every file (all columns), as a backfill does; returns the rows.
fn read_all(dir: &Path) -> u64 {
    let mut rows = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        let f = std::fs::File::open(&p).unwrap();
        for b in ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
        {
            rows += b.unwrap().num_rows() as u64;
        }
    }
    rows
}

fn main() {
    let a = args();
    let cutoff = END - a.retention_days * DAY;
    for layout in ["ordered", "shuffled"] {
        let dir = a.dir.join(layout);
        let bytes = write_log(&a, &dir, layout == "shuffled");
        read_all(&dir); // warm the page cache
        let t = Instant::now();
        let rows = read_all(&dir);
        let read_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = apply_log_retention(&dir, "plays", "ts", cutoff, true).unwrap();
        let pass_s = t.elapsed().as_secs_f64();
        let left = read_all(&dir);
        assert_eq!(left + r.removed_rows, rows, "every row is kept or removed");
        println!(
            "{{\"layout\":\"{layout}\",\"events\":{rows},\"files\":{},\"log_bytes\":{bytes},\"read_s\":{read_s:.3},\"read_events_per_s\":{:.0},\"retention_s\":{pass_s:.3},\"retention_events_per_s\":{:.0},\"speedup\":{:.2},\"dropped_files\":{},\"rewritten_files\":{},\"removed_rows\":{},\"kept_rows\":{left}}}",
            a.files,
            rows as f64 / read_s,
            rows as f64 / pass_s,
            read_s / pass_s,
            r.dropped_files,
            r.rewritten_files,
            r.removed_rows,
        );
    }
    let _ = std::fs::remove_dir_all(&a.dir);

    let n = a.digests;
    let hasher = tessera_core::EntityHasher::from_key(b"retention-bench");
    let t = Instant::now();
    let mut digests: Vec<String> = (0..n)
        .map(|i| hasher.digest(&[("user_id", i.to_string().as_str())]))
        .collect();
    digests.sort_unstable();
    let s = t.elapsed().as_secs_f64();
    println!(
        "{{\"digests\":{n},\"seconds\":{s:.3},\"us_per_key\":{:.3},\"side_file_bytes\":{}}}",
        s * 1e6 / n as f64,
        n * 65
    );
}

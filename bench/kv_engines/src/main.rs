//! redb vs fjall on the embedded online store's access pattern.
//!
//! Keys and rows are encoded exactly as `tessera-online` encodes them (see
//! `crates/online/src/entity_key.rs` and `feature_row.rs`): the key `user_id=<u>` is 18 bytes,
//! a row of 10 float64 + 5 int64 features named `f0..f9`, `i0..i4` is 198 bytes.
//!
//! Per repetition and engine, in a fresh directory:
//! 1. bulk write: KEYS rows in a shuffled key order, BATCH rows per transaction/batch,
//!    each commit durable (fsync); plain inserts, the engines' raw write speed;
//! 2. newer-wins rewrite: the same keys again with a newer stamp, read-compare-write per row
//!    (what `EmbeddedStore::write` always does; here every row is newer, so all are written);
//! 3. a 2 s pause (lets an LSM's background flush/compaction settle);
//! 4. point reads: WARMUP untimed, then READS random keys, one read transaction (redb) or one
//!    `get` (fjall) per key, on one thread, each timed;
//! 5. batch reads: BATCHES reads of 100 random keys, one read transaction or snapshot each;
//! 6. compaction (redb `Database::compact` until it reports nothing left, fjall
//!    `Keyspace::major_compact`), timed, then steps 4 and 5 again with fresh random keys.
//!
//! Engines run interleaved within a repetition; each cell of the final tables is the median of
//! its column over the REPS repetitions.
//!
//! Usage: `kv-engines [KEYS] [REPS]` (defaults 1000000 and 3). Set `KV_DIR` to choose where
//! the databases go (default: the system temp directory); each is removed after its run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fjall::{KeyspaceCreateOptions, PersistMode, Readable};
use redb::{ConcurrencyMode, Durability, ReadableDatabase, ReadableTable, TableDefinition};

const BATCH: usize = 10_000;
const WARMUP: usize = 100_000;
const READS: usize = 200_000;
const BATCHES: usize = 2_000;
const BATCH_KEYS: usize = 100;
const BASE_TS: i64 = 1_767_225_600_000_000;
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("rows/user_stats");

// ---- the online store's encodings (copied in spirit, so this crate stands alone) ----

fn encode_key(u: i64) -> Vec<u8> {
    let name = b"user_id";
    let mut out = Vec::with_capacity(18);
    out.push(1); // part count (varint)
    out.push(name.len() as u8); // name length (varint)
    out.extend_from_slice(name);
    out.push(1); // INT tag
    out.extend_from_slice(&u.to_be_bytes());
    out
}

const SIGN: u64 = 1 << 63;

fn encode_row(u: i64, event_ts: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    out.push(1); // format version
    out.extend_from_slice(&((event_ts as u64) ^ SIGN).to_be_bytes());
    out.extend_from_slice(&((i64::MIN as u64) ^ SIGN).to_be_bytes()); // no created ts
    out.push(15); // feature count (varint)
    for j in 0..10u8 {
        out.extend_from_slice(&[2, b'f', b'0' + j, 4]); // name len, name, FLOAT64 tag
        out.extend_from_slice(&(u as f64 * 0.5 + j as f64).to_bits().to_le_bytes());
    }
    for j in 0..5u8 {
        out.extend_from_slice(&[2, b'i', b'0' + j, 3]); // name len, name, INT64 tag
        out.extend_from_slice(&(u * 7 + j as i64).to_le_bytes());
    }
    out
}

/// The 16 stamp bytes compare like `(event_ts, created_ts)`.
fn stamp(row: &[u8]) -> &[u8] {
    &row[1..17]
}

// ---- a tiny deterministic RNG (xorshift64*) ----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn shuffled(n: i64, seed: u64) -> Vec<i64> {
    let mut v: Vec<i64> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

// ---- engines ----

trait Engine {
    fn name(&self) -> &'static str;
    /// Plain upserts, one durable commit.
    fn put_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]);
    /// Read-compare-write per row, one durable commit. Returns rows written.
    fn put_newer_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]) -> usize;
    /// One point read; returns the value length (0 when missing).
    fn get(&self, key: &[u8]) -> usize;
    /// Reads many keys from one snapshot; returns the total value length.
    fn get_many(&self, keys: &[Vec<u8>]) -> usize;
    fn settle(&self) {}
    /// Reclaims space / merges runs (redb `compact`, fjall `major_compact`).
    fn compact(&mut self);
}

struct Redb {
    label: &'static str,
    db: redb::Database,
}

impl Redb {
    /// `multi_writer: true` opens it like `EmbeddedStore::open` (multi-writer mode, so other
    /// processes may read and write the file); `false` is redb's default exclusive-writer
    /// mode. Both keep redb's default 1 GiB cache.
    fn open(dir: &Path, label: &'static str, multi_writer: bool) -> Self {
        let mode = if multi_writer {
            ConcurrencyMode::MultiWriter
        } else {
            ConcurrencyMode::ExclusiveWriter
        };
        let db = redb::Builder::new()
            .set_concurrency_mode(mode)
            .create(dir.join("online.redb"))
            .expect("open redb");
        let txn = db.begin_write().expect("begin");
        txn.open_table(TABLE).expect("table");
        txn.commit().expect("commit");
        Self { label, db }
    }
}

impl Engine for Redb {
    fn name(&self) -> &'static str {
        self.label
    }
    fn put_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]) {
        let mut txn = self.db.begin_write().expect("begin");
        txn.set_durability(Durability::Immediate).expect("durability");
        {
            let mut t = txn.open_table(TABLE).expect("table");
            for (k, v) in rows {
                t.insert(k.as_slice(), v.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    fn put_newer_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]) -> usize {
        let txn = self.db.begin_write().expect("begin");
        let mut written = 0;
        {
            let mut t = txn.open_table(TABLE).expect("table");
            for (k, v) in rows {
                let newer = match t.get(k.as_slice()).expect("get") {
                    Some(old) => stamp(v) > stamp(old.value()),
                    None => true,
                };
                if newer {
                    t.insert(k.as_slice(), v.as_slice()).expect("insert");
                    written += 1;
                }
            }
        }
        txn.commit().expect("commit");
        written
    }
    fn compact(&mut self) {
        while self.db.compact().expect("redb compact") {}
    }
    fn get(&self, key: &[u8]) -> usize {
        // Like EmbeddedStore::read: a read transaction and a table open per call.
        let txn = self.db.begin_read().expect("begin read");
        let t = txn.open_table(TABLE).expect("table");
        let v = t.get(key).expect("get");
        v.map(|g| g.value().to_vec().len()).unwrap_or(0)
    }
    fn get_many(&self, keys: &[Vec<u8>]) -> usize {
        let txn = self.db.begin_read().expect("begin read");
        let t = txn.open_table(TABLE).expect("table");
        keys.iter()
            .map(|k| {
                t.get(k.as_slice())
                    .expect("get")
                    .map(|g| g.value().to_vec().len())
                    .unwrap_or(0)
            })
            .sum()
    }
}

struct Fjall {
    label: &'static str,
    db: fjall::Database,
    ks: fjall::Keyspace,
    sync: bool,
}

impl Fjall {
    /// `cache_bytes: None` keeps fjall's default (32 MiB); `sync` fsyncs every batch.
    fn open(dir: &Path, label: &'static str, cache_bytes: Option<u64>, sync: bool) -> Self {
        let mut b = fjall::Database::builder(dir);
        if let Some(c) = cache_bytes {
            b = b.cache_size(c);
        }
        let db = b.open().expect("open fjall");
        let ks = db
            .keyspace("rows_user_stats", KeyspaceCreateOptions::default)
            .expect("keyspace");
        Self {
            label,
            db,
            ks,
            sync,
        }
    }
    fn commit(&self, batch: fjall::OwnedWriteBatch) {
        let batch = if self.sync {
            batch.durability(Some(PersistMode::SyncAll))
        } else {
            batch
        };
        batch.commit().expect("commit");
    }
}

impl Engine for Fjall {
    fn name(&self) -> &'static str {
        self.label
    }
    fn put_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]) {
        let mut batch = self.db.batch();
        for (k, v) in rows {
            batch.insert(&self.ks, k.as_slice(), v.as_slice());
        }
        self.commit(batch);
    }
    fn put_newer_batch(&self, rows: &[(Vec<u8>, Vec<u8>)]) -> usize {
        // Not atomic against a concurrent writer (a plain fjall Database has no read-write
        // transaction); redb's write transaction is. This measures the cost only.
        let snap = self.db.snapshot();
        let mut batch = self.db.batch();
        let mut written = 0;
        for (k, v) in rows {
            let newer = match snap.get(&self.ks, k.as_slice()).expect("get") {
                Some(old) => stamp(v) > stamp(&old),
                None => true,
            };
            if newer {
                batch.insert(&self.ks, k.as_slice(), v.as_slice());
                written += 1;
            }
        }
        self.commit(batch);
        written
    }
    fn get(&self, key: &[u8]) -> usize {
        self.ks
            .get(key)
            .expect("get")
            .map(|v| v.to_vec().len())
            .unwrap_or(0)
    }
    fn get_many(&self, keys: &[Vec<u8>]) -> usize {
        let snap = self.db.snapshot();
        keys.iter()
            .map(|k| {
                snap.get(&self.ks, k.as_slice())
                    .expect("get")
                    .map(|v| v.to_vec().len())
                    .unwrap_or(0)
            })
            .sum()
    }
    fn settle(&self) {
        self.db.persist(PersistMode::SyncAll).expect("persist");
    }
    fn compact(&mut self) {
        self.ks.major_compact().expect("fjall major_compact");
    }
}

// ---- measurement ----

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    write_rows_s: f64,
    rewrite_rows_s: f64,
    reads_s: f64,
    read_p50_us: f64,
    read_p99_us: f64,
    batch_p50_us: f64,
    batch_p99_us: f64,
    batch_keys_s: f64,
    disk_mb: f64,
    compact_s: f64,
    c_reads_s: f64,
    c_read_p50_us: f64,
    c_read_p99_us: f64,
    c_batch_p50_us: f64,
    c_batch_p99_us: f64,
    c_disk_mb: f64,
}

/// Point reads then batch reads; returns (reads/s, p50, p99, batch p50, batch p99, batch keys/s).
fn reads(engine: &dyn Engine, keys: i64, seed: u64) -> (f64, f64, f64, f64, f64, f64) {
    let mut rng = Rng(seed);
    let mut check = 0usize;
    for _ in 0..WARMUP {
        check += engine.get(&encode_key(rng.below(keys as u64) as i64));
    }
    let probe: Vec<Vec<u8>> = (0..READS)
        .map(|_| encode_key(rng.below(keys as u64) as i64))
        .collect();
    let mut lat = Vec::with_capacity(READS);
    let t = Instant::now();
    for k in &probe {
        let t1 = Instant::now();
        check += engine.get(k);
        lat.push(t1.elapsed());
    }
    let reads_s = READS as f64 / t.elapsed().as_secs_f64();
    lat.sort_unstable();
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    assert_eq!(check, (WARMUP + READS) * 198, "{}: every read found its row", engine.name());

    let batches: Vec<Vec<Vec<u8>>> = (0..BATCHES)
        .map(|_| {
            (0..BATCH_KEYS)
                .map(|_| encode_key(rng.below(keys as u64) as i64))
                .collect()
        })
        .collect();
    let mut lat = Vec::with_capacity(BATCHES);
    let t = Instant::now();
    let mut check = 0usize;
    for b in &batches {
        let t1 = Instant::now();
        check += engine.get_many(b);
        lat.push(t1.elapsed());
    }
    let batch_keys_s = (BATCHES * BATCH_KEYS) as f64 / t.elapsed().as_secs_f64();
    lat.sort_unstable();
    assert_eq!(check, BATCHES * BATCH_KEYS * 198);
    (reads_s, p50, p99, pct(&lat, 0.50), pct(&lat, 0.99), batch_keys_s)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            n += if md.is_dir() {
                dir_bytes(&e.path())
            } else {
                md.len()
            };
        }
    }
    n
}

fn run(engine: &mut dyn Engine, dir: &Path, keys: i64, rep: u64) -> Figures {
    let mut f = Figures::default();
    let order = shuffled(keys, 0xC0FFEE + rep);

    // 1. bulk write
    let t = Instant::now();
    for chunk in order.chunks(BATCH) {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = chunk
            .iter()
            .map(|&u| (encode_key(u), encode_row(u, BASE_TS + u)))
            .collect();
        engine.put_batch(&rows);
    }
    f.write_rows_s = keys as f64 / t.elapsed().as_secs_f64();

    // 2. newer-wins rewrite (every row is newer, so every row is written)
    let t = Instant::now();
    let mut written = 0;
    for chunk in order.chunks(BATCH) {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = chunk
            .iter()
            .map(|&u| (encode_key(u), encode_row(u, BASE_TS + u + 1)))
            .collect();
        written += engine.put_newer_batch(&rows);
    }
    f.rewrite_rows_s = keys as f64 / t.elapsed().as_secs_f64();
    assert_eq!(written as i64, keys, "{}: newer-wins rewrite", engine.name());

    // 3. settle
    engine.settle();
    std::thread::sleep(Duration::from_secs(2));
    f.disk_mb = dir_bytes(dir) as f64 / 1e6;

    // 4.–5. point and batch reads, right after the writes
    let (a, b, c, d, e, g) = reads(engine, keys, 0x5EED_0000 + rep);
    (f.reads_s, f.read_p50_us, f.read_p99_us, f.batch_p50_us, f.batch_p99_us, f.batch_keys_s) =
        (a, b, c, d, e, g);

    // 6. compact (steady state of a read-mostly store), then the same reads again
    let t = Instant::now();
    engine.compact();
    f.compact_s = t.elapsed().as_secs_f64();
    f.c_disk_mb = dir_bytes(dir) as f64 / 1e6;
    let (a, b, c, d, e, _) = reads(engine, keys, 0xC0DE_0000 + rep);
    (f.c_reads_s, f.c_read_p50_us, f.c_read_p99_us, f.c_batch_p50_us, f.c_batch_p99_us) =
        (a, b, c, d, e);
    f
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let keys: i64 = args.next().map_or(1_000_000, |s| s.parse().expect("KEYS"));
    let reps: u64 = args.next().map_or(3, |s| s.parse().expect("REPS"));
    let base: PathBuf = std::env::var_os("KV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("kv-engines-data-{}", std::process::id()));

    println!(
        "{keys} keys (18 B) x 198 B rows, batches of {BATCH}, {READS} point reads \
         (+{WARMUP} warm-up), {BATCHES} x {BATCH_KEYS}-key batch reads, {reps} reps"
    );
    let names = [
        "redb 4.6.0 (multi-writer, as EmbeddedStore)",
        "redb 4.6.0 (exclusive writer)",
        "fjall 3.1.13 (1 GiB cache, fsync per batch)",
        "fjall 3.1.13 (defaults: 32 MiB cache, no fsync)",
    ];
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); names.len()];
    for rep in 0..reps {
        for (i, _) in names.iter().enumerate() {
            let dir = base.join(format!("r{rep}-e{i}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let fig = {
                let mut engine: Box<dyn Engine> = match i {
                    0 => Box::new(Redb::open(&dir, names[0], true)),
                    1 => Box::new(Redb::open(&dir, names[1], false)),
                    2 => Box::new(Fjall::open(&dir, names[2], Some(1 << 30), true)),
                    _ => Box::new(Fjall::open(&dir, names[3], None, false)),
                };
                run(engine.as_mut(), &dir, keys, rep)
            };
            println!(
                "rep {rep} {:<48} write {:>9.0} rows/s  rewrite {:>9.0} rows/s  \
                 get {:>9.0}/s p50 {:>5.2} p99 {:>6.2} us  batch100 p50 {:>7.1} p99 {:>7.1} us  disk {:>5.0} MB\n      \
                 after compaction ({:.1}s): get {:>9.0}/s p50 {:>5.2} p99 {:>6.2} us  batch100 p50 {:>7.1} p99 {:>7.1} us  disk {:>5.0} MB",
                names[i],
                fig.write_rows_s,
                fig.rewrite_rows_s,
                fig.reads_s,
                fig.read_p50_us,
                fig.read_p99_us,
                fig.batch_p50_us,
                fig.batch_p99_us,
                fig.disk_mb,
                fig.compact_s,
                fig.c_reads_s,
                fig.c_read_p50_us,
                fig.c_read_p99_us,
                fig.c_batch_p50_us,
                fig.c_batch_p99_us,
                fig.c_disk_mb
            );
            results[i].push(fig);
            std::fs::remove_dir_all(&dir).expect("rm");
        }
    }
    let _ = std::fs::remove_dir_all(&base);

    println!();
    println!(
        "| engine | bulk write rows/s | newer-wins rewrite rows/s | point reads/s | read p50 µs | read p99 µs | 100-key batch p50 µs | batch p99 µs | batch keys/s | disk MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, name) in names.iter().enumerate() {
        let m = |g: fn(&Figures) -> f64| median(results[i].iter().map(g).collect());
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} |",
            m(|f| f.write_rows_s),
            m(|f| f.rewrite_rows_s),
            m(|f| f.reads_s),
            m(|f| f.read_p50_us),
            m(|f| f.read_p99_us),
            m(|f| f.batch_p50_us),
            m(|f| f.batch_p99_us),
            m(|f| f.batch_keys_s),
            m(|f| f.disk_mb),
        );
    }
    println!();
    println!("After compaction (redb `compact`, fjall `major_compact`):");
    println!();
    println!(
        "| engine | compaction s | point reads/s | read p50 µs | read p99 µs | 100-key batch p50 µs | batch p99 µs | disk MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, name) in names.iter().enumerate() {
        let m = |g: fn(&Figures) -> f64| median(results[i].iter().map(g).collect());
        println!(
            "| {name} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} |",
            m(|f| f.compact_s),
            m(|f| f.c_reads_s),
            m(|f| f.c_read_p50_us),
            m(|f| f.c_read_p99_us),
            m(|f| f.c_batch_p50_us),
            m(|f| f.c_batch_p99_us),
            m(|f| f.c_disk_mb),
        );
    }
}

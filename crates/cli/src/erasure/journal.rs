//! The erasure journal (`.tessera/erasure/journal/<id>.json`): written before any tier is
//! touched, holding the entities' keyed hashes only (never a clear key), then updated after
//! each tier. A run that dies part-way leaves the journal unfinished; `tessera erase` with
//! the same entities resumes it (tiers already done are skipped, and every tier is
//! idempotent anyway), and `tessera erase --repo DIR` with no entity lists the unfinished
//! ones. Each update is written to a temporary file, synced and renamed into place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Where journals live, relative to the repository.
pub(crate) const JOURNAL_DIR: &str = ".tessera/erasure/journal";

/// The environment variable that aborts the process right after the named tier (tests of
/// crash safety): `TESSERA_FAULT_ERASE_AFTER_TIER=online`.
pub(crate) const FAULT_ENV: &str = "TESSERA_FAULT_ERASE_AFTER_TIER";

/// One erasure's journal.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    record: Value,
}

impl Journal {
    /// Opens the journal of these digests (sorted), creating it with the intent when new.
    pub(crate) fn begin(root: &Path, digests: &[String]) -> Result<Self> {
        let mut sorted = digests.to_vec();
        sorted.sort();
        sorted.dedup();
        let id = tessera_core::hmac_sha256(b"tessera-erasure-journal", sorted.join(",").as_bytes());
        let id: String = id[..8].iter().map(|b| format!("{b:02x}")).collect();
        let path = root.join(JOURNAL_DIR).join(format!("{id}.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(record) = serde_json::from_str::<Value>(&text) {
                // An unfinished run resumes; a finished one is run again from the start.
                if record["finished"].is_null() {
                    return Ok(Self { path, record });
                }
            }
        }
        let journal = Self {
            path,
            record: json!({
                "entities": sorted,
                "started": chrono::Utc::now().to_rfc3339(),
                "done": [],
                "finished": null,
            }),
        };
        journal.save()?;
        Ok(journal)
    }

    /// Whether this journal was left unfinished by an earlier run.
    pub(crate) fn resumed(&self) -> bool {
        !self.done_tiers().is_empty() && self.record["finished"].is_null()
    }

    /// The tiers done so far.
    pub(crate) fn done_tiers(&self) -> Vec<String> {
        self.record["done"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `tier` is done.
    pub(crate) fn is_done(&self, tier: &str) -> bool {
        self.done_tiers().iter().any(|t| t == tier)
    }

    /// Marks `tier` done (durably), then aborts the process if the fault-injection variable
    /// names it.
    pub(crate) fn mark(&mut self, tier: &str) -> Result<()> {
        if !self.is_done(tier) {
            if let Some(a) = self.record["done"].as_array_mut() {
                a.push(json!(tier));
            }
            self.save()?;
        }
        if std::env::var(FAULT_ENV).is_ok_and(|t| t == tier) {
            eprintln!("{FAULT_ENV}={tier}: aborting after the tier, as asked");
            std::process::abort();
        }
        Ok(())
    }

    /// Marks the erasure finished.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.record["finished"] = json!(chrono::Utc::now().to_rfc3339());
        self.save()
    }

    /// The journal file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        write_atomically(dir, &self.path, format!("{}\n", self.record).as_bytes())
    }
}

/// Writes `bytes` to `path` through a synced temporary file and a rename, then syncs `dir`.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// An unfinished journal: (file, entity digests, tiers done).
pub(crate) type Unfinished = (PathBuf, Vec<String>, Vec<String>);

/// The unfinished journals of the repository.
pub(crate) fn unfinished(root: &Path) -> Result<Vec<Unfinished>> {
    let dir = root.join(JOURNAL_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let Ok(record) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if record["finished"].is_null() {
            let list = |k: &str| -> Vec<String> {
                record[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push((p, list("entities"), list("done")));
        }
    }
    out.sort();
    Ok(out)
}

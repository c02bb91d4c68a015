//! The byte-level proof (`tessera erase --verify`): every file Tessera manages (everything
//! under `.tessera/` but the privacy key, the stream sources' offline logs, the audit log,
//! and the sources it rewrote) is searched for every needle in one chunked pass
//! ([`tessera_online::scan_file`], the scanner the erasing compaction uses) — the entity's
//! key in the forms it is stored in, and its string values collected before erasure, held
//! in memory only and never printed (findings name the needle by kind and index).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// What to look for. `label` says what it is without saying it (`key`, `value #3`).
#[derive(Debug, Clone)]
pub(crate) struct Needle {
    pub label: String,
    pub bytes: Vec<u8>,
}

/// One finding: a needle in a file, at a byte offset.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub file: PathBuf,
    pub label: String,
    pub offset: u64,
}

/// The scan's result.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanReport {
    pub files: usize,
    pub bytes: u64,
    pub needles: usize,
    pub findings: Vec<Finding>,
    pub ms: f64,
}

impl ScanReport {
    pub(crate) fn clean(&self) -> bool {
        self.findings.is_empty()
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "clean": self.clean(),
            "files_scanned": self.files,
            "bytes_scanned": self.bytes,
            "needles": self.needles,
            "ms": self.ms,
            "findings": self.findings.iter().map(|f| json!({
                "file": f.file.display().to_string(), "needle": f.label, "offset": f.offset
            })).collect::<Vec<_>>(),
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let mut out = format!(
            "Verify: scanned {} file(s), {} bytes, for {} needle(s) (the key and the entity's string values) in {:.1} ms: ",
            self.files, self.bytes, self.needles, self.ms
        );
        if self.clean() {
            out.push_str("nothing found.\n");
        } else {
            out.push_str(&format!("FOUND {} occurrence(s):\n", self.findings.len()));
            for f in &self.findings {
                out.push_str(&format!(
                    "  {}: {} at byte {}\n",
                    f.file.display(),
                    f.label,
                    f.offset
                ));
            }
        }
        out
    }
}

/// Every regular file under `path` (a file or a directory, recursively).
pub(crate) fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
    } else if let Ok(d) = std::fs::read_dir(path) {
        for e in d.flatten() {
            files_under(&e.path(), out);
        }
    }
}

/// Scans `files` for `needles`, each file in one chunked pass.
pub(crate) fn scan(files: &[PathBuf], needles: &[Needle]) -> ScanReport {
    let started = std::time::Instant::now();
    let mut r = ScanReport {
        needles: needles.len(),
        ..ScanReport::default()
    };
    let bytes: Vec<&[u8]> = needles.iter().map(|n| n.bytes.as_slice()).collect();
    for f in files {
        let Ok(found) = tessera_online::scan_file(f, &bytes) else {
            continue;
        };
        r.files += 1;
        r.bytes += found.bytes;
        for (n, at) in needles.iter().zip(found.first) {
            if let Some(offset) = at {
                r.findings.push(Finding {
                    file: f.clone(),
                    label: n.label.clone(),
                    offset,
                });
            }
        }
    }
    r.ms = started.elapsed().as_secs_f64() * 1e3;
    r
}

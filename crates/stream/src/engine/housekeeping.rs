//! Housekeeping of the offline log: numbering batches after the files already there, and
//! removing the files of batches that never committed.

use std::path::Path;

use crate::offline_log;

/// One past the highest batch number in the log.
pub(super) fn next_free_seq(dir: &Path, source: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| offline_log::last_seq(&e.file_name().to_string_lossy(), source))
                .max()
                .map_or(0, |m| m + 1)
        })
        .unwrap_or(0)
}

/// Removes log files of batches at or after `next_seq` (written by a batch that never
/// committed its checkpoint).
pub(super) fn remove_uncommitted(dir: &Path, source: &str, next_seq: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let seq = offline_log::log_seq(&name, source);
        if seq.is_some_and(|s| s >= next_seq) || name.ends_with(".parquet.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

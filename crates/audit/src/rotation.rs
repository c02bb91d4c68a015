//! Rotation and retention of the audit log's files.
//!
//! The log directory holds the active file, `audit.jsonl`, and the rotated ones,
//! `audit-<UTC time of rotation>.jsonl` (for example `audit-20260105T101500.123456Z.jsonl`),
//! whose names sort in time order. Rotating renames the active file (one atomic `rename`);
//! the next write creates a new one. Nothing is lost when several processes write: a writer
//! that still has the renamed file open appends to it (a rename keeps the file), and notices
//! before its next write that the path names a new file, and reopens. One process rotates at
//! a time (a lock file made with `O_CREAT|O_EXCL`). Retention deletes the oldest rotated
//! files, never the newest one, nor the active file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The active file's name.
pub(crate) const ACTIVE: &str = "audit.jsonl";
const ROTATED_PREFIX: &str = "audit-";
const ROTATED_SUFFIX: &str = ".jsonl";
const LOCK: &str = "audit.rotate.lock";
/// A rotation lock older than this was left by a process that died while rotating.
const STALE_LOCK: Duration = Duration::from_secs(30);

/// When the active file is rotated, and which rotated files are kept. The default never
/// rotates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the active file holds at least this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate once the active file's first record is older than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many rotated files (at least 1 is always kept).
    pub retain_files: Option<usize>,
    /// Delete rotated files last written longer ago than this (the newest is always kept).
    pub retain_age: Option<Duration>,
}

impl Rotation {
    /// Whether the active file is ever rotated.
    pub fn enabled(&self) -> bool {
        self.max_bytes.is_some() || self.max_age.is_some()
    }

    /// Whether a file of `size` bytes whose first record was written at `first` is due.
    pub(crate) fn due(&self, size: u64, first: Option<SystemTime>) -> bool {
        self.max_bytes.is_some_and(|m| size >= m)
            || self.max_age.is_some_and(|age| {
                size > 0 && first.is_some_and(|t| t.elapsed().is_ok_and(|elapsed| elapsed >= age))
            })
    }
}

/// `(device, inode)`: which file a path or a handle is.
pub(crate) fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The rotated files in `dir`, oldest first.
pub(crate) fn rotated_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(ROTATED_PREFIX) && name.ends_with(ROTATED_SUFFIX) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Every file of the log, open, in time order: the rotated ones, oldest first, then the
/// active one (if it exists). The active file is opened first, so that a rotation while
/// this runs neither hides records (its old file is then also listed as rotated, and
/// skipped as the same file) nor shows any twice.
pub(crate) fn open_files(active: &Path) -> std::io::Result<Vec<(PathBuf, File)>> {
    let current = match File::open(active) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let current_id = match &current {
        Some(f) => Some(identity(&f.metadata()?)),
        None => None,
    };
    let mut out = Vec::new();
    if let Some(dir) = active.parent() {
        for path in rotated_files(dir)? {
            let f = match File::open(&path) {
                Ok(f) => f,
                // Deleted by retention meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if Some(identity(&f.metadata()?)) != current_id {
                out.push((path, f));
            }
        }
    }
    if let Some(f) = current {
        out.push((active.to_path_buf(), f));
    }
    Ok(out)
}

/// The time of the first record of `file`, if it has one.
pub(crate) fn first_record_time(file: &Path) -> Option<SystemTime> {
    #[derive(Deserialize)]
    struct Time {
        time: String,
    }
    let f = File::open(file).ok()?;
    let mut line = Vec::new();
    std::io::BufRead::read_until(
        &mut std::io::BufReader::new(std::io::Read::take(f, 64 * 1024)),
        b'\n',
        &mut line,
    )
    .ok()?;
    let t: Time = serde_json::from_slice(line.trim_ascii()).ok()?;
    let t = chrono::DateTime::parse_from_rfc3339(&t.time).ok()?;
    Some(SystemTime::from(t.with_timezone(&chrono::Utc)))
}

/// Held while one process rotates; removed when dropped.
struct RotateLock(PathBuf);

impl RotateLock {
    /// Takes the lock, or `None` if another process is rotating.
    fn acquire(dir: &Path) -> std::io::Result<Option<Self>> {
        let path = dir.join(LOCK);
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Some(Self(path))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if !stale {
                        return Ok(None);
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

impl Drop for RotateLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rotates the active file if it is still the file `expected` (as the caller knows it; any
/// file if `None`) and not empty, then applies retention. Returns whether it rotated: not if
/// another process is rotating or has just rotated.
pub(crate) fn rotate(
    active: &Path,
    expected: Option<(u64, u64)>,
    rotation: &Rotation,
) -> std::io::Result<bool> {
    let Some(dir) = active.parent() else {
        return Ok(false);
    };
    let Some(_lock) = RotateLock::acquire(dir)? else {
        return Ok(false);
    };
    let meta = match std::fs::metadata(active) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.len() == 0 || expected.is_some_and(|id| id != identity(&meta)) {
        return Ok(false);
    }
    let target = loop {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let t = dir.join(format!("{ROTATED_PREFIX}{stamp}{ROTATED_SUFFIX}"));
        if !t.exists() {
            break t;
        }
        std::thread::sleep(Duration::from_micros(2));
    };
    std::fs::rename(active, &target)?;
    apply_retention(dir, rotation)?;
    Ok(true)
}

/// Deletes the rotated files that retention does not keep; the newest is always kept.
fn apply_retention(dir: &Path, rotation: &Rotation) -> std::io::Result<()> {
    let mut files = rotated_files(dir)?;
    files.pop(); // the newest
    let keep_older = rotation.retain_files.map(|n| n.max(1) - 1);
    let excess = keep_older.map_or(0, |k| files.len().saturating_sub(k));
    for (i, path) in files.iter().enumerate() {
        let too_old = rotation.retain_age.is_some_and(|age| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e > age)
        });
        if i < excess || too_old {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_size_or_by_the_age_of_the_first_record() {
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let by_size = Rotation {
            max_bytes: Some(100),
            ..Rotation::default()
        };
        assert!(!Rotation::default().due(u64::MAX, Some(hour_ago)));
        assert!(!by_size.due(99, Some(hour_ago)));
        assert!(by_size.due(100, None));
        let by_age = Rotation {
            max_age: Some(Duration::from_secs(60)),
            ..Rotation::default()
        };
        assert!(by_age.due(1, Some(hour_ago)));
        assert!(!by_age.due(1, Some(SystemTime::now())));
        assert!(
            !by_age.due(0, Some(hour_ago)),
            "an empty file is not rotated"
        );
        assert!(!by_age.due(1, None));
    }

    #[test]
    fn retention_by_age_and_count_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(10 * 86_400);
        let names = [
            "audit-20260101T000000.000000Z.jsonl",
            "audit-20260102T000000.000000Z.jsonl",
            "audit-20260103T000000.000000Z.jsonl",
            "audit-20260104T000000.000000Z.jsonl",
        ];
        for n in names {
            let f = File::create(dir.path().join(n)).unwrap();
            f.set_modified(old).unwrap();
        }
        std::fs::write(dir.path().join(ACTIVE), "x\n").unwrap();
        let by_count = Rotation {
            max_bytes: Some(1),
            retain_files: Some(3),
            ..Rotation::default()
        };
        apply_retention(dir.path(), &by_count).unwrap();
        let left: Vec<_> = rotated_files(dir.path()).unwrap();
        assert_eq!(left.len(), 3);
        assert!(left[0].ends_with(names[1]));
        // All are ten days old: an age limit of a day deletes all but the newest.
        let by_age = Rotation {
            max_bytes: Some(1),
            retain_age: Some(Duration::from_secs(86_400)),
            ..Rotation::default()
        };
        apply_retention(dir.path(), &by_age).unwrap();
        let left = rotated_files(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].ends_with(names[3]));
        assert!(
            dir.path().join(ACTIVE).exists(),
            "the active file is never deleted"
        );
    }

    #[test]
    fn rotate_renames_only_the_expected_file() {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join(ACTIVE);
        std::fs::write(&active, "x\n").unwrap();
        let r = Rotation {
            max_bytes: Some(1),
            ..Rotation::default()
        };
        assert!(!rotate(&active, Some((0, 0)), &r).unwrap(), "another file");
        let id = identity(&std::fs::metadata(&active).unwrap());
        // Another process is rotating: this one leaves it to them.
        std::fs::write(dir.path().join(LOCK), "").unwrap();
        assert!(!rotate(&active, Some(id), &r).unwrap());
        std::fs::remove_file(dir.path().join(LOCK)).unwrap();
        assert!(rotate(&active, Some(id), &r).unwrap());
        assert!(!active.exists());
        assert_eq!(rotated_files(dir.path()).unwrap().len(), 1);
        assert!(!dir.path().join(LOCK).exists(), "the lock is released");
        assert!(
            !rotate(&active, Some(id), &r).unwrap(),
            "nothing left to rotate"
        );
    }
}

//! The consent log: `.tessera/consent/consent.jsonl`, one JSON object per consent change,
//! appended and fsync'd before a change is acknowledged. Entities are keyed hashes
//! (`EntityHasher::digest` under the repository's privacy key), never the clear key.
//!
//! A writer that dies mid-line leaves a line without its newline: readers stop before it,
//! and the next append first ends it, so it becomes one unreadable line that is skipped.
//! Erasure rewrites the log without the entity's lines (a new file renamed over the old
//! one); readers notice the new file and reload it whole.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::consent_state::{format_time, ConsentState};
use crate::error::{Error, Result};

/// The log's path under a repository.
pub const CONSENT_LOG: &str = ".tessera/consent/consent.jsonl";

/// One consent change as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The keyed hash of the entity key (`user_id=u1`), 64 hex digits.
    pub entity: String,
    /// The purpose.
    pub purpose: String,
    /// Granted or withdrawn.
    pub state: ConsentState,
    /// When the change takes effect (µs since the epoch).
    pub at_us: i64,
    /// The same, as RFC 3339, for people reading the file.
    pub at: String,
    /// When it was recorded (µs since the epoch).
    pub recorded_us: i64,
}

impl LogLine {
    /// A change of `entity` (a digest) for `purpose` at `at_us`, recorded at `recorded_us`.
    pub fn new(
        entity: String,
        purpose: &str,
        state: ConsentState,
        at_us: i64,
        recorded_us: i64,
    ) -> Self {
        LogLine {
            entity,
            purpose: purpose.to_string(),
            state,
            at_us,
            at: format_time(at_us),
            recorded_us,
        }
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Appends `lines` to the log at `path` (created if missing) and syncs it to disk, under
/// the log's lock: an erasure rewriting the log in another process cannot lose them.
pub(crate) fn append(path: &Path, lines: &[LogLine]) -> Result<()> {
    let _lock = lock(path)?;
    write_lines(path, lines)
}

/// Takes the log's lock (an exclusive `flock` on `<log>.lock`, released when the returned
/// file is dropped, or by the kernel when the process dies): appends and rewrites of the
/// log are serialised across processes, so a rewrite never renames away a file that
/// another writer appended to after the rewrite read it.
fn lock(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(path, "creating the directory"))?;
    }
    let lock_path = path.with_extension("jsonl.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path, "opening the lock file"))?;
    f.lock().map_err(io(&lock_path, "locking"))?;
    Ok(f)
}

/// Appends `lines` to the file at `path` (created if missing) and syncs it.
fn write_lines(path: &Path, lines: &[LogLine]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(path, "creating the directory"))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path, "opening"))?;
    let len = f.metadata().map_err(io(path, "reading the size"))?.len();
    let mut buf = Vec::with_capacity(lines.len() * 200);
    if len > 0 {
        // End a line torn by a writer that died, so ours start on a line of their own.
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(io(path, "reading"))?;
        if last[0] != b'\n' {
            buf.push(b'\n');
        }
    }
    for l in lines {
        serde_json::to_writer(&mut buf, l).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            what: "encoding a line",
            source: e.into(),
        })?;
        buf.push(b'\n');
    }
    f.write_all(&buf).map_err(io(path, "appending"))?;
    f.sync_data().map_err(io(path, "syncing"))
}

/// What reading the log from an offset gave.
pub(crate) struct Chunk {
    /// The readable lines, in order.
    pub lines: Vec<LogLine>,
    /// Lines that did not parse (torn or damaged), skipped.
    pub skipped: usize,
    /// The offset after the last complete line.
    pub end: u64,
}

/// The complete lines of the log from byte `offset` on.
pub(crate) fn read_from(f: &mut File, path: &Path, offset: u64) -> Result<Chunk> {
    f.seek(SeekFrom::Start(offset))
        .map_err(io(path, "seeking"))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io(path, "reading"))?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut chunk = Chunk {
        lines: Vec::new(),
        skipped: 0,
        end: offset + complete as u64,
    };
    for line in bytes[..complete].split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<LogLine>(line) {
            Ok(l) => chunk.lines.push(l),
            Err(_) => chunk.skipped += 1,
        }
    }
    Ok(chunk)
}

/// Rewrites the log without the lines `drop` selects (and without unreadable lines):
/// a new file, synced, renamed over the old one. Returns how many lines were dropped.
pub(crate) fn rewrite(path: &Path, drop: impl Fn(&LogLine) -> bool) -> Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let _lock = lock(path)?;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path, "opening")(e)),
    };
    let chunk = read_from(&mut f, path, 0)?;
    let keep: Vec<LogLine> = chunk.lines.iter().filter(|l| !drop(l)).cloned().collect();
    let dropped = chunk.lines.len() - keep.len();
    if dropped == 0 && chunk.skipped == 0 {
        return Ok(0);
    }
    let tmp: PathBuf = path.with_extension("jsonl.rewrite");
    let _ = std::fs::remove_file(&tmp);
    write_lines(&tmp, &keep)?;
    std::fs::rename(&tmp, path).map_err(io(path, "replacing"))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(dropped)
}

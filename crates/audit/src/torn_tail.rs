//! Torn final lines: what a writer that stopped in the middle of a record leaves, how
//! readers report it ([`TornLine`]) and how the next writer repairs it.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::{AuditDecision, AuditRecord};

/// A torn final line: part of a record, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Its length in bytes.
    pub bytes: usize,
}

impl fmt::Display for TornLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audit log {} line {}: skipped a torn final record ({} bytes without a newline: a writer stopped in the middle of it, e.g. a crash); the next writer replaces it with an `{ACTION_REPAIR}` record that keeps its text",
            self.path.display(),
            self.line,
            self.bytes
        )
    }
}

/// The `action` of the record that replaces a torn final line; `detail` holds the line's
/// text.
pub const ACTION_REPAIR: &str = "audit_repair";

/// How long a torn final line must stay unchanged before a writer replaces it, so that a
/// record another process is writing at that very moment is never taken for one.
const TORN_SETTLE: Duration = Duration::from_millis(50);

/// At most this much of a torn line's text is kept in the repair record.
const MAX_TORN_KEPT: u64 = 64 * 1024;

/// Makes the log end in a whole line before a writer appends to it (`file` is open for
/// reading and appending). A torn final line — bytes after the last newline, left by a
/// writer that stopped mid-record — would otherwise be glued to the next record and turn
/// both into one corrupt line. If the torn bytes are a whole record that lost only its
/// newline, the newline is added; otherwise they are replaced by an [`ACTION_REPAIR`]
/// record (decision `error`) whose `detail` keeps their text. Returns the torn bytes found.
pub(crate) fn repair_torn_tail(file: &mut File) -> std::io::Result<u64> {
    let Some(torn) = torn_tail(file)? else {
        return Ok(0);
    };
    // A record being written by another process looks torn for a few microseconds.
    std::thread::sleep(TORN_SETTLE);
    if torn_tail(file)? != Some(torn) {
        return Ok(0);
    }
    let (cut, len) = torn;
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(cut))?;
    Read::take(&mut *file, MAX_TORN_KEPT).read_to_end(&mut text)?;
    if serde_json::from_slice::<AuditRecord>(&text).is_ok() {
        file.write_all(b"\n")?;
        return Ok(len - cut);
    }
    let mut rec = AuditRecord::now(ACTION_REPAIR, "-", "-");
    rec.decision = AuditDecision::Error;
    rec.reasons = vec![format!(
        "the log ended in a torn record of {} bytes (a writer stopped in the middle of it, e.g. a crash); its text is in `detail`",
        len - cut
    )];
    rec.detail = Some(String::from_utf8_lossy(&text).into_owned());
    let mut line = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.set_len(cut)?;
    file.write_all(&line)?;
    Ok(len - cut)
}

/// `(offset just past the last newline, file length)` when the file is not empty and does
/// not end in a newline.
fn torn_tail(file: &mut File) -> std::io::Result<Option<(u64, u64)>> {
    let len = file.metadata()?.len();
    let mut chunk = [0u8; 4096];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if end == len && part.last() == Some(&b'\n') {
            return Ok(None);
        }
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some((start + i as u64 + 1, len)));
        }
        end = start;
    }
    Ok((len > 0).then_some((0, len)))
}

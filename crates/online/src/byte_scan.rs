//! [`scan_file`]: the one byte scanner of erasure — where each of a set of needles first
//! occurs in a file. The file is read in chunks ([`CHUNK`] bytes) that overlap by the
//! longest needle less one byte, so a needle across a chunk's edge is found and memory
//! stays bounded whatever the file's size; each needle is searched with `memchr`'s
//! `memmem` (SIMD). Used by the erasing compaction of the embedded store (is the erased
//! key, or one of the entity's values, still in the file?) and by `tessera erase --verify`.

use std::io::Read;
use std::path::Path;

/// Bytes read at a time (plus the overlap).
pub const CHUNK: usize = 8 << 20;

/// What [`scan_file`] found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScan {
    /// Bytes read (the file's size, unless every needle was found before its end).
    pub bytes: u64,
    /// Per needle, in the order given: the byte offset of its first occurrence, if any. An
    /// empty needle is never found.
    pub first: Vec<Option<u64>>,
}

impl FileScan {
    /// Whether any needle was found.
    pub fn any(&self) -> bool {
        self.first.iter().any(Option::is_some)
    }
}

/// Scans the file at `path` for `needles` in one pass (see the module docs). Stops early
/// when every needle has been found.
pub fn scan_file<N: AsRef<[u8]>>(path: &Path, needles: &[N]) -> std::io::Result<FileScan> {
    scan_reader(std::fs::File::open(path)?, needles, CHUNK)
}

/// [`scan_file`] over any reader, `chunk` bytes at a time (at least 1).
pub fn scan_reader<N: AsRef<[u8]>>(
    mut r: impl Read,
    needles: &[N],
    chunk: usize,
) -> std::io::Result<FileScan> {
    let mut out = FileScan {
        bytes: 0,
        first: vec![None; needles.len()],
    };
    let finders: Vec<(usize, memchr::memmem::Finder<'_>)> = needles
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.as_ref().is_empty())
        .map(|(i, n)| (i, memchr::memmem::Finder::new(n.as_ref())))
        .collect();
    let longest = finders
        .iter()
        .map(|(_, f)| f.needle().len())
        .max()
        .unwrap_or(1);
    let mut buf = vec![0u8; chunk.max(1) + longest];
    // `kept` bytes at the start of `buf` are the previous chunk's tail, which begins at
    // file offset `base`.
    let (mut kept, mut base) = (0usize, 0u64);
    let mut left = finders.len();
    loop {
        let n = match r.read(&mut buf[kept..]) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.bytes += n as u64;
        let end = kept + n;
        for (i, f) in &finders {
            if out.first[*i].is_none() {
                if let Some(at) = f.find(&buf[..end]) {
                    out.first[*i] = Some(base + at as u64);
                    left -= 1;
                }
            }
        }
        if left == 0 && !finders.is_empty() {
            return Ok(out);
        }
        let keep = (longest - 1).min(end);
        buf.copy_within(end - keep..end, 0);
        base += (end - keep) as u64;
        kept = keep;
    }
}

//! The files of a stream source's offline log (the directory of its `path`), and which of
//! them a reader reads. One rule, used by every reader (training sets and backfills in
//! `tessera-offline`, the stream engine's replays) and by the compactor:
//!
//! - `part-<source>-<seq>.parquet` holds the events of one ingested batch (`seq`: 12 digits);
//! - `part-<source>-<first>-<last>.parquet` holds, merged by a compaction, the events of the
//!   batches `first..=last` (each 12 digits), in batch order;
//! - a file of the source whose batches a merged file covers (a batch file, or a merged file
//!   with a narrower range) is **superseded**: readers skip it, and the compactor deletes it
//!   once the merged file is older than the grace period;
//! - every other `*.parquet` file (files put there by hand, a backfill) is read as is; names
//!   starting with `.` (temporary files) never are.
//!
//! A merged file is published by one `rename`, so a reader that lists the directory sees
//! either the batch files or the merged file, never both or neither: each event once.

/// A log file of a source, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogFile {
    /// One ingested batch.
    Batch {
        /// The batch sequence number.
        seq: u64,
    },
    /// Batches `first..=last`, merged by a compaction.
    Merged {
        /// The first batch.
        first: u64,
        /// The last batch.
        last: u64,
    },
}

const DIGITS: usize = 12;

impl LogFile {
    /// Parses the name of a file of `source`'s log; `None` for any other name.
    pub fn parse(name: &str, source: &str) -> Option<Self> {
        let rest = name
            .strip_prefix("part-")?
            .strip_prefix(source)?
            .strip_prefix('-')?
            .strip_suffix(".parquet")?;
        let number = |s: &str| -> Option<u64> {
            (s.len() == DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        match rest.split_once('-') {
            None => Some(LogFile::Batch { seq: number(rest)? }),
            Some((a, b)) => {
                let (first, last) = (number(a)?, number(b)?);
                (first <= last).then_some(LogFile::Merged { first, last })
            }
        }
    }

    /// The file name of this file of `source`.
    pub fn name(&self, source: &str) -> String {
        match self {
            LogFile::Batch { seq } => format!("part-{source}-{seq:012}.parquet"),
            LogFile::Merged { first, last } => {
                format!("part-{source}-{first:012}-{last:012}.parquet")
            }
        }
    }

    /// The first batch the file holds.
    pub fn first(&self) -> u64 {
        match self {
            LogFile::Batch { seq } => *seq,
            LogFile::Merged { first, .. } => *first,
        }
    }

    /// The last batch the file holds.
    pub fn last(&self) -> u64 {
        match self {
            LogFile::Batch { seq } => *seq,
            LogFile::Merged { last, .. } => *last,
        }
    }
}

/// Whether a reader reads a file of this name at all (a visible Parquet file).
fn is_data_file(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".parquet")
}

/// The merged ranges no other merged range contains, sorted by first batch (disjoint when
/// every merged file was made by the compactor).
fn widest_ranges(files: &[(LogFile, usize)]) -> Vec<(u64, u64)> {
    let mut merged: Vec<(u64, u64)> = files
        .iter()
        .filter_map(|(f, _)| match f {
            LogFile::Merged { first, last } => Some((*first, *last)),
            LogFile::Batch { .. } => None,
        })
        .collect();
    // By first ascending, then widest first, so a contained range follows its container.
    merged.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(merged.len());
    for r in merged {
        match out.last() {
            Some(w) if r.1 <= w.1 => {} // inside the previous widest range
            _ => out.push(r),
        }
    }
    out
}

/// The widest range covering `f`, when it is not `f` itself.
fn covering(widest: &[(u64, u64)], f: &LogFile) -> Option<(u64, u64)> {
    let i = widest.partition_point(|r| r.0 <= f.first());
    let r = *widest.get(i.checked_sub(1)?)?;
    let own = matches!(f, LogFile::Merged { first, last } if (*first, *last) == r);
    (f.last() <= r.1 && !own).then_some(r)
}

/// Splits the names in a log directory into the files a reader reads (in log order: by
/// name, which for the source's files is batch order) and the superseded files of
/// `source`, each with the name of the merged file that covers it.
pub fn classify(
    names: impl IntoIterator<Item = String>,
    source: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut others = Vec::new();
    let mut own: Vec<(LogFile, usize)> = Vec::new();
    let mut all: Vec<String> = Vec::new();
    for name in names.into_iter().filter(|n| is_data_file(n)) {
        match LogFile::parse(&name, source) {
            Some(f) => own.push((f, all.len())),
            None => others.push(all.len()),
        }
        all.push(name);
    }
    let widest = widest_ranges(&own);
    let mut live: Vec<String> = others.iter().map(|i| all[*i].clone()).collect();
    let mut superseded = Vec::new();
    for (f, i) in &own {
        match covering(&widest, f) {
            Some((first, last)) => superseded.push((
                all[*i].clone(),
                LogFile::Merged { first, last }.name(source),
            )),
            None => live.push(all[*i].clone()),
        }
    }
    live.sort();
    superseded.sort();
    (live, superseded)
}

/// The files a reader of `source`'s log reads, of the names in its directory (see
/// [`classify`]).
pub fn live_files(names: impl IntoIterator<Item = String>, source: &str) -> Vec<String> {
    classify(names, source).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_only_this_sources_names() {
        let b = LogFile::Batch { seq: 7 };
        assert_eq!(LogFile::parse(&b.name("plays"), "plays"), Some(b));
        let m = LogFile::Merged { first: 3, last: 9 };
        assert_eq!(
            m.name("plays"),
            "part-plays-000000000003-000000000009.parquet"
        );
        assert_eq!(LogFile::parse(&m.name("plays"), "plays"), Some(m));
        // Another source whose name extends this one's is not this source's.
        assert_eq!(
            LogFile::parse(&LogFile::Batch { seq: 3 }.name("plays-1"), "plays"),
            None
        );
        assert_eq!(LogFile::parse("part-plays-12.parquet", "plays"), None);
        assert_eq!(LogFile::parse("history.parquet", "plays"), None);
        let backwards = "part-plays-000000000009-000000000003.parquet";
        assert_eq!(LogFile::parse(backwards, "plays"), None);
    }

    #[test]
    fn merged_files_hide_what_they_cover() {
        let b = |s| LogFile::Batch { seq: s }.name("s");
        let m = |a, z| LogFile::Merged { first: a, last: z }.name("s");
        let dir = vec![
            b(0),
            b(1),
            b(2),
            b(3),
            b(4),
            m(0, 2),
            m(0, 3),
            "history.parquet".to_string(),
            ".part-s-000000000005.parquet.tmp".to_string(),
            b(5),
        ];
        let (live, superseded) = classify(dir, "s");
        assert_eq!(live, names(&["history.parquet", &m(0, 3), &b(4), &b(5)]));
        let covered: Vec<&str> = superseded.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(covered, vec![&m(0, 2), &b(0), &b(1), &b(2), &b(3)]);
        assert!(superseded.iter().all(|(_, by)| *by == m(0, 3)));
    }

    #[test]
    fn without_merged_files_everything_is_read() {
        let dir = names(&["b.parquet", "a.parquet", "notes.txt"]);
        assert_eq!(live_files(dir, "s"), names(&["a.parquet", "b.parquet"]));
    }
}

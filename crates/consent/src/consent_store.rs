//! [`ConsentStore`]: the consent log of a repository plus its in-memory index
//! (entity digest → purpose → [`ConsentHistory`]). The server, `tessera get`, training sets
//! and the `tessera consent` commands all open the same log; a store notices what other
//! processes appended within [`REFRESH_EVERY`].

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tessera_core::EntityHasher;

use crate::consent_history::ConsentHistory;
use crate::consent_log::{self, LogLine, CONSENT_LOG};
use crate::consent_state::{now_us, ConsentState};
use crate::error::{Error, Result};

/// How often a store looks for changes other processes appended to the log.
pub const REFRESH_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Index {
    by_entity: HashMap<String, HashMap<String, ConsentHistory>>,
    seq: u64,
}

impl Index {
    fn apply(&mut self, l: LogLine) {
        self.seq += 1;
        self.by_entity
            .entry(l.entity)
            .or_default()
            .entry(l.purpose)
            .or_default()
            .add(l.at_us, self.seq, l.state);
    }
}

/// Where this store has read the log up to.
#[derive(Debug, Default)]
struct Tail {
    offset: u64,
    /// The file's identity (inode), to notice a rewrite.
    id: u64,
    checked: Option<Instant>,
    skipped: usize,
}

/// The consent of every entity, for every purpose that requires it. Cheap to share
/// behind an `Arc`.
#[derive(Debug)]
pub struct ConsentStore {
    path: PathBuf,
    hasher: EntityHasher,
    index: RwLock<Index>,
    /// Also serialises this process's appends and rewrites.
    tail: Mutex<Tail>,
}

impl ConsentStore {
    /// Opens (and loads) the consent log of the repository at `root`; a repository
    /// without one has no consent recorded.
    pub fn open(root: &Path) -> Result<Self> {
        let hasher = EntityHasher::for_repo(root).map_err(Error::PrivacyKey)?;
        Self::open_with(root.join(CONSENT_LOG), hasher)
    }

    /// Opens the log at `path`, hashing entity keys with `hasher`.
    pub fn open_with(path: PathBuf, hasher: EntityHasher) -> Result<Self> {
        let store = ConsentStore {
            path,
            hasher,
            index: RwLock::new(Index::default()),
            tail: Mutex::new(Tail::default()),
        };
        store.refresh()?;
        Ok(store)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keyed hash under which the entity `name=value` (one join key) is recorded.
    pub fn digest(&self, name: &str, value: &str) -> String {
        self.hasher.digest(&[(name, value)])
    }

    /// Records that each entity (a digest from [`ConsentStore::digest`]) has `state` for
    /// `purpose` from `at_us` on: appended to the log and synced before it returns.
    pub fn record(
        &self,
        purpose: &str,
        state: ConsentState,
        at_us: i64,
        entities: &[String],
    ) -> Result<()> {
        let recorded = now_us();
        let lines: Vec<LogLine> = entities
            .iter()
            .map(|e| LogLine::new(e.clone(), purpose, state, at_us, recorded))
            .collect();
        self.append(&lines)
    }

    /// Appends changes as they are (an import).
    pub fn append(&self, lines: &[LogLine]) -> Result<()> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        consent_log::append(&self.path, lines)?;
        self.catch_up(&mut tail)
    }

    /// Appends the changes the log does not hold yet: a line whose (entity, purpose, time,
    /// state) is already recorded — or repeated within `lines` — is left out, so reading a
    /// source of consent events again adds nothing. Returns the lines appended.
    pub fn append_new(&self, lines: &[LogLine]) -> Result<Vec<LogLine>> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        // What other processes appended counts as recorded.
        self.catch_up(&mut tail)?;
        let mut seen = std::collections::HashSet::new();
        let new: Vec<LogLine> = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            lines
                .iter()
                .filter(|l| {
                    let known = index
                        .by_entity
                        .get(&l.entity)
                        .and_then(|p| p.get(&l.purpose))
                        .is_some_and(|h| h.contains(l.at_us, l.state));
                    !known && seen.insert((&l.entity, &l.purpose, l.at_us, l.state))
                })
                .cloned()
                .collect()
        };
        if !new.is_empty() {
            consent_log::append(&self.path, &new)?;
            self.catch_up(&mut tail)?;
        }
        Ok(new)
    }

    /// Whether `entity` (a digest) has consent for `purpose` in force at `t_us`, as of the
    /// last refresh.
    pub fn in_force(&self, entity: &str, purpose: &str, t_us: i64) -> bool {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index
            .by_entity
            .get(entity)
            .and_then(|p| p.get(purpose))
            .is_some_and(|h| h.in_force(t_us))
    }

    /// The changes recorded for `entity` (a digest), per purpose: `(at µs, state)`.
    pub fn history(&self, entity: &str) -> Vec<(String, Vec<(i64, ConsentState)>)> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = index
            .by_entity
            .get(entity)
            .map(|p| {
                p.iter()
                    .map(|(purpose, h)| (purpose.clone(), h.changes().collect()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Reads what was appended since the last look, if [`REFRESH_EVERY`] has passed.
    pub fn refresh_if_due(&self) -> Result<()> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.checked.is_some_and(|c| c.elapsed() < REFRESH_EVERY) {
            return Ok(());
        }
        self.catch_up(&mut tail)
    }

    /// Reads what was appended since the last look, now.
    pub fn refresh(&self) -> Result<()> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        self.catch_up(&mut tail)
    }

    /// Lines of the log that could not be read (torn or damaged), skipped.
    pub fn skipped_lines(&self) -> usize {
        self.tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .skipped
    }

    /// Deletes every consent change of `entity` (a digest) from the log and the index
    /// (erasure). Returns how many changes were removed.
    pub fn erase(&self, entity: &str) -> Result<usize> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let removed = consent_log::rewrite(&self.path, |l| l.entity == entity)?;
        self.catch_up(&mut tail)?;
        Ok(removed)
    }

    fn catch_up(&self, tail: &mut Tail) -> Result<()> {
        tail.checked = Some(Instant::now());
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if tail.offset > 0 || tail.id != 0 {
                    *self.index.write().unwrap_or_else(PoisonError::into_inner) = Index::default();
                }
                *tail = Tail {
                    checked: tail.checked,
                    ..Tail::default()
                };
                return Ok(());
            }
            Err(source) => {
                return Err(Error::Io {
                    path: self.path.clone(),
                    what: "opening",
                    source,
                })
            }
        };
        let meta = f.metadata().map_err(|source| Error::Io {
            path: self.path.clone(),
            what: "reading the size",
            source,
        })?;
        let id = file_id(&meta);
        let reload = id != tail.id || meta.len() < tail.offset;
        if !reload && meta.len() == tail.offset {
            return Ok(());
        }
        let from = if reload { 0 } else { tail.offset };
        let chunk = consent_log::read_from(&mut f, &self.path, from)?;
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        if reload {
            *index = Index::default();
            tail.skipped = 0;
        }
        for l in chunk.lines {
            index.apply(l);
        }
        tail.skipped += chunk.skipped;
        tail.offset = chunk.end;
        tail.id = id;
        Ok(())
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino().max(1)
}

#[cfg(not(unix))]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(1, |d| d.as_nanos() as u64 | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> ConsentStore {
        ConsentStore::open_with(dir.join("c/consent.jsonl"), EntityHasher::from_key(b"k")).unwrap()
    }

    #[test]
    fn shared_log_torn_tail_and_erase() {
        let d = tempfile::tempdir().unwrap();
        let a = store(d.path());
        let b = store(d.path());
        let u1 = a.digest("user_id", "u1");
        let u2 = a.digest("user_id", "u2");
        a.record("ads", ConsentState::Granted, 10, &[u1.clone(), u2.clone()])
            .unwrap();
        a.record(
            "ads",
            ConsentState::Withdrawn,
            20,
            std::slice::from_ref(&u1),
        )
        .unwrap();
        assert!(a.in_force(&u1, "ads", 15) && !a.in_force(&u1, "ads", 25));
        assert!(!a.in_force(&u1, "other", 15));
        // Another store over the same file sees the changes once it refreshes.
        b.refresh().unwrap();
        assert!(b.in_force(&u2, "ads", 25) && !b.in_force(&u1, "ads", 25));
        // The clear key is not in the file.
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert!(!text.contains("u1") && text.contains(&u1));
        // A torn line is skipped, and the next append starts a line of its own.
        std::fs::write(a.path(), format!("{text}{{\"entity\":\"ab")).unwrap();
        a.record("ads", ConsentState::Granted, 30, std::slice::from_ref(&u1))
            .unwrap();
        let c = store(d.path());
        assert_eq!(c.skipped_lines(), 1);
        assert!(c.in_force(&u1, "ads", 35));
        // Erasure removes the entity's history from the file and from every store.
        assert_eq!(c.erase(&u1).unwrap(), 3);
        assert!(!c.in_force(&u1, "ads", 35) && c.in_force(&u2, "ads", 35));
        assert!(!std::fs::read_to_string(a.path()).unwrap().contains(&u1));
        b.refresh().unwrap();
        assert!(!b.in_force(&u1, "ads", 35) && b.in_force(&u2, "ads", 35));
        assert!(b.history(&u1).is_empty());
        assert_eq!(b.history(&u2).len(), 1);
    }

    #[test]
    fn erasing_beside_appends_from_another_store_loses_no_change() {
        let d = tempfile::tempdir().unwrap();
        let writer = store(d.path());
        let eraser = store(d.path());
        let gone = writer.digest("user_id", "gone");
        writer
            .record("ads", ConsentState::Granted, 1, std::slice::from_ref(&gone))
            .unwrap();
        let kept: Vec<String> = (0..200)
            .map(|i| writer.digest("user_id", &format!("u{i}")))
            .collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for (i, k) in kept.iter().enumerate() {
                    // Each append of a kept change follows one of the subject's, so the
                    // eraser keeps finding something to rewrite away.
                    for e in [&gone, k] {
                        writer
                            .record(
                                "ads",
                                ConsentState::Granted,
                                i as i64,
                                std::slice::from_ref(e),
                            )
                            .unwrap();
                    }
                }
            });
            s.spawn(|| {
                for _ in 0..400 {
                    eraser.erase(&gone).unwrap();
                }
            });
        });
        let fresh = store(d.path());
        for k in &kept {
            assert_eq!(fresh.history(k).len(), 1, "a change was lost");
        }
    }
}

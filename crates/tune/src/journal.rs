//! The journal: one JSON file per transaction in `STATE_DIR/journal/`,
//! rewritten atomically (temp file, fsync, rename, fsync of the directory)
//! before and after every change, and a lock file so that two `apply` or
//! `rollback` runs never interleave.
//!
//! An entry is written as `pending` with the old value *before* the change
//! is made, and marked `applied` after. A crash in between leaves a pending
//! entry: rollback writes its old value back, which is right whether or not
//! the write happened. A file that is corrupt, half-written or from a newer
//! schema is reported with its path and skipped; it never stops the others
//! from being listed or rolled back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::write_file_durably;
use crate::error::{io, Error, JournalProblem};
use crate::model::{Change, Roots};

/// Version of a transaction file's schema.
pub const TRANSACTION_SCHEMA_VERSION: u32 = 1;

/// Largest journal file read (a transaction is a few KiB).
const JOURNAL_FILE_BYTES: u64 = 16 << 20;

/// The state of one journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// The old value is saved; the change may or may not have been written.
    Pending,
    /// The change was written.
    Applied,
    /// The old value was written back.
    RolledBack,
    /// The change could not be made (libvirt refused the XML): nothing
    /// changed; `error` says why.
    Failed,
}

impl EntryState {
    /// Whether the entry may have changed a value that is still in place
    /// (pending or applied).
    pub fn is_open(self) -> bool {
        matches!(self, EntryState::Pending | EntryState::Applied)
    }
}

/// One change and the value it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The change.
    pub change: Change,
    /// The value before the change, as read just before it (`None`: a file
    /// that did not exist; for a libvirt domain, its whole persistent XML).
    pub old: Option<String>,
    /// Where it stands.
    pub state: EntryState,
    /// When the entry last changed state, seconds since the Unix epoch.
    pub updated_unix_seconds: u64,
    /// Why the change failed ([`EntryState::Failed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One `tune apply` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// [`TRANSACTION_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Sortable id (`1796630400-000000123`: seconds and nanoseconds).
    pub id: String,
    /// When it started, seconds since the Unix epoch.
    pub started_unix_seconds: u64,
    /// Where its changes were written.
    pub roots: Roots,
    /// Entries in the order they were applied.
    pub entries: Vec<JournalEntry>,
}

/// The journal directory of a state directory.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    lock: PathBuf,
}

/// Held while a run may change values; released on drop (and by the kernel
/// when the process dies, even by SIGKILL).
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

pub(crate) fn now_unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Journal {
    /// The journal under `state_dir` (`/var/lib/isotune` by default).
    pub fn new(state_dir: &Path) -> Self {
        Journal {
            dir: state_dir.join("journal"),
            lock: state_dir.join("lock"),
        }
    }

    /// The directory holding one file per transaction.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the lock without waiting; [`Error::Locked`] when held.
    pub(crate) fn lock(&self) -> Result<Lock, Error> {
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(io(&self.dir, "create directory"))?;
            // The new directory's own entry must survive a crash too.
            if let Some(state) = self.dir.parent() {
                std::fs::File::open(state)
                    .and_then(|d| d.sync_all())
                    .map_err(io(state, "fsync directory"))?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(io(&self.lock, "open"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Lock { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked {
                path: self.lock.clone(),
            }),
            Err(e) => Err(io(&self.lock, "lock")(e.into())),
        }
    }

    /// A new, empty transaction (not yet written).
    pub(crate) fn begin(&self, roots: &Roots) -> Transaction {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Transaction {
            schema_version: TRANSACTION_SCHEMA_VERSION,
            id: format!("{:010}-{:09}", now.as_secs(), now.subsec_nanos()),
            started_unix_seconds: now.as_secs(),
            roots: roots.clone(),
            entries: Vec::new(),
        }
    }

    /// The file of transaction `id`.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes `tx` durably.
    pub(crate) fn save(&self, tx: &Transaction) -> Result<(), Error> {
        let mut json = serde_json::to_vec_pretty(tx).expect("a transaction always serialises");
        json.push(b'\n');
        write_file_durably(&self.path_of(&tx.id), &json)
    }

    /// Every transaction file, oldest first: the readable ones and, with
    /// their path, the ones that cannot be used.
    pub fn load_all(&self) -> Result<Vec<Result<Transaction, Error>>, Error> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir, "list")(e)),
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        Ok(paths.iter().map(|p| load(p)).collect())
    }
}

/// Reads one transaction file.
pub(crate) fn load(path: &Path) -> Result<Transaction, Error> {
    let bad = |problem| Error::Journal {
        path: path.to_owned(),
        problem,
    };
    let bytes =
        isotune_input::read_capped(path, JOURNAL_FILE_BYTES, "a journal file").map_err(|e| {
            bad(JournalProblem::Corrupt {
                detail: e.to_string(),
            })
        })?;
    // The version first, so a newer file says so instead of failing to parse.
    #[derive(Deserialize)]
    struct Version {
        schema_version: u32,
    }
    let version: Version = serde_json::from_slice(&bytes).map_err(|e| {
        bad(JournalProblem::Corrupt {
            detail: e.to_string(),
        })
    })?;
    if version.schema_version > TRANSACTION_SCHEMA_VERSION {
        return Err(bad(JournalProblem::NewerSchema {
            found: version.schema_version,
            supported: TRANSACTION_SCHEMA_VERSION,
        }));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        bad(JournalProblem::Corrupt {
            detail: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_reported_with_their_path_and_do_not_hide_others() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        let tx = j.begin(&Roots::default());
        j.save(&tx).unwrap();
        let good = std::fs::read(j.path_of(&tx.id)).unwrap();
        // Half-written: the first half of a real file.
        std::fs::write(
            j.dir().join("0000000001-half.json"),
            &good[..good.len() / 2],
        )
        .unwrap();
        let newer = String::from_utf8(good.clone())
            .unwrap()
            .replace("\"schema_version\": 1", "\"schema_version\": 99");
        std::fs::write(j.dir().join("0000000002-newer.json"), newer).unwrap();
        let all = j.load_all().unwrap();
        assert_eq!(all.len(), 3);
        let msgs: Vec<String> = all
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert!(msgs[0].contains("0000000001-half.json") && msgs[0].contains("corrupt"));
        assert!(msgs[1].contains("0000000002-newer.json") && msgs[1].contains("schema 99"));
        assert_eq!(all[2].as_ref().unwrap(), &tx);
    }

    #[test]
    fn second_lock_fails_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        let held = j.lock().unwrap();
        assert!(matches!(j.lock(), Err(Error::Locked { .. })));
        drop(held);
        j.lock().unwrap();
    }
}

//! All-or-nothing output files: written under a temporary name beside the
//! destination, fsynced, then renamed over it, so a reader (or a rerun)
//! never sees half a file.
//!
//! The temporary name is `.NAME.isotune-partial.PID` in the destination's
//! directory (same filesystem, so the rename is atomic). While one is open
//! its path sits in a process-wide list; the binary's signal handler calls
//! [`remove_pending`] before exiting, so SIGINT and SIGTERM leave nothing
//! behind. SIGKILL cannot be caught: the next [`AtomicFile::create`] for the
//! same destination removes temporary files whose process is gone and
//! reports them in [`AtomicFile::stale_removed`].

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files currently being written by this process.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Why an output could not be written. The message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// Creating, writing, syncing or renaming failed.
    #[error("{}: cannot {op}", path.display())]
    Io {
        /// The file (the destination, or the temporary file for `write`).
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The destination exists and the caller asked not to replace it.
    #[error("{}: already exists; refusing to replace it", path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
}

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// puts it in place, dropping it without committing removes it.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    replace: bool,
    stale_removed: Vec<PathBuf>,
}

/// The prefix of every temporary file for `dest` (`.NAME.isotune-partial.`).
fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.isotune-partial.")
}

fn parent(dest: &Path) -> &Path {
    dest.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Temporary files for `dest` left by processes that no longer run (a
/// SIGKILL, a power cut): their names end in a PID with no `/proc/PID`.
pub fn stale_temps(dest: &Path) -> Vec<PathBuf> {
    let prefix = temp_prefix(dest);
    let Ok(entries) = std::fs::read_dir(parent(dest)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            (!alive).then(|| e.path())
        })
        .collect();
    out.sort();
    out
}

impl AtomicFile {
    /// Starts writing `dest`. With `replace` false an existing `dest` is
    /// refused now and again at the rename (which never replaces). Stale
    /// temporary files of `dest` are removed first (see
    /// [`AtomicFile::stale_removed`]).
    pub fn create(dest: &Path, replace: bool) -> Result<AtomicFile, OutputError> {
        if !replace && std::fs::symlink_metadata(dest).is_ok() {
            return Err(OutputError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let mut stale_removed = Vec::new();
        for p in stale_temps(dest) {
            if std::fs::remove_file(&p).is_ok() {
                stale_removed.push(p);
            }
        }
        let tmp = parent(dest).join(format!("{}{}", temp_prefix(dest), std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|source| OutputError::Io {
                path: dest.to_path_buf(),
                op: "create a temporary file beside it",
                source,
            })?;
        lock().push(tmp.clone());
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            dest: dest.to_path_buf(),
            replace,
            stale_removed,
        })
    }

    /// The open temporary file (for positioned writes and reads).
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("present until commit")
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Temporary files of earlier, killed runs that `create` removed.
    pub fn stale_removed(&self) -> &[PathBuf] {
        &self.stale_removed
    }

    /// Flushes the data to disk and renames the file to its destination.
    /// On failure the temporary file is removed.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let file = self.file.take().expect("present until commit");
        let result = self.put_in_place(file);
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        forget(&self.tmp);
        result
    }

    fn put_in_place(&self, file: File) -> Result<(), OutputError> {
        let dest = &self.dest;
        let io = |op, source| OutputError::Io {
            path: dest.clone(),
            op,
            source,
        };
        file.sync_all().map_err(|e| io("sync", e))?;
        drop(file);
        if self.replace {
            std::fs::rename(&self.tmp, dest).map_err(|e| io("rename into place", e))?;
        } else {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &self.tmp,
                rustix::fs::CWD,
                dest,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .map_err(|e| match e {
                rustix::io::Errno::EXIST => OutputError::Exists { path: dest.clone() },
                e => io("rename into place", e.into()),
            })?;
        }
        // The rename is durable once the directory is synced too.
        if let Ok(d) = File::open(parent(dest)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("present until commit").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("present until commit").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
            forget(&self.tmp);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn forget(tmp: &Path) {
    lock().retain(|p| p != tmp);
}

/// Removes every temporary file this process is writing. For the binary's
/// signal handler, just before it exits.
pub fn remove_pending() {
    for p in lock().drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// Writes `content` to `dest` all-or-nothing, replacing `dest`.
pub fn write_file(dest: &Path, content: &[u8]) -> Result<(), OutputError> {
    let mut f = AtomicFile::create(dest, true)?;
    f.write_all(content).map_err(|source| OutputError::Io {
        path: dest.to_path_buf(),
        op: "write",
        source,
    })?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `remove_pending` removes every test's temporaries: run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn nothing_appears_until_commit_and_drop_cleans_up() {
        let _s = serial();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        let mut f = AtomicFile::create(&dest, true).unwrap();
        f.write_all(b"half").unwrap();
        assert!(!dest.exists());
        assert!(f.temp_path().exists());
        let tmp = f.temp_path().to_path_buf();
        drop(f);
        assert!(!tmp.exists() && !dest.exists());
        write_file(&dest, b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        write_file(&dest, b"again").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn no_replace_refuses_an_existing_destination() {
        let _s = serial();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy.iso");
        std::fs::write(&dest, b"x").unwrap();
        let e = AtomicFile::create(&dest, false).unwrap_err();
        assert!(matches!(e, OutputError::Exists { .. }), "{e}");
        // Appearing while the temporary file is written: still refused.
        std::fs::remove_file(&dest).unwrap();
        let f = AtomicFile::create(&dest, false).unwrap();
        std::fs::write(&dest, b"other").unwrap();
        let e = f.commit().unwrap_err();
        assert!(matches!(e, OutputError::Exists { .. }), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"other");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temps_of_dead_processes_are_removed_and_reported() {
        let _s = serial();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("copy.iso");
        // PID 0 never names a process under /proc; our own PID is alive.
        let dead = dir.path().join(".copy.iso.isotune-partial.0");
        let alive = dir
            .path()
            .join(format!(".copy.iso.isotune-partial.{}", std::process::id()));
        std::fs::write(&dead, b"partial").unwrap();
        std::fs::write(&alive, b"ours").unwrap();
        assert_eq!(stale_temps(&dest), vec![dead.clone()]);
        let f = AtomicFile::create(&dest, false).unwrap();
        assert_eq!(f.stale_removed(), std::slice::from_ref(&dead));
        assert!(!dead.exists());
        f.commit().unwrap();
        assert!(dest.exists() && !alive.exists());
    }

    #[test]
    fn remove_pending_removes_open_temporaries() {
        let _s = serial();
        let dir = tempfile::tempdir().unwrap();
        let f = AtomicFile::create(&dir.path().join("a"), true).unwrap();
        let tmp = f.temp_path().to_path_buf();
        assert!(tmp.exists());
        remove_pending();
        assert!(!tmp.exists());
        drop(f);
    }
}

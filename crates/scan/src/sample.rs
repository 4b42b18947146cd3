//! The sample image `check` audits when no ISO is given, written to a
//! temporary directory named `isotune-check.PID.XXXXXX`. The caller removes
//! it on exit and on every catchable signal; after a SIGKILL the PID in the
//! name tells the next run the directory is stale, and [`remove_stale`]
//! deletes it.

use std::path::{Path, PathBuf};

use isotune_iso::sample::{self, SampleSizes};

use crate::Error;

/// The prefix of every sample directory.
pub const PREFIX: &str = "isotune-check.";

/// A written sample image; dropping it removes the directory.
#[derive(Debug)]
pub struct Sample {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sample {
    /// The image.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The directory holding it (for a signal handler to remove).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes the sample image into a new directory under `parent` (normally
/// `std::env::temp_dir()`) and implants an MD5 into it, so the implanted
/// check has something real to verify.
pub fn write(parent: &Path) -> Result<Sample, Error> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}.", std::process::id()))
        .tempdir_in(parent)
        .map_err(|e| Error::sample(parent, e))?;
    let path = dir.path().join("isotune-sample.iso");
    sample::write_sample(&path, SampleSizes::default()).map_err(|e| Error::sample(&path, e))?;
    // We made this file, so writing into it is fine.
    isotune_verify::implant_in_place(&path, false, &isotune_verify::NoProgress)
        .map_err(|e| Error::sample(&path, e))?;
    Ok(Sample { dir, path })
}

/// Removes this process's sample directories under `parent` (for a signal
/// handler, which may run before or while the sample is written).
pub fn remove_own(parent: &Path) {
    let mine = format!("{PREFIX}{}.", std::process::id());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&mine))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the sample directories under `parent` left by runs that no
/// longer exist (killed with SIGKILL). Returns the directories removed.
pub fn remove_stale(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            if std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_directories_of_dead_runs_are_removed_and_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        // A PID above pid_max's ceiling (2^22) is never alive.
        let dead = parent.path().join(format!("{PREFIX}4194999.abc123"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("isotune-sample.iso"), b"x").unwrap();
        let mine = write(parent.path()).unwrap();
        let unrelated = parent.path().join("isotune-check.notapid");
        std::fs::create_dir(&unrelated).unwrap();
        assert_eq!(remove_stale(parent.path()), vec![dead.clone()]);
        assert!(!dead.exists());
        assert!(mine.path().exists() && unrelated.exists());
        let dir = mine.dir().to_owned();
        drop(mine);
        assert!(!dir.exists());
    }
}

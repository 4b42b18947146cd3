//! Temporary files and directories that a killed `isotune boot` cannot
//! leave behind for good.
//!
//! A catchable signal (SIGINT, SIGTERM, SIGHUP) cancels the run and every
//! guard removes its file on the way out. SIGKILL cannot be caught, so each
//! name carries the creating process id, `PREFIX.PID.RANDOM`, and
//! [`sweep_stale`] (called before a run creates its own files) removes the
//! entries whose process no longer exists. An entry of a live process, even
//! an unrelated one that reused the id, is left alone.

use std::io;
use std::path::{Path, PathBuf};

use rustix::process::Pid;

/// Prefix of the ISO copies made for `--storage DIR` (hidden files).
pub const COPY_PREFIX: &str = ".isotune-boot-copy";
/// Prefix of the directory holding the built-in workload image.
pub const IMAGE_DIR_PREFIX: &str = "isotune-boot-image";
/// Prefix of each run's private directory (QMP socket).
pub const RUN_DIR_PREFIX: &str = "isotune-qemu";

/// `PREFIX.PID.` for this process.
pub fn tagged_prefix(prefix: &str) -> String {
    format!("{prefix}.{}.", std::process::id())
}

/// The process id in `name` when it is `PREFIX.PID.REST`.
fn owner(name: &str, prefix: &str) -> Option<i32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let (pid, tail) = rest.split_once('.')?;
    if tail.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` exists (a signal-0 probe; EPERM means it does).
fn alive(pid: i32) -> bool {
    match Pid::from_raw(pid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process(p),
            Err(e) if e == rustix::io::Errno::SRCH
        ),
        None => false,
    }
}

/// Removes the entries `PREFIX.PID.*` of `dir` left by processes that no
/// longer exist (files and directories). Returns what was removed. A
/// missing or unreadable `dir` removes nothing.
pub fn sweep_stale(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| owner(n, prefix)) else {
            continue;
        };
        if pid == std::process::id() as i32 || alive(pid) {
            continue;
        }
        let path = e.path();
        let r = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(err) => Err(err),
        };
        if r.is_ok() || r.is_err_and(|err| err.kind() == io::ErrorKind::NotFound) {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner() {
        assert_eq!(
            owner(".isotune-boot-copy.123.abc.iso", COPY_PREFIX),
            Some(123)
        );
        assert_eq!(owner(".isotune-boot-copy.123.", COPY_PREFIX), None);
        assert_eq!(owner(".isotune-boot-copy.x1.abc", COPY_PREFIX), None);
        assert_eq!(owner("isotune-qemu.9.abc", COPY_PREFIX), None);
        assert!(tagged_prefix(RUN_DIR_PREFIX).ends_with(&format!(".{}.", std::process::id())));
    }

    #[test]
    fn sweep_removes_only_what_dead_processes_left() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited and been reaped: its id is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = std::process::id();
        let stale_file = dir.path().join(format!("{COPY_PREFIX}.{dead}.x.iso"));
        let stale_dir = dir.path().join(format!("{COPY_PREFIX}.{dead}.d"));
        let own = dir.path().join(format!("{COPY_PREFIX}.{mine}.y.iso"));
        let init = dir.path().join(format!("{COPY_PREFIX}.1.z.iso"));
        let other = dir.path().join("unrelated.iso");
        for f in [&stale_file, &own, &init, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        std::fs::create_dir(&stale_dir).unwrap();
        std::fs::write(stale_dir.join("qmp.sock"), b"").unwrap();
        let mut removed = sweep_stale(dir.path(), COPY_PREFIX);
        removed.sort();
        let mut want = vec![stale_dir.clone(), stale_file.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(own.exists() && init.exists() && other.exists());
        assert!(!stale_file.exists() && !stale_dir.exists());
        assert!(sweep_stale(Path::new("/nonexistent/x"), COPY_PREFIX).is_empty());
    }
}

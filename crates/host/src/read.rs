//! Reading small text entries under a [`SysRoot`]: the one place that turns
//! an unreadable or malformed entry into a warning line, and that resolves
//! symlinks of a captured tree inside the tree (a captured `/sys` keeps the
//! kernel's relative links; an absolute or over-long `..` link must never
//! reach the live `/sys`).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::SysRoot;

/// Symlink hops allowed while resolving one path (the kernel's own limit).
const MAX_HOPS: u32 = 40;

/// Collects the warning lines of one read.
#[derive(Debug, Default)]
pub(crate) struct Warnings(pub(crate) Vec<String>);

impl Warnings {
    /// Records `PATH: what`.
    pub(crate) fn add(&mut self, abs: &Path, what: impl std::fmt::Display) {
        self.0.push(format!("{}: {what}", abs.display()));
    }

    /// Records `PATH: <why the io error happened>`.
    pub(crate) fn io(&mut self, abs: &Path, e: &io::Error) {
        self.add(abs, why(e));
    }
}

/// A short lower-case reason for a warning line.
pub(crate) fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "not found".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory, expected a file".into(),
        io::ErrorKind::NotADirectory => "is not a directory".into(),
        io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

/// Resolves the absolute host path `abs` under `root`, following symlinks
/// as if `root` were `/`: `..` stops at the root and absolute link targets
/// restart at the root. Returns the resolved absolute *host* path (use
/// [`SysRoot::path`] to reach it). Components that do not exist are kept
/// as they are, so the open that follows reports `not found`.
///
/// The live root goes the same way (the names of the layers come from the
/// resolved `/sys/devices/...` path). `/proc` magic links (`fd/N`, `cwd`)
/// are never resolved, only read with `read_link`.
pub(crate) fn resolve(root: &SysRoot, abs: &Path) -> io::Result<PathBuf> {
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_front(&mut todo, abs);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part.to_str() {
            Some(".") => continue,
            Some("..") => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&part);
        match std::fs::symlink_metadata(root.path(&next)) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(root.path(&next))?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                push_front(&mut todo, &target);
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => cur = next,
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// Puts the components of `p` (without its root) in front of `todo`.
fn push_front(todo: &mut VecDeque<OsString>, p: &Path) {
    for c in p.components().rev() {
        match c {
            Component::Normal(n) => todo.push_front(n.to_os_string()),
            Component::ParentDir => todo.push_front("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// Reads the text entry `abs` under `root`. A missing entry is `None`
/// without a warning (absent attributes are normal: no `partition` file on
/// a disk, no `nested` without `kvm_intel`); any other failure is `None`
/// plus a warning.
pub(crate) fn read_opt(root: &SysRoot, abs: &Path, w: &mut Warnings) -> Option<String> {
    match read(root, abs) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            w.io(abs, &e);
            None
        }
    }
}

/// Like [`read_opt`] but a missing entry is a warning too.
pub(crate) fn read_req(root: &SysRoot, abs: &Path, w: &mut Warnings) -> Option<String> {
    match read(root, abs) {
        Ok(s) => Some(s),
        Err(e) => {
            w.io(abs, &e);
            None
        }
    }
}

/// Reads `abs` under `root`, resolving symlinks inside the tree. At most
/// [`PROC_FILE_BYTES`](isotune_input::caps::PROC_FILE_BYTES) are read, and
/// a FIFO or socket is refused without blocking: a captured tree may hold
/// anything (a link to `/dev/zero`, a FIFO), and no /proc or /sys entry
/// isotune reads is anywhere near that size.
pub(crate) fn read(root: &SysRoot, abs: &Path) -> io::Result<String> {
    let bytes = read_bytes(root, abs)?;
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// [`read`] without the UTF-8 check (`/proc/PID/cmdline`).
pub(crate) fn read_bytes(root: &SysRoot, abs: &Path) -> io::Result<Vec<u8>> {
    let real = root.path(resolve(root, abs)?);
    isotune_input::read_capped(
        &real,
        isotune_input::caps::PROC_FILE_BYTES,
        "a /proc or /sys entry",
    )
    .map_err(input_error)
}

/// The io error of a refused or failed read, worded for a warning line
/// that already names the entry.
fn input_error(e: isotune_input::InputError) -> io::Error {
    use isotune_input::InputError as E;
    match e {
        E::Io { source, .. } => source,
        E::WrongKind { kind, expected, .. } => {
            if kind == isotune_input::Kind::Directory {
                io::Error::new(io::ErrorKind::IsADirectory, "is a directory")
            } else {
                io::Error::other(format!("is {kind}, expected {expected}"))
            }
        }
        E::TooLarge { cap_bytes, .. } => io::Error::other(format!(
            "larger than {cap_bytes} bytes, the limit for a /proc or /sys entry; not read"
        )),
        other => io::Error::other(other.to_string()),
    }
}

/// Reads a trimmed entry and parses it; a malformed value is a warning.
pub(crate) fn read_parsed<T: std::str::FromStr>(
    root: &SysRoot,
    abs: &Path,
    w: &mut Warnings,
) -> Option<T> {
    let text = read_opt(root, abs, w)?;
    let text = text.trim();
    match text.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            w.add(abs, format_args!("cannot parse {text:?}"));
            None
        }
    }
}

/// Reads a `0`/`1` (or `N`/`Y`) flag; anything else is a warning.
pub(crate) fn read_bool(root: &SysRoot, abs: &Path, w: &mut Warnings) -> Option<bool> {
    let text = read_opt(root, abs, w)?;
    let b = parse_bool(text.trim());
    if b.is_none() {
        w.add(
            abs,
            format_args!("expected 0/1 or N/Y, found {:?}", text.trim()),
        );
    }
    b
}

/// `1`/`Y`/`y` -> true, `0`/`N`/`n` -> false.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "Y" | "y" => Some(true),
        "0" | "N" | "n" => Some(false),
        _ => None,
    }
}

/// The entry names of the directory `abs` under `root`, sorted.
pub(crate) fn list_dir(root: &SysRoot, abs: &Path) -> io::Result<Vec<OsString>> {
    let real = root.path(resolve(root, abs)?);
    let mut names = std::fs::read_dir(real)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Whether `abs` exists under `root` (resolved in the tree; a symlink to a
/// missing target counts as missing).
pub(crate) fn exists(root: &SysRoot, abs: &Path) -> bool {
    resolve(root, abs).is_ok_and(|p| std::fs::metadata(root.path(p)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_and_absolute_links_stay_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::at(dir.path());
        isotune_testutil::put(dir.path(), "sys/devices/x/block/sda/dev", b"8:0\n");
        std::fs::create_dir_all(dir.path().join("sys/dev/block")).unwrap();
        symlink(
            "../../devices/x/block/sda",
            dir.path().join("sys/dev/block/8:0"),
        )
        .unwrap();
        // Too many `..` and an absolute target: both clamp to the tree's root.
        symlink(
            "../../../../../../sys/devices/x/block/sda",
            dir.path().join("sys/dev/block/8:1"),
        )
        .unwrap();
        symlink(
            "/sys/devices/x/block/sda",
            dir.path().join("sys/dev/block/8:2"),
        )
        .unwrap();
        for link in ["8:0", "8:1", "8:2"] {
            let p = resolve(&root, &Path::new("/sys/dev/block").join(link)).unwrap();
            assert_eq!(p, Path::new("/sys/devices/x/block/sda"));
            let dev = read(&root, &p.join("dev")).unwrap();
            assert_eq!(dev.trim(), "8:0");
        }
    }

    #[test]
    fn link_loops_are_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::at(dir.path());
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        assert!(resolve(&root, Path::new("/a/x")).is_err());
        let mut w = Warnings::default();
        assert_eq!(read_opt(&root, Path::new("/a"), &mut w), None);
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
    }

    #[test]
    fn missing_is_silent_directory_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::at(dir.path());
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        let mut w = Warnings::default();
        assert_eq!(read_opt(&root, Path::new("/missing"), &mut w), None);
        assert!(w.0.is_empty());
        assert_eq!(read_opt(&root, Path::new("/d"), &mut w), None);
        assert_eq!(w.0, ["/d: is a directory, expected a file"]);
        assert_eq!(read_req(&root, Path::new("/missing"), &mut w), None);
        assert_eq!(w.0[1], "/missing: not found");
    }

    #[test]
    fn parsed_values_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::at(dir.path());
        isotune_testutil::put(dir.path(), "n", b"128\n");
        isotune_testutil::put(dir.path(), "bad", b"lots\n");
        isotune_testutil::put(dir.path(), "y", b"Y\n");
        let mut w = Warnings::default();
        assert_eq!(
            read_parsed::<u32>(&root, Path::new("/n"), &mut w),
            Some(128)
        );
        assert_eq!(read_parsed::<u32>(&root, Path::new("/bad"), &mut w), None);
        assert_eq!(read_bool(&root, Path::new("/y"), &mut w), Some(true));
        assert_eq!(read_bool(&root, Path::new("/n"), &mut w), None);
        assert_eq!(w.0.len(), 2, "{:?}", w.0);
        assert!(exists(&root, Path::new("/y")));
        assert!(!exists(&root, Path::new("/nope")));
    }
}

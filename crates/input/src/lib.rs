#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! Opening the files isotune is handed, safely.
//!
//! isotune reads images downloaded from anywhere and trees handed to it by
//! users. Two things must never happen: a FIFO or socket given as an input
//! makes `open(2)` or `read(2)` block for ever, and a file that is far larger
//! than its kind can be (`/dev/zero` under a `--sysroot`, a 2 GB "checksum
//! file") is read into memory whole. Every crate that opens an input goes
//! through this one module:
//!
//! - [`open_image`] for an image or block device that is read with
//!   positioned reads (regular files and block devices only);
//! - [`read_capped`] / [`read_to_string_capped`] for text inputs (XML,
//!   checksum files, baselines, /proc and /sys files), with a byte cap that
//!   the error names when it is exceeded;
//! - [`atomic`] for outputs written all-or-nothing (temporary file beside
//!   the destination, fsync, rename).
//!
//! The file type is checked with `O_NONBLOCK` on the open itself, so a FIFO
//! is refused without blocking, and then with `fstat` on the open file, so
//! a path swapped between check and open cannot slip through.

pub mod atomic;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

/// Caps used across isotune for text inputs, in bytes.
pub mod caps {
    /// Libvirt domain XML, Proxmox configs, checksum files, JSON baselines
    /// and reports: 64 MiB.
    pub const TEXT_FILE_BYTES: u64 = 64 << 20;
    /// One file under /proc or /sys (or a captured copy of one): 1 MiB.
    pub const PROC_FILE_BYTES: u64 = 1 << 20;
}

/// What kind of file an input was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    Regular,
    /// A block device.
    BlockDevice,
    /// A character device (`/dev/zero`, a tty).
    CharDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A directory.
    Directory,
    /// Something else (a symlink cannot be seen here: opens follow them).
    Other,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Regular => "a regular file",
            Kind::BlockDevice => "a block device",
            Kind::CharDevice => "a character device",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::Directory => "a directory",
            Kind::Other => "not a regular file",
        })
    }
}

impl From<FileType> for Kind {
    fn from(t: FileType) -> Self {
        match t {
            FileType::RegularFile => Kind::Regular,
            FileType::BlockDevice => Kind::BlockDevice,
            FileType::CharacterDevice => Kind::CharDevice,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::Directory => Kind::Directory,
            _ => Kind::Other,
        }
    }
}

/// Why an input was refused. The message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Opening or reading failed.
    #[error("{}: cannot {op}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("open", "read").
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is of a kind this input cannot be.
    #[error("{}: is {kind}, expected {expected}", path.display())]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: Kind,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The file is larger than the cap for its kind of input.
    #[error("{}: larger than {cap_bytes} bytes, the limit for {what}; refused", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        cap_bytes: u64,
        /// What kind of input ("a libvirt XML file").
        what: &'static str,
    },
}

impl InputError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputError::Io { path, .. }
            | InputError::WrongKind { path, .. }
            | InputError::TooLarge { path, .. } => path,
        }
    }
}

fn io(path: &Path, op: &'static str, source: std::io::Error) -> InputError {
    InputError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Opens `path` read-only without blocking on a FIFO, and returns the file
/// with its kind (checked with `fstat` on the open descriptor). The
/// descriptor is switched back to blocking mode before it is returned.
pub fn open_checked(path: &Path) -> Result<(File, Kind), InputError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| io(path, "open", e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(path, "stat", e.into()))?;
    let kind = Kind::from(FileType::from_raw_mode(st.st_mode));
    // Back to blocking reads: O_NONBLOCK only served the open itself.
    if let Ok(flags) = rustix::fs::fcntl_getfl(&fd) {
        let _ = rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK);
    }
    Ok((File::from(fd), kind))
}

/// Opens an image (an ISO file or a block device such as `/dev/sr0` or
/// `/dev/loop0`) for positioned reads. FIFOs, sockets, character devices and
/// directories are refused with an error naming the file.
pub fn open_image(path: &Path) -> Result<(File, Kind), InputError> {
    let (file, kind) = open_checked(path)?;
    match kind {
        Kind::Regular | Kind::BlockDevice => Ok((file, kind)),
        other => Err(InputError::WrongKind {
            path: path.to_path_buf(),
            kind: other,
            expected: "an image file or a block device",
        }),
    }
}

/// Reads a whole text input of at most `cap_bytes` bytes. Regular files are
/// checked against the cap before reading; files whose size `stat` does not
/// tell (/proc, /sys, character devices) are read up to the cap and refused
/// when more follows. FIFOs, sockets and directories are refused. `what`
/// names the kind of input in the error ("a libvirt XML file").
pub fn read_capped(path: &Path, cap_bytes: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let (file, kind) = open_checked(path)?;
    match kind {
        Kind::Regular | Kind::CharDevice | Kind::BlockDevice => {}
        other => {
            return Err(InputError::WrongKind {
                path: path.to_path_buf(),
                kind: other,
                expected: "a regular file",
            })
        }
    }
    let too_large = || InputError::TooLarge {
        path: path.to_path_buf(),
        cap_bytes,
        what,
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if kind == Kind::Regular && len > cap_bytes {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(usize::try_from(len.min(cap_bytes)).unwrap_or(0));
    file.take(cap_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| io(path, "read", e))?;
    if buf.len() as u64 > cap_bytes {
        return Err(too_large());
    }
    Ok(buf)
}

/// [`read_capped`] for UTF-8 text; invalid UTF-8 is replaced, not refused
/// (/proc files and old configs are not always clean).
pub fn read_to_string_capped(
    path: &Path,
    cap_bytes: u64,
    what: &'static str,
) -> Result<String, InputError> {
    let bytes = read_capped(path, cap_bytes, what)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pipe.iso");
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, Mode::from_raw_mode(0o600)).unwrap();
        let e = open_image(&p).unwrap_err();
        assert!(
            matches!(
                e,
                InputError::WrongKind {
                    kind: Kind::Fifo,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("pipe.iso"), "{e}");
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read_capped(&p, 10, "a test file").unwrap_err();
        assert!(matches!(e, InputError::WrongKind { .. }), "{e}");
    }

    #[test]
    fn char_device_is_not_an_image_and_is_capped_as_text() {
        let e = open_image(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), 4096, "a /proc file").unwrap_err();
        assert!(
            matches!(
                e,
                InputError::TooLarge {
                    cap_bytes: 4096,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("/dev/zero"), "{e}");
    }

    #[test]
    fn regular_files_within_and_over_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.xml");
        std::fs::write(&p, b"<domain/>").unwrap();
        assert_eq!(read_capped(&p, 9, "x").unwrap(), b"<domain/>");
        let e = read_capped(&p, 8, "a libvirt XML file").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: larger than 8 bytes, the limit for a libvirt XML file; refused",
                p.display()
            )
        );
        let (_, kind) = open_image(&p).unwrap();
        assert_eq!(kind, Kind::Regular);
        let e = read_capped(dir.path(), 8, "x").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let e = open_image(&dir.path().join("missing.iso")).unwrap_err();
        assert!(e.to_string().starts_with(&format!(
            "{}: cannot open",
            dir.path().join("missing.iso").display()
        )));
    }

    #[test]
    fn proc_files_read_through_the_cap() {
        let s = read_to_string_capped(
            Path::new("/proc/self/status"),
            caps::PROC_FILE_BYTES,
            "a /proc file",
        )
        .unwrap();
        assert!(s.contains("Pid:"));
    }
}

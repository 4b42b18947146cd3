//! The one public error of `isotune-verify`.
//!
//! An [`Error`] is an [`ErrorKind`] to branch on (the binary maps every kind
//! to exit code 2: the input could not be processed) plus the file it
//! concerns and a sentence-case message that never repeats its `source`.
//! A digest that does not match is not an error: it is a failed check in
//! the report.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not exist.
    NotFound,
    /// The path is a directory.
    IsDirectory,
    /// The file could not be opened (permissions and the like).
    Unreadable,
    /// Reading or writing failed part-way.
    Io,
    /// The file is not an ISO9660 image (no `CD001` at byte 32769) and the
    /// operation needs one.
    NotIso,
    /// An image to implant is shorter than the volume its PVD declares.
    Truncated,
    /// An expected digest is not hex of a known length.
    InvalidDigest,
    /// A checksum file has no line that parses.
    SumsFileUnusable,
    /// No checksum file entry names the image.
    SumsEntryMissing,
    /// The application area is already used; implanting needs `force`.
    AppAreaInUse,
    /// The output of an implant-to-copy already exists.
    OutputExists,
}

/// An error from verifying or implanting.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", path_prefix(.path.as_deref()))]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
    #[source]
    source: Option<io::Error>,
}

fn path_prefix(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

impl Error {
    /// A new error of `kind` about `path`.
    pub fn new(kind: ErrorKind, path: Option<&Path>, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: path.map(Path::to_path_buf),
            message: message.into(),
            source: None,
        }
    }

    /// An I/O error on `path` while doing `what` ("reading the image").
    /// Opening errors get a kind of their own (not found, unreadable).
    pub fn io(path: &Path, what: &str, err: io::Error) -> Self {
        let (kind, message) = match err.kind() {
            io::ErrorKind::NotFound => (ErrorKind::NotFound, "no such file".to_owned()),
            io::ErrorKind::PermissionDenied => (
                ErrorKind::Unreadable,
                format!("permission denied while {what}"),
            ),
            io::ErrorKind::IsADirectory => (ErrorKind::IsDirectory, "is a directory".to_owned()),
            _ => (ErrorKind::Io, format!("I/O error while {what}")),
        };
        Error {
            kind,
            path: Some(path.to_path_buf()),
            message,
            source: Some(err),
        }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the error concerns.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_not_the_source() {
        let e = Error::io(
            Path::new("/x.iso"),
            "reading the image",
            io::Error::other("disk on fire"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "/x.iso: I/O error while reading the image");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::io(
            Path::new("/y.iso"),
            "opening",
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.path(), Some(Path::new("/y.iso")));
        let e = Error::new(ErrorKind::InvalidDigest, None, "bad hex");
        assert_eq!(e.to_string(), "bad hex");
    }
}

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
    /// The file is not an ISO9660 image (its bytes at 32769 are not `CD001`)
    /// and the operation needs one. A file too short to have those bytes is
    /// [`ErrorKind::Truncated`] instead.
    NotIso,
    /// The file is too short for what the operation needs: it ends before
    /// the primary volume descriptor is complete (verifying or implanting),
    /// or before the volume its descriptor declares (implanting).
    Truncated,
    /// An expected digest is not hex of a known length.
    InvalidDigest,
    /// A checksum file has no line that parses.
    SumsFileUnusable,
    /// No checksum file entry names the image.
    SumsEntryMissing,
    /// The application area is already used; implanting needs `force`.
    /// (An incomplete record counts as used, as it does for implantisomd5.)
    AppAreaInUse,
    /// The output of an implant-to-copy already exists.
    OutputExists,
    /// The path is a FIFO, socket or character device, not an image file
    /// or block device (refused without blocking on it).
    WrongFileType,
    /// A text input (a checksum file) is larger than its cap.
    TooLarge,
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

    /// An I/O error on `path` while trying to `what` ("read the image"):
    /// the message is "cannot {what}" and `err` is the source, so a
    /// displayed chain says each thing once ("x.iso: cannot open: No such
    /// file or directory (os error 2)"). Errors that say it all get a kind
    /// of their own (not found, unreadable, a directory).
    pub fn io(path: &Path, what: &str, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Unreadable,
            io::ErrorKind::IsADirectory => {
                // The io error adds nothing to the message.
                return Error::new(ErrorKind::IsDirectory, Some(path), "is a directory");
            }
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            path: Some(path.to_path_buf()),
            message: format!("cannot {what}"),
            source: Some(err),
        }
    }

    /// An error of `isotune_input` (opening an image, reading a capped
    /// text file) as this crate's error; `what` is what was being read
    /// ("the checksum file").
    pub fn input(err: isotune_input::InputError, what: &str) -> Self {
        use isotune_input::{InputError, Kind};
        let path = err.path().to_path_buf();
        let message = err.to_string();
        let message = message
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(&message)
            .to_owned();
        match err {
            InputError::Io { source, .. } => Error::io(&path, &format!("open {what}"), source),
            InputError::WrongKind {
                kind: Kind::Directory,
                ..
            } => Error::new(ErrorKind::IsDirectory, Some(&path), "is a directory"),
            InputError::WrongKind { .. } => {
                Error::new(ErrorKind::WrongFileType, Some(&path), message)
            }
            InputError::TooLarge { .. } => Error::new(ErrorKind::TooLarge, Some(&path), message),
            _ => Error::new(ErrorKind::Io, Some(&path), message),
        }
    }

    /// An error of writing an output all-or-nothing.
    pub fn output(err: isotune_input::atomic::OutputError) -> Self {
        use isotune_input::atomic::OutputError;
        match err {
            OutputError::Exists { path } => Error::new(
                ErrorKind::OutputExists,
                Some(&path),
                "already exists; implanting to a copy never overwrites a file",
            ),
            OutputError::Io { path, op, source } => Error::io(&path, op, source),
            other => Error::new(ErrorKind::Io, None, other.to_string()),
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

    /// The message and its source chain, as `{:#}` in anyhow shows them.
    fn chain(e: &Error) -> String {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }

    #[test]
    fn messages_name_the_file_and_not_the_source() {
        let e = Error::io(
            Path::new("/x.iso"),
            "read the image",
            io::Error::other("disk on fire"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "/x.iso: cannot read the image");
        assert_eq!(chain(&e), "/x.iso: cannot read the image: disk on fire");
        let e = Error::new(ErrorKind::InvalidDigest, None, "bad hex");
        assert_eq!(e.to_string(), "bad hex");
    }

    #[test]
    fn open_errors_do_not_repeat_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.iso");
        let err = std::fs::File::open(&missing).unwrap_err();
        let source_text = err.to_string();
        let e = Error::io(&missing, "open", err);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.path(), Some(missing.as_path()));
        assert_eq!(e.message(), "cannot open");
        let shown = chain(&e);
        assert_eq!(shown.matches(source_text.as_str()).count(), 1, "{shown}");
        assert!(!shown.to_lowercase().contains("no such file: no such file"));

        let e = Error::io(
            Path::new("/y.iso"),
            "open",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind(), ErrorKind::Unreadable);
        assert!(!e.message().to_lowercase().contains("permission"));

        let e = Error::io(
            dir.path(),
            "open",
            io::Error::from(io::ErrorKind::IsADirectory),
        );
        assert_eq!(e.kind(), ErrorKind::IsDirectory);
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.message(), "is a directory");
    }
}

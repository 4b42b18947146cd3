//! The one public error of `isotune-bench`: a coarse [`ErrorKind`] plus the
//! path and operation it concerns. Messages are sentence case and never
//! repeat their `source`.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The target does not exist.
    NotFound,
    /// The target is a directory or another kind of file that cannot be read as an image.
    NotReadable,
    /// The target is empty or smaller than one request.
    TooSmall,
    /// The filesystem or device refused O_DIRECT.
    DirectUnsupported,
    /// io_uring is not available (kernel, seccomp, or built without it).
    UringUnavailable,
    /// A workload cannot be built (e.g. no boot catalog for the boot trace).
    Workload,
    /// A read or another system call failed.
    Io,
    /// Invalid options (request size not a multiple of 2048, queue depth 0...).
    InvalidInput,
    /// A network source failed (connection, protocol, timeout).
    Network,
}

/// An error from benchmarking.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
    #[source]
    source: Option<io::Error>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            message: message.into(),
            source: None,
        }
    }

    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, err: io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            path: None,
            message: what.into(),
            source: Some(err),
        }
    }

    /// Attaches the path the error concerns.
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// Replaces the kind (e.g. an open error that means NotFound).
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path, when the error concerns one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

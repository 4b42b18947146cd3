//! The crate's one public [`Error`]: only [`crate::stat_file`] and
//! [`crate::file_facts`] fail (the file asked about cannot be found or
//! examined); every other problem becomes a warning line in the facts.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not exist.
    NotFound,
    /// The file (or a directory on its path) may not be examined.
    PermissionDenied,
    /// Any other failure of `statx` or of resolving the path.
    Io,
}

/// A file could not be examined.
#[derive(Debug, thiserror::Error)]
#[error("Cannot examine {}", path.display())]
pub struct Error {
    kind: ErrorKind,
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl Error {
    pub(crate) fn new(path: &Path, source: io::Error) -> Self {
        let kind = match source.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            path: path.to_path_buf(),
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file asked about.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn message_names_the_path_and_not_the_source() {
        let e = Error::new(
            Path::new("/srv/a.iso"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "Cannot examine /srv/a.iso");
        assert!(e.source().is_some());
        assert_eq!(e.path(), Path::new("/srv/a.iso"));
    }
}

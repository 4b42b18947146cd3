//! The fleet library's one error: a directory given to read is unusable.
//! Everything below those directories (a corrupt report, an unreadable
//! subdirectory) is a [`Warning`](crate::Warning), not an error.

use std::path::PathBuf;

/// Why the report could not be made at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A directory given cannot be read.
    #[error("cannot read the report directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A path given is not a directory.
    #[error("{} is not a directory (give the directory holding HOST/*.json)", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
}

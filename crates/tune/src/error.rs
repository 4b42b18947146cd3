//! The crate's one public error.

use std::path::PathBuf;

/// Why a tune operation could not run. Messages name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: cannot {op}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("write", "fsync").
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another `isotune tune` holds the journal's lock.
    #[error("{}: another isotune tune apply or rollback is running (lock held); try again when it has finished", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A journal file cannot be used.
    #[error("{}: {problem}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it.
        problem: JournalProblem,
    },
    /// libvirt refused or failed a call (libvirt's own message).
    #[error(transparent)]
    Libvirt(#[from] isotune_libvirt::DefineError),
    /// A domain's edits no longer apply to its persistent XML (it was
    /// changed since the plan).
    #[error("domain {domain}: the planned edit no longer applies to its persistent XML ({error}); run `isotune tune plan` again")]
    DomainEdit {
        /// The domain.
        domain: String,
        /// Why.
        error: isotune_doctor::fix::FixError,
    },
    /// `rollback ID` names no transaction.
    #[error("no transaction {id} in {}", dir.display())]
    NoSuchTransaction {
        /// The id asked for.
        id: String,
        /// The journal directory.
        dir: PathBuf,
    },
}

/// What is wrong with a journal file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JournalProblem {
    /// Not valid JSON of a transaction (corrupt or half-written).
    #[error("corrupt or half-written journal ({detail}); its changes cannot be rolled back automatically")]
    Corrupt {
        /// The parser's message.
        detail: String,
    },
    /// Written by a newer isotune.
    #[error(
        "journal schema {found} is newer than this isotune's {supported}; use a newer isotune"
    )]
    NewerSchema {
        /// The file's schema_version.
        found: u32,
        /// The version this build writes.
        supported: u32,
    },
}

pub(crate) fn io(
    path: impl Into<PathBuf>,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, op, source }
}

/// A journal file that could not be used, as listed in reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalIssue {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: JournalProblem,
}

impl std::fmt::Display for JournalIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

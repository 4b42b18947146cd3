//! The one public error of `isotune-qemu`: a coarse [`ErrorKind`] to branch
//! on, a sentence-case message with the context (command, path, seconds),
//! and the I/O error underneath when there is one. Messages never repeat
//! their `source`.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The QEMU binary is not installed or not where it was said to be.
    QemuMissing,
    /// QEMU refused the arguments or exited before the measurement ended;
    /// the message carries QEMU's first stderr lines.
    QemuFailed,
    /// A read from QMP timed out, or a run exceeded its time limit.
    Timeout,
    /// The run was cancelled by the caller.
    Cancelled,
    /// QMP closed the connection (QEMU exited), possibly in the middle of a reply.
    Disconnected,
    /// QMP sent something that is not the protocol (not JSON, an unexpected shape).
    Protocol,
    /// A QMP command returned an error reply; see [`Error::qmp_error`].
    Command,
    /// The block device to measure does not exist in the VM.
    DeviceNotFound,
    /// Invalid options.
    InvalidInput,
    /// A system call failed (spawning, sockets, files).
    Io,
}

/// The `error` member of a QMP error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmpError {
    /// The error class (`CommandNotFound`, `GenericError`, `DeviceNotFound`, ...).
    pub class: String,
    /// QEMU's human-readable description.
    pub desc: String,
}

/// An error from the QEMU launcher, the QMP client or the runner.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
    qmp: Option<QmpError>,
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
            qmp: None,
            source: None,
        }
    }

    /// An I/O error while doing `what`; read timeouts become
    /// [`ErrorKind::Timeout`].
    pub fn io(what: impl Into<String>, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            path: None,
            message: what.into(),
            qmp: None,
            source: Some(err),
        }
    }

    /// An error reply to the QMP command `command`.
    pub fn command(command: &str, qmp: QmpError) -> Self {
        Error {
            kind: ErrorKind::Command,
            path: None,
            message: format!("QMP command {command} failed: {}: {}", qmp.class, qmp.desc),
            qmp: Some(qmp),
            source: None,
        }
    }

    /// Attaches the path the error concerns.
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// Replaces the kind (e.g. a spawn error that means QemuMissing).
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

    /// The class and description of a QMP error reply ([`ErrorKind::Command`]).
    pub fn qmp_error(&self) -> Option<&QmpError> {
        self.qmp.as_ref()
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_timeouts_become_timeout() {
        let e = Error::io("reading QMP", io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = Error::io("reading QMP", io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "reading QMP");
    }

    #[test]
    fn command_errors_carry_class_and_path() {
        let qmp = QmpError {
            class: "CommandNotFound".into(),
            desc: "The command foo has not been found".into(),
        };
        let e = Error::command("foo", qmp).with_path(Path::new("/tmp/q.sock"));
        assert_eq!(e.kind(), ErrorKind::Command);
        assert_eq!(e.qmp_error().unwrap().class, "CommandNotFound");
        assert_eq!(
            e.to_string(),
            "/tmp/q.sock: QMP command foo failed: CommandNotFound: The command foo has not been found"
        );
    }
}

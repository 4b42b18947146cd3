//! The one public error of `isotune-net`: a coarse [`ErrorKind`], the
//! (redacted) URL it concerns and a message that never repeats its source.

use std::io;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL cannot be parsed or uses an unsupported scheme.
    InvalidUrl,
    /// The host cannot be resolved or refused the connection.
    Connect,
    /// A connect, read or write took longer than its limit.
    Timeout,
    /// The server answered something that is not the protocol.
    Protocol,
    /// An HTTP server that does not serve byte ranges.
    NoRange,
    /// An HTTP status other than the expected one.
    Status,
    /// TLS set-up or verification failed.
    Tls,
    /// The connection broke.
    Io,
    /// Invalid options (an unreadable CA file...).
    InvalidInput,
}

/// An error from a network source.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", url.as_ref().map(|u| format!("{u}: ")).unwrap_or_default())]
pub struct Error {
    kind: ErrorKind,
    url: Option<String>,
    message: String,
    #[source]
    source: Option<io::Error>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            url: None,
            message: message.into(),
            source: None,
        }
    }

    /// An I/O error while doing `what`; timeouts get [`ErrorKind::Timeout`].
    pub fn io(what: impl Into<String>, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        let mut message = what.into();
        if kind == ErrorKind::Timeout {
            message.push_str(" (timed out)");
        }
        Error {
            kind,
            url: None,
            message,
            source: Some(err),
        }
    }

    /// Attaches the URL (already redacted) the error concerns, unless one is set.
    #[must_use]
    pub fn with_url(mut self, url: &crate::NetUrl) -> Self {
        if self.url.is_none() {
            self.url = Some(url.redacted());
        }
        self
    }

    /// Says what was being done: `WHAT: message`.
    #[must_use]
    pub fn during(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Replaces the kind.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The one public error of `isotune-iso`.
//!
//! An [`Error`] is a small [`ErrorKind`] to match on plus the context a user
//! needs to act on it: what the reader was doing and at which byte offset of
//! the image. Modules build errors through the constructors here so the
//! messages stay uniform (sentence case, no trailing period, never repeating
//! the `source`).

use std::{fmt, io};

/// What went wrong, coarsely, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The source could not be read (an I/O error other than a short read).
    Io,
    /// The source ended before a structure the reader needed.
    Truncated,
    /// The source is not an ISO9660 image (no volume descriptor set at sector 16).
    NotIso,
    /// A structure has impossible values and cannot be interpreted.
    Malformed,
    /// Input exceeded a safety limit (entries, depth, chain length) that keeps
    /// memory and time bounded on hostile images.
    LimitExceeded,
    /// The caller asked for something invalid (writer input, bad path).
    InvalidInput,
}

/// An error from reading or writing an ISO image.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    offset: Option<u64>,
    source: Option<io::Error>,
}

impl Error {
    /// A new error of `kind` with a sentence-case `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            offset: None,
            source: None,
        }
    }

    /// An I/O error while doing `what` (e.g. "reading the boot catalog").
    /// A short read becomes [`ErrorKind::Truncated`].
    pub fn io(what: impl Into<String>, offset: u64, err: io::Error) -> Self {
        let kind = if err.kind() == io::ErrorKind::UnexpectedEof {
            ErrorKind::Truncated
        } else {
            ErrorKind::Io
        };
        let mut message = what.into();
        if kind == ErrorKind::Truncated {
            message = format!("image ends while {message}");
            return Error::new(kind, message).at(offset);
        }
        Error {
            kind,
            message: format!("I/O error while {message}"),
            offset: Some(offset),
            source: Some(err),
        }
    }

    /// A structure that cannot be interpreted.
    pub fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, message)
    }

    /// A safety limit was hit.
    pub fn limit(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::LimitExceeded, message)
    }

    /// Attaches the byte offset in the image the error concerns.
    #[must_use]
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The byte offset in the image, when the error concerns one place.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The message without the offset.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(off) = self.offset {
            write!(f, " (at byte {off})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_read_is_truncation() {
        let e = Error::io(
            "reading the primary volume descriptor",
            32768,
            io::Error::new(io::ErrorKind::UnexpectedEof, "eof"),
        );
        assert_eq!(e.kind(), ErrorKind::Truncated);
        assert_eq!(
            e.to_string(),
            "image ends while reading the primary volume descriptor (at byte 32768)"
        );
    }

    #[test]
    fn io_error_keeps_source_out_of_message() {
        let e = Error::io("reading a directory", 4096, io::Error::other("boom"));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(!e.to_string().contains("boom"));
        assert!(std::error::Error::source(&e).is_some());
    }
}

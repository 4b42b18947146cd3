//! The crate's one public error type: what went wrong ([`ErrorKind`]) plus
//! where (the file, when there is one) and the underlying cause.

use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The XML is not well formed.
    #[error("Malformed XML at line {line}, column {column}")]
    MalformedXml {
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
    },
    /// The document is XML but not a libvirt domain.
    #[error("The root element is <{root}>, not <domain>")]
    NotADomain {
        /// The root element found.
        root: String,
    },
    /// A quote in a command line is never closed.
    #[error("Unterminated {quote} quote starting at byte {offset}")]
    UnterminatedQuote {
        /// `'` or `"`.
        quote: char,
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A file or directory could not be read.
    #[error("Cannot read")]
    Io,
    /// The file is not something to read a definition from (a FIFO, a
    /// socket, a directory) or is larger than the cap for XML files.
    #[error("Refused: {reason}")]
    Refused {
        /// Why, without the file name (`is a FIFO, expected a regular file`).
        reason: String,
    },
    /// Elements nest deeper than any domain does (the parser would recurse
    /// that deep).
    #[error("Elements nest deeper than {max_depth} levels (line {line})")]
    TooDeep {
        /// The limit.
        max_depth: usize,
        /// 1-based line where the limit was passed.
        line: usize,
    },
    /// One attribute value or text run is longer than any domain needs.
    #[error("A value at line {line} is longer than {max_bytes} bytes")]
    ValueTooLong {
        /// The limit, bytes.
        max_bytes: usize,
        /// 1-based line where the value starts.
        line: usize,
    },
}

/// The error of every fallible function in this crate.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.kind, .path.as_deref()))]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The file concerned, when there is one.
    pub path: Option<PathBuf>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

fn render(kind: &ErrorKind, path: Option<&Path>) -> String {
    match (kind, path) {
        (ErrorKind::Io, Some(p)) => format!("Cannot read {}", p.display()),
        (ErrorKind::Refused { reason }, Some(p)) => format!("{}: {reason}", p.display()),
        (kind, Some(p)) => format!("{kind} in {}", p.display()),
        (kind, None) => kind.to_string(),
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            path: None,
            source: None,
        }
    }

    pub(crate) fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::new(ErrorKind::Io)
            .with_path(path)
            .with_source(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_without_the_source() {
        let e = Error::new(ErrorKind::MalformedXml { line: 3, column: 7 }).with_path("/x/a.xml");
        assert_eq!(
            e.to_string(),
            "Malformed XML at line 3, column 7 in /x/a.xml"
        );
        let e = Error::io(Path::new("/nope"), std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "Cannot read /nope");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::new(ErrorKind::UnterminatedQuote {
            quote: '\'',
            offset: 4,
        });
        assert_eq!(e.to_string(), "Unterminated ' quote starting at byte 4");
    }
}

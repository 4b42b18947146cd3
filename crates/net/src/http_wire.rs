//! HTTP/1.1 response heads, parsed from bytes with hard limits: the status
//! line, headers (at most [`MAX_HEADERS`]), `Content-Length` and
//! `Content-Range`. Pure functions, so the fuzz target drives them directly;
//! anything that is not a well-formed head is a [`ErrorKind::Protocol`]
//! error with a short description of what was wrong, never a panic.

use crate::{Error, ErrorKind, Result};

/// The largest response head accepted, in bytes (status line + headers).
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// The most header lines accepted.
pub const MAX_HEADERS: usize = 100;

/// A parsed status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// Header names (lower case) and values (trimmed), in order.
    pub headers: Vec<(String, String)>,
}

fn garbage(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, what)
}

impl ResponseHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Length`, refusing several different values or non-digits.
    pub fn content_length(&self) -> Result<Option<u64>> {
        let mut found: Option<u64> = None;
        for (_, v) in self.headers.iter().filter(|(n, _)| n == "content-length") {
            let n = parse_u64(v)
                .ok_or_else(|| garbage(format!("invalid Content-Length `{}`", clip(v))))?;
            if found.is_some_and(|f| f != n) {
                return Err(garbage("conflicting Content-Length headers"));
            }
            found = Some(n);
        }
        Ok(found)
    }

    /// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
    pub fn content_range(&self) -> Result<Option<ContentRange>> {
        self.header("content-range")
            .map(parse_content_range)
            .transpose()
    }

    /// Whether the server keeps the connection open after this response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        }
    }

    /// Whether `Accept-Ranges` lists `bytes`.
    pub fn accepts_byte_ranges(&self) -> bool {
        self.header("accept-ranges")
            .is_some_and(|v| v.split(',').any(|u| u.trim().eq_ignore_ascii_case("bytes")))
    }

    /// Whether the body is chunked (which a Range reply never needs).
    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// A `Content-Range` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
    /// Size of the whole resource, when the server says.
    pub total: Option<u64>,
}

/// Parses `bytes FIRST-LAST/TOTAL`.
pub fn parse_content_range(v: &str) -> Result<ContentRange> {
    let bad = || garbage(format!("invalid Content-Range `{}`", clip(v)));
    let rest = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let first = parse_u64(first).ok_or_else(bad)?;
    let last = parse_u64(last).ok_or_else(bad)?;
    let total = match total.trim() {
        "*" => None,
        t => Some(parse_u64(t).ok_or_else(bad)?),
    };
    if last < first || total.is_some_and(|t| last >= t) {
        return Err(bad());
    }
    Ok(ContentRange { first, last, total })
}

/// The length of the head in `buf` (up to and including the blank line),
/// when it is complete.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete response head (`head_len` bytes, ending in a blank line;
/// bare `\n` line ends are accepted as well).
pub fn parse_head(head: &[u8]) -> Result<ResponseHead> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(garbage(format!(
            "the response head is larger than {MAX_HEAD_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(head)
        .map_err(|_| garbage("the response head is not text (not an HTTP server?)"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(garbage(format!(
            "not an HTTP/1.x status line: `{}`",
            clip(status_line)
        )));
    }
    let code = parts.next().unwrap_or("");
    let status = (code.len() == 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| garbage(format!("invalid status code in `{}`", clip(status_line))))?;
    let reason = parts.next().unwrap_or("").trim().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(garbage(format!("more than {MAX_HEADERS} header lines")));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| garbage(format!("invalid header line `{}`", clip(line))))?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Err(garbage(format!("invalid header name in `{}`", clip(line))));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(ResponseHead {
        version: version.to_owned(),
        status,
        reason,
        headers,
    })
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// At most 60 characters of `s`, for error messages.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_partial_content_head() {
        let raw = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2047/1048576\r\nContent-Length: 2048\r\nAccept-Ranges: bytes\r\n\r\n";
        assert_eq!(head_len(raw), Some(raw.len()));
        let h = parse_head(raw).unwrap();
        assert_eq!((h.status, h.reason.as_str()), (206, "Partial Content"));
        assert_eq!(h.content_length().unwrap(), Some(2048));
        let r = h.content_range().unwrap().unwrap();
        assert_eq!((r.first, r.last, r.total), (0, 2047, Some(1 << 20)));
        assert!(h.accepts_byte_ranges() && h.keep_alive() && !h.chunked());
    }

    #[test]
    fn connection_rules() {
        let h = parse_head(b"HTTP/1.0 200 OK\n\n").unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"HTTP/1.1 200 OK\r\nAccept-Ranges: none\r\n\r\n").unwrap();
        assert!(!h.accepts_byte_ranges());
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for raw in [
            &b"SSH-2.0-OpenSSH_9.2\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n bad name: x\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            let e = parse_head(raw).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        }
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
            .unwrap();
        assert!(h.content_length().is_err());
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap();
        assert!(h.content_length().is_err());
        for v in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "items 0-1/2",
            "bytes 0-/2",
            "bytes 1-2",
        ] {
            assert!(parse_content_range(v).is_err(), "{v}");
        }
        assert_eq!(parse_content_range("bytes 1-2/*").unwrap().total, None);
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(parse_head(many.as_bytes()).is_err());
    }
}

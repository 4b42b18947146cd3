//! A streaming pre-check of domain XML before it is parsed: the tree parser
//! recurses once per nesting level, so a hostile document (14,000 nested
//! elements in 98 KB) would overflow the stack. One linear pass counts the
//! nesting depth and the length of each attribute value and text run, and
//! refuses documents beyond limits no real domain comes near.

use crate::error::{Error, ErrorKind};

/// Deepest nesting accepted. libvirt domains nest about 6 levels
/// (`domain/devices/disk/source/host`); `<metadata>` may hold foreign XML,
/// so the limit is generous.
pub const MAX_DEPTH: usize = 256;

/// Longest attribute value or text run accepted, bytes. The longest values
/// in real domains are paths, URLs and base64 blobs in `<metadata>` or
/// `<launchSecurity>`, all far below this.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Checks `text` against [`MAX_DEPTH`] and [`MAX_VALUE_BYTES`] in one pass.
/// Malformed XML passes: the parser reports it with its position.
pub(crate) fn check(text: &str) -> Result<(), Error> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut i = 0;
    let mut text_start = 0;
    let mut text_line = 1;
    let value_error = |line| {
        Error::new(ErrorKind::ValueTooLong {
            max_bytes: MAX_VALUE_BYTES,
            line,
        })
    };
    while i < b.len() {
        if b[i] == b'\n' {
            line += 1;
        }
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if i - text_start > MAX_VALUE_BYTES {
            return Err(value_error(text_line));
        }
        let rest = &b[i..];
        let skip_to =
            |end: &[u8]| -> usize { find(&b[i..], end).map_or(b.len(), |k| i + k + end.len()) };
        let skipped = if rest.starts_with(b"<!--") {
            Some(skip_to(b"-->"))
        } else if rest.starts_with(b"<![CDATA[") {
            Some(skip_to(b"]]>"))
        } else if rest.starts_with(b"<?") {
            Some(skip_to(b"?>"))
        } else if rest.starts_with(b"<!") {
            Some(skip_to(b">"))
        } else {
            None
        };
        let next = if let Some(end) = skipped {
            line += b[i..end].iter().filter(|c| **c == b'\n').count();
            end
        } else {
            // A start or end tag: quoted values may hold '>'.
            let closing = rest.get(1) == Some(&b'/');
            let mut j = i + 1;
            let mut quote: Option<(u8, usize, usize)> = None;
            while j < b.len() {
                let c = b[j];
                if c == b'\n' {
                    line += 1;
                }
                match quote {
                    Some((q, start, at_line)) => {
                        if c == q {
                            quote = None;
                        } else if j - start > MAX_VALUE_BYTES {
                            return Err(value_error(at_line));
                        }
                    }
                    None if c == b'"' || c == b'\'' => quote = Some((c, j, line)),
                    None if c == b'>' => break,
                    None => {}
                }
                j += 1;
            }
            let self_closing = j > 0 && b.get(j - 1) == Some(&b'/');
            if closing {
                depth = depth.saturating_sub(1);
            } else if !self_closing {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Error::new(ErrorKind::TooDeep {
                        max_depth: MAX_DEPTH,
                        line,
                    }));
                }
            }
            j + 1
        };
        let end = next.min(b.len());
        i = end;
        text_start = i;
        text_line = line;
    }
    if b.len() - text_start.min(b.len()) > MAX_VALUE_BYTES {
        return Err(value_error(text_line));
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        // The hostile-input issue: 14,000 levels in 98 KB aborted doctor.
        let deep = format!("{}{}", "<a>".repeat(14_000), "</a>".repeat(14_000));
        let e = check(&deep).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::TooDeep {
                max_depth: MAX_DEPTH,
                line: 1
            }
        );
        let ok = format!(
            "{}{}",
            "<a x='>'>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        check(&ok).unwrap();
        // Comments, self-closing tags and declarations do not nest.
        let flat = format!(
            "<?xml version='1.0'?><d>{}</d>",
            "<!-- <a> --><b/>".repeat(1000)
        );
        check(&flat).unwrap();
    }

    #[test]
    fn huge_values_are_refused_with_their_line() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let attr = format!("<domain>\n<name a='{big}'/></domain>");
        assert_eq!(
            check(&attr).unwrap_err().kind,
            ErrorKind::ValueTooLong {
                max_bytes: MAX_VALUE_BYTES,
                line: 2
            }
        );
        let text = format!("<domain><name>{big}</name></domain>");
        assert!(check(&text).is_err());
    }
}

//! Checksum files as published next to ISO images: GNU coreutils style
//! (`HEX  name`, `HEX *name`, with `\`-escaped names) and BSD / `--tag`
//! style (`SHA256 (name) = HEX`, also OpenSSL's `SHA2-256(name)= HEX`).
//!
//! Parsing is forgiving: comments, blank lines and PGP armour around
//! `CHECKSUM` files are skipped, lines that do not parse are counted, and a
//! file is only unusable when no line parses at all. Entries are matched to
//! an image by file name (the basename of both sides), so a sums file that
//! lists `isos/x.iso` or `./x.iso` still covers `/tmp/x.iso`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::error::{Error, ErrorKind, Result};

/// Which layout a checksum line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SumsStyle {
    /// `HEX  name` / `HEX *name` (coreutils `md5sum`, `sha256sum`, ...).
    Gnu,
    /// `ALGO (name) = HEX` (BSD, coreutils `--tag`, OpenSSL).
    Bsd,
}

/// One parsed line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumsEntry {
    /// The algorithm (from the tag, or from the hex length for GNU lines).
    pub algorithm: Algorithm,
    /// Lower-case hex digest.
    pub hex: String,
    /// The file name as listed (escapes undone).
    pub name: String,
    /// 1-based line number.
    pub line: usize,
    /// The line's layout.
    pub style: SumsStyle,
}

/// A parsed checksum file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumsFile {
    /// Where it was read from (`None` for text parsed in memory).
    pub path: Option<PathBuf>,
    /// Every line that parsed.
    pub entries: Vec<SumsEntry>,
    /// Lines that were neither entries, comments nor blank.
    pub malformed_lines: usize,
    /// Well-formed lines for algorithms this crate does not compute
    /// (SHA-224, SHA-384, BLAKE2, ...).
    pub unsupported_lines: usize,
}

impl SumsFile {
    /// Parses checksum-file text.
    pub fn parse(text: &str) -> SumsFile {
        let mut out = SumsFile::default();
        let mut in_signature = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim();
            // Clear-signed files (Fedora's CHECKSUM, Debian's SHA256SUMS
            // are detached, but some are not): skip the armour.
            if trimmed.starts_with("-----BEGIN PGP SIGNATURE") {
                in_signature = true;
            }
            if in_signature {
                if trimmed.starts_with("-----END PGP SIGNATURE") {
                    in_signature = false;
                }
                continue;
            }
            if trimmed.is_empty()
                || trimmed.starts_with('#')
                || trimmed.starts_with("-----BEGIN PGP SIGNED MESSAGE")
                || (trimmed.starts_with("Hash:") && !trimmed.contains('('))
            {
                continue;
            }
            match parse_line(line) {
                Line::Entry(algorithm, hex, name, style) => out.entries.push(SumsEntry {
                    algorithm,
                    hex,
                    name,
                    line: i + 1,
                    style,
                }),
                Line::Unsupported => out.unsupported_lines += 1,
                Line::Malformed => out.malformed_lines += 1,
            }
        }
        out
    }

    /// Reads and parses a checksum file. Fails when it cannot be read or
    /// when not a single line parses (it is probably not a checksum file).
    pub fn read(path: &Path) -> Result<SumsFile> {
        let bytes = isotune_input::read_capped(
            path,
            isotune_input::caps::TEXT_FILE_BYTES,
            "a checksum file",
        )
        .map_err(|e| match e {
            isotune_input::InputError::Io { source, .. } => {
                Error::io(path, "read the checksum file", source)
            }
            other => Error::input(other, "the checksum file"),
        })?;
        let mut sums = SumsFile::parse(&String::from_utf8_lossy(&bytes));
        sums.path = Some(path.to_path_buf());
        if sums.entries.is_empty() {
            return Err(Error::new(
                ErrorKind::SumsFileUnusable,
                Some(path),
                format!(
                    "no checksum line parses ({} malformed, {} for unsupported algorithms)",
                    sums.malformed_lines, sums.unsupported_lines
                ),
            ));
        }
        Ok(sums)
    }

    /// The entries for the file named `file_name` (compared by basename).
    pub fn entries_for(&self, file_name: &str) -> Vec<&SumsEntry> {
        let want = basename(file_name);
        self.entries
            .iter()
            .filter(|e| basename(&e.name) == want)
            .collect()
    }
}

/// The last `/`-separated component. (A `\\` is a valid character in a
/// Unix file name, so Windows-style paths are not split.)
fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

enum Line {
    Entry(Algorithm, String, String, SumsStyle),
    Unsupported,
    Malformed,
}

fn parse_line(line: &str) -> Line {
    // A leading backslash means the name is escaped (coreutils does this
    // for names with `\`, newline or CR, in both styles).
    let (escaped, body) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let parsed = parse_bsd(body).or_else(|| parse_gnu(body));
    let Some((tag, hex, name, style)) = parsed else {
        return Line::Malformed;
    };
    let name = if escaped {
        match unescape(name) {
            Some(n) => n,
            None => return Line::Malformed,
        }
    } else {
        name.to_owned()
    };
    if name.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Line::Malformed;
    }
    let algorithm = match tag {
        Some(tag) => match Algorithm::from_tag(tag) {
            Some(a) if a.hex_len() == hex.len() => a,
            Some(_) => return Line::Malformed,
            None => return Line::Unsupported,
        },
        None => match Algorithm::from_hex_len(hex.len()) {
            Some(a) => a,
            // 56 (SHA-224) and 96 (SHA-384) digits are real, just not ours.
            None if matches!(hex.len(), 56 | 96) => return Line::Unsupported,
            None => return Line::Malformed,
        },
    };
    Line::Entry(algorithm, hex.to_ascii_lowercase(), name, style)
}

/// `TAG (name) = HEX` or OpenSSL's `TAG(name)= HEX`.
type Parsed<'a> = (Option<&'a str>, &'a str, &'a str, SumsStyle);

fn parse_bsd(line: &str) -> Option<Parsed<'_>> {
    let open = line.find('(')?;
    let tag = line[..open].trim_end();
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    // The name may itself contain `) = `; the digest follows the last one.
    let close = line.rfind(')')?;
    if close <= open {
        return None;
    }
    let rest = line[close + 1..].trim_start();
    let hex = rest.strip_prefix('=')?.trim();
    Some((Some(tag), hex, &line[open + 1..close], SumsStyle::Bsd))
}

/// `HEX  name`, `HEX *name`, or the bare `HEX name` some tools write.
fn parse_gnu(line: &str) -> Option<Parsed<'_>> {
    let hex_end = line.find([' ', '\t'])?;
    let hex = &line[..hex_end];
    let rest = &line[hex_end + 1..];
    let name = match rest.as_bytes().first() {
        Some(b' ' | b'*') => &rest[1..],
        _ => rest,
    };
    Some((None, hex, name, SumsStyle::Gnu))
}

/// Undoes coreutils' escaping: `\\` -> `\`, `\n` -> newline, `\r` -> CR.
fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn gnu_lines() {
        let text = format!(
            "# comment\n\n{MD5}  x.iso\n{} *dir/x.iso\n{SHA256} x.iso\r\nnot a line\n",
            SHA256.to_uppercase()
        );
        let s = SumsFile::parse(&text);
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.malformed_lines, 1);
        assert_eq!(s.entries[0].algorithm, Algorithm::Md5);
        assert_eq!(s.entries[0].line, 3);
        assert_eq!(s.entries[1].hex, SHA256);
        assert_eq!(s.entries[1].name, "dir/x.iso");
        assert_eq!(s.entries[2].name, "x.iso");
        assert_eq!(s.entries_for("/tmp/x.iso").len(), 3);
        assert!(s.entries_for("y.iso").is_empty());
    }

    #[test]
    fn escaped_names() {
        let text = format!("\\{MD5}  a\\\\b\\nc.iso\n\\{MD5}  bad\\q\n");
        let s = SumsFile::parse(&text);
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].name, "a\\b\nc.iso");
        assert_eq!(s.malformed_lines, 1);
        let text = format!("\\MD5 (a\\\\b.iso) = {MD5}\n");
        assert_eq!(SumsFile::parse(&text).entries[0].name, "a\\b.iso");
    }

    #[test]
    fn bsd_and_openssl_lines() {
        let text = format!(
            "SHA256 (x.iso) = {SHA256}\nMD5 (odd) = name.iso) = {MD5}\nSHA2-256(x.iso)= {SHA256}\n\
             SHA384 (x.iso) = {}\nSHA256 (x.iso) = {MD5}\n",
            "a".repeat(96)
        );
        let s = SumsFile::parse(&text);
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.entries[0].style, SumsStyle::Bsd);
        assert_eq!(s.entries[1].name, "odd) = name.iso");
        assert_eq!(s.entries[2].algorithm, Algorithm::Sha256);
        assert_eq!(s.unsupported_lines, 1);
        assert_eq!(s.malformed_lines, 1, "length does not fit the tag");
    }

    #[test]
    fn signed_files_skip_the_armour() {
        let text = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# x\nSHA256 (x.iso) = {SHA256}\n\
             -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"
        );
        let s = SumsFile::parse(&text);
        assert_eq!((s.entries.len(), s.malformed_lines), (1, 0));
    }

    #[test]
    fn unusable_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SUMS");
        std::fs::write(&p, "hello\nworld\n").unwrap();
        let e = SumsFile::read(&p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SumsFileUnusable);
        let e = SumsFile::read(&dir.path().join("none")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = SumsFile::read(dir.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IsDirectory);
        std::fs::write(&p, format!("junk\n{MD5}  x.iso\n")).unwrap();
        let s = SumsFile::read(&p).unwrap();
        assert_eq!((s.entries.len(), s.malformed_lines), (1, 1));
        assert_eq!(s.path.as_deref(), Some(p.as_path()));
    }
}

//! The digest algorithms `isotune verify` computes, and expected digests
//! given as hex (whose length names the algorithm).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-1 (40 hex digits).
    Sha1,
    /// SHA-256 (64 hex digits).
    Sha256,
    /// SHA-512 (128 hex digits).
    Sha512,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
    ];

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm whose hex digests have `len` digits.
    pub fn from_hex_len(len: usize) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.hex_len() == len)
    }

    /// The name BSD-style checksum lines use (`MD5`, `SHA1`, `SHA256`, `SHA512`).
    pub fn bsd_name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// The algorithm of a BSD-style or OpenSSL tag (`SHA256`, `SHA2-256`,
    /// `sha256`), if it is one of ours.
    pub fn from_tag(tag: &str) -> Option<Algorithm> {
        match tag.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA1" | "SHA-1" => Some(Algorithm::Sha1),
            "SHA256" | "SHA2-256" | "SHA-256" => Some(Algorithm::Sha256),
            "SHA512" | "SHA2-512" | "SHA-512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        })
    }
}

/// An expected digest: the algorithm and the lower-case hex value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Expected {
    /// Algorithm, from the length of the hex.
    pub algorithm: Algorithm,
    /// Lower-case hex digest.
    pub hex: String,
}

impl Expected {
    /// Parses a hex digest (any case, surrounding whitespace ignored); the
    /// algorithm follows from its length: 32 MD5, 40 SHA-1, 64 SHA-256,
    /// 128 SHA-512.
    pub fn parse(hex: &str) -> Result<Expected> {
        let hex = hex.trim();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::new(
                ErrorKind::InvalidDigest,
                None,
                format!("expected digest `{hex}` is not hexadecimal"),
            ));
        }
        let algorithm = Algorithm::from_hex_len(hex.len()).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidDigest,
                None,
                format!(
                    "expected digest has {} hex digits; 32 (MD5), 40 (SHA-1), 64 (SHA-256) \
                     or 128 (SHA-512) name an algorithm",
                    hex.len()
                ),
            )
        })?;
        Ok(Expected {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_from_length() {
        for a in Algorithm::ALL {
            let e = Expected::parse(&"A".repeat(a.hex_len())).unwrap();
            assert_eq!(e.algorithm, a);
            assert_eq!(e.hex, "a".repeat(a.hex_len()));
        }
        let e = Expected::parse("abc").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidDigest);
        assert!(Expected::parse(&"g".repeat(32)).is_err());
        assert!(Expected::parse("").is_err());
    }

    #[test]
    fn tags_and_names() {
        assert_eq!(Algorithm::from_tag("SHA2-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_tag("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::from_tag("SHA384"), None);
        assert_eq!(Algorithm::Sha512.to_string(), "sha512");
        assert_eq!(serde_json::to_string(&Algorithm::Sha1).unwrap(), "\"sha1\"");
        assert_eq!(to_hex(&[0x00, 0xaf, 0x10]), "00af10");
    }
}

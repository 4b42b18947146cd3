//! The implanted-MD5 record that `implantisomd5` (package isomd5sum) writes
//! into the 512-byte application-use field of the primary volume descriptor,
//! and that `checkisomd5` and installers' media checks read back.
//!
//! The record is plain ASCII padded with spaces, fields separated by `;`:
//!
//! ```text
//! ISO MD5SUM = <32 hex>;SKIPSECTORS = 15;RHLISOSTATUS=0;FRAGMENT SUMS = <60 chars>;
//! FRAGMENT COUNT = 20;THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!
//! ```
//! (one line on the image; wrapped here.)
//!
//! [`parse`] follows isomd5sum's `parsepvd()` (1.2.3 to 1.2.5) rule for
//! rule, so an application area we accept is one checkisomd5 accepts and
//! the values are the ones it would use: the field is scanned left to right
//! one byte at a time, the last byte is treated as a terminator, numbers are
//! read like `strtol` and must be followed only by `;`, and a record needs at
//! least `ISO MD5SUM` and `SKIPSECTORS`. Missing `RHLISOSTATUS` and
//! `FRAGMENT COUNT` mean 0 and 20. [`ImplantedMd5::format`] writes the same
//! layout implantisomd5 writes.
//!
//! What the MD5 covers (the hashing lives in `isotune-verify`): the image
//! from byte 0 to `volume size - SKIPSECTORS * 2048`, where the volume size is
//! the big-endian volume space size of the PVD times 2048, with this whole
//! application-use field read as spaces. The fragment sums are checkpoints
//! on the way: see [`fragment_digit`] and [`CHECK_READ_SIZE`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Byte offset of the primary volume descriptor that isomd5sum uses (sector 16).
pub const PVD_OFFSET: u64 = 16 * 2048;
/// Offset of the application-use field inside a volume descriptor (ECMA-119 8.4.32).
pub const APP_USE_OFFSET_IN_PVD: u64 = 883;
/// Byte offset of the application-use field in the image (32768 + 883).
pub const APP_USE_OFFSET: u64 = PVD_OFFSET + APP_USE_OFFSET_IN_PVD;
/// Size of the application-use field in bytes.
pub const APP_USE_SIZE: usize = 512;
/// What the application-use field holds when unused, and what the MD5 sees
/// in its place.
pub const BLANK: u8 = b' ';
/// The SKIPSECTORS implantisomd5 writes: sectors at the end of the volume
/// left out of the MD5 (burned CDs often fail to read their last sectors).
pub const DEFAULT_SKIP_SECTORS: i64 = 15;
/// The FRAGMENT COUNT implantisomd5 writes, and the one assumed when absent.
pub const DEFAULT_FRAGMENT_COUNT: i64 = 20;
/// Length of the FRAGMENT SUMS value isomd5sum reads (all fragments together).
pub const FRAGMENT_SUMS_LEN: usize = 60;
/// Length of the hex MD5 value.
pub const MD5_HEX_LEN: usize = 32;
/// The size of the reads isomd5sum hashes the image with. Fragment
/// checkpoints are only looked at after each such read, so this is part of
/// the format: a fragment sum is the MD5 of everything up to the end of the
/// first read whose start lies in that fragment.
pub const CHECK_READ_SIZE: u64 = 16 * 2048;
/// The trailer implantisomd5 writes after the last field.
pub const TRAILER: &str = "THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!";

const MD5_KEY: &[u8] = b"ISO MD5SUM = ";
const SKIP_KEY: &[u8] = b"SKIPSECTORS = ";
const STATUS_KEY: &[u8] = b"RHLISOSTATUS=";
const SUMS_KEY: &[u8] = b"FRAGMENT SUMS = ";
const COUNT_KEY: &[u8] = b"FRAGMENT COUNT = ";

/// An implanted-MD5 record, as read from or written to the application area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplantedMd5 {
    /// The `ISO MD5SUM` value exactly as stored (32 characters; implantisomd5
    /// writes lower-case hex and checkisomd5 compares case-sensitively).
    pub md5: String,
    /// `SKIPSECTORS`: 2048-byte sectors at the end of the volume not hashed.
    pub skip_sectors: i64,
    /// `RHLISOSTATUS` (1 for `implantisomd5 --supported-iso`), if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported: Option<i64>,
    /// `FRAGMENT SUMS`: one character per MD5 byte checked, 60 in all, if
    /// present (the value up to its `;`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_sums: Option<String>,
    /// `FRAGMENT COUNT`, if present (checkisomd5 assumes 20 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_count: Option<i64>,
}

impl ImplantedMd5 {
    /// The fragment count checkisomd5 uses: the stored one, or 20.
    pub fn effective_fragment_count(&self) -> i64 {
        self.fragment_count.unwrap_or(DEFAULT_FRAGMENT_COUNT)
    }

    /// The number of bytes at the start of the image the MD5 covers, given
    /// the volume size as isomd5sum reads it ([`isomd5_volume_bytes`]).
    /// Zero when SKIPSECTORS is larger than the volume.
    pub fn hashed_len(&self, volume_bytes: u64) -> u64 {
        let skip = i128::from(self.skip_sectors) * 2048;
        let len = i128::from(volume_bytes) - skip;
        u64::try_from(len.max(0)).unwrap_or(u64::MAX)
    }

    /// Lays the record out as implantisomd5 does: the fields in its order,
    /// each followed by `;`, then the trailer, padded with spaces to 512
    /// bytes. Absent optional fields are left out.
    ///
    /// Fails with [`ErrorKind::InvalidInput`] when a value would not read
    /// back the same (a `;` or non-ASCII byte, an MD5 that is not 32
    /// characters, fragment sums longer than 60) or the record would not
    /// leave the last byte free (implantisomd5's limit).
    pub fn format(&self) -> Result<[u8; APP_USE_SIZE]> {
        fn check_value(name: &str, v: &str) -> Result<()> {
            if v.bytes().any(|b| b == b';' || !(0x20..0x7f).contains(&b)) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("implanted MD5 field {name} holds a `;` or a non-printable byte"),
                ));
            }
            Ok(())
        }
        check_value("ISO MD5SUM", &self.md5)?;
        if self.md5.len() != MD5_HEX_LEN {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "implanted MD5 must be {MD5_HEX_LEN} characters, not {}",
                    self.md5.len()
                ),
            ));
        }
        let mut text = format!(
            "ISO MD5SUM = {};SKIPSECTORS = {};",
            self.md5, self.skip_sectors
        );
        if let Some(s) = self.supported {
            text.push_str(&format!("RHLISOSTATUS={s};"));
        }
        if let Some(sums) = &self.fragment_sums {
            check_value("FRAGMENT SUMS", sums)?;
            if sums.len() > FRAGMENT_SUMS_LEN {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "fragment sums are {} characters, at most {FRAGMENT_SUMS_LEN} fit",
                        sums.len()
                    ),
                ));
            }
            text.push_str(&format!("FRAGMENT SUMS = {sums};"));
        }
        if let Some(n) = self.fragment_count {
            text.push_str(&format!("FRAGMENT COUNT = {n};"));
        }
        text.push_str(TRAILER);
        if text.len() >= APP_USE_SIZE {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "implanted MD5 record is {} bytes, at most {} fit",
                    text.len(),
                    APP_USE_SIZE - 1
                ),
            ));
        }
        let mut out = [BLANK; APP_USE_SIZE];
        out[..text.len()].copy_from_slice(text.as_bytes());
        Ok(out)
    }
}

/// Whether an application-use field is unused (all spaces), the condition
/// implantisomd5 requires before it writes a record without `--force`.
/// (Zeros count as used, as they do for implantisomd5.)
pub fn is_blank(app_use: &[u8]) -> bool {
    app_use.iter().all(|&b| b == BLANK)
}

/// The volume size isomd5sum hashes against: the big-endian copy of the
/// volume space size (bytes 84..88 of the PVD) times 2048, ignoring the
/// logical block size field. `pvd` is the descriptor from its first byte.
/// `None` when `pvd` is shorter than 88 bytes.
pub fn isomd5_volume_bytes(pvd: &[u8]) -> Option<u64> {
    let b: [u8; 4] = pvd.get(84..88)?.try_into().ok()?;
    Some(u64::from(u32::from_be_bytes(b)) * 2048)
}

/// The fragment-sum character for one MD5 byte: the first digit of the byte
/// in lower-case hex without leading zeros (`0x0b` gives `b`, `0xb0` gives
/// `b`, `0x00` gives `0`), as isomd5sum's `"%01x"` then first character does.
pub fn fragment_digit(byte: u8) -> u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if byte >= 0x10 {
        HEX[usize::from(byte >> 4)]
    } else {
        HEX[usize::from(byte)]
    }
}

/// Reads an implanted-MD5 record from an application-use field (the 512
/// bytes at [`APP_USE_OFFSET`]; longer slices are cut, shorter ones give
/// `None`). `None` also when the field holds no record checkisomd5 would
/// accept ("no checksum information available").
pub fn parse(app_use: &[u8]) -> Option<ImplantedMd5> {
    // isomd5sum copies the field and overwrites its last byte with a NUL;
    // string comparisons then stop at any NUL.
    let mut buf = [0u8; APP_USE_SIZE];
    buf.copy_from_slice(app_use.get(..APP_USE_SIZE)?);
    buf[APP_USE_SIZE - 1] = 0;

    let mut md5 = None;
    let mut skip = None;
    let mut supported = None;
    let mut sums = None;
    let mut count = None;
    let mut i = 0usize;
    while i < APP_USE_SIZE {
        if buf[i..].starts_with(MD5_KEY) {
            i += MD5_KEY.len();
            if i + MD5_HEX_LEN >= APP_USE_SIZE {
                return None;
            }
            md5 = Some(c_string(&buf[i..i + MD5_HEX_LEN]));
            i = skip_to_semicolon(&buf, i + MD5_HEX_LEN);
        } else if let Some((n, end)) = number_field(&buf, i, SKIP_KEY) {
            if end >= APP_USE_SIZE {
                return None;
            }
            skip = Some(n);
            i = end;
        } else if let Some((n, end)) = number_field(&buf, i, STATUS_KEY) {
            supported = Some(n);
            i = end;
        } else if buf[i..].starts_with(SUMS_KEY) {
            i += SUMS_KEY.len();
            if i + FRAGMENT_SUMS_LEN >= APP_USE_SIZE {
                return None;
            }
            // isomd5sum copies 60 bytes whatever they are; we keep the value
            // up to its terminator, which is what the writer put there.
            let raw = &buf[i..i + FRAGMENT_SUMS_LEN];
            let end = raw
                .iter()
                .position(|&b| b == b';' || b == 0)
                .unwrap_or(raw.len());
            sums = Some(c_string(&raw[..end]));
            i = skip_to_semicolon(&buf, i + FRAGMENT_SUMS_LEN);
        } else if let Some((n, end)) = number_field(&buf, i, COUNT_KEY) {
            count = Some(n);
            i = end;
        }
        // Either the `;` after a field or one byte of something unknown.
        i += 1;
        let all_found = md5.is_some()
            && skip.is_some()
            && supported.is_some()
            && sums.is_some()
            && count.is_some();
        if all_found {
            break;
        }
    }

    Some(ImplantedMd5 {
        md5: md5?,
        skip_sectors: skip?,
        supported,
        fragment_sums: sums,
        fragment_count: count,
    })
}

/// Index of the next `;` at or after `i`, or the end of the field.
fn skip_to_semicolon(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && buf[i] != b';' {
        i += 1;
    }
    i
}

/// Bytes up to the first NUL, as text (non-ASCII bytes are replaced; such a
/// value never matches a computed digest anyway).
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// isomd5sum's `matches_number`: when `key` starts at `i`, the value runs to
/// the next `;` (or the end of the field) and must be a whole `strtol`
/// number. Returns the number and the index of the `;`.
fn number_field(buf: &[u8], i: usize, key: &[u8]) -> Option<(i64, usize)> {
    if !buf[i..].starts_with(key) {
        return None;
    }
    let start = i + key.len();
    if start >= buf.len() {
        return None;
    }
    let end = skip_to_semicolon(buf, start);
    let value = &buf[start..end];
    let value = &value[..value.iter().position(|&b| b == 0).unwrap_or(value.len())];
    Some((strtol_whole(value)?, end))
}

/// `strtol(s, &end, 10)` accepted only when `end` reaches the end of `s`:
/// optional leading whitespace and sign, then digits; an empty string is 0;
/// out-of-range values saturate like `strtol`.
fn strtol_whole(s: &[u8]) -> Option<i64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    if i == s.len() {
        // Only whitespace: strtol converts nothing and leaves `end` at the
        // start, which is accepted only when the string is empty.
        return s.is_empty().then_some(0);
    }
    let negative = match s[i] {
        b'-' => {
            i += 1;
            true
        }
        b'+' => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = if negative {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        };
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record in implantisomd5's exact layout (the verify crate's integration
    /// tests compare against the real tool's output byte for byte).
    const REAL: &str = "ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5;SKIPSECTORS = 15;RHLISOSTATUS=0;FRAGMENT SUMS = 2a6f0b41c8f5e7a4e4c8a2cd1d2a3bc53e5e1b5e9d2a0d4ce1e2e5ddd2a5;FRAGMENT COUNT = 20;THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!";

    fn field(text: &str) -> [u8; APP_USE_SIZE] {
        let mut f = [BLANK; APP_USE_SIZE];
        f[..text.len()].copy_from_slice(text.as_bytes());
        f
    }

    fn sample() -> ImplantedMd5 {
        ImplantedMd5 {
            md5: "7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5".into(),
            skip_sectors: 15,
            supported: Some(0),
            fragment_sums: Some(
                "2a6f0b41c8f5e7a4e4c8a2cd1d2a3bc53e5e1b5e9d2a0d4ce1e2e5ddd2a5".into(),
            ),
            fragment_count: Some(20),
        }
    }

    #[test]
    fn parses_what_implantisomd5_writes() {
        assert_eq!(parse(&field(REAL)), Some(sample()));
    }

    #[test]
    fn format_round_trips_and_matches_the_layout() {
        let f = sample().format().unwrap();
        assert_eq!(f, field(REAL));
        assert_eq!(parse(&f), Some(sample()));
    }

    #[test]
    fn blank_and_garbage_are_not_records() {
        assert!(is_blank(&[BLANK; APP_USE_SIZE]));
        assert_eq!(parse(&[BLANK; APP_USE_SIZE]), None);
        assert_eq!(parse(&[0; APP_USE_SIZE]), None);
        assert!(!is_blank(&[0; APP_USE_SIZE]));
        assert_eq!(parse(&[BLANK; 100]), None);
        // MD5 without SKIPSECTORS is not enough for checkisomd5.
        assert_eq!(
            parse(&field("ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5;")),
            None
        );
    }

    #[test]
    fn minimal_record_uses_defaults() {
        let r = parse(&field(
            "ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5;SKIPSECTORS = 0;",
        ))
        .unwrap();
        assert_eq!(r.skip_sectors, 0);
        assert_eq!(r.fragment_sums, None);
        assert_eq!(r.effective_fragment_count(), 20);
        // Fields may come in any order and after other text.
        let r = parse(&field(
            "xx SKIPSECTORS = 7;junk;ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5;",
        ))
        .unwrap();
        assert_eq!(r.skip_sectors, 7);
    }

    #[test]
    fn numbers_follow_strtol() {
        assert_eq!(strtol_whole(b" 15"), Some(15));
        assert_eq!(strtol_whole(b"-3"), Some(-3));
        assert_eq!(strtol_whole(b""), Some(0));
        assert_eq!(strtol_whole(b" "), None);
        assert_eq!(strtol_whole(b"15 "), None);
        assert_eq!(strtol_whole(b"1x"), None);
        assert_eq!(strtol_whole(b"99999999999999999999"), Some(i64::MAX));
        // A trailing-garbage number does not count as the field.
        let r = parse(&field(
            "ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5;SKIPSECTORS = 15x;",
        ));
        assert_eq!(r, None);
    }

    #[test]
    fn md5_too_close_to_the_end_is_rejected() {
        let mut f = [BLANK; APP_USE_SIZE];
        let text = b"ISO MD5SUM = 7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5";
        let at = APP_USE_SIZE - text.len();
        f[at..].copy_from_slice(text);
        assert_eq!(parse(&f), None);
    }

    #[test]
    fn format_rejects_what_would_not_read_back() {
        let mut r = sample();
        r.md5 = "abc".into();
        assert_eq!(r.format().unwrap_err().kind(), ErrorKind::InvalidInput);
        let mut r = sample();
        r.fragment_sums = Some("a;b".into());
        assert!(r.format().is_err());
        let mut r = sample();
        r.fragment_sums = Some("a".repeat(61));
        assert!(r.format().is_err());
    }

    #[test]
    fn fragment_digits_are_the_first_hex_digit() {
        assert_eq!(fragment_digit(0x00), b'0');
        assert_eq!(fragment_digit(0x0b), b'b');
        assert_eq!(fragment_digit(0xb0), b'b');
        assert_eq!(fragment_digit(0xff), b'f');
        assert_eq!(fragment_digit(0x1f), b'1');
    }

    #[test]
    fn hashed_len_and_volume_size() {
        let r = sample();
        assert_eq!(r.hashed_len(100 * 2048), 85 * 2048);
        assert_eq!(r.hashed_len(10 * 2048), 0);
        let mut pvd = [0u8; 2048];
        pvd[84..88].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(isomd5_volume_bytes(&pvd), Some(1000 * 2048));
        assert_eq!(isomd5_volume_bytes(&pvd[..80]), None);
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["md5"], "7d6a2b7a8e3f7bbf8ad1ba4c22e6c3a5");
        assert_eq!(json["skip_sectors"], 15);
        assert_eq!(json["fragment_count"], 20);
    }
}

//! Bounds-checked little helpers for decoding on-disk fields.
//!
//! Every ISO9660 structure is decoded from bytes an attacker may control, so
//! nothing here indexes or slices without a check: a field that lies past the
//! end of its buffer reads as zero (or empty), and callers validate lengths
//! where a short structure matters.

use std::io;

use crate::source::ReadAt;

/// The byte at `off`, or 0 when `off` is past the end.
pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// `len` bytes from `off`, clamped to the buffer (possibly empty).
pub(crate) fn field(b: &[u8], off: usize, len: usize) -> &[u8] {
    let start = off.min(b.len());
    let end = off.saturating_add(len).min(b.len());
    b.get(start..end).unwrap_or(&[])
}

fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    let src = field(b, off, N);
    if let Some(dst) = out.get_mut(..src.len()) {
        dst.copy_from_slice(src);
    }
    out
}

/// Little-endian `u16` at `off` (0 past the end).
pub(crate) fn le_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(array(b, off))
}

/// Big-endian `u16` at `off` (0 past the end).
pub(crate) fn be_u16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes(array(b, off))
}

/// Little-endian `u32` at `off` (0 past the end).
pub(crate) fn le_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(array(b, off))
}

/// Big-endian `u32` at `off` (0 past the end).
pub(crate) fn be_u32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(array(b, off))
}

/// Little-endian `u64` at `off` (0 past the end).
pub(crate) fn le_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(array(b, off))
}

/// An ISO9660 "both-byte order" `u32` (7.3.3): the little-endian half and
/// whether the big-endian half disagrees with it.
pub(crate) fn both_u32(b: &[u8], off: usize) -> (u32, bool) {
    let le = le_u32(b, off);
    (le, le != be_u32(b, off.saturating_add(4)))
}

/// An ISO9660 "both-byte order" `u16` (7.2.3): the little-endian half and
/// whether the big-endian half disagrees with it.
pub(crate) fn both_u16(b: &[u8], off: usize) -> (u16, bool) {
    let le = le_u16(b, off);
    (le, le != be_u16(b, off.saturating_add(2)))
}

/// A space-padded a/d-character identifier as text: trailing spaces and NULs
/// removed, bytes outside UTF-8 replaced.
pub(crate) fn text(b: &[u8]) -> String {
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(0, |p| p + 1);
    String::from_utf8_lossy(field(b, 0, end)).into_owned()
}

/// UCS-2 big-endian text (Joliet), trailing spaces and NULs removed. Lone
/// surrogates become U+FFFD; an odd trailing byte is ignored.
pub(crate) fn ucs2_text(b: &[u8]) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    s.trim_end_matches([' ', '\0']).to_owned()
}

/// Reads as many bytes as the source has at `offset`, up to `buf.len()`;
/// returns how many were read (fewer only at the end of the source).
pub(crate) fn read_up_to(src: &dyn ReadAt, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0usize;
    while done < buf.len() {
        let Some(rest) = buf.get_mut(done..) else {
            break;
        };
        let at = offset.saturating_add(done as u64);
        match src.read_at(rest, at) {
            Ok(0) => break,
            Ok(n) => done = done.saturating_add(n).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(both_u32(&b, 0), (1, false));
        assert_eq!(le_u32(&b, 6), 256);
        assert_eq!(le_u32(&b, usize::MAX), 0);
        assert_eq!(le_u64(&b, 0), 0x0100_0000_0000_0001);
        assert_eq!(le_u64(&b, 1), 0x0001_0000_0000_0000);
        assert_eq!(field(&b, 6, usize::MAX), &[0, 1]);
        assert_eq!(u8_at(&b, 100), 0);
        let mismatch = [2u8, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(both_u32(&mismatch, 0), (2, true));
        assert_eq!(both_u16(&[5, 0, 0, 5], 0), (5, false));
    }

    #[test]
    fn text_fields_are_trimmed() {
        assert_eq!(text(b"CDROM   \0\0"), "CDROM");
        assert_eq!(text(b"    "), "");
        assert_eq!(ucs2_text(&[0, b'H', 0, b'i', 0, b' ', 0xD8]), "Hi");
        assert_eq!(ucs2_text(&[0xD8, 0x00]), "\u{FFFD}");
    }

    #[test]
    fn read_up_to_stops_at_the_end() {
        let data = vec![7u8; 10];
        let mut buf = [0u8; 8];
        assert_eq!(read_up_to(&data, &mut buf, 4).unwrap(), 6);
        assert_eq!(read_up_to(&data, &mut buf, u64::MAX).unwrap(), 0);
    }
}

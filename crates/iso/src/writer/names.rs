//! Names as the two directory trees spell them, and the order records are
//! sorted in.
//!
//! ISO9660 identifiers (ECMA-119 7.5, 7.6, "level 2"): d-characters only
//! (`A-Z 0-9 _`), at most 30 characters, files as `NAME.EXT;1` (the dot is
//! always there). Lower case is upper-cased and anything else becomes `_`.
//! Joliet identifiers: UCS-2 big-endian, original case, at most 64
//! characters, with `* / : ; ? \`, control characters and characters
//! outside the BMP replaced by `_`; no `;1` (what genisoimage and xorriso
//! write). Records are sorted as ECMA-119 9.3 says: by name, then
//! extension, each padded with spaces, then by version, descending.

use std::cmp::Ordering;

/// Longest ISO9660 identifier written (level 2 allows 30 plus `;1`).
pub(super) const ISO_NAME_MAX: usize = 30;

/// Longest Joliet identifier written, in UCS-2 characters.
pub(super) const JOLIET_NAME_MAX: usize = 64;

/// How many characters of an extension survive when a file name is cut.
const EXT_KEEP: usize = 8;

fn d_char(c: char) -> u8 {
    if c.is_ascii_alphanumeric() {
        c.to_ascii_uppercase() as u8
    } else {
        b'_'
    }
}

/// The ISO9660 identifier of a directory.
pub(super) fn iso_dir_name(name: &str) -> Vec<u8> {
    name.chars().map(d_char).take(ISO_NAME_MAX).collect()
}

/// The ISO9660 identifier of a file, `NAME.EXT;1`; the extension is what
/// follows the last dot.
pub(super) fn iso_file_name(name: &str) -> Vec<u8> {
    let (base, ext) = match name.rfind('.') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (name, ""),
    };
    let mut base: Vec<u8> = base.chars().map(d_char).collect();
    let mut ext: Vec<u8> = ext.chars().map(d_char).collect();
    if base.len() + 1 + ext.len() > ISO_NAME_MAX {
        ext.truncate(EXT_KEEP);
        base.truncate(ISO_NAME_MAX - 1 - ext.len());
    }
    base.push(b'.');
    base.extend_from_slice(&ext);
    base.extend_from_slice(b";1");
    base
}

/// The volume identifier of the PVD: up to 32 d-characters.
pub(super) fn iso_volume_id(id: &str) -> Vec<u8> {
    id.chars().map(d_char).take(32).collect()
}

fn joliet_unit(c: char) -> u16 {
    let mut buf = [0u16; 2];
    let units = c.encode_utf16(&mut buf);
    let forbidden = matches!(c, '*' | '/' | ':' | ';' | '?' | '\\') || c.is_control();
    if units.len() != 1 || forbidden {
        u16::from(b'_')
    } else {
        units[0]
    }
}

/// The Joliet identifier of a file or directory, UCS-2 big-endian bytes.
pub(super) fn joliet_name(name: &str) -> Vec<u8> {
    name.chars()
        .map(joliet_unit)
        .take(JOLIET_NAME_MAX)
        .flat_map(u16::to_be_bytes)
        .collect()
}

/// A Joliet descriptor text field of `len` bytes: UCS-2 big-endian, padded
/// with UCS-2 spaces.
pub(super) fn joliet_field(text: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = text
        .chars()
        .map(joliet_unit)
        .take(len / 2)
        .flat_map(u16::to_be_bytes)
        .collect();
    while out.len() + 2 <= len {
        out.extend_from_slice(&[0x00, 0x20]);
    }
    out.resize(len, 0);
    out
}

/// Text of an identifier for messages and summaries.
pub(super) fn display(ident: &[u8], joliet: bool) -> String {
    if joliet {
        let units: Vec<u16> = ident
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(ident).into_owned()
    }
}

/// ECMA-119 9.3 order of two ISO9660 identifiers.
pub(super) fn iso_order(a: &[u8], b: &[u8]) -> Ordering {
    let (an, ae, av) = split_iso(a);
    let (bn, be, bv) = split_iso(b);
    padded_cmp(an, bn)
        .then_with(|| padded_cmp(ae, be))
        // Versions are numbers and sort descending.
        .then_with(|| (bv.len(), bv).cmp(&(av.len(), av)))
}

/// Order of two Joliet identifiers: by UCS-2 code unit, as mkisofs does.
pub(super) fn joliet_order(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

fn split_iso(id: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let (main, version) = match id.iter().position(|&c| c == b';') {
        Some(i) => (&id[..i], &id[i + 1..]),
        None => (id, &[][..]),
    };
    match main.iter().position(|&c| c == b'.') {
        Some(i) => (&main[..i], &main[i + 1..], version),
        None => (main, &[][..], version),
    }
}

fn padded_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(b' ');
            let y = b.get(i).copied().unwrap_or(b' ');
            x.cmp(&y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> String {
        String::from_utf8(iso_file_name(name)).unwrap()
    }

    #[test]
    fn iso_names_are_upper_d_characters() {
        assert_eq!(file("readme.txt"), "README.TXT;1");
        assert_eq!(file("README"), "README.;1");
        assert_eq!(file("a.tar.gz"), "A_TAR.GZ;1");
        assert_eq!(file(".bashrc"), ".BASHRC;1");
        assert_eq!(file("grüße-1 x.cfg"), "GR__E_1_X.CFG;1");
        assert_eq!(iso_dir_name("boot.d"), b"BOOT_D");
        assert_eq!(iso_volume_id("My Disk 1"), b"MY_DISK_1");
    }

    #[test]
    fn long_iso_names_are_cut_to_30() {
        let long = file(&format!("{}.extension-long", "n".repeat(40)));
        assert_eq!(long, format!("{}.EXTENSIO;1", "N".repeat(21)));
        assert_eq!(long.len(), 30 + 2);
        assert_eq!(file(&"x".repeat(29)), format!("{}.;1", "X".repeat(29)));
        assert_eq!(iso_dir_name(&"d".repeat(40)).len(), 30);
    }

    #[test]
    fn joliet_names_keep_case_and_cut_at_64() {
        assert_eq!(display(&joliet_name("Grüße.txt"), true), "Grüße.txt");
        assert_eq!(display(&joliet_name("a:b;c?\u{1F600}"), true), "a_b_c__");
        assert_eq!(joliet_name(&"é".repeat(70)).len(), 128);
        let field = joliet_field("Ab", 8);
        assert_eq!(field, [0, b'A', 0, b'b', 0, 0x20, 0, 0x20]);
    }

    #[test]
    fn order_pads_name_and_extension_with_spaces() {
        let mut ids: Vec<&[u8]> = vec![
            b"A.10;1", b"A.1;1", b"AB.;1", b"A.;1", b"A_B", b"A", b"B.TXT;1", b"A0",
        ];
        ids.sort_by(|a, b| iso_order(a, b));
        let got: Vec<String> = ids.iter().map(|i| display(i, false)).collect();
        // Plain byte order would put "A.10;1" before "A.1;1" (';' > '0').
        // A directory has no version, which sorts after `;1`.
        assert_eq!(
            got,
            ["A.;1", "A", "A.1;1", "A.10;1", "A0", "AB.;1", "A_B", "B.TXT;1"]
        );
        assert_eq!(iso_order(b"X.;2", b"X.;1"), Ordering::Less);
    }
}

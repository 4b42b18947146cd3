//! El Torito boot catalog: which images a firmware boots from the CD.
//!
//! The boot record volume descriptor points at the catalog (its LBA); the
//! catalog is a run of 32-byte entries: a validation entry, the initial
//! (default) entry, then optional section headers each followed by section
//! entries (and extension entries, skipped). [`read_boot_catalog`] parses it
//! from any [`ReadAt`] and reports oddities as [`Anomaly`] values rather than
//! failing; only an unreadable first catalog sector is an error.
//!
//! The catalog knows LBAs, not names: [`resolve_paths`] maps each entry's load
//! RBA to the file of the directory tree (or the partition) that starts there,
//! which is also how the size an EFI firmware loads is found.
//!
//! Limits: at most [`MAX_CATALOG_SECTORS`] sectors and [`MAX_ENTRIES`] boot
//! entries are read, so a hostile catalog costs bounded time and memory.

mod model;
pub use model::{BootCatalog, BootEntry, Emulation, Platform, ValidationEntry};
mod resolve;
pub use resolve::resolve_paths;

use crate::bytes::{le_u16, le_u32};
use crate::{Anomaly, Error, ReadAt, Result, Severity, SECTOR_SIZE};

/// Most catalog sectors read (64 entries each).
pub const MAX_CATALOG_SECTORS: u64 = 64;
/// Most boot entries (default plus section entries) reported.
pub const MAX_ENTRIES: usize = 1024;

const ENTRY_SIZE: usize = 32;
/// Bytes of one BIOS "virtual sector" as counted by the entry's sector count.
const VIRTUAL_SECTOR: u64 = 512;

/// Text of a fixed-size id field: up to the first NUL, trailing spaces trimmed,
/// non-printable bytes replaced.
fn id_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b.get(..end)
        .unwrap_or_default()
        .iter()
        .map(|&c| {
            if (0x20..0x7F).contains(&c) {
                c as char
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// The catalog, read one sector at a time as parsing needs it.
struct CatalogReader<'a, R: ReadAt + ?Sized> {
    source: &'a R,
    base: u64,
    sectors: Vec<Vec<u8>>,
    ended: bool,
}

impl<R: ReadAt + ?Sized> CatalogReader<'_, R> {
    /// Entry `i` (32 bytes), or `None` past the readable catalog or the limit.
    pub(super) fn entry(&mut self, i: usize) -> Option<[u8; ENTRY_SIZE]> {
        let per_sector = SECTOR_SIZE as usize / ENTRY_SIZE;
        let sector = i / per_sector;
        while self.sectors.len() <= sector && !self.ended {
            if self.sectors.len() as u64 >= MAX_CATALOG_SECTORS {
                self.ended = true;
                break;
            }
            let off = (self.sectors.len() as u64)
                .checked_mul(SECTOR_SIZE)
                .and_then(|o| o.checked_add(self.base));
            let mut buf = vec![0u8; SECTOR_SIZE as usize];
            match off.map(|o| self.source.read_exact_at(&mut buf, o)) {
                Some(Ok(())) => self.sectors.push(buf),
                _ => self.ended = true,
            }
        }
        let data = self.sectors.get(sector)?;
        let at = (i % per_sector) * ENTRY_SIZE;
        data.get(at..at + ENTRY_SIZE)?.try_into().ok()
    }
}

/// Reads and parses the boot catalog at `catalog_lba` (2048-byte sectors).
///
/// Fails only when the first catalog sector cannot be read; everything the
/// catalog says wrong after that becomes an anomaly.
pub fn read_boot_catalog<R: ReadAt + ?Sized>(source: &R, catalog_lba: u32) -> Result<BootCatalog> {
    let base = u64::from(catalog_lba) * SECTOR_SIZE;
    let mut first = vec![0u8; SECTOR_SIZE as usize];
    source
        .read_exact_at(&mut first, base)
        .map_err(|e| Error::io("reading the El Torito boot catalog", base, e))?;
    let image_size = source.size().ok();
    let mut reader = CatalogReader {
        source,
        base,
        sectors: vec![first],
        ended: false,
    };
    let mut anomalies = Vec::new();

    let v = reader.entry(0).unwrap_or([0; ENTRY_SIZE]);
    let checksum_ok =
        (0..ENTRY_SIZE / 2).fold(0u16, |sum, w| sum.wrapping_add(le_u16(&v, w * 2))) == 0;
    let key_ok = v[30] == 0x55 && v[31] == 0xAA;
    let validation = ValidationEntry {
        platform: Platform::from_id(v[1]),
        id: id_string(&v[4..28]),
        checksum_ok,
        key_ok,
    };
    if v[0] != 1 {
        anomalies.push(Anomaly::new(
            "eltorito.bad-validation-header",
            Severity::Error,
            format!(
                "the boot catalog at LBA {catalog_lba} starts with header id {:#04x}, not 0x01",
                v[0]
            ),
        ));
    }
    if !checksum_ok {
        anomalies.push(Anomaly::new(
            "eltorito.bad-checksum",
            Severity::Error,
            format!(
                "the validation entry of the boot catalog at LBA {catalog_lba} has a bad checksum"
            ),
        ));
    }
    if !key_ok {
        anomalies.push(Anomaly::new(
            "eltorito.missing-key",
            Severity::Error,
            format!(
                "the validation entry of the boot catalog at LBA {catalog_lba} lacks the 0x55 0xAA key (found {:#04x} {:#04x})",
                v[30], v[31]
            ),
        ));
    }

    let mut entries = Vec::new();
    let d = reader.entry(1).unwrap_or([0; ENTRY_SIZE]);
    push_entry(
        &mut entries,
        &mut anomalies,
        &d,
        validation.platform,
        None,
        1,
    );
    let mut i = 2usize;
    let mut final_seen = false;
    'sections: while !final_seen {
        let Some(h) = reader.entry(i) else { break };
        match h[0] {
            0x90 | 0x91 => {}
            // Zeros after the last entry: the catalog simply ends.
            0x00 => break,
            other => {
                anomalies.push(Anomaly::new(
                    "eltorito.unknown-header",
                    Severity::Warn,
                    format!("boot catalog entry {i} has unknown header id {other:#04x}; the rest is ignored"),
                ));
                break;
            }
        }
        final_seen = h[0] == 0x91;
        let platform = Platform::from_id(h[1]);
        let count = le_u16(&h, 2);
        let section_id = id_string(&h[4..32]);
        i += 1;
        for _ in 0..count {
            if entries.len() >= MAX_ENTRIES {
                anomalies.push(Anomaly::new(
                    "eltorito.too-many-entries",
                    Severity::Warn,
                    format!("the boot catalog lists more than {MAX_ENTRIES} entries; the rest are ignored"),
                ));
                break 'sections;
            }
            let Some(e) = reader.entry(i) else {
                anomalies.push(Anomaly::new(
                    "eltorito.truncated",
                    Severity::Error,
                    format!(
                        "the boot catalog ends (or reaches its {MAX_CATALOG_SECTORS}-sector read limit) at section entry {i}"
                    ),
                ));
                break 'sections;
            };
            push_entry(
                &mut entries,
                &mut anomalies,
                &e,
                platform,
                Some(&section_id),
                i,
            );
            i += 1;
            // Extension entries (0x44) follow while the "more follow" bit (5) is set.
            let mut more = e[1] & 0x20 != 0;
            while more {
                match reader.entry(i) {
                    Some(x) if x[0] == 0x44 => {
                        more = x[1] & 0x20 != 0;
                        i += 1;
                    }
                    _ => more = false,
                }
            }
        }
    }
    for (n, e) in entries.iter().enumerate() {
        let start = u64::from(e.load_rba) * SECTOR_SIZE;
        let end = start.saturating_add(e.size_bytes.max(1));
        if let Some(size) = image_size {
            if end > size {
                anomalies.push(Anomaly::new(
                    "eltorito.load-rba-past-end",
                    Severity::Error,
                    format!(
                        "boot entry {} ({}) loads {} bytes from LBA {}, past the end of the {size}-byte image",
                        n + 1,
                        e.platform.name(),
                        e.size_bytes,
                        e.load_rba
                    ),
                ));
            }
        }
    }

    Ok(BootCatalog {
        catalog_lba,
        validation,
        entries,
        anomalies,
    })
}

fn push_entry(
    entries: &mut Vec<BootEntry>,
    anomalies: &mut Vec<Anomaly>,
    e: &[u8; ENTRY_SIZE],
    platform: Platform,
    section_id: Option<&str>,
    index: usize,
) {
    let bootable = match e[0] {
        0x88 => true,
        0x00 => false,
        other => {
            anomalies.push(Anomaly::new(
                "eltorito.bad-boot-indicator",
                Severity::Warn,
                format!("boot catalog entry {index} has boot indicator {other:#04x} (expected 0x88 or 0x00)"),
            ));
            false
        }
    };
    let emulation = Emulation::from_media_type(e[1]);
    if let Emulation::Unknown(n) = emulation {
        anomalies.push(Anomaly::new(
            "eltorito.unknown-emulation",
            Severity::Warn,
            format!("boot catalog entry {index} has unknown emulation type {n}"),
        ));
    }
    let sector_count = le_u16(e, 6);
    let load_rba = le_u32(e, 8);
    // An all-zero entry is an unused slot, not an image.
    if e.iter().all(|&b| b == 0) && section_id.is_none() {
        anomalies.push(Anomaly::new(
            "eltorito.empty-default-entry",
            Severity::Warn,
            "the default entry of the boot catalog is empty",
        ));
        return;
    }
    if emulation == Emulation::None && sector_count == 0 {
        let (severity, why) = if platform == Platform::Efi {
            (
                Severity::Info,
                "EFI firmware loads the whole file or partition instead",
            )
        } else {
            (Severity::Warn, "a BIOS may load nothing")
        };
        anomalies.push(Anomaly::new(
            "eltorito.zero-sector-count",
            severity,
            format!(
                "boot catalog entry {index} ({}, no emulation) has a sector count of 0; {why}",
                platform.name()
            ),
        ));
    }
    let size_bytes = emulation
        .floppy_bytes()
        .unwrap_or(u64::from(sector_count) * VIRTUAL_SECTOR);
    entries.push(BootEntry {
        platform,
        emulation,
        bootable,
        load_segment: le_u16(e, 2),
        system_type: e[4],
        sector_count,
        load_rba,
        section_id: section_id.map(str::to_owned),
        path: None,
        partition: None,
        size_bytes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A validation entry with a correct checksum.
    pub(super) fn validation(platform: u8, id: &str) -> [u8; 32] {
        let mut v = [0u8; 32];
        v[0] = 1;
        v[1] = platform;
        v[4..4 + id.len()].copy_from_slice(id.as_bytes());
        v[30] = 0x55;
        v[31] = 0xAA;
        let sum = (0..16).fold(0u16, |s, w| s.wrapping_add(le_u16(&v, w * 2)));
        v[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        v
    }

    pub(super) fn entry(boot: u8, media: u8, count: u16, rba: u32) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = boot;
        e[1] = media;
        e[6..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&rba.to_le_bytes());
        e
    }

    pub(super) fn header(id: u8, platform: u8, n: u16, name: &str) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[0] = id;
        h[1] = platform;
        h[2..4].copy_from_slice(&n.to_le_bytes());
        h[4..4 + name.len()].copy_from_slice(name.as_bytes());
        h
    }

    /// An image of `sectors` sectors with `entries` written at LBA 20.
    pub(super) fn image(entries: &[[u8; 32]], sectors: usize) -> Vec<u8> {
        let mut img = vec![0u8; sectors * 2048];
        for (i, e) in entries.iter().enumerate() {
            let at = 20 * 2048 + i * 32;
            img[at..at + 32].copy_from_slice(e);
        }
        img
    }

    #[test]
    fn bios_and_efi_catalog() {
        let img = image(
            &[
                validation(0, "isotune"),
                entry(0x88, 0, 4, 30),
                header(0x91, 0xEF, 1, ""),
                entry(0x88, 0, 2880, 40),
            ],
            2000,
        );
        let cat = read_boot_catalog(&img, 20).unwrap();
        assert!(cat.validation.checksum_ok && cat.validation.key_ok);
        assert_eq!(cat.validation.id, "isotune");
        assert_eq!(cat.entries.len(), 2);
        let bios = &cat.entries[0];
        assert_eq!(
            (
                bios.platform,
                bios.emulation,
                bios.sector_count,
                bios.load_rba,
                bios.size_bytes
            ),
            (Platform::Bios, Emulation::None, 4, 30, 2048)
        );
        let efi = &cat.entries[1];
        assert_eq!(
            (efi.platform, efi.load_rba, efi.size_bytes),
            (Platform::Efi, 40, 2880 * 512)
        );
        assert!(cat.anomalies.is_empty(), "{:?}", cat.anomalies);
        assert_eq!(cat.first_for(Platform::Efi).unwrap().load_rba, 40);
        let json = serde_json::to_value(&cat).unwrap();
        assert_eq!(json["entries"][0]["platform"], "bios");
        assert_eq!(json["entries"][1]["platform"], "efi");
        assert_eq!(json["entries"][0]["emulation"], "none");
        let back: BootCatalog = serde_json::from_value(json).unwrap();
        assert_eq!(back, cat);
    }

    #[test]
    fn bad_checksum_and_missing_key() {
        let mut v = validation(0, "x");
        v[5] ^= 0xFF;
        v[31] = 0;
        let img = image(&[v, entry(0x88, 2, 0, 30)], 100);
        let cat = read_boot_catalog(&img, 20).unwrap();
        assert!(!cat.validation.checksum_ok && !cat.validation.key_ok);
        let ids: Vec<_> = cat.anomalies.iter().map(|a| a.id.as_str()).collect();
        assert!(ids.contains(&"eltorito.bad-checksum"), "{ids:?}");
        assert!(ids.contains(&"eltorito.missing-key"), "{ids:?}");
        // Floppy emulation loads the whole medium, which runs past this small image.
        assert_eq!(cat.entries[0].emulation, Emulation::Floppy1440);
        assert_eq!(cat.entries[0].size_bytes, 1_474_560);
        assert!(ids.contains(&"eltorito.load-rba-past-end"), "{ids:?}");
    }

    #[test]
    fn several_sections_with_extensions_and_other_platforms() {
        let mut with_ext = entry(0x88, 0x20 | 4, 1, 50);
        with_ext[4] = 0x83;
        let mut ext = [0u8; 32];
        ext[0] = 0x44;
        ext[1] = 0x20;
        let mut ext2 = ext;
        ext2[1] = 0;
        let img = image(
            &[
                validation(0, ""),
                entry(0x88, 0, 4, 30),
                header(0x90, 0, 2, "second bios"),
                with_ext,
                ext,
                ext2,
                entry(0x00, 3, 0, 60),
                header(0x91, 2, 1, "mac"),
                entry(0x88, 0, 8, 70),
                // After the final section nothing more is read.
                header(0x91, 1, 1, "ignored"),
            ],
            100,
        );
        let cat = read_boot_catalog(&img, 20).unwrap();
        assert_eq!(cat.entries.len(), 4, "{:?}", cat.entries);
        assert_eq!(cat.entries[1].emulation, Emulation::HardDisk);
        assert_eq!(cat.entries[1].system_type, 0x83);
        assert_eq!(cat.entries[1].section_id.as_deref(), Some("second bios"));
        assert!(!cat.entries[2].bootable);
        assert_eq!(cat.entries[2].emulation, Emulation::Floppy2880);
        assert_eq!(cat.entries[3].platform, Platform::Other(2));
        assert_eq!(serde_json::to_value(cat.entries[3].platform).unwrap(), 2);
        assert_eq!(
            serde_json::to_value(cat.entries[2].emulation).unwrap(),
            "floppy-2.88m"
        );
    }

    #[test]
    fn unknown_header_and_zero_count() {
        let img = image(
            &[
                validation(0, ""),
                entry(0x88, 0, 0, 30),
                header(0x77, 0, 1, ""),
            ],
            100,
        );
        let cat = read_boot_catalog(&img, 20).unwrap();
        let ids: Vec<_> = cat.anomalies.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            ["eltorito.zero-sector-count", "eltorito.unknown-header"]
        );
        assert_eq!(cat.anomalies[0].severity, Severity::Warn);
    }

    #[test]
    fn hostile_catalogs_are_bounded() {
        // A header claiming 65535 entries in a catalog that runs to the end.
        let mut img = image(
            &[
                validation(0, ""),
                entry(0x88, 0, 4, 30),
                header(0x91, 0, u16::MAX, ""),
            ],
            22,
        );
        for i in 3..(2 * 2048 / 32) {
            let at = 20 * 2048 + i * 32;
            img[at..at + 32].copy_from_slice(&entry(0x88, 0, 4, 30));
        }
        let cat = read_boot_catalog(&img, 20).unwrap();
        assert_eq!(cat.entries.len(), 2 * 64 - 2);
        assert!(cat.anomalies.iter().any(|a| a.id == "eltorito.truncated"));

        // A huge image full of section entries stops at the entry limit.
        let mut big = vec![0u8; (20 + 70) * 2048];
        let head = [
            validation(0, ""),
            entry(0x88, 0, 4, 30),
            header(0x91, 0, u16::MAX, ""),
        ];
        for (i, e) in head.iter().enumerate() {
            big[20 * 2048 + i * 32..][..32].copy_from_slice(e);
        }
        for i in 3..(70 * 64) {
            big[20 * 2048 + i * 32..][..32].copy_from_slice(&entry(0x88, 0, 4, 30));
        }
        let cat = read_boot_catalog(&big, 20).unwrap();
        assert_eq!(cat.entries.len(), MAX_ENTRIES);

        // Past the end of the image is an error, not a panic.
        assert!(read_boot_catalog(&big, u32::MAX).is_err());
        assert!(read_boot_catalog(&[0u8; 10][..], 0).is_err());
    }

    use crate::testimg::noise;

    #[test]
    fn random_bytes_never_panic() {
        for seed in 0..20 {
            let mut img = noise(48 * 2048, seed);
            // Plant plausible headers so parsing goes past the first entries.
            img[20 * 2048..20 * 2048 + 32].copy_from_slice(&validation(0, "x"));
            for (i, id) in [0x90u8, 0x91, 0x44].iter().enumerate() {
                img[20 * 2048 + 64 + i * 96] = *id;
            }
            for lba in [0, 19, 20, 21, 47, 48, u32::MAX] {
                let _ = read_boot_catalog(&img, lba);
            }
        }
    }
}

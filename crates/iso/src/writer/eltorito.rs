//! El Torito structures: the boot catalog (validation entry, default entry,
//! sections) and the boot info table `mkisofs -boot-info-table` patches
//! into a boot file.
//!
//! All entries are no-emulation. The catalog is one sector: a validation
//! entry whose 16-bit words sum to zero and that ends in 55 AA, the default
//! entry, then for each further image a section header (0x90, or 0x91 for
//! the last) and one section entry.

use super::Platform;
use crate::types::SECTOR_SIZE;

/// An El Torito entry as it goes in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CatalogEntry {
    pub platform: Platform,
    pub load_segment: u16,
    pub load_sectors: u16,
    pub lba: u32,
}

/// The validation entry for `platform`, with its checksum word set.
pub(super) fn validation_entry(platform: Platform) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0] = 0x01; // header id
    e[1] = platform.id();
    e[30] = 0x55;
    e[31] = 0xAA;
    let sum = word_sum(&e);
    e[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    e
}

/// The sum of the little-endian 16-bit words of `bytes`, wrapping.
fn word_sum(bytes: &[u8]) -> u16 {
    bytes.chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    })
}

/// A bootable no-emulation entry (default or section entry).
fn boot_entry(entry: &CatalogEntry) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0] = 0x88; // bootable
    e[1] = 0x00; // no emulation
    e[2..4].copy_from_slice(&entry.load_segment.to_le_bytes());
    e[4] = 0x00; // system type: none for no emulation
    e[6..8].copy_from_slice(&entry.load_sectors.to_le_bytes());
    e[8..12].copy_from_slice(&entry.lba.to_le_bytes());
    e
}

fn section_header(last: bool, platform: Platform, entries: u16) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0] = if last { 0x91 } else { 0x90 };
    e[1] = platform.id();
    e[2..4].copy_from_slice(&entries.to_le_bytes());
    e
}

/// The boot catalog sector; `entries[0]` is the default entry. The caller
/// keeps `entries` between 1 and [`super::MAX_BOOT_IMAGES`] long.
pub(super) fn catalog(entries: &[CatalogEntry]) -> Vec<u8> {
    let mut out = vec![0u8; SECTOR_SIZE as usize];
    let Some((first, rest)) = entries.split_first() else {
        return out;
    };
    let mut put = |at: usize, e: &[u8; 32]| out[at * 32..at * 32 + 32].copy_from_slice(e);
    put(0, &validation_entry(first.platform));
    put(1, &boot_entry(first));
    for (i, entry) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        put(2 + 2 * i, &section_header(last, entry.platform, 1));
        put(3 + 2 * i, &boot_entry(entry));
    }
    out
}

/// The load size for an entry asking for `requested` virtual sectors (0 =
/// the whole file of `file_size` bytes, at most 65535).
pub(super) fn load_sectors(requested: u16, file_size: u64) -> u16 {
    if requested != 0 {
        return requested;
    }
    u16::try_from(file_size.div_ceil(512).max(1)).unwrap_or(u16::MAX)
}

/// The 56 bytes `mkisofs -boot-info-table` writes at offset 8 of a boot
/// file: PVD sector, file sector, file length, checksum, 40 reserved zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InfoTable {
    pub pvd_lba: u32,
    pub file_lba: u32,
    pub file_len: u32,
    pub checksum: u32,
}

/// Where the boot info table goes in the boot file.
pub(super) const INFO_TABLE_AT: usize = 8;

/// The first byte the checksum covers (the table ends there).
pub(super) const INFO_TABLE_END: usize = 64;

impl InfoTable {
    /// The table's bytes, little endian.
    pub(super) fn bytes(&self) -> [u8; INFO_TABLE_END - INFO_TABLE_AT] {
        let mut b = [0u8; INFO_TABLE_END - INFO_TABLE_AT];
        b[0..4].copy_from_slice(&self.pvd_lba.to_le_bytes());
        b[4..8].copy_from_slice(&self.file_lba.to_le_bytes());
        b[8..12].copy_from_slice(&self.file_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }
}

/// The boot info table checksum, fed the file in order: the wrapping sum of
/// its 32-bit little-endian words from byte 64 on, the last word padded
/// with zeros. Every chunk but the last must be a multiple of 4 bytes long.
#[derive(Debug, Default)]
pub(super) struct Checksum {
    sum: u32,
    pos: u64,
}

impl Checksum {
    /// Adds the next chunk of the file.
    pub(super) fn update(&mut self, chunk: &[u8]) {
        debug_assert!(self.pos.is_multiple_of(4), "chunks must be word aligned");
        for (i, word) in chunk.chunks(4).enumerate() {
            if self.pos + 4 * i as u64 >= INFO_TABLE_END as u64 {
                let mut w = [0u8; 4];
                w[..word.len()].copy_from_slice(word);
                self.sum = self.sum.wrapping_add(u32::from_le_bytes(w));
            }
        }
        self.pos += chunk.len() as u64;
    }

    /// The checksum so far.
    pub(super) fn value(&self) -> u32 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_entry_words_sum_to_zero() {
        for platform in [Platform::Bios, Platform::Efi] {
            let e = validation_entry(platform);
            assert_eq!(word_sum(&e), 0);
            assert_eq!(e[0], 1);
            assert_eq!(e[1], platform.id());
            assert_eq!(&e[30..], &[0x55, 0xAA]);
        }
        // The well-known x86 validation entry mkisofs writes with no id string.
        assert_eq!(&validation_entry(Platform::Bios)[28..30], &[0xAA, 0x55]);
    }

    #[test]
    fn catalog_with_an_efi_section() {
        let bios = CatalogEntry {
            platform: Platform::Bios,
            load_segment: 0,
            load_sectors: 4,
            lba: 40,
        };
        let efi = CatalogEntry {
            platform: Platform::Efi,
            load_segment: 0,
            load_sectors: 2880,
            lba: 41,
        };
        let c = catalog(&[bios, efi]);
        assert_eq!(c.len(), 2048);
        assert_eq!(&c[32..44], &[0x88, 0, 0, 0, 0, 0, 4, 0, 40, 0, 0, 0]);
        assert_eq!(&c[64..68], &[0x91, 0xEF, 1, 0]);
        assert_eq!(&c[96..108], &[0x88, 0, 0, 0, 0, 0, 0x40, 0x0B, 41, 0, 0, 0]);
        assert!(c[128..].iter().all(|&b| b == 0));
        let three = catalog(&[bios, efi, efi]);
        assert_eq!(three[64], 0x90);
        assert_eq!(three[128], 0x91);
    }

    #[test]
    fn load_size_zero_means_whole_file() {
        assert_eq!(load_sectors(4, 1 << 20), 4);
        assert_eq!(load_sectors(0, 1_474_560), 2880);
        assert_eq!(load_sectors(0, 513), 2);
        assert_eq!(load_sectors(0, 0), 1);
        assert_eq!(load_sectors(0, 1 << 30), u16::MAX);
    }

    #[test]
    fn checksum_skips_the_first_64_bytes_and_pads_the_tail() {
        let mut file = vec![0xFFu8; 64];
        file.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 3]);
        let mut whole = Checksum::default();
        whole.update(&file);
        assert_eq!(whole.value(), 6);
        let mut parts = Checksum::default();
        parts.update(&file[..68]);
        parts.update(&file[68..]);
        assert_eq!(parts.value(), 6);
        let t = InfoTable {
            pvd_lba: 16,
            file_lba: 0x20,
            file_len: 0x1234,
            checksum: 6,
        };
        let b = t.bytes();
        assert_eq!(
            &b[..16],
            &[16, 0, 0, 0, 0x20, 0, 0, 0, 0x34, 0x12, 0, 0, 6, 0, 0, 0]
        );
        assert!(b[16..].iter().all(|&x| x == 0));
    }
}

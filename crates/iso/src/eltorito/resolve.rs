//! Naming what the catalog loads: the catalog only knows LBAs, so each
//! entry's load RBA is matched to the file (or partition) that starts there.

use super::{BootCatalog, Emulation, Platform, VIRTUAL_SECTOR};
use crate::partition::{Partition, Scheme};
use crate::{FileEntry, SECTOR_SIZE};

/// Fills each entry's `path` from `files` (the file whose first extent starts
/// at the load RBA), its `partition` from `partitions` (the one that starts
/// at the same byte) and, for EFI entries with a sector count of 0 or 1 and
/// hard-disk images, `size_bytes` from that file's size or from the
/// partition of `partitions` that starts at the same byte.
pub fn resolve_paths(catalog: &mut BootCatalog, files: &[FileEntry], partitions: &[Partition]) {
    for e in &mut catalog.entries {
        let file = files.iter().find(|f| {
            f.extents.first().map(|x| x.lba) == Some(u64::from(e.load_rba))
                && f.kind == crate::FileKind::File
                // Empty files may share any block number.
                && f.size > 0
        });
        if let Some(f) = file {
            e.path = Some(f.path.clone());
        }
        let start_512 = u64::from(e.load_rba) * (SECTOR_SIZE / VIRTUAL_SECTOR);
        let starts_here = |p: &&Partition| p.start_lba == start_512 && p.size_sectors > 0;
        let part = partitions.iter().find(starts_here);
        // The GPT entry has a name; a hybrid MBR often lists the same range.
        let named = partitions
            .iter()
            .filter(starts_here)
            .find(|p| p.scheme == Scheme::Gpt)
            .or(part);
        e.partition = named.map(Partition::reference);
        let whole = file
            .map(|f| f.size)
            .or_else(|| part.map(|p| p.size_sectors.saturating_mul(VIRTUAL_SECTOR)));
        let loads_whole = (e.platform == Platform::Efi && e.sector_count <= 1)
            || e.emulation == Emulation::HardDisk;
        if let (true, Some(bytes)) = (loads_whole, whole) {
            e.size_bytes = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_boot_catalog;
    use super::super::tests::{entry, header, image, validation};
    use super::*;

    #[test]
    fn paths_and_efi_sizes_are_resolved() {
        let img = image(
            &[
                validation(0, ""),
                entry(0x88, 0, 4, 30),
                header(0x91, 0xEF, 2, ""),
                entry(0x88, 0, 1, 40),
                entry(0x88, 0, 0, 1000),
            ],
            2000,
        );
        let mut cat = read_boot_catalog(&img, 20).unwrap();
        let file = |path: &str, lba, size| FileEntry {
            path: path.into(),
            kind: crate::FileKind::File,
            size,
            extents: vec![crate::Extent { lba, size }],
            hidden: false,
            associated: false,
            mode: None,
            symlink_target: None,
            relocated_from: None,
        };
        let files = [
            file("/isolinux/isolinux.bin", 30, 6000),
            file("/efiboot.img", 40, 1_474_560),
        ];
        let part = |scheme, index, name: Option<&str>| Partition {
            scheme,
            index,
            start_lba: 4000,
            size_sectors: 2880,
            type_id: String::new(),
            type_name: None,
            bootable: false,
            name: name.map(str::to_owned),
            appended: true,
            unique_guid: None,
            attributes: None,
        };
        let parts = [
            part(Scheme::Mbr, 2, None),
            part(Scheme::Gpt, 3, Some("Appended3")),
        ];
        resolve_paths(&mut cat, &files, &parts);
        assert_eq!(
            cat.entries[0].path.as_deref(),
            Some("/isolinux/isolinux.bin")
        );
        assert_eq!(cat.entries[0].size_bytes, 2048);
        assert_eq!(cat.entries[1].path.as_deref(), Some("/efiboot.img"));
        assert_eq!(cat.entries[1].size_bytes, 1_474_560);
        assert_eq!(cat.entries[2].path, None);
        assert_eq!(cat.entries[2].size_bytes, 2880 * 512);
        let named = cat.entries[2].partition.as_ref().unwrap();
        assert_eq!(named.to_string(), "GPT partition 3 \"Appended3\"");
        assert_eq!(cat.entries[1].partition, None);
        assert_eq!(parts[0].reference().to_string(), "MBR partition 2");
    }
}

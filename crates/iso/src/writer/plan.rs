//! Laying an image out: resolving boot images to files, sizing every file,
//! building the trees, and giving each structure its sectors in the order
//! the module docs of [`super`] list. Nothing here writes.

use super::dirs::{self, Flavour, Tree};
use super::eltorito::{self, CatalogEntry, INFO_TABLE_END};
use super::source::source_size;
use super::{
    check_file_size, invalid, FileSource, IsoWriter, WriteSummary, WrittenBootEntry, WrittenFile,
    MAX_BOOT_IMAGES,
};
use crate::error::Result;
use crate::types::{Extent, SECTOR_SIZE};

/// Sector of the primary volume descriptor (after the 16-sector system area).
pub(super) const PVD_LBA: u32 = 16;

/// A file with its place on the image.
#[derive(Debug)]
pub(super) struct PlannedFile<'a> {
    pub path: &'a str,
    pub source: &'a FileSource,
    pub size: u64,
    pub lba: u32,
    /// A boot entry asked for a boot info table in this file.
    pub info_table: bool,
}

/// An El Torito entry resolved to a file.
#[derive(Debug)]
pub(super) struct PlannedBoot {
    /// Index into [`Plan::files`].
    pub file: usize,
    pub entry: CatalogEntry,
}

/// Where everything of an image goes.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub iso: Tree,
    pub joliet: Option<Tree>,
    pub files: Vec<PlannedFile<'a>>,
    pub boot: Vec<PlannedBoot>,
    pub boot_record_lba: Option<u32>,
    pub svd_lba: Option<u32>,
    pub terminator_lba: u32,
    pub catalog_lba: Option<u32>,
    pub volume_sectors: u32,
}

/// Lays out the image `w` describes.
pub(super) fn plan(w: &IsoWriter) -> Result<Plan<'_>> {
    if w.boot.len() > MAX_BOOT_IMAGES {
        return Err(invalid(format!(
            "{} El Torito boot images were given; the boot catalog holds at most \
             {MAX_BOOT_IMAGES}",
            w.boot.len()
        )));
    }
    let boot_files = w
        .boot
        .iter()
        .map(|b| w.find_file(&b.path))
        .collect::<Result<Vec<usize>>>()?;

    let mut files = Vec::with_capacity(w.files.len());
    for f in &w.files {
        let size = source_size(&f.source, &f.path)?;
        check_file_size(size, &f.path)?;
        files.push(PlannedFile {
            path: &f.path,
            source: &f.source,
            size,
            lba: 0,
            info_table: false,
        });
    }
    for (image, &index) in w.boot.iter().zip(&boot_files) {
        if image.boot_info_table {
            let file = &mut files[index];
            if file.size < INFO_TABLE_END as u64 {
                return Err(invalid(format!(
                    "boot image `{}` is {} bytes; a boot info table needs at least {INFO_TABLE_END}",
                    file.path, file.size
                )));
            }
            file.info_table = true;
        }
    }

    let mut iso = dirs::build(&w.root, Flavour::Iso, files.len())?;
    let mut joliet = if w.joliet {
        Some(dirs::build(&w.root, Flavour::Joliet, files.len())?)
    } else {
        None
    };

    let mut next = PVD_LBA + 1;
    let mut take = |n: u32| {
        let at = next;
        next += n;
        at
    };
    let booting = !w.boot.is_empty();
    let boot_record_lba = booting.then(|| take(1));
    let svd_lba = joliet.is_some().then(|| take(1));
    let terminator_lba = take(1);
    for tree in std::iter::once(&mut iso).chain(joliet.as_mut()) {
        let sectors = tree.path_table_sectors();
        tree.l_table_lba = take(sectors);
        tree.m_table_lba = take(sectors);
    }
    next = iso.assign_dirs(next);
    if let Some(j) = joliet.as_mut() {
        next = j.assign_dirs(next);
    }
    let catalog_lba = booting.then(|| {
        next += 1;
        next - 1
    });

    // File data in the order files were added. An empty file points at the
    // next free sector and takes none, as genisoimage does.
    let mut data_next = u64::from(next);
    for f in &mut files {
        f.lba = u32::try_from(data_next).map_err(|_| too_big())?;
        data_next += f.size.div_ceil(SECTOR_SIZE);
    }
    let volume_sectors = u32::try_from(data_next).map_err(|_| too_big())?;

    let boot = w
        .boot
        .iter()
        .zip(boot_files)
        .map(|(image, file)| PlannedBoot {
            file,
            entry: CatalogEntry {
                platform: image.platform,
                load_segment: image.load_segment,
                load_sectors: eltorito::load_sectors(image.load_sectors, files[file].size),
                lba: files[file].lba,
            },
        })
        .collect();

    Ok(Plan {
        iso,
        joliet,
        files,
        boot,
        boot_record_lba,
        svd_lba,
        terminator_lba,
        catalog_lba,
        volume_sectors,
    })
}

fn too_big() -> crate::error::Error {
    invalid("the image would be larger than 2^32 sectors (8 TiB)".to_owned())
}

impl Plan<'_> {
    /// The caller-facing layout.
    pub(super) fn summary(&self) -> WriteSummary {
        let files = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| WrittenFile {
                path: f.path.to_owned(),
                iso_path: self.iso.file_paths[i].clone(),
                joliet_path: self.joliet.as_ref().map(|j| j.file_paths[i].clone()),
                extent: Extent {
                    lba: u64::from(f.lba),
                    size: f.size,
                },
            })
            .collect();
        let boot_entries = self
            .boot
            .iter()
            .map(|b| WrittenBootEntry {
                path: self.files[b.file].path.to_owned(),
                platform: b.entry.platform,
                load_segment: b.entry.load_segment,
                load_sectors: b.entry.load_sectors,
                lba: u64::from(b.entry.lba),
            })
            .collect();
        WriteSummary {
            files,
            volume_sectors: u64::from(self.volume_sectors),
            boot_catalog_lba: self.catalog_lba.map(u64::from),
            boot_entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BootImage, Platform};
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn layout_order_with_boot_and_joliet() {
        let mut w = IsoWriter::new("T");
        w.joliet(true);
        w.add_file("/boot/boot.bin", FileSource::bytes(vec![0xEB; 2048]))
            .unwrap();
        w.add_file("/empty", FileSource::bytes(Vec::new())).unwrap();
        w.add_file("/data", FileSource::zeros(5000)).unwrap();
        w.el_torito(BootImage::bios("/boot/boot.bin"));
        let p = plan(&w).unwrap();
        assert_eq!(p.boot_record_lba, Some(17));
        assert_eq!(p.svd_lba, Some(18));
        assert_eq!(p.terminator_lba, 19);
        assert_eq!((p.iso.l_table_lba, p.iso.m_table_lba), (20, 21));
        let j = p.joliet.as_ref().unwrap();
        assert_eq!((j.l_table_lba, j.m_table_lba), (22, 23));
        assert_eq!((p.iso.dirs[0].lba, p.iso.dirs[1].lba), (24, 25));
        assert_eq!((j.dirs[0].lba, j.dirs[1].lba), (26, 27));
        assert_eq!(p.catalog_lba, Some(28));
        let lbas: Vec<u32> = p.files.iter().map(|f| f.lba).collect();
        assert_eq!(lbas, [29, 30, 30]);
        assert_eq!(p.volume_sectors, 33);
        let s = p.summary();
        assert_eq!(s.boot_entries[0].lba, 29);
        assert_eq!(s.boot_entries[0].platform, Platform::Bios);
        assert_eq!(s.files[0].joliet_path.as_deref(), Some("/boot/boot.bin"));
        assert_eq!(s.files[0].iso_path, "/BOOT/BOOT.BIN;1");
    }

    #[test]
    fn boot_info_table_needs_64_bytes() {
        let mut w = IsoWriter::new("T");
        w.add_file("/b", FileSource::bytes(vec![0; 63])).unwrap();
        let mut image = BootImage::bios("/b");
        image.boot_info_table = true;
        w.el_torito(image);
        let e = plan(&w).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("at least 64"), "{e}");
    }

    #[test]
    fn too_many_boot_images() {
        let mut w = IsoWriter::new("T");
        w.add_file("/b", FileSource::zeros(2048)).unwrap();
        for _ in 0..=MAX_BOOT_IMAGES {
            w.el_torito(BootImage::efi("/b"));
        }
        assert_eq!(plan(&w).unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}

//! Writing a planned image front to back to any [`Write`]: the system area,
//! the volume descriptors, path tables, directory extents, the boot catalog
//! and the file data, each at the sector the plan gave it.
//!
//! The output is strictly sequential (no seeking), so it can go to a pipe.
//! Before a file carrying a boot info table is written, its contents are
//! read once more to compute the table's checksum.

use std::io::Write;

use super::eltorito::{self, Checksum, InfoTable, INFO_TABLE_AT, INFO_TABLE_END};
use super::plan::{Plan, PlannedFile, PVD_LBA};
use super::source::for_each_chunk;
use super::volume::{self, SECTOR};
use super::IsoWriter;
use crate::error::{Error, ErrorKind, Result};
use crate::types::SECTOR_SIZE;

/// Writes the image `plan` lays out for `w` to `out`.
pub(super) fn emit<W: Write + ?Sized>(w: &IsoWriter, plan: &Plan<'_>, out: &mut W) -> Result<()> {
    let tables = plan
        .files
        .iter()
        .map(|f| f.info_table.then(|| info_table(f)).transpose())
        .collect::<Result<Vec<Option<InfoTable>>>>()?;

    let mut o = Out { inner: out, pos: 0 };
    let ts = w.timestamp;
    o.at(PVD_LBA)?;
    let pvd = volume::volume_descriptor(false, &w.volume_id, plan.volume_sectors, &plan.iso, ts);
    o.write(&pvd)?;
    if let (Some(lba), Some(catalog)) = (plan.boot_record_lba, plan.catalog_lba) {
        o.at(lba)?;
        o.write(&volume::boot_record(catalog))?;
    }
    if let (Some(lba), Some(joliet)) = (plan.svd_lba, &plan.joliet) {
        o.at(lba)?;
        let svd = volume::volume_descriptor(true, &w.volume_id, plan.volume_sectors, joliet, ts);
        o.write(&svd)?;
    }
    o.at(plan.terminator_lba)?;
    o.write(&volume::terminator())?;

    let trees = || std::iter::once(&plan.iso).chain(plan.joliet.as_ref());
    for tree in trees() {
        o.at(tree.l_table_lba)?;
        o.write(&tree.path_table(false))?;
        o.at(tree.m_table_lba)?;
        o.write(&tree.path_table(true))?;
    }
    // Sizes fit: the plan rejected files over MAX_FILE_SIZE.
    let extents: Vec<(u32, u32)> = plan
        .files
        .iter()
        .map(|f| (f.lba, u32::try_from(f.size).unwrap_or(u32::MAX)))
        .collect();
    for tree in trees() {
        for (index, dir) in tree.dirs.iter().enumerate() {
            o.at(dir.lba)?;
            o.write(&tree.dir_extent(index, &extents, ts))?;
        }
    }
    if let Some(lba) = plan.catalog_lba {
        let entries: Vec<_> = plan.boot.iter().map(|b| b.entry).collect();
        o.at(lba)?;
        o.write(&eltorito::catalog(&entries))?;
    }
    for (file, table) in plan.files.iter().zip(&tables) {
        if file.size == 0 {
            continue;
        }
        o.at(file.lba)?;
        write_file(&mut o, file, table.as_ref())?;
    }
    o.at(plan.volume_sectors)
}

/// The boot info table of `file`, reading it once for the checksum.
fn info_table(file: &PlannedFile<'_>) -> Result<InfoTable> {
    let mut sum = Checksum::default();
    let offset = u64::from(file.lba) * SECTOR_SIZE;
    for_each_chunk(file.source, file.size, file.path, offset, |chunk| {
        sum.update(chunk);
        Ok(())
    })?;
    Ok(InfoTable {
        pvd_lba: PVD_LBA,
        file_lba: file.lba,
        file_len: u32::try_from(file.size).unwrap_or(u32::MAX),
        checksum: sum.value(),
    })
}

fn write_file<W: Write + ?Sized>(
    o: &mut Out<'_, W>,
    file: &PlannedFile<'_>,
    table: Option<&InfoTable>,
) -> Result<()> {
    let mut table = table.map(InfoTable::bytes);
    for_each_chunk(file.source, file.size, file.path, o.pos, |chunk| {
        match table.take() {
            // The first chunk holds at least 64 bytes: the plan checked the
            // file is that long and chunks are only short at the end.
            Some(bytes) => {
                let mut head = chunk[..INFO_TABLE_END].to_vec();
                head[INFO_TABLE_AT..].copy_from_slice(&bytes);
                o.write(&head)?;
                o.write(&chunk[INFO_TABLE_END..])
            }
            None => o.write(chunk),
        }
    })
}

/// The output and how many bytes went to it.
struct Out<'w, W: Write + ?Sized> {
    inner: &'w mut W,
    pos: u64,
}

impl<W: Write + ?Sized> Out<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|e| Error::io("writing the image", self.pos, e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Pads with zeros up to sector `lba`.
    fn at(&mut self, lba: u32) -> Result<()> {
        const ZEROS: [u8; SECTOR] = [0; SECTOR];
        let target = u64::from(lba) * SECTOR_SIZE;
        if self.pos > target {
            return Err(Error::new(
                ErrorKind::Malformed,
                format!(
                    "writer bug: {} bytes written before sector {lba} should start",
                    self.pos
                ),
            ));
        }
        while self.pos < target {
            let n = usize::try_from(target - self.pos).map_or(SECTOR, |n| n.min(SECTOR));
            self.write(&ZEROS[..n])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BootImage, FileSource, IsoWriter, Platform};
    use crate::types::SECTOR_SIZE;

    fn image(w: &IsoWriter) -> (Vec<u8>, super::super::WriteSummary) {
        let mut out = Vec::new();
        let s = w.write_to(&mut out).unwrap();
        assert_eq!(out.len() as u64, s.image_bytes());
        (out, s)
    }

    fn sector(img: &[u8], lba: u64) -> &[u8] {
        let at = (lba * SECTOR_SIZE) as usize;
        &img[at..at + 2048]
    }

    #[test]
    fn descriptors_in_order() {
        let mut w = IsoWriter::new("sample disc");
        w.joliet(true);
        w.add_file("/a.txt", FileSource::bytes(b"hello".to_vec()))
            .unwrap();
        let (img, s) = image(&w);
        assert!(img[..16 * 2048].iter().all(|&b| b == 0));
        let pvd = sector(&img, 16);
        assert_eq!(&pvd[..7], b"\x01CD001\x01");
        assert_eq!(&pvd[40..52], b"SAMPLE_DISC ");
        assert_eq!(&pvd[80..84], &(s.volume_sectors as u32).to_le_bytes());
        let svd = sector(&img, 17);
        assert_eq!(&svd[..7], b"\x02CD001\x01");
        assert_eq!(&svd[88..91], b"%/E");
        assert_eq!(&svd[40..44], &[0, b's', 0, b'a']);
        assert_eq!(sector(&img, 18)[0], 255);
        let f = s.file("/a.txt").unwrap();
        let at = f.extent.offset() as usize;
        assert_eq!(&img[at..at + 5], b"hello");
    }

    #[test]
    fn output_is_deterministic() {
        let mut w = IsoWriter::new("D");
        w.add_file("/x/y.bin", FileSource::pseudo_random(10_000, 3))
            .unwrap();
        assert_eq!(image(&w).0, image(&w).0);
    }

    #[test]
    fn boot_info_table_is_patched() {
        let mut program = vec![0u8; 3000];
        program[0] = 0xEB;
        program[100] = 7;
        let mut w = IsoWriter::new("B");
        w.add_file("/boot.bin", FileSource::bytes(program.clone()))
            .unwrap();
        w.el_torito(BootImage {
            path: "/boot.bin".into(),
            platform: Platform::Bios,
            load_segment: 0,
            load_sectors: 4,
            boot_info_table: true,
        });
        let (img, s) = image(&w);
        let lba = s.boot_entries[0].lba;
        let at = (lba * SECTOR_SIZE) as usize;
        let le = |o: usize| u32::from_le_bytes(img[at + o..at + o + 4].try_into().unwrap());
        assert_eq!(le(8), 16);
        assert_eq!(u64::from(le(12)), lba);
        assert_eq!(le(16), 3000);
        assert_eq!(le(20), 7, "byte 100 starts a word of the checksum");
        assert_eq!(img[at], 0xEB);
        assert_eq!(&img[at + 64..at + 3000], &program[64..]);
        let record = sector(&img, 17);
        assert_eq!(
            u64::from(u32::from_le_bytes(record[71..75].try_into().unwrap())),
            s.boot_catalog_lba.unwrap()
        );
    }
}

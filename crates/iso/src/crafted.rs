//! Crafted hostile images: the shapes that once broke the reader's time and
//! memory bounds, built at any size for tests, benchmarks and fuzz seeds.
//!
//! Each shape is a valid ISO9660 skeleton (primary descriptor, terminator,
//! root directory) around one abuse:
//!
//! - [`Shape::SuspCe`]: every root record chains four 64 KiB Rock Ridge
//!   continuation (`CE`) areas of 4-byte entries, the most each record may
//!   have, so the total grows with the number of records;
//! - [`Shape::MultiExtent`]: a directory area packed with multi-extent file
//!   sections, and one directory record per sector of it, each starting one
//!   sector later than the previous (overlapping directories);
//! - [`Shape::Gpt`]: a GPT declaring 8,192 partitions far past the end of
//!   the file (one anomaly each, before the per-id cap).
//!
//! `scripts/bench/iso-budget.sh` times `isotune inspect` on them, the CLI
//! test `hostile_images` bounds its time and memory, and `scripts/fuzz`
//! seeds the fuzzer with small ones.

use crate::directory::{build_record, FileFlags};
use crate::partition::gpt::crc32;
use crate::susp::{build_ce, build_entry};

const SECTOR: usize = 2048;
/// The first sector after the descriptors and the (empty) path table.
const FIRST_FREE: usize = 19;

/// A crafted image shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Rock Ridge records sharing maximal continuation chains.
    SuspCe,
    /// Overlapping directories full of multi-extent sections.
    MultiExtent,
    /// A GPT of 8,192 partitions past the end of the file.
    Gpt,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 3] = [Shape::SuspCe, Shape::MultiExtent, Shape::Gpt];

    /// The shape's name (`susp-ce`, `multi-extent`, `gpt`).
    pub fn name(self) -> &'static str {
        match self {
            Shape::SuspCe => "susp-ce",
            Shape::MultiExtent => "multi-extent",
            Shape::Gpt => "gpt",
        }
    }

    /// The shape named `name`.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Builds an image of this shape of about `image_bytes` bytes (rounded
    /// to whole sectors; each shape has a minimum of a few hundred KiB).
    pub fn build(self, image_bytes: u64) -> Vec<u8> {
        let sectors = usize::try_from(image_bytes / SECTOR as u64).unwrap_or(usize::MAX);
        match self {
            Shape::SuspCe => susp_ce(sectors),
            Shape::MultiExtent => multi_extent(sectors),
            Shape::Gpt => gpt(sectors),
        }
    }
}

fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An image of `sectors` sectors with the descriptors and a root directory
/// of `root_sectors` at `root_lba` holding "." (with `dot_su`), ".." and
/// `records`, packed without crossing sector boundaries (the records that
/// do not fit are dropped).
fn skeleton(
    sectors: usize,
    root_lba: usize,
    root_sectors: usize,
    dot_su: &[u8],
    records: impl IntoIterator<Item = Vec<u8>>,
) -> Vec<u8> {
    let mut img = vec![0u8; sectors * SECTOR];
    let pvd = 16 * SECTOR;
    img[pvd] = 1;
    img[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
    img[pvd + 6] = 1;
    img[pvd + 8..pvd + 72].fill(b' ');
    img[pvd + 40..pvd + 47].copy_from_slice(b"CRAFTED");
    img[pvd + 80..pvd + 88].copy_from_slice(&both32(to_u32(sectors)));
    for (off, v) in [(120usize, 1u16), (124, 1), (128, 2048)] {
        img[pvd + off..pvd + off + 2].copy_from_slice(&v.to_le_bytes());
        img[pvd + off + 2..pvd + off + 4].copy_from_slice(&v.to_be_bytes());
    }
    img[pvd + 140..pvd + 144].copy_from_slice(&18u32.to_le_bytes());
    img[pvd + 148..pvd + 152].copy_from_slice(&18u32.to_be_bytes());
    let root_bytes = to_u32(root_sectors * SECTOR);
    let rec = build_record(
        to_u32(root_lba),
        root_bytes,
        FileFlags::DIRECTORY,
        &[0],
        &[],
    );
    img[pvd + 156..pvd + 190].copy_from_slice(&rec[..34]);
    img[pvd + 881] = 1;
    let term = 17 * SECTOR;
    img[term] = 255;
    img[term + 1..term + 6].copy_from_slice(b"CD001");
    img[term + 6] = 1;
    let dirs = [
        build_record(
            to_u32(root_lba),
            root_bytes,
            FileFlags::DIRECTORY,
            &[0],
            dot_su,
        ),
        build_record(
            to_u32(root_lba),
            root_bytes,
            FileFlags::DIRECTORY,
            &[1],
            &[],
        ),
    ];
    let base = root_lba * SECTOR;
    let end = base + root_sectors * SECTOR;
    pack(&mut img, base, end, dirs.into_iter().chain(records));
    img
}

/// Writes `records` from byte `base`, never across a sector boundary, until
/// `end`.
fn pack(img: &mut [u8], base: usize, end: usize, records: impl IntoIterator<Item = Vec<u8>>) {
    let mut pos = base;
    for r in records {
        if pos % SECTOR + r.len() > SECTOR {
            pos = pos.div_ceil(SECTOR) * SECTOR;
        }
        if pos + r.len() > end {
            break;
        }
        img[pos..pos + r.len()].copy_from_slice(&r);
        pos += r.len();
    }
}

/// Root records each chaining four 64 KiB continuation areas (shared by all
/// records) of 4-byte entries.
fn susp_ce(sectors: usize) -> Vec<u8> {
    const AREA: usize = 64 * 1024;
    const AREAS: usize = 4;
    let area_lba = FIRST_FREE;
    let root_lba = area_lba + AREAS * AREA / SECTOR;
    let sectors = sectors.max(root_lba + 4);
    let mut dot_su = build_entry(b"SP", 1, &[0xBE, 0xEF, 0]);
    let mut er = vec![10, 0, 0, 1];
    er.extend_from_slice(b"RRIP_1991A");
    dot_su.extend(build_entry(b"ER", 1, &er));
    let records = (0..).map(move |i: u32| {
        let name = format!("F{i:X}");
        build_record(
            0,
            0,
            0,
            name.as_bytes(),
            &build_ce(to_u32(area_lba), 0, to_u32(AREA)),
        )
    });
    let mut img = skeleton(sectors, root_lba, sectors - root_lba, &dot_su, records);
    let filler = build_entry(b"XX", 1, &[]);
    for k in 0..AREAS {
        let at = (area_lba * SECTOR) + k * AREA;
        let area = &mut img[at..at + AREA];
        let ce_len = if k + 1 < AREAS { 28 } else { 0 };
        for e in area[..AREA - ce_len].chunks_exact_mut(4) {
            e.copy_from_slice(&filler);
        }
        if ce_len > 0 {
            let next_lba = area_lba + (k + 1) * AREA / SECTOR;
            area[AREA - 28..].copy_from_slice(&build_ce(to_u32(next_lba), 0, to_u32(AREA)));
        }
    }
    img
}

/// A directory area of multi-extent sections (a new file every 64
/// sectors), and a root with one directory record per sector of it.
fn multi_extent(sectors: usize) -> Vec<u8> {
    let sectors = sectors.max(FIRST_FREE + 64);
    // Root records are about 40 bytes: 48 fit a sector.
    let free = sectors - FIRST_FREE;
    let root_sectors = free.div_ceil(49).max(1);
    let root_lba = FIRST_FREE;
    let area_lba = root_lba + root_sectors;
    let area_sectors = sectors - area_lba;
    let records = (0..area_sectors).map(move |i| {
        let name = format!("D{i:X}");
        build_record(
            to_u32(area_lba + i),
            to_u32((area_sectors - i) * SECTOR),
            FileFlags::DIRECTORY,
            name.as_bytes(),
            &[],
        )
    });
    let mut img = skeleton(sectors, root_lba, root_sectors, &[], records);
    let base = area_lba * SECTOR;
    let sections = (0..area_sectors).flat_map(|s| {
        let name = format!("F{:X}.BIN;1", s / 64);
        std::iter::repeat_n(name, SECTOR / 44).map(|n| {
            build_record(
                0,
                to_u32(SECTOR),
                FileFlags::MULTI_EXTENT,
                n.as_bytes(),
                &[],
            )
        })
    });
    pack(&mut img, base, sectors * SECTOR, sections);
    img
}

/// A GPT (512-byte LBAs) of 8,192 partitions past the end of the file,
/// its entry array after the ISO9660 structures.
fn gpt(sectors: usize) -> Vec<u8> {
    const COUNT: usize = 8192;
    const ENTRY: usize = 128;
    let array_lba = FIRST_FREE + 1;
    let array_sectors = COUNT * ENTRY / SECTOR;
    let sectors = sectors.max(array_lba + array_sectors + 1);
    let mut img = skeleton(sectors, FIRST_FREE, 1, &[], std::iter::empty());
    // Protective MBR.
    img[446 + 4] = 0xEE;
    img[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    img[446 + 12..446 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    img[510] = 0x55;
    img[511] = 0xAA;
    let file_lbas = (sectors * SECTOR / 512) as u64;
    let at = array_lba * SECTOR;
    for i in 0..COUNT {
        let e = &mut img[at + i * ENTRY..at + (i + 1) * ENTRY];
        // Linux filesystem type GUID, on-disk byte order.
        e[..16].copy_from_slice(&[
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47,
            0x7D, 0xE4,
        ]);
        e[16..24].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let first = file_lbas * 16 + i as u64 * 2048;
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&(first + 2047).to_le_bytes());
    }
    let array_crc = crc32(&img[at..at + COUNT * ENTRY]);
    let h = &mut img[512..1024];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes());
    h[72..80].copy_from_slice(&(array_lba as u64 * 4).to_le_bytes());
    h[80..84].copy_from_slice(&to_u32(COUNT).to_le_bytes());
    h[84..88].copy_from_slice(&to_u32(ENTRY).to_le_bytes());
    h[88..92].copy_from_slice(&array_crc.to_le_bytes());
    let c = crc32(&h[..92]);
    h[16..20].copy_from_slice(&c.to_le_bytes());
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{inspect, InspectOptions};
    use crate::{IsoImage, Namespace};

    fn ids(a: &[crate::Anomaly]) -> Vec<&str> {
        a.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn names_round_trip() {
        for s in Shape::ALL {
            assert_eq!(Shape::from_name(s.name()), Some(s));
        }
        assert_eq!(Shape::from_name("x"), None);
    }

    #[test]
    fn susp_chains_hit_the_image_budget_and_names_survive() {
        // 600 sectors of root: about 17,000 records, each 256 KiB of SUSP.
        let img = Shape::SuspCe.build(750 * 2048);
        let iso = IsoImage::open(img).unwrap();
        assert!(iso.has_rock_ridge());
        let tree = iso.files(Namespace::RockRidge).unwrap();
        assert!(tree.entries.len() > 10_000, "{}", tree.entries.len());
        assert!(ids(&tree.anomalies).contains(&"susp.budget-exceeded"));
        assert!(iso.susp_budget().is_exceeded());
        // Records past the budget keep their ISO9660 names.
        assert_eq!(tree.entries.last().unwrap().path.chars().next(), Some('/'));
        let r = inspect(&iso, InspectOptions::default()).unwrap();
        assert_eq!(
            r.anomalies
                .iter()
                .filter(|a| a.id == "susp.budget-exceeded")
                .count(),
            1
        );
    }

    #[test]
    fn overlapping_directories_are_listed_once() {
        let img = Shape::MultiExtent.build(400 * 2048);
        let iso = IsoImage::open(img).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        let got = ids(&tree.anomalies);
        assert!(got.contains(&"tree.directory-overlap"), "{got:?}");
        let sections: usize = tree.entries.iter().map(|e| e.extents.len()).sum();
        // Each section of the area once (46 a sector), not once per directory.
        assert!(sections <= 400 * 46, "{sections}");
        let overlaps = tree
            .anomalies
            .iter()
            .filter(|a| a.id == "tree.directory-overlap")
            .collect::<Vec<_>>();
        assert!(overlaps.last().unwrap().unlisted > 0);
    }

    #[test]
    fn gpt_past_the_end_is_reported_and_capped() {
        let img = Shape::Gpt.build(0);
        let iso = IsoImage::open(img).unwrap();
        let r = inspect(&iso, InspectOptions::default()).unwrap();
        assert_eq!(r.partitions.len(), 8193, "8,192 GPT + the protective MBR");
        let past: Vec<_> = r
            .anomalies
            .iter()
            .filter(|a| a.id == "partition.past-end")
            .collect();
        assert_eq!(past.len(), crate::tree::MAX_ANOMALIES_PER_ID + 1);
        let summary = past.last().unwrap();
        assert_eq!(
            summary.unlisted,
            8192 - crate::tree::MAX_ANOMALIES_PER_ID as u64
        );
        assert!(r.partition_layout.gpt.as_ref().unwrap().entries_crc_ok);
    }
}

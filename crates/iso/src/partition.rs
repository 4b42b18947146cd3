//! Hybrid layouts: the partition tables a hybrid ISO carries in its system
//! area so it also boots from a USB stick.
//!
//! ISO9660 leaves the first 32 KiB (sectors 0-15) to the system; isohybrid and
//! xorriso put an MBR there (sector 0, 0x55AA), often a GPT (header at byte
//! 512, since these tables count 512-byte sectors) and, with `-hfsplus`, an
//! Apple partition map. [`read_partitions`] reads all three into one list of
//! [`Partition`]s; a partition that starts beyond the ISO volume (for example
//! an EFI System Partition added with `-append_partition`) is flagged
//! `appended`. CRCs are checked, bad ones reported as anomalies.
//!
//! Limits: the GPT entry array is read only if it is at most
//! [`MAX_GPT_ARRAY_BYTES`]; the Apple map is read for at most
//! [`MAX_APM_ENTRIES`] entries.

use serde::{Deserialize, Serialize};

use crate::bytes::{be_u16, be_u32, le_u32};
use crate::{Anomaly, Error, ReadAt, Result, Severity};

pub(crate) mod gpt;
pub use gpt::{crc32, format_guid, gpt_type_name};

/// Largest GPT partition entry array read (bytes).
pub const MAX_GPT_ARRAY_BYTES: u64 = 1 << 20;
/// Most Apple partition map entries read.
pub const MAX_APM_ENTRIES: u32 = 64;

/// Which table a partition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// The MBR in sector 0.
    Mbr,
    /// The GUID partition table.
    Gpt,
    /// The Apple partition map.
    Apm,
}

/// One partition of a hybrid layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The table it was listed in.
    pub scheme: Scheme,
    /// 1-based slot number in that table.
    pub index: u32,
    /// First sector, in 512-byte sectors.
    pub start_lba: u64,
    /// Length in 512-byte sectors.
    pub size_sectors: u64,
    /// Type: `"0xef"` for MBR, the type GUID for GPT, the type string for APM.
    #[serde(rename = "type")]
    pub type_id: String,
    /// Well-known name of the type, when it is one.
    pub type_name: Option<String>,
    /// MBR status 0x80, or GPT attribute bit 2 (legacy BIOS bootable).
    pub bootable: bool,
    /// GPT (UTF-16LE) or APM partition name.
    pub name: Option<String>,
    /// Starts at or beyond the end of the ISO9660 volume.
    pub appended: bool,
    /// GPT unique partition GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_guid: Option<String>,
    /// GPT attribute bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<u64>,
}

impl Partition {
    /// A reference naming this partition (table, slot and name).
    pub fn reference(&self) -> PartitionRef {
        PartitionRef {
            scheme: self.scheme,
            index: self.index,
            name: self.name.clone().filter(|n| !n.is_empty()),
        }
    }
}

/// Names one partition of a layout, for things that live in it (such as an
/// El Torito image in an appended EFI partition). Displays as
/// `GPT partition 2 "Appended2"` or `MBR partition 2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRef {
    /// The table that lists it.
    pub scheme: Scheme,
    /// 1-based slot number in that table.
    pub index: u32,
    /// GPT or APM partition name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl std::fmt::Display for PartitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Mbr => "MBR",
            Scheme::Gpt => "GPT",
            Scheme::Apm => "APM",
        };
        write!(f, "{scheme} partition {}", self.index)?;
        match &self.name {
            Some(name) => write!(f, " {name:?}"),
            None => Ok(()),
        }
    }
}

/// Facts about the GPT header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptInfo {
    /// Sector size the table counts in (512, or 2048 when found there).
    pub sector_size: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// Header CRC32 matches.
    pub header_crc_ok: bool,
    /// Entry array CRC32 matches (false when the array was too large to read).
    pub entries_crc_ok: bool,
    /// LBA of the entry array (in `sector_size` units).
    pub entries_lba: u64,
    /// Number of entry slots.
    pub entry_count: u32,
    /// Size of one entry slot in bytes.
    pub entry_size: u32,
    /// LBA of the backup header.
    pub backup_lba: u64,
}

/// Every partition table found in the system area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLayout {
    /// Sector 0 ends with 0x55AA and has a plausible partition table.
    pub mbr: bool,
    /// The MBR is a GPT protective MBR (a single 0xEE entry).
    pub protective_mbr: bool,
    /// The GPT header, when one was found.
    pub gpt: Option<GptInfo>,
    /// An Apple partition map was found.
    pub apm: bool,
    /// All partitions: MBR first, then GPT, then APM.
    pub partitions: Vec<Partition>,
    /// What was odd.
    pub anomalies: Vec<Anomaly>,
}

/// Name of a well-known MBR partition type byte.
pub fn mbr_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x00 => "Empty",
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0E => "FAT16",
        0x07 => "NTFS/exFAT/HPFS",
        0x0B | 0x0C => "FAT32",
        0x17 => "Hidden NTFS/HPFS",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x96 => "ISO9660 (CHRP)",
        0xCD => "ISO9660",
        0xEE => "GPT protective",
        0xEF => "EFI System",
        _ => return None,
    })
}

fn read_bytes<R: ReadAt + ?Sized>(
    source: &R,
    offset: u64,
    len: usize,
    what: &str,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    source
        .read_exact_at(&mut buf, offset)
        .map_err(|e| Error::io(what, offset, e))?;
    Ok(buf)
}

/// Reads the MBR, GPT and Apple partition map of an image.
///
/// `volume_bytes` is the size of the ISO9660 volume (volume space size from
/// the primary volume descriptor × 2048); partitions starting at or beyond it
/// are flagged `appended`. Fails only when sector 0 cannot be read.
pub fn read_partitions<R: ReadAt + ?Sized>(
    source: &R,
    volume_bytes: Option<u64>,
) -> Result<PartitionLayout> {
    let s0 = read_bytes(source, 0, 512, "reading the MBR")?;
    let mut layout = PartitionLayout::default();
    read_mbr(&s0, &mut layout);
    for sector_size in [512u64, 2048] {
        if let Ok(h) = read_bytes(source, sector_size, 512, "reading the GPT header") {
            if h.starts_with(b"EFI PART") {
                gpt::read_gpt(source, &h, sector_size, &mut layout);
                break;
            }
        }
    }
    read_apm(source, &s0, &mut layout);
    if let Some(vol) = volume_bytes {
        for p in &mut layout.partitions {
            p.appended = p.start_lba.saturating_mul(512) >= vol && p.size_sectors > 0;
        }
    }
    if let Ok(file_bytes) = source.size() {
        past_the_end(&mut layout, file_bytes);
    }
    if layout.gpt.is_some() && layout.mbr && !layout.protective_mbr {
        let has_ee = layout
            .partitions
            .iter()
            .any(|p| p.scheme == Scheme::Mbr && p.type_id == "0xee");
        if !has_ee {
            layout.anomalies.push(Anomaly::new(
                "partition.hybrid-mbr",
                Severity::Info,
                "the image has a GPT and an MBR without a 0xEE protective entry (a hybrid MBR, as isohybrid writes)",
            ));
        }
    }
    Ok(layout)
}

/// One `partition.past-end` anomaly per partition that ends past the end
/// of the file (a GPT declaring thousands of partitions far past the end is
/// not an image anything can boot).
fn past_the_end(layout: &mut PartitionLayout, file_bytes: u64) {
    for p in &layout.partitions {
        let start = p.start_lba.saturating_mul(512);
        let end = start.saturating_add(p.size_sectors.saturating_mul(512));
        // A protective MBR entry covers the whole disk, or 2 TiB when it
        // does not know better: not a claim about the file.
        let protective = p.scheme == Scheme::Mbr && p.type_id == "0xee";
        if p.size_sectors > 0 && end > file_bytes && !protective {
            layout.anomalies.push(Anomaly::new(
                "partition.past-end",
                Severity::Error,
                format!(
                    "{} partition {} (bytes {start}..{end}) ends {} bytes past the end of the {file_bytes}-byte file",
                    match p.scheme {
                        Scheme::Mbr => "MBR",
                        Scheme::Gpt => "GPT",
                        Scheme::Apm => "Apple",
                    },
                    p.index,
                    end - file_bytes
                ),
            ));
        }
    }
}

fn read_mbr(s0: &[u8], layout: &mut PartitionLayout) {
    if s0.get(510..512) != Some(&[0x55, 0xAA][..]) {
        return;
    }
    let mut parts = Vec::new();
    for i in 0..4u32 {
        let at = 446 + 16 * i as usize;
        let Some(e) = s0.get(at..at + 16) else {
            continue;
        };
        let (status, kind) = (e[0], e[4]);
        let start = u64::from(le_u32(e, 8));
        let size = u64::from(le_u32(e, 12));
        if e.iter().all(|&b| b == 0) {
            continue;
        }
        if status != 0 && status != 0x80 {
            // Not a partition table (a FAT boot sector also ends in 0x55AA).
            return;
        }
        parts.push(Partition {
            scheme: Scheme::Mbr,
            index: i + 1,
            start_lba: start,
            size_sectors: size,
            type_id: format!("{kind:#04x}"),
            type_name: mbr_type_name(kind).map(str::to_owned),
            bootable: status == 0x80,
            name: None,
            appended: false,
            unique_guid: None,
            attributes: None,
        });
    }
    layout.mbr = true;
    layout.protective_mbr = parts.len() == 1 && parts[0].type_id == "0xee";
    layout.partitions.extend(parts);
}

/// Apple partition map: driver descriptor "ER" at byte 0 (block size at 2),
/// "PM" entries from block 1.
fn read_apm<R: ReadAt + ?Sized>(source: &R, s0: &[u8], layout: &mut PartitionLayout) {
    if !s0.starts_with(b"ER") {
        return;
    }
    let block = u64::from(be_u16(s0, 2));
    if !matches!(block, 512 | 1024 | 2048 | 4096) {
        return;
    }
    let mut count = 1u32;
    let mut i = 1u32;
    while i <= count && i <= MAX_APM_ENTRIES {
        let Ok(e) = read_bytes(
            source,
            u64::from(i) * block,
            512,
            "reading the Apple partition map",
        ) else {
            break;
        };
        if !e.starts_with(b"PM") {
            break;
        }
        if i == 1 {
            count = be_u32(&e, 4);
            layout.apm = true;
        }
        let text = |r: std::ops::Range<usize>| {
            let b = &e[r];
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8_lossy(&b[..end]).into_owned()
        };
        let ty = text(48..80);
        let name = text(16..48);
        let scale = block / 512;
        layout.partitions.push(Partition {
            scheme: Scheme::Apm,
            index: i,
            start_lba: u64::from(be_u32(&e, 8)).saturating_mul(scale),
            size_sectors: u64::from(be_u32(&e, 12)).saturating_mul(scale),
            type_name: match ty.as_str() {
                "Apple_HFS" => Some("HFS+".to_owned()),
                "Apple_partition_map" => Some("partition map".to_owned()),
                "Apple_Free" => Some("free".to_owned()),
                _ => None,
            },
            type_id: ty,
            bootable: false,
            name: (!name.is_empty()).then_some(name),
            appended: false,
            unique_guid: None,
            attributes: None,
        });
        i += 1;
    }
    if count > MAX_APM_ENTRIES {
        layout.anomalies.push(Anomaly::new(
            "partition.apm-too-many-entries",
            Severity::Warn,
            format!(
                "the Apple partition map claims {count} entries; only {MAX_APM_ENTRIES} were read"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::gpt::tests::gpt;
    use super::*;

    fn mbr_entry(img: &mut [u8], slot: usize, status: u8, kind: u8, start: u32, size: u32) {
        let at = 446 + 16 * slot;
        img[at] = status;
        img[at + 4] = kind;
        img[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        img[at + 12..at + 16].copy_from_slice(&size.to_le_bytes());
        img[510] = 0x55;
        img[511] = 0xAA;
    }

    #[test]
    fn isohybrid_mbr_with_appended_efi() {
        let mut img = vec![0u8; 64 * 1024];
        mbr_entry(&mut img, 0, 0x80, 0x00, 0, 4096);
        mbr_entry(&mut img, 1, 0x00, 0xEF, 4096, 2880);
        let l = read_partitions(&img, Some(4096 * 512)).unwrap();
        assert!(l.mbr && !l.protective_mbr && l.gpt.is_none());
        assert_eq!(l.partitions.len(), 2);
        let p = &l.partitions[0];
        assert_eq!(
            (p.index, p.start_lba, p.size_sectors, p.bootable, p.appended),
            (1, 0, 4096, true, false)
        );
        let e = &l.partitions[1];
        assert_eq!(e.type_id, "0xef");
        assert_eq!(e.type_name.as_deref(), Some("EFI System"));
        assert!(e.appended);
        let j = serde_json::to_value(e).unwrap();
        assert_eq!(j["scheme"], "mbr");
        assert_eq!(j["type"], "0xef");
        // The 64 KiB file holds neither partition: both end past its end.
        let past: Vec<_> = l
            .anomalies
            .iter()
            .filter(|a| a.id == "partition.past-end")
            .map(|a| a.message.as_str())
            .collect();
        assert_eq!(past.len(), 2, "{past:?}");
        assert!(
            past[1].starts_with("MBR partition 2 (bytes 2097152..3571712) ends 3506176 bytes past the end of the 65536-byte file"),
            "{}",
            past[1]
        );
        // A file that holds them: no anomaly.
        let mut whole = img.clone();
        whole.resize((4096 + 2880) * 512, 0);
        let l = read_partitions(&whole, Some(4096 * 512)).unwrap();
        assert!(l.anomalies.is_empty(), "{:?}", l.anomalies);
    }

    #[test]
    fn gpt_with_protective_mbr() {
        let mut img = vec![0u8; 6976 * 512];
        mbr_entry(&mut img, 0, 0, 0xEE, 1, 0xFFFF_FFFF);
        gpt(
            &mut img,
            &[
                ("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", 0, 4095, "ISOHybrid"),
                (
                    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                    4096,
                    6975,
                    "Appended2",
                ),
            ],
        );
        let l = read_partitions(&img, Some(4096 * 512)).unwrap();
        assert!(l.protective_mbr, "{l:?}");
        let g = l.gpt.as_ref().unwrap();
        assert!(g.header_crc_ok && g.entries_crc_ok, "{g:?}");
        let gpt: Vec<_> = l
            .partitions
            .iter()
            .filter(|p| p.scheme == Scheme::Gpt)
            .collect();
        assert_eq!(gpt.len(), 2);
        assert_eq!(gpt[0].type_name.as_deref(), Some("Basic data"));
        assert_eq!(gpt[0].name.as_deref(), Some("ISOHybrid"));
        assert!(gpt[0].bootable && !gpt[0].appended);
        assert_eq!(
            (gpt[1].start_lba, gpt[1].size_sectors, gpt[1].appended),
            (4096, 2880, true)
        );
        assert_eq!(gpt[1].type_id, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert!(l.anomalies.is_empty(), "{:?}", l.anomalies);

        // Corrupt the entries: the entry CRC no longer matches.
        img[1024 + 60] ^= 1;
        let l = read_partitions(&img, None).unwrap();
        assert!(!l.gpt.unwrap().entries_crc_ok);
        assert!(l
            .anomalies
            .iter()
            .any(|a| a.id == "partition.gpt-bad-entries-crc"));
        // Corrupt the header.
        img[512 + 40] ^= 1;
        let l = read_partitions(&img, None).unwrap();
        assert!(!l.gpt.unwrap().header_crc_ok);
    }

    #[test]
    fn hostile_gpt_is_bounded() {
        let mut img = vec![0u8; 8 * 1024];
        gpt(&mut img, &[]);
        img[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
        img[512 + 84..512 + 88].copy_from_slice(&u32::MAX.to_le_bytes());
        let l = read_partitions(&img, None).unwrap();
        assert!(l
            .anomalies
            .iter()
            .any(|a| a.id == "partition.gpt-entries-unreadable"));
        // Entries LBA far past the end.
        let mut img = vec![0u8; 8 * 1024];
        gpt(&mut img, &[]);
        img[512 + 72..512 + 80].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_partitions(&img, None).is_ok());
        assert!(read_partitions(&[0u8; 100][..], None).is_err());
    }

    #[test]
    fn no_signature_or_boot_sector_is_not_an_mbr() {
        let img = vec![0u8; 4096];
        let l = read_partitions(&img, None).unwrap();
        assert!(!l.mbr && l.partitions.is_empty());
        let mut fat = vec![0u8; 4096];
        mbr_entry(&mut fat, 0, 0x80, 0x83, 1, 10);
        fat[446] = 0x12;
        let l = read_partitions(&fat, None).unwrap();
        assert!(!l.mbr);
    }

    #[test]
    fn apple_partition_map() {
        let mut img = vec![0u8; 16 * 2048];
        img[..2].copy_from_slice(b"ER");
        img[2..4].copy_from_slice(&2048u16.to_be_bytes());
        for (i, (name, ty, start, len)) in [
            ("Apple", "Apple_partition_map", 1u32, 3u32),
            ("HFSPLUS_Hybrid", "Apple_HFS", 16, 100),
        ]
        .iter()
        .enumerate()
        {
            let e = &mut img[(i + 1) * 2048..];
            e[..2].copy_from_slice(b"PM");
            e[4..8].copy_from_slice(&2u32.to_be_bytes());
            e[8..12].copy_from_slice(&start.to_be_bytes());
            e[12..16].copy_from_slice(&len.to_be_bytes());
            e[16..16 + name.len()].copy_from_slice(name.as_bytes());
            e[48..48 + ty.len()].copy_from_slice(ty.as_bytes());
        }
        let l = read_partitions(&img, Some(200 * 512)).unwrap();
        assert!(l.apm);
        assert_eq!(l.partitions.len(), 2);
        assert_eq!(l.partitions[1].type_name.as_deref(), Some("HFS+"));
        assert_eq!(
            (l.partitions[1].start_lba, l.partitions[1].size_sectors),
            (64, 400)
        );
    }

    use crate::testimg::noise;

    #[test]
    fn random_bytes_never_panic() {
        for seed in 0..50 {
            let mut img = noise(16 * 2048, seed);
            img[510] = 0x55;
            img[511] = 0xAA;
            match seed % 3 {
                0 => img[512..520].copy_from_slice(b"EFI PART"),
                1 => img[2048..2056].copy_from_slice(b"EFI PART"),
                _ => {
                    img[..2].copy_from_slice(b"ER");
                    img[2..4].copy_from_slice(&512u16.to_be_bytes());
                    img[512..514].copy_from_slice(b"PM");
                }
            }
            let _ = read_partitions(&img, Some(seed * 1000));
        }
    }
}
